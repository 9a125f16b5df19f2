"""Real headless Chromium for the browser tests.

Debian's own binary, driven by Playwright through ``executable_path`` (``playwright install``
downloads a browser and cannot run here). One browser per session with a fresh profile;
every request that would leave the machine is refused before it is sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Route, sync_playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("DIGEST_CHROMIUM", "/usr/bin/chromium"))
AXE_JS = Path(
    os.environ.get("DIGEST_AXE_JS", REPO / ".cache/npm/node_modules/axe-core/axe.min.js")
)
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Names never resolve except loopback, so even a request that bypasses routing fails.
    "--host-resolver-rules="
    "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]",
]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_SCHEMES = frozenset({"about", "blob", "data", "file"})


def stays_on_machine(url: str) -> bool:
    """True for loopback and in-page URLs, the only ones a browser test may load."""
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOOPBACK_HOSTS


@dataclass
class NetworkGuard:
    """Aborts every request that is not for this machine and remembers what it stopped."""

    blocked: list[str] = field(default_factory=list)

    def handle(self, route: Route) -> None:
        url = route.request.url
        if stays_on_machine(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")


@pytest.fixture(scope="session")
def network_guard() -> NetworkGuard:
    return NetworkGuard()


@pytest.fixture(scope="package")
def chromium(
    tmp_path_factory: pytest.TempPathFactory, network_guard: NetworkGuard
) -> Iterator[BrowserContext]:
    """One headless Chromium, with a fresh user-data dir, for all the browser tests.

    Package-scoped, not session-scoped: while Playwright's sync API is open, its event
    loop counts as running in the main thread, and every later `asyncio.run()` (the SMTP
    and sending tests) would fail. Closing it when this package is done avoids that.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `bash scripts/test` once (it installs Debian's "
            "chromium) or point DIGEST_CHROMIUM at a Chromium binary"
        )
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=LAUNCH_ARGS,
            viewport={"width": 600, "height": 900},
        )
        context.set_default_timeout(30_000)
        context.route("**/*", network_guard.handle)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def browser_page(chromium: BrowserContext, network_guard: NetworkGuard) -> Iterator[Page]:
    """A fresh tab for one test; the guard's record starts empty."""
    network_guard.blocked.clear()
    page = chromium.new_page()
    try:
        yield page
    finally:
        page.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's browser bundle, installed from the npm registry by scripts/test."""
    if not AXE_JS.is_file():
        pytest.fail(
            f"axe-core not found at {AXE_JS}: run `bash scripts/test` once "
            "(it runs `npm install --prefix .cache/npm axe-core@<pinned>`)"
        )
    return AXE_JS.read_text(encoding="utf-8")
