"""SendGrid adapter against a fake built from SendGrid's v3 Mail Send documentation."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.servers.support import Sleeps, make_batch, make_content, make_settings, recipients

from digest.delivery.sendgrid import SendGridProvider
from digest.errors import AccountDeliveryError, ConfigError
from digest.message import Address, Recipient

if TYPE_CHECKING:
    from tests.servers.kit import Reply, Request
    from tests.servers.sendgrid import FakeSendGrid

pytest_plugins = ["tests.servers.kit", "tests.servers.sendgrid"]


def provider(fake: FakeSendGrid, sleeps: Sleeps | None = None, key: str | None = None,
             **delivery: object) -> SendGridProvider:
    settings = make_settings("sendgrid", {"base_url": fake.url},
                             {"SENDGRID_API_KEY": key or fake.api_key}, **delivery)
    return SendGridProvider(settings, sleep=sleeps if sleeps is not None else Sleeps())


def test_one_call_carries_the_body_once_and_each_recipient_reads_their_own(
    sendgrid: FakeSendGrid,
) -> None:
    marker = "This week: "
    rs = recipients(5)
    with provider(sendgrid) as p:
        results = p.deliver(make_batch(rs))
    [req] = sendgrid.server.requests  # type: ignore[union-attr]
    assert req.body.count(marker.encode()) == 2  # once in the text part, once in the HTML
    assert [r.ok for r in results] == [True] * 5
    assert {r.message_id for r in results} == {sendgrid.message_ids[0]}
    for r in rs:
        [d] = sendgrid.mailbox.to(r.email)
        url = r.fields["unsubscribe_url"]
        assert f"Hello {r.name}," in d.html and f"Hello {r.name}," in d.text
        assert f'href="{url.replace("&", "&amp;")}"' in d.html
        assert f"Unsubscribe: {url}\n" in d.text
        assert d.subject == f"Weekly digest for {r.name}"
        assert d.headers["List-Unsubscribe"] == f"<{url}>"
        assert d.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert d.meta["custom_args"]["digest_issue"] == "2026-w48"
        assert d.meta["custom_args"]["digest_id"] == r.digest_id
        assert "2026-w48" in d.meta["categories"]
        assert d.meta["to"] == {"email": r.email, "name": r.name}


def test_defaults_fill_in_for_missing_fields(sendgrid: FakeSendGrid) -> None:
    anon = Recipient(email="anon@example.com", fields={"unsubscribe_url": "https://u/1"})
    with provider(sendgrid) as p:
        [res] = p.deliver(make_batch([anon]))
    assert res.ok
    [d] = sendgrid.mailbox.to(anon.email)
    assert "Hello reader," in d.html and "Hello reader," in d.text
    assert d.subject == "Weekly digest for you"


def test_html_values_are_escaped_and_text_values_are_not(sendgrid: FakeSendGrid) -> None:
    r = Recipient(email="amp@example.com", name='Tom & "Jerry" <x>',
                  fields={"unsubscribe_url": "https://u/2"})
    with provider(sendgrid) as p:
        p.deliver(make_batch([r]))
    [d] = sendgrid.mailbox.to(r.email)
    assert "Hello Tom &amp; &quot;Jerry&quot; &lt;x&gt;," in d.html
    assert 'Hello Tom & "Jerry" <x>,' in d.text


def test_names_with_commas_or_semicolons_are_cleaned_not_refused(sendgrid: FakeSendGrid) -> None:
    r = Recipient(email="doe@example.com", name="Doe, Jane; PhD")
    with provider(sendgrid) as p:
        [res] = p.deliver(make_batch([r]))
    assert res.ok
    assert sendgrid.mailbox.to(r.email)[0].meta["to"]["name"] == "Doe Jane PhD"


def test_more_than_1000_recipients_go_in_calls_of_at_most_1000(sendgrid: FakeSendGrid) -> None:
    rs = recipients(2500)
    with provider(sendgrid) as p:
        results = p.deliver(make_batch(rs))
    assert all(r.ok for r in results)
    assert [len(b["personalizations"]) for b in sendgrid.accepted] == [1000, 1000, 500]
    assert all(sendgrid.count(r.email) == 1 for r in rs)


def test_a_large_body_is_not_multiplied_by_the_recipients(sendgrid: FakeSendGrid) -> None:
    """200 KB of HTML to 500 people is one call of about 300 KB, not 100 MB."""
    big = make_content(html="<p>" + "y" * 200_000 + " @@digest.name@@</p>")
    with provider(sendgrid) as p:
        results = p.deliver(make_batch(recipients(500), big))
    assert all(r.ok for r in results)
    [req] = sendgrid.server.requests  # type: ignore[union-attr]
    assert len(req.body) < 450_000  # the body once, plus ~500 bytes a personalization


def test_one_bad_address_is_isolated_and_the_rest_delivered(sendgrid: FakeSendGrid) -> None:
    rs = recipients(8)
    bad = Recipient(email="broken@", name="Broken")
    batch = [*rs[:5], bad, *rs[5:]]
    with provider(sendgrid) as p:
        results = p.deliver(make_batch(batch))
    assert [r.email for r in results] == [r.email for r in batch]
    assert [r.ok for r in results] == [True] * 5 + [False] + [True] * 3
    assert "Does not contain a valid address" in (results[5].error or "")
    assert not results[5].retryable
    assert all(sendgrid.count(r.email) == 1 for r in rs)
    assert len(sendgrid.server.requests) == 2  # type: ignore[union-attr]


def test_each_bad_address_named_by_sendgrid_costs_one_more_call(sendgrid: FakeSendGrid) -> None:
    rs = recipients(6)
    bads = [Recipient(email=e) for e in ("x@", "@y.org", "no-at-sign")]
    batch = [bads[0], *rs[:3], bads[1], *rs[3:], bads[2]]
    with provider(sendgrid) as p:
        results = p.deliver(make_batch(batch))
    assert [r.ok for r in results] == [False, True, True, True, False, True, True, True, False]
    assert len(sendgrid.server.requests) == 4  # type: ignore[union-attr]
    assert all(sendgrid.count(r.email) == 1 for r in rs)


def test_a_named_culprit_is_not_sent_again_when_the_rest_meets_a_server_error(
    sendgrid: FakeSendGrid,
) -> None:
    """One delivery loop: the retry after the 503 carries only the recipients still live."""
    server = sendgrid.server
    assert server is not None
    app = server.app

    def refuse_then_fail_once(req: Request) -> Reply:
        reply = app(req)
        if len(server.requests) == 1:
            server.faults.fail(1, status=503)
        return reply

    server.app = refuse_then_fail_once
    rs = recipients(4)
    sleeps = Sleeps()
    with provider(sendgrid, sleeps) as p:
        results = p.deliver(make_batch([rs[0], Recipient(email="broken@"), *rs[1:]]))
    assert [r.ok for r in results] == [True, False, True, True, True]
    assert [q.status for q in server.requests] == [400, 503, 202]
    assert len(sleeps) == 1
    assert all(sendgrid.count(r.email) == 1 for r in rs)


def test_a_bad_sender_fails_everyone_without_splitting(sendgrid: FakeSendGrid) -> None:
    """SendGrid blames ``from.email``: no recipient is at fault, halving would not help."""
    bad_from = make_content(sender=Address("not-an-address", "News"))
    with provider(sendgrid) as p:
        results = p.deliver(make_batch(recipients(16), bad_from))
    assert len(sendgrid.server.requests) == 1  # type: ignore[union-attr]
    assert all(not r.ok and not r.retryable for r in results)
    assert "from" in (results[0].error or "")


def test_a_repeated_address_is_sent_once(sendgrid: FakeSendGrid) -> None:
    """SendGrid refuses an address twice in one request; the repeat shares the first result."""
    rs = recipients(4)
    with provider(sendgrid) as p:
        results = p.deliver(make_batch([*rs, Recipient(email=rs[0].email.upper())]))
    assert [r.ok for r in results] == [True] * 5
    assert results[4].message_id == results[0].message_id
    assert sendgrid.count(rs[0].email) == 1
    assert len(sendgrid.server.requests) == 1  # type: ignore[union-attr]


def test_a_refusal_naming_no_one_is_split_to_find_the_culprit(sendgrid: FakeSendGrid) -> None:
    """Too many recipients over to+cc+bcc is blamed on ``personalizations``: the base halves."""
    sendgrid.max_recipients = 3
    rs = recipients(6)
    with provider(sendgrid) as p:
        results = p.deliver(make_batch(rs))
    assert all(r.ok for r in results)
    assert all(sendgrid.count(r.email) == 1 for r in rs)
    assert len(sendgrid.server.requests) == 3  # type: ignore[union-attr]


def test_429_waits_until_the_rate_limit_reset(sendgrid: FakeSendGrid) -> None:
    sleeps = Sleeps()
    reset = int(time.time()) + 12
    sendgrid.server.faults.throttle(  # type: ignore[union-attr]
        1, retry_after=None,
        headers={"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
                 "X-RateLimit-Reset": str(reset)},
        body={"errors": [{"field": None, "message": "too many requests"}]},
    )
    rs = recipients(2)
    with provider(sendgrid, sleeps) as p:
        results = p.deliver(make_batch(rs))
    assert all(r.ok for r in results)
    assert len(sleeps) == 1 and 9.0 <= sleeps[0] <= 12.0
    assert all(sendgrid.count(r.email) == 1 for r in rs)


def test_server_errors_are_retried_then_every_recipient_fails_retryable(
    sendgrid: FakeSendGrid,
) -> None:
    sleeps = Sleeps()
    sendgrid.server.faults.fail_for(60, status=503)  # type: ignore[union-attr]
    with provider(sendgrid, sleeps, max_retries=2) as p:
        results = p.deliver(make_batch(recipients(3)))
    assert len(sendgrid.server.requests) == 3  # type: ignore[union-attr]
    assert len(sleeps) == 2
    assert all(not r.ok and r.retryable for r in results)


@pytest.mark.parametrize("fault", ["stall", "drop"])
def test_a_stall_or_a_dropped_connection_leaves_the_batch_unknown_never_resent(
    sendgrid: FakeSendGrid, fault: str
) -> None:
    """SendGrid has no idempotency key and no free search: a lost answer is not retried."""
    faults = sendgrid.server.faults  # type: ignore[union-attr]
    faults.stall(1, seconds=5, process=True) if fault == "stall" else faults.drop(1, process=True)
    rs = recipients(3)
    with provider(sendgrid, timeout=0.3) as p:
        results = p.deliver(make_batch(rs))
        assert p.reconciles is False
    assert all(r.unknown and not r.ok and not r.retryable for r in results)
    assert len(sendgrid.server.requests) == 1  # type: ignore[union-attr]
    assert all(sendgrid.count(r.email) == 1 for r in rs)


def test_a_bad_key_fails_at_once_without_splitting(sendgrid: FakeSendGrid) -> None:
    sleeps = Sleeps()
    with provider(sendgrid, sleeps, key="SG.wrong") as p, pytest.raises(AccountDeliveryError) as e:
        p.deliver(make_batch(recipients(6)))
    assert len(sendgrid.server.requests) == 1  # type: ignore[union-attr]
    assert sleeps == []
    assert "authorization grant is invalid" in str(e.value) and "SENDGRID_API_KEY" in str(e.value)


def test_the_key_never_shows_in_logs_errors_or_reprs(
    sendgrid: FakeSendGrid, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "SG.very-secret-value-42"
    bad = provider(sendgrid, key=secret)
    with pytest.raises(AccountDeliveryError) as err:
        bad.deliver(make_batch(recipients(2)))
    good = provider(sendgrid)
    sendgrid.server.faults.fail(1, status=500, body=f"echo {sendgrid.api_key}")  # type: ignore[union-attr]
    results = good.deliver(make_batch(recipients(2)))
    texts = [caplog.text, repr(bad), repr(good), str(err.value), repr(results),
             *(r.error or "" for r in results)]
    assert not any(secret in t or sendgrid.api_key in t for t in texts)
    bad.close()
    good.close()


def test_a_missing_key_names_the_variable_to_set(sendgrid: FakeSendGrid) -> None:
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        SendGridProvider(make_settings("sendgrid", {"base_url": sendgrid.url}, {}))


def test_the_fake_refuses_what_the_docs_refuse(sendgrid: FakeSendGrid) -> None:
    """The fake itself: html before text, and over 1,000 personalizations, are refused."""
    auth = {"Authorization": f"Bearer {sendgrid.api_key}"}
    base = {"from": {"email": "a@example.org"}, "subject": "s",
            "personalizations": [{"to": [{"email": "b@example.org"}]}]}
    wrong_order = {**base, "content": [{"type": "text/html", "value": "<p>x</p>"},
                                       {"type": "text/plain", "value": "x"}]}
    r = httpx.post(f"{sendgrid.url}/v3/mail/send", json=wrong_order, headers=auth)
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "content"
    too_many = {**base, "content": [{"type": "text/plain", "value": "x"}],
                "personalizations": [{"to": [{"email": f"r{i}@example.org"}]}
                                     for i in range(1001)]}
    r = httpx.post(f"{sendgrid.url}/v3/mail/send", json=too_many, headers=auth)
    assert r.status_code == 400
    assert "limited to 1000 personalizations" in r.json()["errors"][0]["message"]
    assert len(sendgrid.mailbox) == 0
