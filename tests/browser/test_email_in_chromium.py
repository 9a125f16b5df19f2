"""The sample issue's HTML as a reader's browser shows it: real headless Chromium at a
phone's and a desktop mail pane's width, scanned by axe-core, in light and dark mode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page

from .checks import (
    axe_violations,
    body_text_colours,
    boxes_outside,
    contrast,
    describe,
    headline_boxes,
    luminance,
    scroll_width,
    serious,
)
from .conftest import REPO

pytestmark = pytest.mark.browser

SAMPLES: list[Path | None] = [*sorted((REPO / "sample_issues").glob("*.yaml"))]
PHONE, DESKTOP = 375, 600


@dataclass(frozen=True)
class Sample:
    name: str
    html: str
    headlines: tuple[str, ...]


@pytest.fixture(scope="module", params=SAMPLES or [None], ids=lambda p: p.stem if p else "none")
def sample(request: pytest.FixtureRequest) -> Sample:
    """A sample issue rendered in-process with the repository's digest.toml, as a reader
    gets it (per-recipient placeholders at their defaults)."""
    path: Path | None = request.param
    if path is None:
        pytest.fail("no sample issue found in sample_issues/*.yaml")
    from digest.config import load_settings
    from digest.render import render_issue
    from digest.sources import load_issue

    rendered = render_issue(load_issue(path), load_settings(REPO / "digest.toml", environ={}))
    headlines = tuple(" ".join(a.headline.split()) for a in rendered.issue.articles)
    return Sample(name=path.stem, html=rendered.preview_html(), headlines=headlines)


def open_email(page: Page, sample: Sample, width: int, scheme: str = "light") -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    page.set_content(sample.html, wait_until="load")


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_sample_issue_fits_the_viewport_without_sideways_scrolling(
    browser_page: Page, sample: Sample, width: int
) -> None:
    """Single column that reflows: nothing wider than the screen, every headline on it."""
    open_email(browser_page, sample, width)

    assert scroll_width(browser_page) <= width

    boxes = headline_boxes(browser_page)
    linked = {b["text"] for b in boxes if b["kind"].endswith(" a")}
    missing = [h for h in sample.headlines if h not in linked]
    assert missing == [], f"articles without a linked h1/h2/h3 headline: {missing}"
    assert boxes_outside(boxes, width) == []


@pytest.mark.parametrize(
    ("width", "scheme"), [(PHONE, "light"), (DESKTOP, "light"), (PHONE, "dark")]
)
def test_sample_issue_has_no_serious_accessibility_violations(
    browser_page: Page, axe_source: str, sample: Sample, width: int, scheme: str
) -> None:
    """axe-core in the same browser: nothing rated serious or critical, in either scheme."""
    open_email(browser_page, sample, width, scheme)

    found = serious(axe_violations(browser_page, axe_source))

    assert found == [], "axe-core found serious/critical violations:\n" + describe(found)


def test_sample_issue_switches_to_dark_colours(
    browser_page: Page, sample: Sample, tmp_path: Path
) -> None:
    """The template's prefers-color-scheme rules win over the inlined light colours."""
    open_email(browser_page, sample, PHONE, "light")
    light = body_text_colours(browser_page)
    browser_page.screenshot(path=tmp_path / f"{sample.name}-light-{PHONE}.png", full_page=True)

    browser_page.emulate_media(color_scheme="dark")
    dark = body_text_colours(browser_page)
    shot = tmp_path / f"{sample.name}-dark-{PHONE}.png"
    browser_page.screenshot(path=shot, full_page=True)
    print(f"screenshots: {tmp_path}")

    assert dark.text == light.text
    assert dark.color != light.color, f"body text stays {light.color} in dark mode"
    assert dark.background != light.background, (
        f"background behind the body text stays {light.background} in dark mode"
    )
    assert luminance(dark.background) < luminance(light.background)
    assert contrast(dark.color, dark.background) >= 4.5
    assert shot.stat().st_size > 0


_ROLE_COLOURS_JS = """
() => {
  const pick = (sel) => document.querySelector(sel);
  const colour = (sel) => getComputedStyle(pick(sel)).color;
  return {
    kicker: colour('.dg-kicker'),
    section: colour('.dg-section-title'),
    date: colour('.dg-title + .dg-meta'),
    body: colour('.dg-summary p'),
    headline: colour('.dg-headline a'),
    divider: getComputedStyle(pick('.dg-divider p')).borderTopColor,
  };
}
"""


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


def test_each_role_keeps_its_own_colour_in_dark_mode(browser_page: Page, sample: Sample) -> None:
    """Kicker, section title, date line and divider each have a dark rule of their own that
    outranks `.dg-body p` / `.dg-body h2`, so none turns body-text grey."""
    from digest.config import BrandSettings

    brand = BrandSettings()
    open_email(browser_page, sample, DESKTOP, "light")
    light = browser_page.evaluate(_ROLE_COLOURS_JS)
    browser_page.emulate_media(color_scheme="dark")
    dark = browser_page.evaluate(_ROLE_COLOURS_JS)

    assert light["kicker"] == _rgb(brand.accent)
    assert light["divider"] == _rgb("#d0d7de")
    assert dark["body"] == _rgb(brand.dark_text)
    assert dark["kicker"] == _rgb(brand.dark_accent)
    assert dark["section"] == _rgb("#b8b8b8")
    assert dark["date"] == _rgb("#b8b8b8")
    assert dark["divider"] == _rgb("#3d444d")
    assert len({dark["kicker"], dark["section"], dark["body"]}) == 3, dark
    for role in ("kicker", "section", "date"):
        assert contrast(dark[role], _rgb(brand.dark_surface)) >= 4.5, (role, dark[role])


def test_blocked_image_alt_text_looks_like_the_text_around_it(
    browser_page: Page, sample: Sample
) -> None:
    """Outlook blocks images by default: the alt text then shows in the body's font, in a
    muted colour, not underlined (the browser here refuses every remote image too)."""
    from digest.config import BrandSettings

    brand = BrandSettings()
    open_email(browser_page, sample, DESKTOP)
    style = browser_page.evaluate(
        """() => {
          const img = document.querySelector('.dg-image img');
          const a = img.closest('a'), s = getComputedStyle(img);
          return {loaded: img.naturalWidth, font: s.fontFamily, color: s.color,
                  lineHeight: parseFloat(s.lineHeight) / parseFloat(s.fontSize),
                  underline: getComputedStyle(a).textDecorationLine};
        }"""
    )
    assert style["loaded"] == 0, "the image should be blocked in this test"
    assert style["font"].replace('"', "'").startswith(brand.font_family.split(",")[0])
    assert "serif" not in style["font"].replace("sans-serif", "")
    assert style["color"] == _rgb(brand.muted)
    assert style["underline"] == "none"
    assert style["lineHeight"] >= 1.4


def test_axe_core_in_the_page_is_the_pinned_release(browser_page: Page, axe_source: str) -> None:
    """scripts/test pins the newest axe-core: the scan above ran that version, not an old one."""
    import re

    pinned = re.search(r'^AXE_VERSION="([\d.]+)"', (REPO / "scripts/test").read_text(), re.M)
    assert pinned is not None
    browser_page.set_content("<!doctype html><title>t</title><p>x</p>")
    browser_page.evaluate(axe_source)
    assert browser_page.evaluate("axe.version") == pinned.group(1)
