"""The sign-up form and the confirmation pages as a reader's browser shows them: filled in
and submitted in real headless Chromium, at a phone's width and a desktop's, light and
dark, scanned by axe-core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from tests.test_web_app import Site, serve_site
from tests.test_web_subscribe import TOML, _link, _mail, _status

from .checks import assert_fits_and_accessible

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve_site(tmp_path_factory.mktemp("site"), TOML) as s:
        yield s


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 1024])
def test_form_and_confirmation_pages_are_accessible_and_work_with_a_keyboard(
    site: Site, browser_page: Page, axe_source: str, width: int, scheme: str
) -> None:
    page = browser_page
    address = f"reader-{width}-{scheme}@example.org"
    page.set_viewport_size({"width": width, "height": 800})
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(f"{site.url}/subscribe")
    assert_fits_and_accessible(page, axe_source, width)
    # the browser takes this address; digest does not (no dot in the domain)
    page.get_by_label("Email address").fill("reader@example")
    with page.expect_navigation():
        page.get_by_role("button", name="Subscribe").click()
    assert page.get_by_role("alert").count() == 1
    assert_fits_and_accessible(page, axe_source, width)  # the form again, with the error announced
    page.get_by_label("Email address").fill(address)
    with page.expect_navigation():
        page.get_by_label("Email address").press("Enter")
    assert page.get_by_role("status").count() == 1
    assert_fits_and_accessible(page, axe_source, width)
    page.goto(_link(site, _mail(site, address)))
    assert page.get_by_text(address).count() >= 1
    assert_fits_and_accessible(page, axe_source, width)
    assert _status(site, address) == "pending"
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm my subscription").click()
    assert_fits_and_accessible(page, axe_source, width)
    assert _status(site, address) == "active"


def test_the_honeypot_is_out_of_sight_and_out_of_the_tab_order(
    site: Site, browser_page: Page
) -> None:
    page = browser_page
    page.goto(f"{site.url}/subscribe")
    trap = page.locator("input[name=website]")
    box = trap.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 0
    reached = []
    for _ in range(6):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.name || ''"))
    assert "email" in reached and "name" in reached and "website" not in reached
