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
