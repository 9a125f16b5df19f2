"""The SES v2 adapter against a fake SES that checks bodies against botocore's model and
verifies SigV4 signatures with its own implementation of AWS's algorithm."""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import sys
from collections.abc import Callable

import pytest

from digest.config import Settings
from digest.delivery.base import get_provider
from digest.delivery.ses import SESProvider
from digest.errors import AccountDeliveryError, ConfigError, PermanentDeliveryError
from digest.message import Address, Batch, Content, Recipient
from servers.kit import LoopbackServer, loopback
from servers.ses import AUTH_RE, FakeSES, load_model, validate
from servers.support import people

__all__ = ["loopback"]

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYsecretKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKEN"

Start = Callable[[FakeSES], LoopbackServer]


def content() -> Content:
    return Content(
        issue_id="2026-47",
        subject="This week, @@digest.name|friend@@",
        html="<p>Hello @@digest.name|there@@</p>",
        text="Hello @@digest.name|there@@",
        sender=Address("news@example.org", "Example Weekly"),
        headers={
            "List-Unsubscribe": "<https://example.org/u/@@digest.token@@>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        tags=("weekly",),
        metadata={"newsletter": "example weekly"},
    )


def settings(server: LoopbackServer | None, *, env: dict[str, str] | None = None,
             options: dict[str, object] | None = None, **delivery: object) -> Settings:
    opts: dict[str, object] = {"region": "us-east-1"}
    if server is not None:
        opts["base_url"] = server.url
    opts.update(options or {})
    environ = {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET}
    environ.update(env or {})
    return Settings.model_validate({
        "delivery": {"max_retries": 3, "timeout": 0.5, **delivery},
        "providers": {"ses": opts},
        "environ": environ,
    })


def provider(server: LoopbackServer, sleeps: list[float], **kw: object) -> SESProvider:
    return SESProvider(settings(server, **kw), sleep=sleeps.append)


@pytest.fixture
def fake() -> FakeSES:
    return FakeSES(access_key=AKID, secret_key=SECRET)


@pytest.fixture
def start(loopback: Callable[[FakeSES], LoopbackServer]) -> Start:
    return loopback


def test_documented_signed_send_email_request_is_accepted(fake: FakeSES, start: Start):
    server = start(fake)
    sleeps: list[float] = []
    with provider(server, sleeps, options={"configuration_set": "digest-events"}) as p:
        results = p.deliver(Batch(content(), people(1), "issue-2026-47/b0"))
    assert results[0].ok and results[0].message_id == fake.sent[0].message_id
    (req,) = server.requests
    assert req.path == "/v2/email/outbound-emails" and req.status == 200
    auth = AUTH_RE.match(req.header("authorization") or "")
    assert auth and auth["akid"] == AKID and auth["region"] == "us-east-1"
    assert auth["service"] == "ses"
    assert validate(load_model(), "SendEmailRequest", req.json) == []
    assert req.json["Destination"] == {"ToAddresses": ["Reader 0 <reader0@example.com>"]}
    assert req.json["ConfigurationSetName"] == "digest-events"
    assert req.json["EmailTags"] == [{"Name": "issue", "Value": "2026-47"},
                                     {"Name": "newsletter", "Value": "example_weekly"},
                                     {"Name": "weekly", "Value": "true"}]
    mime = email.message_from_bytes(base64.b64decode(req.json["Content"]["Raw"]["Data"]),
                                    policy=email.policy.default)
    assert mime["To"] == "Reader 0 <reader0@example.com>"
    assert mime["Subject"] == "This week, Reader 0"
    assert mime["List-Unsubscribe"] == "<https://example.org/u/t0>"
    assert sleeps == []


def test_the_fake_refuses_bodies_the_model_does_not_allow(fake: FakeSES, start: Start):
    """The model check can fail: a missing required member, an unknown one, a bad blob."""
    model = load_model()
    assert validate(model, "SendEmailRequest", {"Content": {"Raw": {}}}) == [
        "SendEmailRequest.Content.Raw: missing required member Data"
    ]
    assert validate(model, "SendEmailRequest", {"Content": {}, "To": []}) == [
        "SendEmailRequest: unknown member To"
    ]
    assert validate(model, "SendEmailRequest", {"Content": {"Raw": {"Data": "%%"}}}) == [
        "SendEmailRequest.Content.Raw.Data: not valid base64"
    ]


def test_each_recipient_gets_a_call_and_a_message_of_its_own(fake: FakeSES, start: Start):
    server = start(fake)
    readers = people(3)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "b"))
    assert all(r.ok for r in results)
    assert len(server.requests) == 3
    assert [str(s.mime["List-Unsubscribe"]) for s in fake.sent] == [
        f"<https://example.org/u/t{i}>" for i in range(3)
    ]
    assert all(fake.deliveries(r.email) == 1 for r in readers)


def test_international_addresses_are_written_the_way_ses_takes_them(
    fake: FakeSES, start: Start
):
    """SES has no SMTPUTF8: Punycode domains, encoded-word names, ASCII local parts only."""
    server = start(fake)
    readers = [
        Recipient("leser@bücher.example", "Zoë Müller"),
        Recipient("zoë@example.com", "Zoë"),
    ]
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), readers, "intl"))
    assert results[0].ok
    assert not results[1].ok and not results[1].retryable
    assert "non-ASCII local parts" in (results[1].error or "")
    (req,) = server.requests
    (to,) = req.json["Destination"]["ToAddresses"]
    assert to.endswith("<leser@xn--bcher-kva.example>") and to.startswith("=?utf-8?")
    assert str(fake.sent[0].mime["To"]) == "Zoë Müller <leser@xn--bcher-kva.example>"


def test_temporary_credentials_send_the_session_token_signed(start: Start):
    fake = FakeSES(access_key=AKID, secret_key=SECRET, session_token=TOKEN)
    server = start(fake)
    with provider(server, [], env={"AWS_SESSION_TOKEN": TOKEN}) as p:
        results = p.deliver(Batch(content(), people(1), "tok"))
    assert results[0].ok
    auth = AUTH_RE.match(server.requests[0].header("authorization") or "")
    assert auth and "x-amz-security-token" in auth["signed"].split(";")


def test_a_wrong_secret_is_refused_at_once_with_ses_words(fake: FakeSES, start: Start):
    server = start(fake)
    sleeps: list[float] = []
    with (
        provider(server, sleeps, env={"AWS_SECRET_ACCESS_KEY": "not-the-secret"}) as p,
        pytest.raises(AccountDeliveryError) as err,
    ):
        p.deliver(Batch(content(), people(1), "bad-secret"))
    assert len(server.requests) == 1 and sleeps == []
    assert "InvalidSignatureException" in str(err.value)
    assert "signature we calculated does not match" in str(err.value)
    assert "AWS_SECRET_ACCESS_KEY" in str(err.value) and "not-the-secret" not in str(err.value)
    assert fake.sent == []


def test_an_unknown_access_key_is_refused(fake: FakeSES, start: Start):
    server = start(fake)
    with (
        provider(server, [], env={"AWS_ACCESS_KEY_ID": "AKIAUNKNOWN"}) as p,
        pytest.raises(AccountDeliveryError, match="UnrecognizedClientException"),
    ):
        p.deliver(Batch(content(), people(1), "bad-key"))


def test_throttling_codes_are_retried(fake: FakeSES, start: Start):
    server = start(fake)
    server.faults.fail(1, status=400, body={"message": "Maximum sending rate exceeded."},
                       headers={"x-amzn-ErrorType": "Throttling"})
    server.faults.throttle(1, retry_after="2", body={"message": "Too many requests."},
                           headers={"x-amzn-ErrorType": "TooManyRequestsException"})
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), people(1), "throttled"))
    assert results[0].ok
    assert len(server.requests) == 3 and len(sleeps) == 2 and sleeps[1] == 2.0
    assert fake.deliveries("reader0@example.com") == 1


def test_a_rejected_recipient_fails_alone_and_the_rest_go_out(start: Start):
    fake = FakeSES(access_key=AKID, secret_key=SECRET, rejected={"reader1@example.com"})
    server = start(fake)
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), people(3), "rejected"))
    assert [r.ok for r in results] == [True, False, True]
    assert "MessageRejected" in (results[1].error or "") and not results[1].retryable
    assert len(server.requests) == 3 and sleeps == []


def test_server_errors_are_retried_then_given_up(fake: FakeSES, start: Start):
    server = start(fake)
    server.faults.fail(10, status=503, body={"message": "Service unavailable."},
                       headers={"x-amzn-ErrorType": "ServiceUnavailable"})
    sleeps: list[float] = []
    with provider(server, sleeps, max_retries=2) as p:
        results = p.deliver(Batch(content(), people(1), "5xx"))
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert not results[0].ok and results[0].retryable
    assert "Service unavailable" in (results[0].error or "")


def test_an_internal_failure_may_have_sent_so_it_is_unknown_not_retried(
    fake: FakeSES, start: Start
):
    server = start(fake)
    server.faults.fail(1, status=500, body={"message": "Internal failure."},
                       headers={"x-amzn-ErrorType": "InternalFailure"})
    sleeps: list[float] = []
    with provider(server, sleeps) as p:
        results = p.deliver(Batch(content(), people(1), "5xx"))
        assert p.reconciles is False
    assert len(server.requests) == 1 and sleeps == []
    assert results[0].unknown and "Internal failure" in (results[0].error or "")


def test_a_throttled_call_is_retried_signed_again(fake: FakeSES, start: Start):
    server = start(fake)
    server.faults.throttle(1, retry_after="0")
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), people(1), "flaky"))
    assert results[0].ok
    assert [r.status for r in server.requests] == [429, 200]
    assert all(r.header("Authorization") for r in server.requests)
    assert fake.deliveries("reader0@example.com") == 1


@pytest.mark.parametrize("fault", ["stall", "drop"])
def test_stall_and_drop_leave_the_recipient_unknown(fake: FakeSES, start: Start, fault: str):
    server = start(fake)
    server.faults.stall(1, seconds=2.0) if fault == "stall" else server.faults.drop(1)
    with provider(server, []) as p:
        results = p.deliver(Batch(content(), people(1), "flaky"))
    assert results[0].unknown and len(server.requests) == 1


def test_an_unknown_configuration_set_fails_with_ses_words(fake: FakeSES, start: Start):
    server = start(fake)
    with provider(server, [], options={"configuration_set": "nope"}) as p:
        results = p.deliver(Batch(content(), people(1), "cs"))
    assert not results[0].ok and "Configuration set <nope> does not exist" in (
        results[0].error or ""
    )


def test_region_comes_from_the_options_or_aws_region_and_sets_the_endpoint():
    from_env = SESProvider(Settings.model_validate({"environ": {
        "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "eu-west-1"}}))
    assert from_env.base_url() == "https://email.eu-west-1.amazonaws.com"
    from_options = SESProvider(settings(None, options={"region": "ap-southeast-2"},
                                        env={"AWS_REGION": "eu-west-1"}))
    assert from_options.base_url() == "https://email.ap-southeast-2.amazonaws.com"


def test_missing_region_or_credentials_are_config_errors():
    with pytest.raises(ConfigError, match="AWS_REGION"):
        get_provider(Settings.model_validate({"environ": {
            "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET}}), "ses")
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY"):
        get_provider(Settings.model_validate({"environ": {
            "AWS_ACCESS_KEY_ID": AKID, "AWS_REGION": "eu-west-1"}}), "ses")
    with pytest.raises(ConfigError, match="region"):
        get_provider(settings(None, options={"region": "Mars"}), "ses")


def test_without_botocore_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    for name in ("botocore", "botocore.auth", "botocore.awsrequest", "botocore.credentials"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ConfigError, match=r"pip install 'digest\[ses\]'"):
        get_provider(settings(None), "ses")


def test_the_secrets_never_reach_logs_errors_or_reprs(
    fake: FakeSES, start: Start, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    server = start(fake)
    server.faults.fail(10, status=503, body={"message": f"echo {SECRET} {TOKEN}"})
    with provider(server, [], max_retries=1, env={"AWS_SESSION_TOKEN": TOKEN}) as p:
        results = p.deliver(Batch(content(), people(1), "secret"))
        texts = [repr(p), repr(p.settings), repr(p.options), caplog.text, results[0].error or ""]
    assert "echo *** ***" in (results[0].error or "")
    assert all(SECRET not in t and TOKEN not in t for t in texts)


def test_a_refusal_echoing_the_secret_is_scrubbed_from_the_exception(start: Start):
    server = start(FakeSES(access_key=AKID, secret_key=SECRET))
    server.faults.fail(
        1, status=403, body={"message": f"bad {SECRET}"},
        headers={"x-amzn-ErrorType": "AccessDeniedException"},
    )
    with provider(server, []) as p, pytest.raises(PermanentDeliveryError) as caught:
        p.send_batch(Batch(content(), people(1), "k-exc"))
    error = caught.value
    assert "bad ***" in str(error) and "bad ***" in error.body
    assert SECRET not in str(error) + error.body + repr(error)


def test_each_message_carries_its_digest_id_as_an_email_tag(fake: FakeSES, start: Start):
    server = start(fake)
    r = Recipient("ann@example.com", "Ann", {"token": "t"}, f"<digest.{'b2' * 16}@example.org>")
    with provider(server, []) as p:
        [res] = p.deliver(Batch(content(), [r], "k-tag"))
    assert res.ok
    (req,) = server.requests
    assert {"Name": "digest_id", "Value": "b2" * 16} in req.json["EmailTags"]
    assert validate(load_model(), "SendEmailRequest", req.json) == []
