"""SendGrid, SES (via SNS), Mailjet and Brevo webhooks over real HTTP into a real SQLite ledger.

Signatures are made here with the providers' documented schemes, never with digest's code:
SendGrid signs ``timestamp + body`` with ECDSA P-256/SHA-256 (checked also against the
published example from SendGrid's own SDK tests); SNS signs AWS's canonical
"Key\\nValue\\n" string with RSA PKCS#1 v1.5 over SHA-1 (version 1) or SHA-256 (version 2),
here under a key and self-signed certificate made for the test and served, with the
SubscribeURL, by a loopback stand-in for SNS.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from tests.test_web_app import BASE_TOML, SECRET, Site, seed_sent, serve_site, states

from digest.config import load_settings
from digest.events import EventKind, RejectReason, Unauthorized, parse_webhook

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-ses-events"
AUTH = ("hooks", "hook-password-42")
ENV = {
    "DIGEST_SECRET": SECRET,
    "DIGEST_WEBHOOK_USER": AUTH[0],
    "DIGEST_WEBHOOK_PASSWORD": AUTH[1],
    "SENDGRID_WEBHOOK_PUBLIC_KEY": SENDGRID_PUBLIC,
    "DIGEST_SES_TOPIC_ARN": f"arn:aws:sns:eu-west-1:123456789012:other, {TOPIC}",
}


def tally(response: httpx.Response) -> tuple[int, int, int]:
    """(events read, events recorded, addresses newly suppressed) from a webhook's answer."""
    assert response.status_code == 200, response.text
    answer = response.json()
    return answer["events"], answer["recorded"], answer["suppressed"]


def suppressed(site: Site, email: str) -> str | None:
    with site.ledger() as ledger:
        return ledger.is_suppressed(email)


def suppression_count(site: Site) -> int:
    with site.ledger() as ledger:
        return ledger.suppression_count()


def settings_with(tmp_path: Path, env: dict[str, str]) -> Any:
    config = tmp_path / "digest.toml"
    config.write_text("", encoding="utf-8")
    return load_settings(config, environ=env)


# -- SendGrid: ECDSA over timestamp + body -------------------------------------------------

SG_BATCH = "LRzXl_NHStOGhQ4kofSm_A"


@pytest.fixture
def sendgrid_site(tmp_path: Path) -> Iterator[Site]:
    """A SendGrid send: one X-Message-Id for every recipient of the request."""
    with serve_site(tmp_path, BASE_TOML, ENV) as s:
        seed_sent(s, {"ann@example.org": SG_BATCH, "bob@example.org": SG_BATCH})
        yield s


def sg_event(event: str, email: str, **extra: Any) -> dict[str, Any]:
    """Shaped like SendGrid's Event Webhook reference: sg_message_id = X-Message-Id + filter."""
    return {
        "email": email,
        "timestamp": 1764000000,
        "smtp-id": f"<{SG_BATCH}@ismtpd0001p1lon1.sendgrid.net>",
        "event": event,
        "category": ["weekly"],
        "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        "sg_message_id": f"{SG_BATCH}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
        **extra,
    }


def sg_signed(events: list[dict[str, Any]], timestamp: str | None = None) -> tuple[bytes, dict]:
    body = json.dumps(events).encode() + b"\r\n"
    ts = timestamp or str(int(time.time()))
    sig = SENDGRID_KEY.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
    }
    return body, headers


def sendgrid(site: Site, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(site.url + "/webhooks/sendgrid", content=body, headers=headers)


def test_sendgrid_bounce_marks_only_that_recipient_of_the_shared_message_id(
    sendgrid_site: Site,
) -> None:
    body, headers = sg_signed(
        [
            sg_event("delivered", "bob@example.org", response="250 OK"),
            sg_event(
                "bounce",
                "ann@example.org",
                type="bounce",
                status="5.1.1",
                reason="550 5.1.1 user unknown",
                bounce_classification="Invalid Address",
            ),
        ]
    )
    response = sendgrid(sendgrid_site, body, headers)
    assert response.status_code == 200
    assert tally(response) == (2, 2, 1)
    assert states(sendgrid_site) == {"ann@example.org": "bounced", "bob@example.org": "sent"}
    assert suppressed(sendgrid_site, "ann@example.org") == "bounced"
    assert suppressed(sendgrid_site, "bob@example.org") is None


def test_sendgrid_spamreport_and_dropped_for_a_spam_reporter_are_complaints(
    sendgrid_site: Site,
) -> None:
    body, headers = sg_signed(
        [
            sg_event("spamreport", "ann@example.org"),
            sg_event("dropped", "bob@example.org", reason="Spam Reporting Address"),
        ]
    )
    assert tally(sendgrid(sendgrid_site, body, headers))[:2] == (2, 2)
    assert suppressed(sendgrid_site, "ann@example.org") == "complained"
    assert suppressed(sendgrid_site, "bob@example.org") == "complained"


def test_sendgrid_blocked_and_deferred_suppress_nothing_but_an_unsubscribed_drop_does(
    sendgrid_site: Site,
) -> None:
    body, headers = sg_signed(
        [
            sg_event("bounce", "ann@example.org", type="blocked", reason="spam content"),
            sg_event("deferred", "ann@example.org", attempt="5"),
            sg_event("dropped", "bob@example.org", reason="Unsubscribed Address"),
        ]
    )
    assert tally(sendgrid(sendgrid_site, body, headers)) == (3, 3, 1)
    assert suppressed(sendgrid_site, "ann@example.org") is None
    assert suppressed(sendgrid_site, "bob@example.org") == "unsubscribed"
    assert states(sendgrid_site) == {"ann@example.org": "sent", "bob@example.org": "sent"}


def test_sendgrid_event_for_an_unknown_message_is_200_and_changes_nothing(
    sendgrid_site: Site,
) -> None:
    event = sg_event("bounce", "ann@example.org", type="bounce")
    event["sg_message_id"] = "NotOurs0000000000000000.filter0001.0"
    body, headers = sg_signed([event])
    assert tally(sendgrid(sendgrid_site, body, headers))[:2] == (1, 0)
    assert suppression_count(sendgrid_site) == 0


def test_sendgrid_unsigned_tampered_or_foreign_key_is_401(sendgrid_site: Site) -> None:
    body, headers = sg_signed([sg_event("spamreport", "ann@example.org")])
    other = ec.generate_private_key(ec.SECP256R1())
    foreign = dict(headers)
    foreign["X-Twilio-Email-Event-Webhook-Signature"] = base64.b64encode(
        other.sign(
            headers["X-Twilio-Email-Event-Webhook-Timestamp"].encode() + body,
            ec.ECDSA(hashes.SHA256()),
        )
    ).decode()
    restamped = {**headers, "X-Twilio-Email-Event-Webhook-Timestamp": "1600000000"}
    garbled = {**headers, "X-Twilio-Email-Event-Webhook-Signature": "not base64!"}
    for h in ({"Content-Type": "application/json"}, foreign, restamped, garbled):
        assert sendgrid(sendgrid_site, body, h).status_code == 401
    changed = body.replace(b"ann@example.org", b"bob@example.org")
    assert sendgrid(sendgrid_site, changed, headers).status_code == 401
    assert suppression_count(sendgrid_site) == 0


def test_sendgrid_published_sdk_example_verifies(tmp_path: Path) -> None:
    """The key, signature, timestamp and body from sendgrid-python's event webhook tests."""
    public = (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe"
        "62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
    )
    signature = (
        "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15T"
        "luLtEZtM="
    )
    event = {
        "email": "hello@world.com",
        "event": "dropped",
        "reason": "Bounced Address",
        "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
        "sg_message_id": f"{SG_BATCH}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
        "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
        "timestamp": 1600112492,
    }
    body = json.dumps([event], sort_keys=True, separators=(",", ":")).encode() + b"\r\n"
    settings = settings_with(tmp_path, {"SENDGRID_WEBHOOK_PUBLIC_KEY": public})
    headers = {
        "x-twilio-email-event-webhook-signature": signature,
        "x-twilio-email-event-webhook-timestamp": "1600112502",
    }
    (event,) = parse_webhook("sendgrid", settings, headers, body).events
    assert (event.kind, event.reject, event.address) == (
        EventKind.REJECTED,
        RejectReason.BOUNCED,
        "hello@world.com",
    )
    assert "LRzXl_NHStOGhQ4kofSm_A" in event.message_ids
    assert event.suppression == "bounced"
    with pytest.raises(Unauthorized):
        parse_webhook("sendgrid", settings, headers, body.rstrip())


def test_sendgrid_without_a_configured_key_or_with_a_bad_one_is_refused(tmp_path: Path) -> None:
    body, headers = sg_signed([sg_event("spamreport", "ann@example.org")])
    lower = {k.lower(): v for k, v in headers.items()}
    for env in ({}, {"SENDGRID_WEBHOOK_PUBLIC_KEY": "bm90IGEga2V5"}):
        with pytest.raises(Unauthorized) as caught:
            parse_webhook("sendgrid", settings_with(tmp_path, env), lower, body)
        assert "bm90IGEga2V5" not in str(caught.value)


# -- Amazon SES via SNS --------------------------------------------------------------------


@dataclass
class FakeSns:
    """A loopback stand-in for SNS: serves the signing certificate and the SubscribeURL."""

    url: str
    key: rsa.RSAPrivateKey
    hits: list[str] = field(default_factory=list)

    @property
    def cert_url(self) -> str:
        return self.url + "/SimpleNotificationService-test.pem"

    def sign(self, message: dict[str, str], version: str = "1") -> dict[str, str]:
        """AWS's canonical string: "Key\\nValue\\n" for the type's fields, in byte order."""
        keys = (
            ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
            if message["Type"] == "Notification"
            else ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        )
        text = "".join(f"{k}\n{message[k]}\n" for k in keys if k in message)
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), digest)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": self.cert_url,
            "UnsubscribeURL": self.url + "/unsubscribe",
        }


@contextmanager
def running_fake_sns(valid_days: int = 30) -> Iterator[FakeSns]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.eu-west-1.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=60))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeSns(f"http://127.0.0.1:{server.server_port}", key, hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def fake_sns() -> Iterator[FakeSns]:
    with running_fake_sns() as sns:
        yield sns


@pytest.fixture
def ses_site(tmp_path: Path, fake_sns: FakeSns) -> Iterator[Site]:
    """An SES send: one SES MessageId per recipient."""
    env = {**ENV, "DIGEST_SNS_LOOPBACK_ORIGIN": fake_sns.url}
    with serve_site(tmp_path, BASE_TOML, env) as s:
        seed_sent(
            s,
            {
                "ann@example.org": "0102019a8f1c2d3e-ann-000000",
                "bob@example.org": "0102019a8f1c2d3e-bob-000000",
            },
        )
        yield s


def sns_now(offset: float = 0) -> str:
    """An SNS Timestamp ``offset`` seconds from now (older than an hour is refused)."""
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ses_notification(note: dict[str, Any], topic: str = TOPIC) -> dict[str, str]:
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(note),
        "Timestamp": sns_now(),
    }


def ses_bounce(message_id: str, email: str, bounce_type: str = "Permanent") -> dict[str, Any]:
    """Shaped like SES's documented bounce notification."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-11-24T13:28:09.000Z",
            "feedbackId": "0102019a8f1c-bounce",
        },
        "mail": {
            "timestamp": "2026-11-24T13:28:00.000Z",
            "source": "weekly@example.org",
            "messageId": message_id,
            "destination": [email],
        },
    }


def sns_post(site: Site, message: dict[str, str]) -> httpx.Response:
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": message["Type"],
    }
    return httpx.post(site.url + "/webhooks/ses", content=json.dumps(message), headers=headers)


def test_ses_permanent_bounce_marks_and_suppresses_with_a_cached_certificate(
    ses_site: Site, fake_sns: FakeSns
) -> None:
    note = ses_notification(ses_bounce("0102019a8f1c2d3e-ann-000000", "ann@example.org"))
    response = sns_post(ses_site, fake_sns.sign({**note, "Subject": "Amazon SES bounce"}))
    assert response.status_code == 200
    assert tally(response)[:2] == (1, 1)
    assert states(ses_site) == {"ann@example.org": "bounced", "bob@example.org": "sent"}
    assert suppressed(ses_site, "ann@example.org") == "bounced"
    again = ses_notification(ses_bounce("0102019a8f1c2d3e-bob-000000", "bob@example.org"))
    assert tally(sns_post(ses_site, fake_sns.sign(again, "2")))[:2] == (1, 1)
    assert fake_sns.hits.count("/SimpleNotificationService-test.pem") == 1


def test_ses_complaint_signed_with_version_2_suppresses(ses_site: Site, fake_sns: FakeSns) -> None:
    note = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "bob@example.org"}],
            "complaintFeedbackType": "abuse",
            "timestamp": "2026-11-24T13:30:00.000Z",
        },
        "mail": {"messageId": "0102019a8f1c2d3e-bob-000000", "source": "weekly@example.org"},
    }
    assert sns_post(ses_site, fake_sns.sign(ses_notification(note), "2")).status_code == 200
    assert suppressed(ses_site, "bob@example.org") == "complained"


def test_ses_transient_bounce_suppresses_nothing_and_unknown_message_changes_nothing(
    ses_site: Site, fake_sns: FakeSns
) -> None:
    soft = ses_notification(
        ses_bounce("0102019a8f1c2d3e-ann-000000", "ann@example.org", "Transient")
    )
    assert tally(sns_post(ses_site, fake_sns.sign(soft))) == (1, 1, 0)
    unknown = ses_notification(ses_bounce("not-ours", "zed@example.org"))
    assert tally(sns_post(ses_site, fake_sns.sign(unknown))) == (1, 0, 0)
    console_test = ses_notification({})
    console_test["Message"] = "hello from the console"
    assert tally(sns_post(ses_site, fake_sns.sign(console_test)))[:2] == (0, 0)
    assert suppression_count(ses_site) == 0


def test_ses_subscription_for_the_configured_topic_is_confirmed(
    ses_site: Site, fake_sns: FakeSns
) -> None:
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscribeURL": fake_sns.url + "/?Action=ConfirmSubscription&Token=2336412f",
        "Timestamp": sns_now(),
    }
    assert sns_post(ses_site, fake_sns.sign(confirmation)).status_code == 200
    assert "/?Action=ConfirmSubscription&Token=2336412f" in fake_sns.hits


def test_ses_subscribe_url_off_sns_is_not_visited(ses_site: Site, fake_sns: FakeSns) -> None:
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscribeURL": fake_sns.url.replace("127.0.0.1", "localhost") + "/?Token=2336412f",
        "Timestamp": sns_now(),
    }
    assert sns_post(ses_site, fake_sns.sign(confirmation)).status_code == 401
    assert not any("Token" in hit for hit in fake_sns.hits)


def test_ses_expired_signing_certificate_is_refused(tmp_path: Path) -> None:
    with running_fake_sns(valid_days=-1) as sns:
        env = {"DIGEST_SES_TOPIC_ARN": TOPIC, "DIGEST_SNS_LOOPBACK_ORIGIN": sns.url}
        signed = sns.sign(
            ses_notification(ses_bounce("0102019a8f1c2d3e-ann-000000", "ann@example.org"))
        )
        with pytest.raises(Unauthorized, match="expired"):
            parse_webhook("ses", settings_with(tmp_path, env), {}, json.dumps(signed).encode())


def test_ses_subscription_for_another_topic_is_refused_and_not_confirmed(
    ses_site: Site, fake_sns: FakeSns
) -> None:
    other = "arn:aws:sns:eu-west-1:999999999999:someone-elses-topic"
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f",
        "TopicArn": other,
        "Message": f"You have chosen to subscribe to the topic {other}.",
        "SubscribeURL": fake_sns.url + "/?Action=ConfirmSubscription&Token=2336412f",
        "Timestamp": sns_now(),
    }
    assert sns_post(ses_site, fake_sns.sign(confirmation)).status_code == 401
    note = ses_notification(ses_bounce("0102019a8f1c2d3e-ann-000000", "ann@example.org"), other)
    assert sns_post(ses_site, fake_sns.sign(note)).status_code == 401
    assert fake_sns.hits == []
    assert suppression_count(ses_site) == 0


def test_ses_tampered_unsigned_or_foreign_certificate_is_401(
    ses_site: Site, fake_sns: FakeSns
) -> None:
    signed = fake_sns.sign(
        ses_notification(ses_bounce("0102019a8f1c2d3e-ann-000000", "ann@example.org"))
    )
    tampered = {**signed, "Message": signed["Message"].replace("ann@", "bob@")}
    unsigned = {k: v for k, v in signed.items() if k != "Signature"}
    old_version = {**signed, "SignatureVersion": "2"}
    elsewhere = {
        **signed,
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com.evil.example/c.pem",
    }
    other_port = {**signed, "SigningCertURL": "http://127.0.0.1:1/SimpleNotificationService.pem"}
    for message in (tampered, unsigned, old_version, elsewhere, other_port):
        assert sns_post(ses_site, message).status_code == 401
    assert httpx.post(ses_site.url + "/webhooks/ses", content=b"not json").status_code == 400
    assert suppression_count(ses_site) == 0


def test_ses_loopback_certificate_is_refused_without_the_test_origin(
    tmp_path: Path, fake_sns: FakeSns
) -> None:
    """In production only https://sns.<region>.amazonaws.com is fetched from."""
    signed = fake_sns.sign(
        ses_notification(ses_bounce("0102019a8f1c2d3e-ann-000000", "ann@example.org"))
    )
    settings = settings_with(tmp_path, {"DIGEST_SES_TOPIC_ARN": TOPIC})
    with pytest.raises(Unauthorized):
        parse_webhook("ses", settings, {}, json.dumps(signed).encode())
    # 0.0.0.0 reaches the stand-in on this machine but is no loopback address: refused.
    anywhere = fake_sns.url.replace("127.0.0.1", "0.0.0.0")
    remote = settings_with(
        tmp_path, {"DIGEST_SES_TOPIC_ARN": TOPIC, "DIGEST_SNS_LOOPBACK_ORIGIN": anywhere}
    )
    moved = {**signed, "SigningCertURL": signed["SigningCertURL"].replace(fake_sns.url, anywhere)}
    with pytest.raises(Unauthorized):
        parse_webhook("ses", remote, {}, json.dumps(moved).encode())
    unset = settings_with(tmp_path, {"DIGEST_SNS_LOOPBACK_ORIGIN": fake_sns.url})
    with pytest.raises(Unauthorized):
        parse_webhook("ses", unset, {}, json.dumps(signed).encode())
    assert fake_sns.hits == []


# -- Mailjet and Brevo: basic auth ---------------------------------------------------------


@pytest.fixture
def mailjet_site(tmp_path: Path) -> Iterator[Site]:
    with serve_site(tmp_path, BASE_TOML, ENV) as s:
        seed_sent(
            s, {"ann@example.org": "288230376151711744", "bob@example.org": "288230376151711745"}
        )
        yield s


def mailjet_event(event: str, email: str, message_id: int, **extra: Any) -> dict[str, Any]:
    """Shaped like Mailjet's documented event payloads: MessageID is a JSON number."""
    return {
        "event": event,
        "time": 1764000000,
        "MessageID": message_id,
        "Message_GUID": "1ab23cd4-e567-8901-2345-6789f0gh1i2j",
        "email": email,
        "mj_campaign_id": 0,
        "mj_contact_id": 123456789,
        "customcampaign": "",
        "CustomID": "",
        "Payload": "",
        **extra,
    }


def mailjet(site: Site, payload: Any, auth: tuple[str, str] | None = AUTH) -> httpx.Response:
    return httpx.post(site.url + "/webhooks/mailjet", json=payload, auth=auth)


def test_mailjet_hard_bounce_and_spam_are_recorded(mailjet_site: Site) -> None:
    bounce = mailjet_event(
        "bounce",
        "ann@example.org",
        288230376151711744,
        blocked=False,
        hard_bounce=True,
        error_related_to="recipient",
        error="user unknown",
    )
    assert tally(mailjet(mailjet_site, bounce))[:2] == (1, 1)
    spam = mailjet_event("spam", "bob@example.org", 288230376151711745, source="JMRPP")
    assert tally(mailjet(mailjet_site, [spam]))[:2] == (1, 1)
    assert states(mailjet_site) == {"ann@example.org": "bounced", "bob@example.org": "complained"}
    assert suppressed(mailjet_site, "bob@example.org") == "complained"


def test_mailjet_soft_bounce_suppresses_nothing_and_unknown_message_changes_nothing(
    mailjet_site: Site,
) -> None:
    soft = mailjet_event(
        "bounce",
        "ann@example.org",
        288230376151711744,
        hard_bounce=False,
        error_related_to="mailbox",
        error="quota exceeded",
    )
    assert tally(mailjet(mailjet_site, [soft])) == (1, 1, 0)
    stranger = mailjet_event("spam", "zed@example.org", 1)
    assert tally(mailjet(mailjet_site, stranger)) == (1, 0, 0)
    assert suppression_count(mailjet_site) == 0


def test_mailjet_blocked_for_an_unknown_user_suppresses_as_bounced(mailjet_site: Site) -> None:
    blocked = mailjet_event(
        "blocked",
        "ann@example.org",
        288230376151711744,
        error_related_to="recipient",
        error="user unknown",
    )
    assert tally(mailjet(mailjet_site, blocked)) == (1, 1, 1)
    assert suppressed(mailjet_site, "ann@example.org") == "bounced"


def test_mailjet_without_or_with_wrong_credentials_is_401(mailjet_site: Site) -> None:
    spam = mailjet_event("spam", "bob@example.org", 288230376151711745)
    unsigned = mailjet(mailjet_site, spam, None)
    assert unsigned.status_code == 401
    assert unsigned.headers["www-authenticate"].startswith("Basic ")
    assert mailjet(mailjet_site, spam, (AUTH[0], "wrong")).status_code == 401
    assert suppression_count(mailjet_site) == 0


BREVO_ANN = "<202611241328.12345678901@smtp-relay.mailin.fr>"
BREVO_BOB = "<202611241328.12345678902@smtp-relay.mailin.fr>"


@pytest.fixture
def brevo_site(tmp_path: Path) -> Iterator[Site]:
    with serve_site(tmp_path, BASE_TOML, ENV) as s:
        seed_sent(s, {"ann@example.org": BREVO_ANN, "bob@example.org": BREVO_BOB})
        yield s


def brevo_event(event: str, email: str, message_id: str, **extra: Any) -> dict[str, Any]:
    """Shaped like Brevo's documented transactional webhook: one event per request."""
    return {
        "event": event,
        "email": email,
        "id": 1234567,
        "date": "2026-11-24 14:28:10",
        "ts": 1764000000,
        "message-id": message_id,
        "ts_event": 1764000090,
        "subject": "Test Weekly #12",
        "tag": "",
        "sending_ip": "185.41.28.109",
        "ts_epoch": 1764000090123,
        **extra,
    }


def brevo(site: Site, payload: Any, auth: tuple[str, str] | None = AUTH) -> httpx.Response:
    return httpx.post(site.url + "/webhooks/brevo", json=payload, auth=auth)


def test_brevo_hard_bounce_and_spam_are_recorded(brevo_site: Site) -> None:
    bounce = brevo_event("hard_bounce", "ann@example.org", BREVO_ANN, reason="550 user unknown")
    assert tally(brevo(brevo_site, bounce))[:2] == (1, 1)
    spam = brevo_event("spam", "bob@example.org", BREVO_BOB.strip("<>"))
    assert tally(brevo(brevo_site, spam))[:2] == (1, 1)
    assert states(brevo_site) == {"ann@example.org": "bounced", "bob@example.org": "complained"}
    assert suppressed(brevo_site, "ann@example.org") == "bounced"


def test_brevo_soft_bounce_and_unknown_message_change_nothing(brevo_site: Site) -> None:
    soft = brevo_event("soft_bounce", "ann@example.org", BREVO_ANN, reason="mailbox full")
    assert tally(brevo(brevo_site, soft)) == (1, 1, 0)
    stranger = brevo_event("hard_bounce", "zed@example.org", "<1.2@smtp-relay.mailin.fr>")
    assert tally(brevo(brevo_site, stranger))[:2] == (1, 0)
    assert suppression_count(brevo_site) == 0


def test_brevo_wrong_credentials_is_401_and_authenticated_garbage_is_400(
    brevo_site: Site,
) -> None:
    spam = brevo_event("spam", "bob@example.org", BREVO_BOB)
    assert brevo(brevo_site, spam, ("someone", AUTH[1])).status_code == 401
    garbage = httpx.post(brevo_site.url + "/webhooks/brevo", content=b"not json", auth=AUTH)
    assert garbage.status_code == 400
    assert suppression_count(brevo_site) == 0
