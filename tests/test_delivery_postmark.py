"""Postmark adapter against a fake built from Postmark's batch API documentation."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

import httpx
import pytest
from tests.servers.support import Sleeps, make_batch, make_content, make_settings, recipients

from digest.delivery.postmark import PostmarkProvider
from digest.errors import AccountDeliveryError, ConfigError
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
        assert d.meta["Metadata"]["digest_id"] == r.digest_id
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


def test_503_is_not_processed_so_it_is_retried_then_every_recipient_fails_retryable(
    postmark: FakePostmark,
) -> None:
    sleeps = Sleeps()
    postmark.server.faults.fail(10, status=503)  # type: ignore[union-attr]
    rs = recipients(4)
    with provider(postmark, sleeps, max_retries=3, backoff=1.0) as p:
        results = p.deliver(make_batch(rs))
    assert len(postmark.server.requests) == 4  # type: ignore[union-attr]
    assert len(sleeps) == 3
    for n, s in enumerate(sleeps):
        assert 0.5 * 2**n <= s <= 2**n
    assert [(r.ok, r.retryable, r.unknown) for r in results] == [(False, True, False)] * 4
    assert "status 503" in (results[0].error or "")
    assert len(postmark.mailbox) == 0


def test_503_for_a_while_then_recovery_delivers(postmark: FakePostmark) -> None:
    postmark.server.faults.fail(2, status=503)  # type: ignore[union-attr]
    with provider(postmark) as p:
        results = p.deliver(make_batch(recipients(2)))
    assert all(r.ok for r in results)
    assert len(postmark.mailbox) == 2


@pytest.mark.parametrize("fault", ["500", "stall", "drop"])
def test_a_lost_answer_is_never_sent_again_blindly_its_recipients_are_unknown(
    postmark: FakePostmark, fault: str
) -> None:
    """A 500 (maybe processed), a stall past the timeout or a dropped connection: one call,
    no retry, every recipient unknown."""
    faults = postmark.server.faults  # type: ignore[union-attr]
    {"500": lambda: faults.fail(1, status=500), "stall": lambda: faults.stall(1, seconds=5),
     "drop": lambda: faults.drop(1)}[fault]()
    sleeps = Sleeps()
    with provider(postmark, sleeps, timeout=0.3) as p:
        results = p.deliver(make_batch(recipients(2)))
    assert [(r.ok, r.retryable, r.unknown) for r in results] == [(False, False, True)] * 2
    assert len(postmark.server.requests) == 1 and sleeps == []  # type: ignore[union-attr]


def test_a_lost_answer_is_found_in_the_outbound_search_by_digest_id(
    postmark: FakePostmark,
) -> None:
    """Postmark accepted, the answer was lost: nothing is sent twice, and the Messages API
    says who was accepted (matched on Metadata.digest_id)."""
    postmark.server.faults.drop(1, process=True)  # type: ignore[union-attr]
    rs = recipients(3)
    content = make_content()
    with provider(postmark) as p:
        assert p.idempotent is False and p.reconciles is True
        results = p.deliver(make_batch(rs, content))
        found = p.accepted(content, [*rs, *recipients(1, start=7)], datetime.now(UTC))
    assert all(r.unknown for r in results)
    assert all(postmark.count(r.email) == 1 for r in rs)
    assert found == {r.digest_id: postmark.mailbox.to(r.email)[0].message_id for r in rs}
    search = postmark.server.requests[-1]  # type: ignore[union-attr]
    assert (search.method, search.path) == ("GET", "/messages/outbound")
    assert search.query["tag"] == ["2026-w48"] and search.query["count"] == ["500"]


def test_the_search_pages_through_the_issue_and_respects_the_lag(
    postmark: FakePostmark,
) -> None:
    rs = recipients(620)
    content = make_content()
    since = datetime.now(UTC)
    with provider(postmark) as p:
        assert all(r.ok for r in p.deliver(make_batch(rs, content)))
        oldest = rs[:3]
        assert set(p.accepted(content, oldest, since)) == {r.digest_id for r in oldest}
        offsets = [q.query["offset"][0] for q in postmark.server.requests  # type: ignore[union-attr]
                   if q.method == "GET"]
        assert offsets == ["0", "500"]
        assert p.issue_messages(content) == 620
        assert p.issue_messages(make_content(issue_id="2026-w49")) == 0
        postmark.search_lag = 60.0
        assert p.accepted(content, oldest, since) == {}, "not searchable yet: not found"


def test_a_bad_token_stops_at_once_naming_the_variable(postmark: FakePostmark) -> None:
    sleeps = Sleeps()
    with (
        provider(postmark, sleeps, token="wrong-token-123") as p,
        pytest.raises(AccountDeliveryError) as err,
    ):
        p.deliver(make_batch(recipients(3)))
    assert len(postmark.server.requests) == 1  # type: ignore[union-attr]
    assert sleeps == []
    text = str(err.value)
    assert "valid Server token" in text and "ErrorCode 10" in text and "status 401" in text
    assert "POSTMARK_SERVER_TOKEN" in text and "wrong-token-123" not in text


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
    with pytest.raises(AccountDeliveryError) as err:
        p.deliver(make_batch(recipients(2)))
    good = provider(postmark)
    good.deliver(make_batch(recipients(1)))
    texts = [caplog.text, repr(p), str(p), str(err.value), repr(err.value)]
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
