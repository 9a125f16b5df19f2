"""Mailgun adapter against a fake built from Mailgun's messages and batch-sending docs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.servers.support import Sleeps, make_batch, make_content, make_settings, recipients

from digest.delivery.mailgun import MailgunProvider
from digest.errors import AccountDeliveryError, ConfigError
from digest.message import Address, Recipient

if TYPE_CHECKING:
    from tests.servers.mailgun import FakeMailgun

pytest_plugins = ["tests.servers.kit", "tests.servers.mailgun"]

DOMAIN = "mg.example.org"


def provider(fake: FakeMailgun, sleeps: Sleeps | None = None, key: str | None = None,
             options: dict[str, Any] | None = None, **delivery: object) -> MailgunProvider:
    opts = {"domain": DOMAIN, "base_url": fake.url, **(options or {})}
    settings = make_settings("mailgun", opts, {"MAILGUN_API_KEY": key or fake.api_key},
                             **delivery)
    return MailgunProvider(settings, sleep=sleeps if sleeps is not None else Sleeps())


def test_one_form_call_gives_each_recipient_a_message_of_their_own(mailgun: FakeMailgun) -> None:
    rs = recipients(4)
    with provider(mailgun) as p:
        results = p.deliver(make_batch(rs))
    [req] = mailgun.server.requests  # type: ignore[union-attr]
    assert req.header("Content-Type", "").startswith("multipart/form-data; boundary=")
    assert int(req.header("Content-Length", "0")) == len(req.body)
    assert req.path == f"/v3/{DOMAIN}/messages"
    assert [r.ok for r in results] == [True] * 4
    assert {r.message_id for r in results} == {mailgun.ids[0]}
    for r in rs:
        [d] = mailgun.mailbox.to(r.email)
        url = r.fields["unsubscribe_url"]
        assert d.meta["To"] == f"{r.name} <{r.email}>"
        assert d.subject == f"Weekly digest for {r.name}"
        assert f"Hello {r.name}," in d.html and f"Hello {r.name}," in d.text
        assert f'href="{url.replace("&", "&amp;")}"' in d.html
        assert f"Unsubscribe: {url}\n" in d.text
        assert d.headers["List-Unsubscribe"] == f"<{url}>"
        assert d.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert d.headers["Reply-To"] == "The Editor <editor@example.org>"
        assert d.meta["tags"][0] == "2026-w48" and len(d.meta["tags"]) <= 3
        assert d.meta["variables"]["digest-issue"] == "2026-w48"
        assert "%recipient." not in d.html + d.text + d.subject
    events = {e["recipient"]: e["user-variables"]["digest_id"] for _, e in mailgun.events}
    assert events == {r.email: r.digest_id for r in rs}


def test_html_values_are_escaped_and_text_values_are_not(mailgun: FakeMailgun) -> None:
    r = Recipient(email="amp@example.com", name="Ann <b>&</b>",
                  fields={"unsubscribe_url": "https://u/1"})
    with provider(mailgun) as p:
        p.deliver(make_batch([r]))
    [d] = mailgun.mailbox.to(r.email)
    assert "Hello Ann &lt;b&gt;&amp;&lt;/b&gt;," in d.html
    assert "Hello Ann <b>&</b>," in d.text
    assert d.subject == "Weekly digest for Ann <b>&</b>"


def test_defaults_fill_in_for_missing_fields(mailgun: FakeMailgun) -> None:
    r = Recipient(email="anon@example.com", fields={"unsubscribe_url": "https://u/2"})
    with provider(mailgun) as p:
        p.deliver(make_batch([r]))
    [d] = mailgun.mailbox.to(r.email)
    assert "Hello reader," in d.html and d.subject == "Weekly digest for you"


def test_region_picks_the_endpoint_and_base_url_overrides_it(mailgun: FakeMailgun) -> None:
    env = {"MAILGUN_API_KEY": "k"}
    us = MailgunProvider(make_settings("mailgun", {"domain": DOMAIN}, env))
    eu = MailgunProvider(make_settings("mailgun", {"domain": DOMAIN, "region": "eu"}, env))
    proxy = MailgunProvider(make_settings(
        "mailgun", {"domain": DOMAIN, "region": "eu", "base_url": "http://127.0.0.1:9/"}, env))
    assert us.base_url() == "https://api.mailgun.net"
    assert eu.base_url() == "https://api.eu.mailgun.net"
    assert proxy.base_url() == "http://127.0.0.1:9"
    with pytest.raises(ConfigError, match="region"):
        MailgunProvider(make_settings("mailgun", {"domain": DOMAIN, "region": "asia"}, env))
    with pytest.raises(ConfigError, match="domain"):
        MailgunProvider(make_settings("mailgun", {}, env))


def test_more_than_1000_recipients_go_in_calls_of_at_most_1000(mailgun: FakeMailgun) -> None:
    rs = recipients(2100)
    with provider(mailgun) as p:
        results = p.deliver(make_batch(rs))
    assert all(r.ok for r in results)
    assert [len(f["to"]) for f in mailgun.accepted] == [1000, 1000, 100]
    assert all(mailgun.count(r.email) == 1 for r in rs)


def test_one_bad_address_is_isolated_by_splitting(mailgun: FakeMailgun) -> None:
    rs = recipients(7)
    bad = Recipient(email="nobody@", name="")
    batch = [*rs[:3], bad, *rs[3:]]
    with provider(mailgun) as p:
        results = p.deliver(make_batch(batch))
    assert [r.ok for r in results] == [True, True, True, False, True, True, True, True]
    assert "not a valid address" in (results[3].error or "")
    assert not results[3].retryable
    assert all(mailgun.count(r.email) == 1 for r in rs)


def test_a_bad_sender_fails_everyone_without_splitting(mailgun: FakeMailgun) -> None:
    with provider(mailgun) as p:
        results = p.deliver(make_batch(recipients(8), make_content(sender=Address("nope"))))
    assert len(mailgun.server.requests) == 1  # type: ignore[union-attr]
    assert all(not r.ok and not r.retryable for r in results)
    assert "from parameter" in (results[0].error or "")


def test_an_unknown_domain_fails_everyone_without_splitting(mailgun: FakeMailgun) -> None:
    with provider(mailgun, options={"domain": "other.example.org"}) as p:
        results = p.deliver(make_batch(recipients(8)))
    assert len(mailgun.server.requests) == 1  # type: ignore[union-attr]
    assert all("Domain not found" in (r.error or "") for r in results)


def test_429_with_an_http_date_retry_after_is_honoured(mailgun: FakeMailgun) -> None:
    sleeps = Sleeps()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    mailgun.server.faults.throttle(1, retry_after=when)  # type: ignore[union-attr]
    rs = recipients(2)
    with provider(mailgun, sleeps) as p:
        results = p.deliver(make_batch(rs))
    assert all(r.ok for r in results)
    assert len(sleeps) == 1 and 17.0 <= sleeps[0] <= 20.0
    assert all(mailgun.count(r.email) == 1 for r in rs)


def test_retry_after_longer_than_max_backoff_is_capped(mailgun: FakeMailgun) -> None:
    sleeps = Sleeps()
    mailgun.server.faults.throttle(1, retry_after="3600")  # type: ignore[union-attr]
    with provider(mailgun, sleeps, max_backoff=45.0) as p:
        p.deliver(make_batch(recipients(1)))
    assert sleeps == [45.0]


def test_server_errors_are_retried_then_every_recipient_fails_retryable(
    mailgun: FakeMailgun,
) -> None:
    sleeps = Sleeps()
    mailgun.server.faults.fail(20, status=503)  # type: ignore[union-attr]
    with provider(mailgun, sleeps, max_retries=4) as p:
        results = p.deliver(make_batch(recipients(3)))
    assert len(mailgun.server.requests) == 5  # type: ignore[union-attr]
    assert len(sleeps) == 4
    assert all(not r.ok and r.retryable for r in results)
    assert len(mailgun.mailbox) == 0


@pytest.mark.parametrize("fault", ["stall", "drop", "502"])
def test_a_lost_answer_leaves_the_batch_unknown_never_resent(
    mailgun: FakeMailgun, fault: str
) -> None:
    faults = mailgun.server.faults  # type: ignore[union-attr]
    {"stall": lambda: faults.stall(1, seconds=5), "drop": lambda: faults.drop(1),
     "502": lambda: faults.fail(1, status=502)}[fault]()
    sleeps = Sleeps()
    with provider(mailgun, sleeps, timeout=0.3) as p:
        results = p.deliver(make_batch(recipients(2)))
    assert all(r.unknown and not r.ok and not r.retryable for r in results)
    assert len(mailgun.server.requests) == 1 and sleeps == []  # type: ignore[union-attr]


def test_a_bad_key_fails_at_once_with_mailguns_answer(mailgun: FakeMailgun) -> None:
    sleeps = Sleeps()
    with provider(mailgun, sleeps, key="key-wrong") as p, pytest.raises(AccountDeliveryError) as e:
        p.deliver(make_batch(recipients(5)))
    assert len(mailgun.server.requests) == 1  # type: ignore[union-attr]
    assert sleeps == []
    assert "Forbidden" in str(e.value) and "status 401" in str(e.value)
    assert "MAILGUN_API_KEY" in str(e.value)


def test_the_key_never_shows_in_logs_errors_or_reprs(
    mailgun: FakeMailgun, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "key-secret-but-wrong-77"
    bad = provider(mailgun, key=secret)
    with pytest.raises(AccountDeliveryError) as err:
        bad.deliver(make_batch(recipients(2)))
    good = provider(mailgun)
    mailgun.server.faults.fail(1, status=502, body=f"upstream said {mailgun.api_key}")  # type: ignore[union-attr]
    results = good.deliver(make_batch(recipients(2)))
    texts = [caplog.text, repr(bad), repr(good), str(err.value), repr(results),
             *(r.error or "" for r in results)]
    assert not any(secret in t or mailgun.api_key in t for t in texts)
    bad.close()
    good.close()


def test_a_missing_key_names_the_variable_to_set(mailgun: FakeMailgun) -> None:
    with pytest.raises(ConfigError, match="MAILGUN_API_KEY"):
        MailgunProvider(make_settings("mailgun", {"domain": DOMAIN, "base_url": mailgun.url}, {}))


def test_the_fake_shows_everyone_to_everyone_without_recipient_variables(
    mailgun: FakeMailgun,
) -> None:
    """Why the adapter always sends recipient-variables: the docs' warning, made visible."""
    r = httpx.post(
        f"{mailgun.url}/v3/{DOMAIN}/messages",
        auth=("api", mailgun.api_key),
        data={"from": "a@example.org", "to": ["b@example.org", "c@example.org"],
              "subject": "s", "text": "t"},
    )
    assert r.status_code == 200 and r.json()["message"] == "Queued. Thank you."
    assert [d.meta["To"] for d in mailgun.mailbox.deliveries] == [
        "b@example.org, c@example.org"
    ] * 2


def test_the_fake_refuses_what_the_docs_refuse(mailgun: FakeMailgun) -> None:
    """The fake itself: 1,001 recipients, 16 kB of send options, a missing body."""
    url = f"{mailgun.url}/v3/{DOMAIN}/messages"
    auth = ("api", mailgun.api_key)
    base = {"from": "a@example.org", "subject": "s", "text": "t"}
    r = httpx.post(url, auth=auth,
                   data={**base, "to": [f"r{i}@example.org" for i in range(1001)]})
    assert (r.status_code, r.json()["message"]) == (400, "Too many recipients; max is 1000")
    r = httpx.post(url, auth=auth, data={**base, "to": "b@example.org", "v:big": "x" * 17000})
    assert r.status_code == 400 and "16 kB" in r.json()["message"]
    r = httpx.post(url, auth=auth, data={"from": "a@example.org", "to": "b@example.org"})
    assert r.status_code == 400 and "text" in r.json()["message"]
    assert len(mailgun.mailbox) == 0


def test_a_lost_answer_is_found_in_the_accepted_events_by_digest_id(mailgun: FakeMailgun) -> None:
    """Mailgun took the batch, the answer was lost: nothing is resent, and the Events API
    (accepted events tagged with the issue, paged 300 at a time) finds every recipient."""
    mailgun.server.faults.drop(1, process=True)  # type: ignore[union-attr]
    rs = recipients(320)
    content = make_content()
    since = datetime.now(UTC) - timedelta(seconds=5)
    with provider(mailgun) as p:
        assert p.reconciles and not p.idempotent
        results = p.deliver(make_batch(rs, content))
        assert all(r.unknown for r in results)
        found = p.accepted(content, [*rs, *recipients(1, start=900)], since)
        assert p.issue_messages(content) == 1
        assert p.issue_messages(make_content(issue_id="2026-w49")) == 0
        mailgun.search_lag = 60.0
        assert p.accepted(content, rs[:1], since) == {}
    assert found == {r.digest_id: mailgun.ids[0] for r in rs}
    assert all(mailgun.count(r.email) == 1 for r in rs)
    pages = [q for q in mailgun.server.requests if q.method == "GET"]  # type: ignore[union-attr]
    assert pages[0].query["event"] == ["accepted"] and pages[0].query["tags"] == ["2026-w48"]
    assert len(pages) >= 2, "320 events take two pages of 300"
