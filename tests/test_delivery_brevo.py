"""The Brevo adapter against a fake Brevo built from Brevo's documentation."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping

import pytest

from digest.config import Settings
from digest.delivery.base import get_provider
from digest.delivery.brevo import BrevoProvider, idempotency_key
from digest.errors import AccountDeliveryError, ConfigError, PermanentDeliveryError
from digest.message import Address, Batch, Content, Recipient
from servers.brevo import FakeBrevo
from servers.kit import LoopbackServer, RateWindow, Reply, Request, Waited, loopback
from servers.support import make_settings, people

__all__ = ["loopback"]

KEY = "xkeysib-0123456789abcdef-SeCrEt"
SHARED_HEADERS = {
    "List-Unsubscribe": "<mailto:unsubscribe@example.org>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}
PERSONAL_HEADERS = {
    "List-Unsubscribe": "<https://example.org/u/@@digest.token@@>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}

Start = Callable[[FakeBrevo], LoopbackServer]


def content(headers: Mapping[str, str] = SHARED_HEADERS, html: str = "") -> Content:
    return Content(
        issue_id="2026-47",
        subject="This week, @@digest.name|friend@@",
        html=html or "<p>Hello @@digest.name|there@@</p>",
        text="Hello @@digest.name|there@@",
        sender=Address("news@example.org", "Example Weekly"),
        reply_to=Address("editor@example.org", "The Editor"),
        headers=headers,
        tags=("weekly",),
    )


def provider(server: LoopbackServer, sleeps: list[float], **delivery: object) -> BrevoProvider:
    settings = make_settings("brevo", {"base_url": server.url}, {"BREVO_API_KEY": KEY},
                             **{"timeout": 0.5, **delivery})
    return BrevoProvider(settings, sleep=sleeps.append)


@pytest.fixture
def fake() -> FakeBrevo:
    return FakeBrevo(api_key=KEY)


@pytest.fixture
def start(loopback: Callable[[FakeBrevo], LoopbackServer]) -> Start:
    return loopback


def test_documented_message_versions_request_is_accepted(fake: FakeBrevo, start: Start):
    server = start(fake)
    readers = people(3)
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), readers, "issue-2026-47/b0"))
    assert all(r.ok for r in results)
    assert [r.message_id for r in results] == [s.message_id for s in fake.sent]
    (req,) = server.requests
    assert req.path == "/v3/smtp/email" and req.header("api-key") == KEY
    body = req.json
    key = body["headers"]["idempotencyKey"]
    assert uuid.UUID(key) and key == idempotency_key("issue-2026-47/b0")
    assert body["headers"]["List-Unsubscribe"] == "<mailto:unsubscribe@example.org>"
    assert body["sender"] == {"email": "news@example.org", "name": "Example Weekly"}
    assert body["replyTo"] == {"email": "editor@example.org", "name": "The Editor"}
    assert [v["to"] for v in body["messageVersions"]] == [
        [{"email": r.email, "name": r.name}] for r in readers
    ]
    assert body["messageVersions"][1]["subject"] == "This week, Reader 1"
    assert fake.sent[2].html == "<p>Hello Reader 2</p>"
    assert all(fake.deliveries(r.email) == 1 for r in readers)
    assert sleeps == []


def test_parts_without_placeholders_are_sent_once_not_per_version(fake: FakeBrevo, start: Start):
    server = start(fake)
    plain = Content(issue_id="i", subject="Same for all", html="<p>same</p>", text="same",
                    sender=Address("news@example.org"))
    with provider(server, []) as p:
        results = p.deliver(Batch(plain, people(2), "plain"))
    assert all(r.ok for r in results)
    versions = server.requests[0].json["messageVersions"]
    assert all(set(v) == {"to"} for v in versions)
    assert fake.sent[1].html == "<p>same</p>" and fake.sent[1].subject == "Same for all"


def test_personal_headers_go_in_one_call_per_header_set(fake: FakeBrevo, start: Start):
    server = start(fake)
    readers = people(3)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(PERSONAL_HEADERS), readers, "personal"))
    assert all(r.ok for r in results)
    assert len(server.requests) == 3
    unsubscribe = {s.to[0]: s.headers["List-Unsubscribe"] for s in fake.sent}
    assert unsubscribe == {r.email: f"<https://example.org/u/{r.fields['token']}>" for r in readers}
    keys = [r.json["headers"]["idempotencyKey"] for r in server.requests]
    assert len(set(keys)) == 3


def test_a_failure_between_header_groups_does_not_resend_the_first_group(
    fake: FakeBrevo, start: Start
):
    server = start(fake)
    readers = people(3)

    def second_call_fails(req: Request) -> Reply:
        """The first header group goes through; the second call meets a 500."""
        if len(server.requests) == 2:
            return Reply(500, {"code": "internal_error", "message": "try later"})
        return fake(req)

    server.app = second_call_fails
    with provider(server, []) as p:
        results = p.deliver(Batch(content(PERSONAL_HEADERS), readers, "groups"))
    assert all(r.ok for r in results)
    assert [r.status for r in server.requests] == [201, 500, 400, 201, 201]
    assert results[0].message_id == fake.sent[0].message_id
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_more_than_1000_recipients_go_in_calls_of_at_most_1000(fake: FakeBrevo, start: Start):
    server = start(fake)
    readers = people(2500)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "big"))
    assert all(r.ok for r in results)
    assert [len(r.json["messageVersions"]) for r in server.requests] == [1000, 1000, 500]
    assert len(fake.sent) == 2500 and fake.deliveries("reader2499@example.com") == 1


def test_large_personal_bodies_are_split_to_stay_under_the_byte_cap(
    fake: FakeBrevo, start: Start
):
    server = start(fake)
    big = "<p>@@digest.name@@</p>" + "<p>" + "x" * 20_000 + "</p>"
    readers = people(900)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(html=big), readers, "heavy"))
    assert all(r.ok for r in results)
    assert len(server.requests) > 1
    assert all(len(r.body) <= 8_000_000 for r in server.requests)
    assert sum(len(r.json["messageVersions"]) for r in server.requests) == 900


def test_lost_answer_retry_is_refused_as_duplicate_and_counted_once(
    fake: FakeBrevo, start: Start
):
    server = start(fake)
    server.faults.drop(1, process=True)
    readers = people(4)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "lost"))
    assert len(server.requests) == 2
    assert server.requests[1].status == 400
    assert all(r.ok for r in results)
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_a_restarted_send_within_30_minutes_does_not_resend(fake: FakeBrevo, start: Start):
    server = start(fake)
    readers = people(3)
    with provider(server, []) as first:
        before = first.deliver(Batch(content(), readers, "restart"))
    with provider(server, []) as second:
        after = second.deliver(Batch(content(), readers, "restart"))
    assert [r.message_id for r in before] == [s.message_id for s in fake.sent]
    assert all(r.ok and r.message_id is None for r in after)
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_429_waits_for_the_sib_rate_limit_reset(fake: FakeBrevo, start: Start):
    server = start(fake)
    server.faults.throttle(1, retry_after=None, headers={
        "x-sib-ratelimit-limit": "100", "x-sib-ratelimit-remaining": "0",
        "x-sib-ratelimit-reset": "12",
    }, body={"code": "too_many_requests", "message": "The expected rate limit is exceeded."})
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), people(2), "k-429"))
    assert all(r.ok for r in results)
    assert sleeps == [12.0]


def test_a_success_reporting_no_quota_left_makes_the_next_call_wait(start: Start):
    """Brevo reports its quota in ``x-sib-ratelimit-*`` on every answer, not only on a 429."""
    fake = FakeBrevo(api_key=KEY, quota=RateWindow(1, 2))
    server = start(fake)
    waits = Waited(fake.quota)  # type: ignore[arg-type]
    with provider(server, waits) as p:
        first = p.deliver(Batch(content(), people(2), "k-quota-0"))
        second = p.deliver(Batch(content(), people(2, start=2), "k-quota-1"))
    assert all(r.ok for r in first + second)
    assert [q.status for q in server.requests] == [201, 201]
    assert len(waits) == 1 and 0 < waits[0] <= 2.0


def test_a_429_past_the_quota_waits_for_the_reset_it_reports(start: Start):
    fake = FakeBrevo(api_key=KEY, quota=RateWindow(1, 3))
    server = start(fake)
    waits = Waited(fake.quota)  # type: ignore[arg-type]
    fake.quota.take()  # type: ignore[union-attr]  # another client spent the window
    with provider(server, waits) as p:
        results = p.deliver(Batch(content(), people(2), "k-quota-429"))
    assert all(r.ok for r in results)
    assert [q.status for q in server.requests] == [429, 201]
    assert waits == [3.0]


def test_server_errors_are_retried_then_left_unknown(fake: FakeBrevo, start: Start):
    """A 502 may have been processed: repeated under the key, then unknown."""
    server = start(fake)
    server.faults.fail(10, status=502)
    sleeps: list[float] = []
    with provider(server, sleeps, max_retries=2) as p:
        results = p.deliver(Batch(content(), people(2), "k-5xx"))
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert all(not r.ok and r.unknown and not r.retryable for r in results)
    assert fake.sent == []


def test_stall_and_drop_are_retried(fake: FakeBrevo, start: Start):
    server = start(fake)
    server.faults.stall(1, seconds=2.0)
    server.faults.drop(1)
    readers = people(2)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "k-flaky"))
    assert all(r.ok for r in results)
    assert [r.fault for r in server.requests] == ["stall", "drop", None]
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_a_wrong_key_fails_at_once_with_brevos_message(start: Start):
    server = start(FakeBrevo(api_key="xkeysib-right"))
    sleeps: list[float] = []
    with provider(server, sleeps) as p, pytest.raises(AccountDeliveryError) as err:
        p.deliver(Batch(content(), people(3), "k-auth"))
    assert len(server.requests) == 1 and sleeps == []
    assert "unauthorized: Key not found" in str(err.value) and "BREVO_API_KEY" in str(err.value)


def test_one_bad_address_is_isolated_by_splitting(fake: FakeBrevo, start: Start):
    server = start(fake)
    readers = people(4)
    readers[1] = Recipient("broken@", "Broken")
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "k-bad"))
    assert [r.ok for r in results] == [True, False, True, True]
    assert "email is not valid" in (results[1].error or "")
    assert sorted(s.to[0] for s in fake.sent) == [
        "reader0@example.com", "reader2@example.com", "reader3@example.com"
    ]


def test_a_missing_api_key_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="BREVO_API_KEY"):
        get_provider(Settings.model_validate({"environ": {}}), "brevo")


def test_the_key_never_reaches_logs_errors_or_reprs(
    start: Start, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    server = start(FakeBrevo(api_key="xkeysib-other"))
    server.faults.fail(10, status=500, body={"code": "x", "message": f"bad key {KEY}"})
    with provider(server, [], max_retries=1) as p:
        results = p.deliver(Batch(content(), people(2), "k-secret"))
        texts = [repr(p), repr(p.settings), repr(p.options), caplog.text]
    assert "bad key ***" in (results[0].error or "")
    assert all(KEY not in t for t in [*texts, *(r.error or "" for r in results)])


def test_a_refusal_echoing_the_secret_is_scrubbed_from_the_exception(start: Start):
    server = start(FakeBrevo(api_key=KEY))
    server.faults.fail(
        1, status=400, body={"code": "invalid_parameter", "message": f"bad {KEY}"}
    )
    with provider(server, []) as p, pytest.raises(PermanentDeliveryError) as caught:
        p.send_batch(Batch(content(), people(1), "k-exc"))
    error = caught.value
    assert "bad ***" in str(error) and "bad ***" in error.body
    assert KEY not in str(error) + error.body + repr(error)
