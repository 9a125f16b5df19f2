"""What the browser tests measure in a loaded page: layout, accessibility, colours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Page

_HEADLINES_JS = """
() => [...document.querySelectorAll('h1, h2, h3')].flatMap((h) => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, width: r.width, height: r.height};
  };
  const text = h.textContent.replace(/\\s+/g, ' ').trim();
  const kind = h.tagName.toLowerCase();
  return [{kind, text, ...box(h)}].concat(
    [...h.querySelectorAll('a')].map((a) => ({kind: kind + ' a', text, ...box(a)}))
  );
})
"""

_SCROLL_WIDTH_JS = """
() => Math.max(document.documentElement.scrollWidth, document.body ? document.body.scrollWidth : 0)
"""

# The element holding the most running text, its colour and the first opaque background
# behind it (walking up the tree): what a reader sees as "the body text".
_BODY_TEXT_JS = """
() => {
  const own = (el) => [...el.childNodes]
    .filter((n) => n.nodeType === Node.TEXT_NODE)
    .map((n) => n.textContent).join('').replace(/\\s+/g, ' ').trim();
  let best = null, bestLen = 0;
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('h1, h2, h3, h4, h5, h6, a, script, style, title')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const len = own(el).length;
    if (len > bestLen) { best = el; bestLen = len; }
  }
  if (!best) return null;
  let bg = null;
  for (let el = best; el && !bg; el = el.parentElement) {
    const c = getComputedStyle(el).backgroundColor;
    if (c && c !== 'transparent' && !/,\\s*0\\)$/.test(c)) bg = c;
  }
  return {
    text: own(best).slice(0, 60),
    color: getComputedStyle(best).color,
    background: bg || 'rgb(255, 255, 255)',
    page: getComputedStyle(document.body).backgroundColor,
  };
}
"""

_AXE_JS = """
async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({
      target: n.target.join(' '), html: n.html.slice(0, 160), summary: n.failureSummary,
    })),
  }));
}
"""


def scroll_width(page: Page) -> int:
    """The document's full width in CSS pixels: above the viewport means a sideways scroll."""
    width: int = page.evaluate(_SCROLL_WIDTH_JS)
    return width


def headline_boxes(page: Page) -> list[dict[str, Any]]:
    """Every h1/h2/h3 and every link inside one, with its box in viewport pixels."""
    boxes: list[dict[str, Any]] = page.evaluate(_HEADLINES_JS)
    return boxes


def boxes_outside(boxes: list[dict[str, Any]], viewport_width: int) -> list[str]:
    """Descriptions of the boxes that are empty or stick out of [0, viewport_width]."""
    bad = []
    for b in boxes:
        if b["width"] <= 0 or b["height"] <= 0:
            bad.append(f"{b['kind']} {b['text']!r} is not visible (empty box)")
        elif b["left"] < -0.5 or b["right"] > viewport_width + 0.5:
            bad.append(
                f"{b['kind']} {b['text']!r} spans x={b['left']:.1f}..{b['right']:.1f} "
                f"outside 0..{viewport_width}"
            )
    return bad


def axe_violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    """Run axe-core in the page and return its violations (all impacts).

    The script is evaluated through the DevTools protocol rather than added as a tag, so a
    page's Content-Security-Policy (``digest serve`` sends a strict one) does not block it.
    """
    page.evaluate(axe_source)
    violations: list[dict[str, Any]] = page.evaluate(_AXE_JS)
    return violations


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def assert_fits_and_accessible(page: Page, axe_source: str, width: int) -> None:
    """The page fits ``width`` without sideways scrolling and has no serious axe finding."""
    assert scroll_width(page) <= width
    found = serious(axe_violations(page, axe_source))
    assert not found, describe(found)


def describe(violations: list[dict[str, Any]]) -> str:
    """A report a template author can act on: rule, help, and each failing node."""
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for n in v["nodes"]:
            lines.append(f"    at {n['target']}: {n['html']}")
            lines.extend(f"        {s}" for s in (n["summary"] or "").splitlines())
    return "\n".join(lines)


@dataclass(frozen=True)
class TextColours:
    text: str
    color: str
    background: str
    page: str


def body_text_colours(page: Page) -> TextColours:
    """Colour and background of the page's main running text, as computed by the browser."""
    found = page.evaluate(_BODY_TEXT_JS)
    assert found is not None, "the page has no visible running text"
    return TextColours(**found)


def _rgb(css: str) -> tuple[float, float, float]:
    nums = re.findall(r"[\d.]+", css)
    if len(nums) < 3:
        raise ValueError(f"not an rgb() colour: {css!r}")
    r, g, b = (float(x) for x in nums[:3])
    return r, g, b


def luminance(css: str) -> float:
    """WCAG relative luminance of a computed rgb()/rgba() colour."""

    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = _rgb(css)
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two computed colours."""
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
