"""Postmark adapter against a fake built from Postmark's batch API documentation."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

import httpx
import pytest
from tests.servers.support import Sleeps, make_batch, make_content, make_settings, recipients

from digest.delivery.postmark import PostmarkProvider
from digest.errors import ConfigError
from digest.message import Recipient

if TYPE_CHECKING:
    from tests.servers.postmark import FakePostmark

pytest_plugins = ["tests.servers.kit", "tests.servers.postmark"]


def provider(fake: FakePostmark, sleeps: Sleeps | None = None, token: str | None = None,
             **delivery: object) -> PostmarkProvider:
    settings = make_settings(
        "postmark", {"base_url": fake.url},
        {"POSTMARK_SERVER_TOKEN": token or fake.token}, **delivery,
    )
    return PostmarkProvider(settings, sleep=sleeps if sleeps is not None else Sleeps())


def test_each_recipient_gets_a_message_filled_for_them(postmark: FakePostmark) -> None:
    rs = recipients(3)
    with provider(postmark) as p:
        results = p.deliver(make_batch(rs))
    assert [r.ok for r in results] == [True, True, True]
    for r, res in zip(rs, results, strict=True):
        [d] = postmark.mailbox.to(r.email)
        assert res.message_id == d.message_id
        assert d.subject == f"Weekly digest for {r.name}"
        assert d.meta["To"] == f"{r.name} <{r.email}>"
        url = r.fields["unsubscribe_url"]
        assert f'href="{url.replace("&", "&amp;")}"' in d.html
        assert f"Unsubscribe: {url}\n" in d.text
        assert d.headers["List-Unsubscribe"] == f"<{url}>"
        assert d.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert d.headers["Message-ID"] == r.message_id
        assert d.meta["Tag"] == "2026-w48"
        assert d.meta["Metadata"]["digest_issue"] == "2026-w48"
        assert d.meta["MessageStream"] == "broadcast"
        assert d.meta["ReplyTo"] == "The Editor <editor@example.org>"


def test_message_stream_option_reaches_postmark(postmark: FakePostmark) -> None:
    settings = make_settings("postmark", {"base_url": postmark.url, "message_stream": "outbound"},
                             {"POSTMARK_SERVER_TOKEN": postmark.token})
    with PostmarkProvider(settings, sleep=Sleeps()) as p:
        p.deliver(make_batch(recipients(1)))
    assert postmark.mailbox.deliveries[0].meta["MessageStream"] == "outbound"


def test_unknown_stream_fails_every_message_with_postmarks_words(postmark: FakePostmark) -> None:
    settings = make_settings("postmark", {"base_url": postmark.url, "message_stream": "nope"},
                             {"POSTMARK_SERVER_TOKEN": postmark.token})
    with PostmarkProvider(settings, sleep=Sleeps()) as p:
        results = p.deliver(make_batch(recipients(2)))
    assert not any(r.ok for r in results)
    assert all("'nope' was not found" in (r.error or "") for r in results)


def test_more_than_500_recipients_go_in_calls_of_at_most_500(postmark: FakePostmark) -> None:
    rs = recipients(1201)
    with provider(postmark) as p:
        results = p.deliver(make_batch(rs))
    assert all(r.ok for r in results)
    assert [len(b) for b in postmark.batches] == [500, 500, 201]
    assert all(postmark.count(r.email) == 1 for r in rs)


def test_batches_are_cut_to_the_byte_limit(postmark: FakePostmark) -> None:
    """A provider with a smaller byte limit: every request fits, every recipient once."""

    class Small(PostmarkProvider):
        max_batch_bytes: ClassVar[int | None] = 120_000

    big = make_content(html="<p>" + "x" * 20_000 + " @@digest.name@@</p>")
    rs = recipients(20)
    settings = make_settings("postmark", {"base_url": postmark.url},
                             {"POSTMARK_SERVER_TOKEN": postmark.token})
    with Small(settings, sleep=Sleeps()) as p:
        results = p.deliver(make_batch(rs, big))
    assert all(r.ok for r in results)
    sizes = [len(req.body) for req in postmark.server.requests]  # type: ignore[union-attr]
    assert len(sizes) > 1
    assert max(sizes) <= 120_000
    assert all(postmark.count(r.email) == 1 for r in rs)


def test_429_waits_as_retry_after_says_then_delivers(postmark: FakePostmark) -> None:
    sleeps = Sleeps()
    postmark.server.faults.throttle(2, retry_after="7")  # type: ignore[union-attr]
    rs = recipients(3)
    with provider(postmark, sleeps) as p:
        results = p.deliver(make_batch(rs))
    assert all(r.ok for r in results)
    assert sleeps == [7.0, 7.0]
    assert all(postmark.count(r.email) == 1 for r in rs)


def test_server_errors_are_retried_then_every_recipient_fails_retryable(
    postmark: FakePostmark,
) -> None:
    sleeps = Sleeps()
    postmark.server.faults.fail(10, status=500)  # type: ignore[union-attr]
    rs = recipients(4)
    with provider(postmark, sleeps, max_retries=3, backoff=1.0) as p:
        results = p.deliver(make_batch(rs))
    assert len(postmark.server.requests) == 4  # type: ignore[union-attr]
    assert len(sleeps) == 3
    for n, s in enumerate(sleeps):
        assert 0.5 * 2**n <= s <= 2**n
    assert [(r.ok, r.retryable) for r in results] == [(False, True)] * 4
    assert "status 500" in (results[0].error or "")
    assert len(postmark.mailbox) == 0


def test_503_for_a_while_then_recovery_delivers(postmark: FakePostmark) -> None:
    postmark.server.faults.fail(2, status=503)  # type: ignore[union-attr]
    with provider(postmark) as p:
        results = p.deliver(make_batch(recipients(2)))
    assert all(r.ok for r in results)
    assert len(postmark.mailbox) == 2


def test_a_stall_past_the_timeout_is_retried(postmark: FakePostmark) -> None:
    postmark.server.faults.stall(1, seconds=5)  # type: ignore[union-attr]
    rs = recipients(2)
    with provider(postmark, timeout=0.3) as p:
        results = p.deliver(make_batch(rs))
    assert all(r.ok for r in results)
    assert [q.fault for q in postmark.server.requests] == ["stall", None]  # type: ignore[union-attr]
    assert all(postmark.count(r.email) == 1 for r in rs)


def test_a_dropped_connection_is_retried(postmark: FakePostmark) -> None:
    postmark.server.faults.drop(1)  # type: ignore[union-attr]
    rs = recipients(2)
    with provider(postmark) as p:
        results = p.deliver(make_batch(rs))
    assert all(r.ok for r in results)
    assert all(postmark.count(r.email) == 1 for r in rs)


def test_a_lost_answer_may_duplicate_because_postmark_has_no_idempotency(
    postmark: FakePostmark,
) -> None:
    """Postmark accepted, the answer was lost, the retry sent again: documented, not hidden."""
    postmark.server.faults.drop(1, process=True)  # type: ignore[union-attr]
    r = recipients(1)
    with provider(postmark) as p:
        assert p.idempotent is False
        [res] = p.deliver(make_batch(r))
    assert res.ok
    assert postmark.count(r[0].email) == 2


def test_a_bad_token_fails_at_once_with_postmarks_message(postmark: FakePostmark) -> None:
    sleeps = Sleeps()
    with provider(postmark, sleeps, token="wrong-token-123") as p:
        results = p.deliver(make_batch(recipients(3)))
    assert len(postmark.server.requests) == 1  # type: ignore[union-attr]
    assert sleeps == []
    for r in results:
        assert not r.ok and not r.retryable
        assert "valid Server token" in (r.error or "")
        assert "ErrorCode 10" in (r.error or "")
        assert "status 401" in (r.error or "")


def test_an_invalid_address_fails_only_that_recipient(postmark: FakePostmark) -> None:
    rs = recipients(3)
    bad = Recipient(email="not-an-address", name="")
    results = provider(postmark).deliver(make_batch([rs[0], bad, rs[1], rs[2]]))
    assert [r.ok for r in results] == [True, False, True, True]
    assert "ErrorCode 300" in (results[1].error or "")
    assert not results[1].retryable
    assert all(postmark.count(r.email) == 1 for r in rs)


def test_an_inactive_recipient_fails_alone_and_is_not_retried(postmark: FakePostmark) -> None:
    rs = recipients(3)
    postmark.inactive.add(rs[1].email)
    with provider(postmark) as p:
        results = p.deliver(make_batch(rs))
    assert [r.ok for r in results] == [True, False, True]
    assert "ErrorCode 406" in (results[1].error or "")
    assert "inactive" in (results[1].error or "")
    assert results[1].retryable is False
    assert postmark.count(rs[1].email) == 0


def test_the_token_never_shows_in_logs_errors_or_reprs(
    postmark: FakePostmark, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wrong-but-secret-token-9f8e7d"
    caplog.set_level(logging.DEBUG)
    postmark.server.faults.throttle(1)  # type: ignore[union-attr]
    p = provider(postmark, token=secret)
    results = p.deliver(make_batch(recipients(2)))
    good = provider(postmark)
    good.deliver(make_batch(recipients(1)))
    texts = [caplog.text, repr(p), str(p), *(r.error or "" for r in results), repr(results)]
    assert not any(secret in t for t in texts)
    assert not any(postmark.token in t for t in [caplog.text, repr(good)])
    p.close()
    good.close()


def test_a_missing_token_names_the_variable_to_set(postmark: FakePostmark) -> None:
    settings = make_settings("postmark", {"base_url": postmark.url}, {})
    with pytest.raises(ConfigError, match="POSTMARK_SERVER_TOKEN"):
        PostmarkProvider(settings)


def test_a_bad_base_url_is_a_config_error() -> None:
    settings = make_settings("postmark", {"base_url": "api.postmarkapp.com"},
                             {"POSTMARK_SERVER_TOKEN": "x"})
    with pytest.raises(ConfigError, match="base_url"):
        PostmarkProvider(settings)


def test_the_fake_refuses_what_the_docs_refuse(postmark: FakePostmark) -> None:
    """The fake itself: over 500 messages (410), a non-JSON body (409), no token (401)."""
    headers = {"X-Postmark-Server-Token": postmark.token, "Accept": "application/json"}
    one = {"From": "a@example.org", "To": "b@example.org", "Subject": "s", "TextBody": "t"}
    r = httpx.post(f"{postmark.url}/email/batch", json=[one] * 501, headers=headers)
    assert (r.status_code, r.json()["ErrorCode"]) == (422, 410)
    r = httpx.post(f"{postmark.url}/email/batch", data={"x": "y"}, headers=headers)
    assert (r.status_code, r.json()["ErrorCode"]) == (422, 409)
    r = httpx.post(f"{postmark.url}/email/batch", json=[one])
    assert (r.status_code, r.json()["ErrorCode"]) == (401, 10)
    r = httpx.post(f"{postmark.url}/email/batch", json=[{**one, "TextBody": ""}], headers=headers)
    assert r.status_code == 200 and r.json()[0]["ErrorCode"] == 300
    assert len(postmark.mailbox) == 0
