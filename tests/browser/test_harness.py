"""The browser checks themselves, on small hand-written pages: each check must be able to
fail, and the browser must not reach beyond loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from .checks import (
    axe_violations,
    body_text_colours,
    boxes_outside,
    headline_boxes,
    scroll_width,
    serious,
)
from .conftest import NetworkGuard, stays_on_machine

pytestmark = pytest.mark.browser

FITTING = """<!doctype html><html lang="en"><head><title>t</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="margin:0"><main><table role="presentation" style="width:100%;max-width:600px">
<tr><td><h2><a href="https://example.org/a">A headline that wraps on a phone screen</a></h2>
<p>Some running text that is long enough to be the body copy of this page.</p></td></tr>
</table></main></body></html>"""

TOO_WIDE = FITTING.replace("width:100%;max-width:600px", "width:700px")

DARK_AWARE = """<!doctype html><html lang="en"><head><title>t</title>
<meta name="color-scheme" content="light dark">
<style>
  .bg { background-color: #ffffff; } .copy { color: #222222; }
  @media (prefers-color-scheme: dark) {
    .bg { background-color: #121212 !important; } .copy { color: #eeeeee !important; }
  }
</style></head><body><main class="bg"><p class="copy">Running text of the page, long enough
to be picked as the body copy.</p></main></body></html>"""


@pytest.fixture
def loopback_url() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving one small page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>local</title><p>served on loopback</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_loopback_loads_while_the_outside_world_is_refused(
    browser_page: Page, network_guard: NetworkGuard, loopback_url: str
) -> None:
    """The guard lets tests use local servers and stops anything bound elsewhere."""
    browser_page.goto(loopback_url)
    assert "served on loopback" in browser_page.content()
    outcome = browser_page.evaluate(
        """async () => {
             try { await fetch('https://example.org/pixel.gif', {mode: 'no-cors'}); }
             catch (e) { return 'refused'; }
             return 'reached';
           }"""
    )
    assert outcome == "refused"
    assert network_guard.blocked == ["https://example.org/pixel.gif"]


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/x", True),
        ("http://localhost/x", True),
        ("http://[::1]:9/x", True),
        ("data:text/html,hi", True),
        ("about:blank", True),
        ("https://example.org/", False),
        ("http://127.0.0.1.example.net/", False),
        ("https://fonts.googleapis.com/css?family=Ubuntu", False),
    ],
)
def test_only_loopback_and_in_page_urls_count_as_local(url: str, local: bool) -> None:
    assert stays_on_machine(url) is local


def test_layout_check_flags_a_table_wider_than_the_phone(browser_page: Page) -> None:
    """A fixed 700px table must show up as a sideways scroll at 375px, and a fluid one not."""
    browser_page.set_viewport_size({"width": 375, "height": 800})
    browser_page.set_content(FITTING)
    assert scroll_width(browser_page) <= 375
    assert boxes_outside(headline_boxes(browser_page), 375) == []

    browser_page.set_content(TOO_WIDE)
    assert scroll_width(browser_page) > 375
    assert boxes_outside(headline_boxes(browser_page), 375) != []


def test_axe_scan_flags_an_image_without_alt_text(browser_page: Page, axe_source: str) -> None:
    """axe runs in the page and reports a missing alt as a serious-or-worse violation."""
    browser_page.set_content(FITTING)
    assert serious(axe_violations(browser_page, axe_source)) == []

    browser_page.set_content(FITTING.replace("</h2>", '</h2><img src="data:," width="10">'))
    ids = {v["id"] for v in serious(axe_violations(browser_page, axe_source))}
    assert "image-alt" in ids


def test_colour_probe_sees_prefers_color_scheme_rules(browser_page: Page) -> None:
    """The dark-mode probe reads what the browser computes, so a dark rule changes it."""
    browser_page.set_content(DARK_AWARE)
    light = body_text_colours(browser_page)
    browser_page.emulate_media(color_scheme="dark")
    dark = body_text_colours(browser_page)
    assert light.color == "rgb(34, 34, 34)"
    assert light.background == "rgb(255, 255, 255)"
    assert dark.color == "rgb(238, 238, 238)"
    assert dark.background == "rgb(18, 18, 18)"

    browser_page.set_content(FITTING)
    assert body_text_colours(browser_page) == body_text_colours(browser_page)
