"""Sign-up with double opt-in over real HTTP: ``digest serve`` on loopback, the file backend
catching the confirmation mail, the ledger on a real SQLite file."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.send_support import issue_yaml
from tests.test_web_app import SECRET, Site, serve_site

from digest.sending import Subscribers, prepare_issue, send_issue
from digest.sending.signup import ConfirmTokens

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOML = """
[newsletter]
name = "Test Weekly"
from = "Test Weekly <weekly@example.org>"
website = "https://www.example.org"
[links]
unsubscribe_url = "https://example.org/unsubscribe/{token}"
[sending]
ledger = "ledger.sqlite3"
[audience]
source = "subscribers"
[providers.file]
dir = "outbox"
[subscribe]
enabled = true
ip_limit = 8
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with serve_site(tmp_path, TOML) as s:
        yield s


def _mail(site: Site, address: str, timeout: float = 15) -> email.message.EmailMessage:
    """The confirmation mail the server's background task wrote for ``address``."""
    path = site.folder / "outbox" / "digest-confirm" / f"{address}.eml"
    deadline = time.monotonic() + timeout
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.is_file(), "no confirmation mail was written"
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def _link(site: Site, msg: email.message.EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    m = re.search(r"https://example\.org(/confirm/\S+)", body.get_content())
    assert m, "no confirmation link in the mail"
    return site.url + m.group(1)


def _status(site: Site, address: str) -> str | None:
    with site.ledger() as ledger:
        who = Subscribers(ledger).get(address)
    return who.status if who else None


def _sign_up(site: Site, address: str, **extra: str) -> httpx.Response:
    return httpx.post(f"{site.url}/subscribe", data={"email": address, **extra}, timeout=10)


def test_sign_up_confirm_by_button_and_the_next_send_includes_the_reader(site: Site) -> None:
    form = httpx.get(f"{site.url}/subscribe")
    assert form.status_code == 200 and 'name="email"' in form.text
    answer = _sign_up(site, "ann@example.org", name="Ann")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert _status(site, "ann@example.org") == "pending"
    link = _link(site, _mail(site, "ann@example.org"))
    for _ in range(2):  # a link scanner, then the reader: neither GET confirms
        page = httpx.get(link)
        assert page.status_code == 200 and "ann@example.org" in page.text
        assert re.search(r'<form method="post">', page.text)
    assert _status(site, "ann@example.org") == "pending"
    done = httpx.post(link, data={"confirm": "yes"})
    assert done.status_code == 200 and "from the next issue on" in done.text
    assert _status(site, "ann@example.org") == "active"
    (site.folder / "issue.yaml").write_text(issue_yaml(), encoding="utf-8")
    report = send_issue(site.settings, prepare_issue(site.settings, site.folder / "issue.yaml"))
    assert report.sent_now == 1
    assert list((site.folder / "outbox").glob("issue-7*/ann@example.org.eml"))


def test_repeated_sign_ups_of_one_address_send_one_confirmation_per_window(site: Site) -> None:
    stamp, message_id = _mail_after(site, "ann@example.org")
    answers = [_sign_up(site, "ann@example.org").text for _ in range(4)]
    assert len(set(answers)) == 1
    # mails go out in the order they were queued: once Bob's is written, any second mail
    # to Ann would have been written before it
    _mail_after(site, "bob@example.org")
    path = site.folder / "outbox" / "digest-confirm" / "ann@example.org.eml"
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert path.stat().st_mtime_ns == stamp and msg["Message-ID"] == message_id


def _mail_after(site: Site, address: str) -> tuple[int, str]:
    assert _sign_up(site, address).status_code == 200
    msg = _mail(site, address)
    path = site.folder / "outbox" / "digest-confirm" / f"{address}.eml"
    return path.stat().st_mtime_ns, str(msg["Message-ID"])


def test_forged_and_expired_tokens_change_nothing(site: Site) -> None:
    _sign_up(site, "ann@example.org")
    real = _link(site, _mail(site, "ann@example.org"))
    token = real.rsplit("/", 1)[1]
    with site.ledger() as ledger:
        confirm_id = ledger.db.execute("SELECT confirm_id FROM subscribers").fetchone()[0]
    forged = ConfirmTokens("another-secret-0123456789abcdef").make(confirm_id, time.time() + 999)
    expired = ConfirmTokens(SECRET).make(confirm_id, time.time() - 1)
    body, _, mac = token.partition(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    for bad in (forged, expired, tampered, "garbage", token + "x"):
        for method in ("GET", "POST"):
            answer = httpx.request(method, f"{site.url}/confirm/{bad}", data={"confirm": "yes"})
            assert answer.status_code == 400, (bad, method)
            assert "Nobody has been subscribed" in answer.text
            assert "ann@example.org" not in answer.text
    assert "expired" in httpx.get(f"{site.url}/confirm/{expired}").text
    assert _status(site, "ann@example.org") == "pending"


def test_the_answer_never_tells_whether_an_address_is_known(site: Site) -> None:
    with site.ledger() as ledger:
        from digest.sending import add_subscribers

        add_subscribers(ledger, ["known@example.org"], consent_text="ok")
    known = _sign_up(site, "known@example.org")
    new = _sign_up(site, "new@example.org")
    assert (known.status_code, known.text) == (new.status_code, new.text)
    assert _status(site, "known@example.org") == "active"


def test_refusals_are_friendly_pages_never_500(site: Site) -> None:
    url = f"{site.url}/subscribe"
    foreign = httpx.post(
        url, data={"email": "a@example.org"}, headers={"Origin": "https://evil.test"}
    )
    assert foreign.status_code == 403 and "<h1>" in foreign.text
    hidden = httpx.post(url, data={"email": "a@example.org"}, headers={"Origin": "null"})
    assert hidden.status_code == 403
    assert (
        httpx.post(
            url, data={"email": "a@example.org"}, headers={"Referer": "https://evil.test/x"}
        ).status_code
        == 403
    )
    allowed = httpx.post(
        url, data={"email": "a@example.org"}, headers={"Origin": "https://www.example.org"}
    )
    assert allowed.status_code == 200
    big = httpx.post(url, data={"email": "a@example.org", "name": "x" * 20000})
    assert big.status_code == 413 and "<h1>" in big.text
    wrong = httpx.post(url, json={"email": "a@example.org"})
    assert wrong.status_code == 415 and "<h1>" in wrong.text
    bad = _sign_up(site, "not an address")
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text
    assert 'value="not an address"' in bad.text
    many = httpx.post(url, content="&".join(f"f{i}=x" for i in range(50)), headers=FORM)
    assert many.status_code == 400 and "<h1>" in many.text
    odd = httpx.post(url, content=b"email=b%40example.org&name=\x00Bo%0D%0Ab", headers=FORM)
    assert odd.status_code == 200
    with site.ledger() as ledger:
        odd_one = Subscribers(ledger).get("b@example.org")
    assert odd_one is not None and odd_one.name == "Bo b"
    trap = _sign_up(site, "robot@example.org", website="http://spam.test")
    assert trap.status_code == 200 and "Check your inbox" in trap.text
    assert _status(site, "robot@example.org") is None
    assert _status(site, "a@example.org") == "pending"


@pytest.mark.parametrize(
    "body",
    [
        b"email=\xff\xfe@x.org",
        b"email=%ff%fe%40x.org",
        b"email=ann%40example.org&name=J%FCrgen",
    ],
    ids=["raw-bytes", "escaped-bytes", "latin-1-name"],
)
def test_a_form_that_is_not_utf8_is_refused_and_nothing_is_stored_or_mailed(
    site: Site, body: bytes
) -> None:
    """Decoded with replacement, bytes 0xFF 0xFE before ``@x.org`` were stored as two U+FFFD
    characters, and a confirmation mail was queued to that junk address."""
    answer = httpx.post(
        f"{site.url}/subscribe", content=body, headers={**FORM, "Origin": site.url}
    )
    assert answer.status_code == 400 and "This form could not be read" in answer.text
    assert "UTF-8" in answer.text
    assert _sign_up(site, "bob@example.org").status_code == 200
    _mail(site, "bob@example.org")  # the mail task has run past anything queued before
    with site.ledger() as ledger:
        assert [s.email for s in Subscribers(ledger).all()] == ["bob@example.org"]
    assert [p.name for p in (site.folder / "outbox" / "digest-confirm").iterdir()] == [
        "bob@example.org.eml"
    ]


def test_one_client_signing_up_too_often_gets_429_and_nothing_more_is_recorded(
    site: Site,
) -> None:
    codes = [_sign_up(site, f"r{i}@example.org").status_code for i in range(10)]
    assert codes == [200] * 8 + [429] * 2
    with site.ledger() as ledger:
        assert Subscribers(ledger).counts()["pending"] == 8
    refused = _sign_up(site, "late@example.org")
    assert "Retry-After" in refused.headers and "<h1>" in refused.text


def test_limits_hold_across_serve_workers_and_each_mail_goes_once(tmp_path: Path) -> None:
    """Two worker processes, one ledger: one client's limit and one address's window are
    counted in the ledger, not per process, and the two mail tasks never send a mail twice."""
    from tests.serve_process import serve_process

    with serve_process(tmp_path, TOML, args=("--workers", "2")) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            # new connections, so both workers take some of them
            codes = [
                client.post(
                    "/subscribe",
                    data={"email": f"r{i}@example.org"},
                    headers={"Connection": "close"},
                ).status_code
                for i in range(12)
            ]
            again = [
                client.post(
                    "/subscribe", data={"email": "r0@example.org"}, headers={"Connection": "close"}
                ).status_code
                for _ in range(3)
            ]
        assert codes == [200] * 8 + [429] * 4 and again == [429] * 3
        deadline = time.monotonic() + 20
        outbox = tmp_path / "outbox" / "digest-confirm"
        while len(list(outbox.glob("*.eml"))) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(list(outbox.glob("*.eml"))) == 8
        time.sleep(1)
        log = server.log_text()
    assert log.count("confirmation mail sent") == 8


def test_the_mail_task_purges_sign_ups_left_unconfirmed_past_the_configured_days(
    tmp_path: Path,
) -> None:
    from digest.sending import Ledger
    from digest.sending.subscribers import Subscribers as Store

    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        for address, when in (("old@example.org", "2020-01-01"), ("recent@example.org", None)):
            Store(ledger).sign_up(
                address,
                name="",
                lang="en",
                source="form:/subscribe",
                consent_text="Yes",
                consent_ip=None,
                confirm_id=address[:3].encode().hex(),
            )
            if when:
                ledger.db.execute(
                    "UPDATE subscribers SET consent_at = ? WHERE email_key = ?",
                    (f"{when}T00:00:00.000+00:00", address),
                )
    with serve_site(tmp_path, TOML) as site:
        _sign_up(site, "new@example.org")
        _mail(site, "new@example.org")
        deadline = time.monotonic() + 10
        while _status(site, "old@example.org") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _status(site, "old@example.org") is None
        assert _status(site, "recent@example.org") == "pending"


def test_unsubscribing_through_the_link_in_an_issue_sets_the_status(site: Site) -> None:
    from digest.sending import add_subscribers
    from digest.sending.tokens import make_token

    with site.ledger() as ledger:
        add_subscribers(ledger, ["ann@example.org"], consent_text="ok")
    token = make_token("ann@example.org", SECRET, site.settings.newsletter.list_id)
    answer = httpx.post(f"{site.url}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert _status(site, "ann@example.org") == "unsubscribed"


def test_the_consent_record_hashes_the_client_address_the_trusted_proxy_names(
    site: Site,
) -> None:
    from digest.sending.subscribers import Hasher

    answer = _sign_up(site, "ann@example.org", lang="en")
    assert answer.status_code == 200
    httpx.post(
        f"{site.url}/subscribe",
        data={"email": "bob@example.org"},
        headers={"X-Forwarded-For": "203.0.113.9"},  # from 127.0.0.1: a trusted proxy
    )
    with site.ledger() as ledger:
        ann, bob = (Subscribers(ledger).get(a) for a in ("ann@example.org", "bob@example.org"))
    assert ann is not None and bob is not None
    assert bob.consent_ip == Hasher(SECRET).ip("203.0.113.9")
    assert ann.consent_ip == Hasher(SECRET).ip("127.0.0.1")
    assert bob.consent_source == "form:/subscribe" and bob.consent_text.startswith("Yes, send me")
    assert b"203.0.113.9" not in (site.folder / "ledger.sqlite3").read_bytes()
