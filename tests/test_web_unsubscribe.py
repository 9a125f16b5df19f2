"""Unsubscribe links over real HTTP: a GET only asks, a POST (one-click or the button) acts.

RFC 8058 and the 2024 Gmail/Yahoo bulk-sender rules: the POST needs no login or cookie, and
a GET must not unsubscribe by itself because mail scanners follow links.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tests.test_tokens import legacy_token
from tests.test_web_app import BASE_TOML, LIST_ID, SECRET, Site, serve_site

from digest.sending.personalise import Personaliser
from digest.sending.tokens import make_token

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with serve_site(tmp_path) as s:
        yield s


def test_get_names_the_newsletter_masks_the_address_and_unsubscribes_nobody(site: Site) -> None:
    token = make_token("ann@example.org", SECRET, LIST_ID)
    response = httpx.get(f"{site.url}/unsubscribe/{token}")
    assert response.status_code == 200
    assert "Stop sending Test Weekly to" in response.text
    assert "a•••@example.org" in response.text
    assert "ann@example.org" not in response.text
    form = re.search(r"<form[^>]*>", response.text)
    assert form and 'method="post"' in form.group(0) and "action" not in form.group(0)
    assert re.search(r'<button type="submit">Unsubscribe</button>', response.text)
    assert httpx.head(f"{site.url}/unsubscribe/{token}").status_code == 200
    with site.ledger() as ledger:
        assert ledger.is_suppressed("ann@example.org") is None


def test_page_is_for_phones_and_dark_mode_and_keeps_the_token_private(site: Site) -> None:
    response = httpx.get(f"{site.url}/unsubscribe/{make_token('ann@example.org', SECRET, LIST_ID)}")
    html = response.text
    assert '<html lang="en" dir="ltr">' in html
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert 'name="color-scheme" content="light dark"' in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers


def test_one_click_post_suppresses_with_no_login_and_no_cookie(site: Site) -> None:
    token = make_token("Ann@Example.org", SECRET, LIST_ID)
    response = httpx.post(f"{site.url}/unsubscribe/{token}", data=ONE_CLICK)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "set-cookie" not in response.headers
    with site.ledger() as ledger:
        assert ledger.is_suppressed("ann@example.org") == "unsubscribed"
        assert ledger.suppression_count() == 1


def test_one_click_sent_as_multipart_form_data_also_counts(site: Site) -> None:
    token = make_token("bob@example.org", SECRET, LIST_ID)
    response = httpx.post(
        f"{site.url}/unsubscribe/{token}", files={"List-Unsubscribe": (None, "One-Click")}
    )
    assert response.status_code == 200
    with site.ledger() as ledger:
        assert ledger.is_suppressed("bob@example.org") == "unsubscribed"


def test_repeated_post_is_idempotent(site: Site) -> None:
    token = make_token("ann@example.org", SECRET, LIST_ID)
    for _ in range(3):
        assert httpx.post(f"{site.url}/unsubscribe/{token}", data=ONE_CLICK).status_code == 200
    with site.ledger() as ledger:
        assert ledger.suppression_count() == 1


def test_the_pages_button_confirms_in_a_page(site: Site) -> None:
    token = make_token("ann@example.org", SECRET, LIST_ID)
    response = httpx.post(f"{site.url}/unsubscribe/{token}", data={"confirm": "yes"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "a•••@example.org" in response.text and "no more issues of Test Weekly" in response.text
    assert "ann@example.org" not in response.text
    with site.ledger() as ledger:
        assert ledger.is_suppressed("ann@example.org") == "unsubscribed"


def test_undo_on_the_confirmation_page_restores_the_reader_at_once(site: Site) -> None:
    token = make_token("ann@example.org", SECRET, LIST_ID)
    page = httpx.post(f"{site.url}/unsubscribe/{token}", data={"confirm": "yes"})
    form = re.search(r'<form method="post">\s*<input type="hidden" name="undo"', page.text)
    assert form and "Undo" in page.text
    undone = httpx.post(f"{site.url}/unsubscribe/{token}", data={"undo": "yes"})
    assert undone.status_code == 200
    assert "a•••@example.org" in undone.text and "will keep getting Test Weekly" in undone.text
    with site.ledger() as ledger:
        assert ledger.is_suppressed("ann@example.org") is None


def test_the_link_opened_again_after_unsubscribing_says_so_and_offers_undo(site: Site) -> None:
    token = make_token("ann@example.org", SECRET, LIST_ID)
    url = f"{site.url}/unsubscribe/{token}"
    assert "Stop sending Test Weekly to" in httpx.get(url).text
    httpx.post(url, data=ONE_CLICK).raise_for_status()
    again = httpx.get(url)
    assert again.status_code == 200
    assert "is already unsubscribed from Test Weekly" in again.text
    assert "a•••@example.org" in again.text and "ann@example.org" not in again.text
    assert '<button type="submit">Unsubscribe</button>' not in again.text
    assert 'name="undo"' in again.text
    httpx.post(url, data={"undo": "yes"}).raise_for_status()
    assert "Stop sending Test Weekly to" in httpx.get(url).text
    with site.ledger() as ledger:
        assert ledger.is_suppressed("ann@example.org") is None


def test_undo_keeps_a_bounce_or_complaint_suppression(site: Site) -> None:
    with site.ledger() as ledger:
        ledger.suppress([("bob@example.org", "complained")], source="webhook")
    token = make_token("bob@example.org", SECRET, LIST_ID)
    assert httpx.post(f"{site.url}/unsubscribe/{token}", data={"undo": "yes"}).status_code == 200
    with site.ledger() as ledger:
        assert ledger.is_suppressed("bob@example.org") == "complained"


def test_undo_needs_a_valid_token(site: Site) -> None:
    with site.ledger() as ledger:
        ledger.suppress([("ann@example.org", "unsubscribed")], source="one-click")
    forged = make_token("ann@example.org", "some-other-secret-0123456789", LIST_ID)
    assert httpx.post(f"{site.url}/unsubscribe/{forged}", data={"undo": "yes"}).status_code == 400
    with site.ledger() as ledger:
        assert ledger.is_suppressed("ann@example.org") == "unsubscribed"


def test_a_form_that_is_not_utf8_unsubscribes_and_never_undoes(site: Site) -> None:
    """Unreadable, a POST is taken at its word, an unsubscribe: the one reading that can
    never mail a reader who asked not to be (an undo is never guessed from junk)."""
    url = f"{site.url}/unsubscribe/{make_token('ann@example.org', SECRET, LIST_ID)}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = httpx.post(url, content=b"List-Unsubscribe=One-Click&x=\xff", headers=form)
    assert answer.status_code == 200 and "Unsubscribed" in answer.text
    with site.ledger() as ledger:
        assert ledger.is_suppressed("ann@example.org") == "unsubscribed"
    for body in (b"undo=yes&x=\xff", b"undo=%ff%fe"):
        answer = httpx.post(url, content=body, headers=form)
        assert answer.status_code == 200 and "Unsubscribed" in answer.text
    with site.ledger() as ledger:
        assert ledger.is_suppressed("ann@example.org") == "unsubscribed"


def test_forged_and_malformed_tokens_are_400_and_reveal_no_address(site: Site) -> None:
    forged = make_token("ann@example.org", "some-other-secret-0123456789", LIST_ID)
    other_list = make_token("ann@example.org", SECRET, "other.example.org")
    good = make_token("bob@example.org", SECRET, LIST_ID)
    tampered = good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:]
    legacy_forged = legacy_token("ann@example.org", "some-other-secret-0123456789")
    for token in (forged, other_list, tampered, legacy_forged, "garbage", "a.b.c", "x.", ".y"):
        page = httpx.get(f"{site.url}/unsubscribe/{token}")
        assert page.status_code == 400, token
        assert "not valid" in page.text
        assert "ann@example.org" not in page.text and "bob@example.org" not in page.text
        post = httpx.post(f"{site.url}/unsubscribe/{token}", data=ONE_CLICK)
        assert post.status_code == 400, token
        button = httpx.post(f"{site.url}/unsubscribe/{token}", data={"confirm": "yes"})
        assert button.status_code == 400 and "Nobody has been unsubscribed" in button.text
    with site.ledger() as ledger:
        assert ledger.suppression_count() == 0


def test_a_digest_0_1_link_still_unsubscribes_during_the_transition(site: Site) -> None:
    token = legacy_token("old@example.org", SECRET)
    assert "o•••@example.org" in httpx.get(f"{site.url}/unsubscribe/{token}").text
    assert httpx.post(f"{site.url}/unsubscribe/{token}", data=ONE_CLICK).status_code == 200
    with site.ledger() as ledger:
        assert ledger.is_suppressed("old@example.org") == "unsubscribed"


def test_digest_0_1_links_are_refused_once_the_transition_is_over(tmp_path: Path) -> None:
    with serve_site(tmp_path, BASE_TOML + "[serve]\nlegacy_tokens = false\n") as site:
        token = legacy_token("old@example.org", SECRET)
        assert httpx.post(f"{site.url}/unsubscribe/{token}", data=ONE_CLICK).status_code == 400
        new = make_token("new@example.org", SECRET, LIST_ID)
        assert httpx.post(f"{site.url}/unsubscribe/{new}", data=ONE_CLICK).status_code == 200


def test_markup_in_an_address_is_shown_as_text(site: Site) -> None:
    token = make_token("ann@<script>x</script>.org", SECRET, LIST_ID)
    html = httpx.get(f"{site.url}/unsubscribe/{token}").text
    assert "<script>x" not in html
    assert "a•••@&lt;script&gt;x&lt;/script&gt;.org" in html


def test_a_send_in_progress_skips_an_address_unsubscribed_between_batches(site: Site) -> None:
    emails = ["a@example.org", "b@example.org", "c@example.org"]
    with site.ledger() as ledger:
        ledger.start_issue("issue-12", "hash", "subject")
        ledger.add_recipients("issue-12", [(e, "", {}, None) for e in emails])
        first = ledger.plan_batch("issue-12", "hash", 1)
        assert first is not None and [m.email for m in ledger.members(first)] == emails[:1]
        token = make_token("c@example.org", SECRET, LIST_ID)
        assert httpx.post(f"{site.url}/unsubscribe/{token}", data=ONE_CLICK).status_code == 200
        second = ledger.plan_batch("issue-12", "hash", 10)
        assert second is not None
        assert [m.email for m in ledger.members(second)] == ["b@example.org"]
        states = {e: s for e, s, _ in ledger.recipient_states("issue-12")}
    assert states["c@example.org"] == "suppressed"


def test_the_link_the_send_job_puts_in_mail_is_the_one_the_app_answers(tmp_path: Path) -> None:
    toml = BASE_TOML.replace(
        "https://example.org/unsubscribe/{token}", "https://example.org/news/leave/{slug}/{token}"
    )
    with serve_site(tmp_path, toml) as site:
        link = Personaliser(site.settings, "issue-12", "weekly@example.org").unsubscribe_url(
            "ann@example.org"
        )
        path = urlsplit(link).path
        assert path.startswith("/news/leave/issue-12/")
        assert "a•••@example.org" in httpx.get(site.url + path).text
        assert httpx.post(site.url + path, data=ONE_CLICK).status_code == 200
        token = make_token("bob@example.org", SECRET, LIST_ID)
        assert httpx.get(f"{site.url}/unsubscribe/{token}").status_code == 404
        with site.ledger() as ledger:
            assert ledger.is_suppressed("ann@example.org") == "unsubscribed"


def test_a_token_in_the_query_string_works_too(tmp_path: Path) -> None:
    toml = BASE_TOML.replace("/unsubscribe/{token}", "/unsubscribe?list=weekly&t={token}")
    with serve_site(tmp_path, toml) as site:
        link = Personaliser(site.settings, "issue-12", "weekly@example.org").unsubscribe_url(
            "ann@example.org"
        )
        parts = urlsplit(link)
        url = f"{site.url}{parts.path}?{parts.query}"
        assert "a•••@example.org" in httpx.get(url).text
        assert httpx.post(url, data=ONE_CLICK).status_code == 200
        assert httpx.get(f"{site.url}/unsubscribe").status_code == 404
        with site.ledger() as ledger:
            assert ledger.is_suppressed("ann@example.org") == "unsubscribed"


def test_an_email_in_the_link_template_may_hold_a_slash(tmp_path: Path) -> None:
    toml = BASE_TOML.replace("/unsubscribe/{token}", "/leave/{email}/{token}")
    with serve_site(tmp_path, toml) as site:
        link = Personaliser(site.settings, "issue-12", "weekly@example.org").unsubscribe_url(
            "odd/name@example.org"
        )
        path = urlsplit(link).path
        assert "%2F" in path
        assert httpx.post(site.url + path, data=ONE_CLICK).status_code == 200
        with site.ledger() as ledger:
            assert ledger.is_suppressed("odd/name@example.org") == "unsubscribed"


def test_page_css_keeps_the_font_stack_unescaped(site: Site) -> None:
    html = httpx.get(
        f"{site.url}/unsubscribe/{make_token('ann@example.org', SECRET, LIST_ID)}"
    ).text
    assert "font-family: -apple-system, 'Segoe UI'" in html
    assert "&#39;Segoe UI" not in html
