"""`digest serve`'s pages as a reader's browser shows them: the unsubscribe question, the
confirmation after the button, and the error for a forged link, in real headless Chromium
at a phone's width and a desktop's, light and dark, scanned by axe-core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from tests.test_web_app import LIST_ID, SECRET, Site, serve_site

from digest.sending.tokens import make_token

from .checks import assert_fits_and_accessible

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve_site(tmp_path_factory.mktemp("site")) as s:
        yield s


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 1024])
def test_unsubscribe_question_and_confirmation_are_accessible(
    site: Site, browser_page: Page, axe_source: str, width: int, scheme: str
) -> None:
    page = browser_page
    page.set_viewport_size({"width": width, "height": 800})
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    token = make_token(f"reader-{width}-{scheme}@example.org", SECRET, LIST_ID)
    page.goto(f"{site.url}/unsubscribe/{token}")
    assert page.get_by_text("r•••@example.org").count() >= 1
    assert_fits_and_accessible(page, axe_source, width)
    with site.ledger() as ledger:
        assert ledger.is_suppressed(f"reader-{width}-{scheme}@example.org") is None
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    assert_fits_and_accessible(page, axe_source, width)
    with site.ledger() as ledger:
        assert ledger.is_suppressed(f"reader-{width}-{scheme}@example.org") == "unsubscribed"
    page.get_by_role("button", name="Undo: keep me subscribed").click()
    page.wait_for_load_state()
    assert page.get_by_text("will keep getting").count() == 1
    assert_fits_and_accessible(page, axe_source, width)
    with site.ledger() as ledger:
        assert ledger.is_suppressed(f"reader-{width}-{scheme}@example.org") is None


def test_forged_link_page_is_accessible_and_reveals_no_address(
    site: Site, browser_page: Page, axe_source: str
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 320, "height": 800})
    forged = make_token("victim@example.org", "another-secret-of-enough-length", LIST_ID)
    response = page.goto(f"{site.url}/unsubscribe/{forged}")
    assert response is not None and response.status == 400
    assert "victim@example.org" not in page.content()
    assert_fits_and_accessible(page, axe_source, 320)


def test_pages_need_no_network_beyond_the_site(site: Site, browser_page: Page) -> None:
    requested: list[str] = []
    browser_page.on("request", lambda r: requested.append(r.url))
    browser_page.goto(f"{site.url}/unsubscribe/{make_token('x@example.org', SECRET, LIST_ID)}")
    assert requested and all(u.startswith(site.url) for u in requested)


@pytest.fixture(scope="module")
def archive(site: Site) -> Site:
    """Two issues published into the folder the site serves (no view_online_url: relative links)."""
    from tests.test_archive import write_issue

    from digest.build import build_issue

    for number, day, headline in ((3, 20, "Older story"), (4, 27, "Newer story")):
        issue = write_issue(site.folder, number, day, headline)
        build_issue(issue, site.folder / "built", site.settings, web_dir=site.folder / "out")
    return site


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 1024])
def test_archive_index_is_accessible_newest_first_and_links_to_the_issues(
    archive: Site, browser_page: Page, axe_source: str, width: int, scheme: str
) -> None:
    page = browser_page
    page.set_viewport_size({"width": width, "height": 800})
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    response = page.goto(f"{archive.url}/issues/")
    assert response is not None and response.status == 200
    links = page.locator("ol.issues li a")
    assert links.all_inner_texts() == ["Test Weekly #4: Newer story", "Test Weekly #3: Older story"]
    assert page.locator("time").first.get_attribute("datetime") == "2026-11-27"
    assert_fits_and_accessible(page, axe_source, width)
    links.first.click()
    page.wait_for_load_state()
    assert page.url == f"{archive.url}/issues/issue-4.html"
    assert page.get_by_text("Newer story").count() >= 1


def test_archive_feed_is_served_as_atom_and_reads_back(archive: Site, browser_page: Page) -> None:
    import feedparser

    page = browser_page
    page.goto(f"{archive.url}/issues/")
    href = page.locator('link[rel="alternate"][type="application/atom+xml"]').get_attribute("href")
    assert href == "feed.xml"
    response = page.goto(f"{archive.url}/issues/{href}")
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.body())
    assert not feed.bozo
    assert [e.title for e in feed.entries] == [
        "Test Weekly #4: Newer story",
        "Test Weekly #3: Older story",
    ]
    assert [e.link for e in feed.entries] == ["issue-4.html", "issue-3.html"]
