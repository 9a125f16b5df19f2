"""The Resend adapter against a fake Resend built from Resend's documentation."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from digest.config import Settings
from digest.delivery.base import get_provider
from digest.delivery.resend import ResendProvider, idempotency_key
from digest.errors import AccountDeliveryError, ConfigError, PermanentDeliveryError
from digest.message import Address, Batch, Content, Recipient
from servers.kit import LoopbackServer, RateWindow, Waited, loopback
from servers.resend import FakeResend, mailbox
from servers.support import make_settings, people

__all__ = ["loopback"]

KEY = "re_live_5ecret_value_123"

Start = Callable[[FakeResend], LoopbackServer]


def content() -> Content:
    return Content(
        issue_id="2026-47",
        subject="This week, @@digest.name|friend@@",
        html="<p>Hello @@digest.name|there@@</p><a href='https://example.org/u/@@digest.token@@'>x</a>",
        text="Hello @@digest.name|there@@",
        sender=Address("news@example.org", "Example, Weekly"),
        reply_to=Address("editor@example.org"),
        headers={
            "List-Unsubscribe": "<https://example.org/u/@@digest.token@@>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        tags=("weekly",),
    )


def provider(server: LoopbackServer, sleeps: list[float], **delivery: object) -> ResendProvider:
    settings = make_settings("resend", {"base_url": server.url}, {"RESEND_API_KEY": KEY},
                             **{"timeout": 0.5, **delivery})
    return ResendProvider(settings, sleep=sleeps.append)


@pytest.fixture
def fake() -> FakeResend:
    return FakeResend(api_key=KEY)


@pytest.fixture
def start(loopback: Callable[[FakeResend], LoopbackServer]) -> Start:
    return loopback


def test_documented_batch_request_is_accepted_and_ids_come_back(fake: FakeResend, start: Start):
    server = start(fake)
    sleeps: list[float] = []
    readers = people(3)
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), readers, "issue-2026-47/b0"))
    assert [r.ok for r in results] == [True, True, True]
    assert [r.message_id for r in results] == [s.id for s in fake.sent]
    (req,) = server.requests
    assert req.method == "POST" and req.path == "/emails/batch"
    assert req.header("authorization") == f"Bearer {KEY}"
    assert req.header("idempotency-key") == "digest/issue-2026-47/b0"
    assert req.header("x-batch-validation") == "strict"
    first = req.json[0]
    assert first["to"] == ["Reader 0 <reader0@example.com>"]
    assert first["from"] == '"Example, Weekly" <news@example.org>'
    assert first["subject"] == "This week, Reader 0"
    assert first["headers"]["List-Unsubscribe"] == "<https://example.org/u/t0>"
    assert {"name": "issue", "value": "2026-47"} in first["tags"]
    assert fake.sent[2].headers["List-Unsubscribe"] == "<https://example.org/u/t2>"
    assert all(fake.deliveries(r.email) == 1 for r in readers)
    assert sleeps == []


def test_more_than_100_recipients_go_in_calls_of_at_most_100(fake: FakeResend, start: Start):
    server = start(fake)
    readers = people(250)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "big"))
    assert all(r.ok for r in results)
    sizes = [len(r.json) for r in server.requests]
    assert sizes == [100, 100, 50]
    keys = [r.header("idempotency-key") for r in server.requests]
    assert keys == ["digest/big.0", "digest/big.1", "digest/big.2"]
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_lost_answer_is_retried_with_the_same_key_and_delivered_once(
    fake: FakeResend, start: Start
):
    server = start(fake)
    server.faults.drop(1, process=True)
    readers = people(5)
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), readers, "k1"))
    assert len(server.requests) == 2
    assert {r.header("idempotency-key") for r in server.requests} == {"digest/k1"}
    assert all(r.ok for r in results)
    assert [r.message_id for r in results] == [s.id for s in fake.sent]
    assert all(fake.deliveries(r.email) == 1 for r in readers)
    assert len(sleeps) == 1


def test_stalled_answer_times_out_and_the_retry_does_not_duplicate(
    fake: FakeResend, start: Start
):
    server = start(fake)
    server.faults.stall(1, seconds=2.0, process=True)
    readers = people(2)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "k-stall"))
    assert all(r.ok for r in results)
    assert len(server.requests) == 2
    assert server.requests[0].fault == "stall"
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_dropped_connection_before_processing_is_retried(fake: FakeResend, start: Start):
    server = start(fake)
    server.faults.drop(2)
    readers = people(2)
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), readers, "k-drop"))
    assert all(r.ok for r in results)
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_429_waits_as_long_as_retry_after_says(fake: FakeResend, start: Start):
    server = start(fake)
    server.faults.throttle(
        1, retry_after="7",
        body={"statusCode": 429, "name": "rate_limit_exceeded", "message": "Too many requests."},
    )
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), people(2), "k-429"))
    assert all(r.ok for r in results)
    assert sleeps == [7.0]
    assert len(fake.sent) == 2


def test_a_success_reporting_no_quota_left_makes_the_next_call_wait(start: Start):
    """Resend's ``ratelimit-remaining: 0`` on a 200 means the next call would get a 429."""
    fake = FakeResend(api_key=KEY, quota=RateWindow(1, 1))
    server = start(fake)
    waits = Waited(fake.quota)  # type: ignore[arg-type]
    with provider(server, waits) as p:
        first = p.deliver(Batch(content(), people(2), "k-quota-0"))
        second = p.deliver(Batch(content(), people(2, start=2), "k-quota-1"))
    assert all(r.ok for r in first + second)
    assert [q.status for q in server.requests] == [200, 200]
    assert len(waits) == 1 and 0 < waits[0] <= 1.0


def test_server_errors_are_retried_under_the_key_then_left_unknown(
    fake: FakeResend, start: Start
):
    """A 500 may have been processed: repeated under the same key, then (the repeats
    spent) unknown, for the next run to repeat under that key while Resend keeps it."""
    server = start(fake)
    server.faults.fail(10, status=500, body={"statusCode": 500, "name": "application_error",
                                             "message": "An unexpected error occurred."})
    sleeps: list[float] = []
    with provider(server, sleeps, max_retries=3) as p:
        results = p.deliver(Batch(content(), people(3), "k-500"))
    assert len(server.requests) == 4 and len(sleeps) == 3
    assert all(not r.ok and r.unknown and not r.retryable for r in results)
    assert len({q.headers["idempotency-key"] for q in server.requests}) == 1
    assert "An unexpected error occurred" in (results[0].error or "")
    assert fake.sent == []


def test_a_503_then_success_delivers_once(fake: FakeResend, start: Start):
    server = start(fake)
    server.faults.fail(1, status=503)
    readers = people(3)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "k-503"))
    assert all(r.ok for r in results)
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_a_wrong_key_fails_at_once_with_resends_own_message(start: Start):
    server = start(FakeResend(api_key="re_the_right_one"))
    sleeps: list[float] = []
    with provider(server, sleeps) as p, pytest.raises(AccountDeliveryError) as err:
        p.deliver(Batch(content(), people(4), "k-auth"))
    assert len(server.requests) == 1 and sleeps == []
    text = str(err.value)
    assert "API key is invalid" in text and "invalid_api_key" in text
    assert "RESEND_API_KEY" in text and KEY not in text


def test_one_bad_address_is_isolated_by_splitting_the_batch(fake: FakeResend, start: Start):
    server = start(fake)
    readers = people(4)
    readers[2] = Recipient("not-an-address", "Broken")
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "k-split"))
    assert [r.ok for r in results] == [True, True, False, True]
    assert "Invalid `to` field" in (results[2].error or "")
    assert not results[2].retryable
    assert [mailbox(s.to[0]) for s in fake.sent] == [
        "reader0@example.com", "reader1@example.com", "reader3@example.com"
    ]
    keys = [r.header("idempotency-key") for r in server.requests]
    assert len(set(keys)) == len(keys)


def test_a_key_still_in_flight_is_retried_not_failed(fake: FakeResend, start: Start):
    server = start(fake)
    server.faults.fail(1, status=409, body={
        "statusCode": 409, "name": "concurrent_idempotent_requests",
        "message": "Same idempotency key used while original request is still in progress.",
    })
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), people(2), "k-409"))
    assert all(r.ok for r in results)
    assert len(sleeps) == 1 and len(fake.sent) == 2


def test_a_key_reused_for_another_payload_fails_for_good(fake: FakeResend, start: Start):
    server = start(fake)
    with provider(server, []) as p:
        p.deliver(Batch(content(), people(2), "k-reuse"))
        results = p.deliver(Batch(content(), people(2, start=5), "k-reuse"))
    assert all(not r.ok and not r.retryable for r in results)
    assert "different request payload" in (results[0].error or "")
    assert len(fake.sent) == 2


def test_idempotency_keys_are_stable_and_within_256_characters():
    long = "issue/" + "x" * 400
    assert idempotency_key(long) == idempotency_key(long)
    assert len(idempotency_key(long)) <= 256
    assert idempotency_key(long) != idempotency_key(long + "y")
    assert idempotency_key("a/b.1") == "digest/a/b.1"
    assert idempotency_key("numéro-1").isascii()


def test_a_missing_api_key_is_a_config_error_naming_the_variable():
    settings = Settings.model_validate({"environ": {}})
    with pytest.raises(ConfigError, match="RESEND_API_KEY"):
        get_provider(settings, "resend")


def test_the_key_never_reaches_logs_errors_or_reprs(
    start: Start, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    server = start(FakeResend(api_key="re_other"))
    server.faults.fail(10, status=500, body={"message": f"echoed {KEY}"})
    with provider(server, [], max_retries=1) as p:
        results = p.deliver(Batch(content(), people(2), "k-secret"))
        texts = [repr(p), str(p), repr(p.settings), repr(p.options)]
    assert "echoed ***" in (results[0].error or "")
    texts += [r.error or "" for r in results] + [caplog.text]
    assert all(KEY not in t for t in texts)


def test_a_refusal_echoing_the_secret_is_scrubbed_from_the_exception(start: Start):
    server = start(FakeResend(api_key=KEY))
    server.faults.fail(
        1, status=400, body={"statusCode": 400, "name": "validation_error", "message": f"bad {KEY}"}
    )
    with provider(server, []) as p, pytest.raises(PermanentDeliveryError) as caught:
        p.send_batch(Batch(content(), people(1), "k-exc"))
    error = caught.value
    assert "bad ***" in str(error) and "bad ***" in error.body
    assert KEY not in str(error) + error.body + repr(error)


def test_each_email_carries_its_digest_id_as_a_tag(fake: FakeResend, start: Start):
    server = start(fake)
    r = Recipient("ann@example.com", "Ann", {"token": "t"}, f"<digest.{'a1' * 16}@example.org>")
    with provider(server, []) as p:
        [res] = p.deliver(Batch(content(), [r], "k-tag"))
    assert res.ok
    assert {"name": "digest_id", "value": "a1" * 16} in fake.sent[0].tags
    assert {"name": "issue", "value": "2026-47"} in fake.sent[0].tags


def test_a_refusal_after_a_lost_answer_leaves_the_batch_unknown_not_raised(
    fake: FakeResend, start: Start
):
    """The first call may have gone: a 401 on its repeat says nothing about that one."""
    server = start(fake)
    server.faults.drop(1, process=True)
    server.faults.fail(1, status=401, body={"statusCode": 401, "name": "missing_api_key",
                                            "message": "Missing API key."})
    with provider(server, [], max_retries=3) as p:
        results = p.deliver(Batch(content(), people(2), "k-lost-401"))
    assert all(not r.ok and r.unknown and not r.retryable for r in results)
    assert len(fake.sent) == 2


def test_no_repeat_after_the_key_s_life_even_within_the_run(fake: FakeResend, start: Start):
    """A repeat once the provider may have forgotten the key could be sent anew."""
    server = start(fake)
    server.faults.drop(1, process=True)
    with provider(server, [], max_retries=3) as p:
        p.idempotency_window = 0.0  # type: ignore[misc]
        results = p.deliver(Batch(content(), people(2), "k-late"))
    assert all(not r.ok and r.unknown for r in results)
    assert len(server.requests) == 1 and len(fake.sent) == 2
