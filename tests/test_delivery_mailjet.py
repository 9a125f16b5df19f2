"""The Mailjet adapter against a fake Send API v3.1 built from Mailjet's documentation."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from digest.config import Settings
from digest.delivery.base import get_provider
from digest.delivery.mailjet import MailjetProvider
from digest.errors import AccountDeliveryError, ConfigError, PermanentDeliveryError
from digest.message import Address, Batch, Content, Recipient
from servers.kit import LoopbackServer, loopback
from servers.mailjet import FakeMailjet
from servers.support import make_settings, people

__all__ = ["loopback"]

PUBLIC = "0a1b2c3d4e5f-public"
PRIVATE = "9f8e7d6c5b4a-PRIVATE-secret"

Start = Callable[[FakeMailjet], LoopbackServer]


def content(sender: str = "news@example.org") -> Content:
    return Content(
        issue_id="2026-47",
        subject="This week, @@digest.name|friend@@",
        html="<p>Hello @@digest.name|there@@</p>",
        text="Hello @@digest.name|there@@",
        sender=Address(sender, "Example Weekly"),
        reply_to=Address("editor@example.org"),
        headers={
            "List-Unsubscribe": "<https://example.org/u/@@digest.token@@>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def provider(server: LoopbackServer, sleeps: list[float], *, sandbox: bool = False,
             **delivery: object) -> MailjetProvider:
    keys = {"MJ_APIKEY_PUBLIC": PUBLIC, "MJ_APIKEY_PRIVATE": PRIVATE}
    settings = make_settings("mailjet", {"base_url": server.url, "sandbox": sandbox}, keys,
                             **{"timeout": 0.5, **delivery})
    return MailjetProvider(settings, sleep=sleeps.append)


@pytest.fixture
def fake() -> FakeMailjet:
    return FakeMailjet(public=PUBLIC, private=PRIVATE)


@pytest.fixture
def start(loopback: Callable[[FakeMailjet], LoopbackServer]) -> Start:
    return loopback


def test_documented_messages_request_is_accepted(fake: FakeMailjet, start: Start):
    server = start(fake)
    readers = people(3)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "issue-2026-47/b0"))
    assert all(r.ok for r in results)
    assert [r.message_id for r in results] == [str(s.message_id) for s in fake.sent]
    (req,) = server.requests
    assert req.path == "/v3.1/send" and req.status == 200
    user, _, password = base64.b64decode(req.header("authorization")[6:]).decode().partition(":")
    assert (user, password) == (PUBLIC, PRIVATE)
    m = req.json["Messages"][1]
    assert m["From"] == {"Email": "news@example.org", "Name": "Example Weekly"}
    assert m["To"] == [{"Email": "reader1@example.com", "Name": "Reader 1"}]
    assert m["ReplyTo"] == {"Email": "editor@example.org"}
    assert m["Subject"] == "This week, Reader 1"
    assert m["Headers"]["List-Unsubscribe"] == "<https://example.org/u/t1>"
    assert m["CustomID"] == "2026-47"
    assert json.loads(m["EventPayload"])["issue"] == "2026-47"
    assert fake.sent[2].text == "Hello Reader 2"
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_more_than_50_recipients_go_in_calls_of_at_most_50(fake: FakeMailjet, start: Start):
    server = start(fake)
    readers = people(120)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "big"))
    assert all(r.ok for r in results)
    assert [len(r.json["Messages"]) for r in server.requests] == [50, 50, 20]
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_per_message_errors_fail_only_their_recipient(fake: FakeMailjet, start: Start):
    server = start(fake)
    readers = people(3)
    readers[1] = Recipient("reader1@@example.com", "Broken")
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "mixed"))
    assert len(server.requests) == 1 and server.requests[0].status == 400
    assert [r.ok for r in results] == [True, False, True]
    assert "mj-0013" in (results[1].error or "") and "To[0].Email" in (results[1].error or "")
    assert not results[1].retryable
    assert fake.deliveries("reader0@example.com") == 1
    assert fake.deliveries("reader2@example.com") == 1


def test_an_unauthorized_sender_fails_every_message_with_mailjets_words(start: Start):
    server = start(FakeMailjet(public=PUBLIC, private=PRIVATE, senders={"other@example.org"}))
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), people(2), "sender"))
    assert len(server.requests) == 1
    assert all(not r.ok and not r.retryable for r in results)
    assert "send-0008" in (results[0].error or "")
    assert "not an authorized sender" in (results[0].error or "")


def test_429_waits_as_long_as_retry_after_says(fake: FakeMailjet, start: Start):
    server = start(fake)
    server.faults.throttle(1, retry_after="3")
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), people(2), "k-429"))
    assert all(r.ok for r in results)
    assert sleeps == [3.0]


def test_server_errors_are_retried_then_given_up(fake: FakeMailjet, start: Start):
    server = start(fake)
    server.faults.fail(10, status=503, body={
        "ErrorIdentifier": "D4DF574C-0C5F-45C7-BA52-7AA8E533C3DE", "StatusCode": 503,
        "ErrorMessage": "Service Unavailable"})
    sleeps: list[float] = []
    with provider(server, sleeps, max_retries=2) as p:
        results = p.deliver(Batch(content(), people(2), "k-503"))
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert all(not r.ok and r.retryable for r in results)
    assert "Service Unavailable" in (results[0].error or "")


def test_a_500_may_have_been_processed_so_it_is_not_retried(fake: FakeMailjet, start: Start):
    server = start(fake)
    server.faults.fail(1, status=500, body={"StatusCode": 500,
                                             "ErrorMessage": "Internal Server Error"})
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), people(2), "k-500"))
    assert len(server.requests) == 1 and sleeps == []
    assert all(r.unknown and not r.ok for r in results)
    assert "Internal Server Error" in (results[0].error or "")


@pytest.mark.parametrize("fault", ["stall", "drop"])
def test_stall_and_drop_leave_the_batch_unknown_without_duplicates(
    fake: FakeMailjet, start: Start, fault: str
):
    server = start(fake)
    server.faults.stall(1, seconds=2.0) if fault == "stall" else server.faults.drop(1)
    readers = people(3)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "k-flaky"))
    assert all(r.unknown for r in results) and len(server.requests) == 1
    assert all(fake.deliveries(r.email) == 0 for r in readers)


def test_a_lost_answer_is_not_sent_again_because_mailjet_has_no_idempotency_key(
    fake: FakeMailjet, start: Start
):
    """Mailjet took the message, the answer was lost: the recipient is unknown, not resent."""
    server = start(fake)
    server.faults.drop(1, process=True)
    readers = [Recipient(f"reader{i}@example.com", f"Reader {i}", {"token": f"t{i}"},
                         f"<digest.{i:032x}@example.org>") for i in range(2)]
    with provider(server, []) as p:
        assert p.idempotent is False and p.reconciles is True
        results = p.deliver(Batch(content(), readers[:1], "k-lost"))
        found = p.accepted(content(), readers, datetime.now(UTC) - timedelta(seconds=5))
    assert results[0].unknown and not results[0].ok
    assert fake.deliveries("reader0@example.com") == 1
    assert fake.sent[0].custom_id == readers[0].digest_id
    assert found == {readers[0].digest_id: str(fake.sent[0].message_id)}


def test_bad_credentials_fail_at_once_with_mailjets_message(start: Start):
    server = start(FakeMailjet(public=PUBLIC, private="another"))
    sleeps: list[float] = []
    with provider(server, sleeps) as p, pytest.raises(AccountDeliveryError) as err:
        p.deliver(Batch(content(), people(3), "k-auth"))
    assert len(server.requests) == 1 and sleeps == []
    assert "mj-0015" in str(err.value) and "MJ_APIKEY_PRIVATE" in str(err.value)
    assert "authentication/authorization failure" in str(err.value)


def test_sandbox_mode_validates_without_sending(fake: FakeMailjet, start: Start):
    server = start(fake)
    with provider(server, [], sandbox=True) as p:
        results = p.deliver(Batch(content(), people(2), "k-sandbox"))
    assert all(r.ok for r in results)
    assert server.requests[0].json["SandboxMode"] is True
    assert fake.sent == []


def test_missing_keys_are_a_config_error_naming_the_variable():
    settings = Settings.model_validate({"environ": {"MJ_APIKEY_PUBLIC": PUBLIC}})
    with pytest.raises(ConfigError, match="MJ_APIKEY_PRIVATE"):
        get_provider(settings, "mailjet")


def test_the_keys_never_reach_logs_errors_or_reprs(
    start: Start, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    server = start(FakeMailjet(public=PUBLIC, private="other"))
    server.faults.fail(10, status=503, body={"ErrorMessage": f"echo {PRIVATE}"})
    with provider(server, [], max_retries=1) as p:
        results = p.deliver(Batch(content(), people(2), "k-secret"))
        texts = [repr(p), repr(p.settings), repr(p.options), caplog.text]
    assert "echo ***" in (results[0].error or "")
    texts += [r.error or "" for r in results]
    assert all(PRIVATE not in t for t in texts)


def test_a_refusal_echoing_the_secret_is_scrubbed_from_the_exception(start: Start):
    server = start(FakeMailjet(public=PUBLIC, private=PRIVATE))
    server.faults.fail(
        1, status=400, body={"ErrorCode": "mj-0002", "ErrorMessage": f"bad {PRIVATE}"}
    )
    with provider(server, []) as p, pytest.raises(PermanentDeliveryError) as caught:
        p.send_batch(Batch(content(), people(1), "k-exc"))
    error = caught.value
    assert "bad ***" in str(error) and "bad ***" in error.body
    assert PRIVATE not in str(error) + error.body + repr(error)
