"""Amazon SES: notifications and event publishing, delivered and signed by SNS.

Each SNS message is RSA-signed (``SignatureVersion`` 1 = SHA1withRSA, 2 = SHA256withRSA)
over AWS's canonical "Key\\nValue\\n" string, with the certificate at ``SigningCertURL``,
fetched (once per URL) only from ``https://sns.<region>.amazonaws.com``. Only topics listed
in ``DIGEST_SES_TOPIC_ARN`` are accepted, and only their ``SubscriptionConfirmation`` is
confirmed (by fetching the ``SubscribeURL``, on the same SNS hosts). A message whose
``Timestamp`` is older than :data:`SNS_MAX_AGE` is refused, and each ``MessageId`` is kept in
the ledger, so a message is acted on once.

The signature sits in the body, so the body is parsed first, under a small cap (SNS
messages are at most 256 KB) and a bounded depth. The SES payload inside ``Message`` is
JSON again, read the same way. digest's own id comes back in ``mail.tags.digest_id``
(event publishing with the ``digest_id`` message tag).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import Field

from ..config import Settings
from .auth import MAX_AGE, Unauthorized
from .model import EventKind, RejectReason, TrackingEvent
from .payload import Id, Loose, Short, Text, bare_address, from_iso, load_json, validate
from .provider import MB, Parsed, WebhookProvider

__all__ = ["PROVIDER", "SES_TOPIC_ENV", "SNS_LOOPBACK_ENV", "SNS_MAX_AGE", "SesNotification"]

SES_TOPIC_ENV = "DIGEST_SES_TOPIC_ARN"
SNS_LOOPBACK_ENV = "DIGEST_SNS_LOOPBACK_ORIGIN"
"""For tests only: an ``http://127.0.0.1:PORT`` origin trusted as if it were SNS (loopback only)."""

SNS_MAX_AGE = 3600
"""Seconds an SNS message may be old: SNS's default HTTP retry policy gives up well before."""

log = logging.getLogger("digest.web")

EVENTS: dict[str, tuple[EventKind, RejectReason | None]] = {
    "Send": (EventKind.QUEUED, None),
    "Delivery": (EventKind.DELIVERED, None),
    "DeliveryDelay": (EventKind.DEFERRED, None),
    "Bounce": (EventKind.SOFT_BOUNCE, None),  # Permanent below
    "Complaint": (EventKind.COMPLAINT, None),
    "Reject": (EventKind.REJECTED, RejectReason.BLOCKED),  # virus: SES refused the content
    "Rendering Failure": (EventKind.REJECTED, RejectReason.OTHER),
    "Open": (EventKind.OPEN, None),
    "Click": (EventKind.CLICK, None),
    "Subscription": (EventKind.UNSUBSCRIBE, None),  # unsubscribeAll below
    "AmazonSnsSubscriptionSucceeded": (EventKind.UNKNOWN, None),
}

_SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
_SNS_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SNS_SIGNED["UnsubscribeConfirmation"] = _SNS_SIGNED["SubscriptionConfirmation"]
_SNS_HASH = {"1": hashes.SHA1, "2": hashes.SHA256}
_SNS_KEYS: dict[str, rsa.RSAPublicKey] = {}
_SNS_KEYS_LOCK = threading.Lock()


class SnsMessage(Loose):
    Type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
    MessageId: Id
    TopicArn: Short
    Message: str = Field(max_length=1024 * 1024)
    Timestamp: Short
    Subject: Short | None = None
    SubscribeURL: Short | None = None
    Token: Short | None = None
    SignatureVersion: Short
    Signature: Short
    SigningCertURL: Short


class _Person(Loose):
    emailAddress: Short


class _Mail(Loose):
    messageId: Id | None = None
    destination: list[Short] = Field(default_factory=list)
    tags: dict[Short, list[Short]] | None = None


class _Bounce(Loose):
    bounceType: Short | None = None
    bounceSubType: Short | None = None
    bouncedRecipients: list[_Person] = Field(default_factory=list)
    feedbackId: Id | None = None
    timestamp: Short | None = None


class _Complaint(Loose):
    complainedRecipients: list[_Person] = Field(default_factory=list)
    complaintFeedbackType: Short | None = None
    feedbackId: Id | None = None
    timestamp: Short | None = None


class _Delivery(Loose):
    recipients: list[Short] = Field(default_factory=list)
    timestamp: Short | None = None


class _Delay(Loose):
    delayedRecipients: list[_Person] = Field(default_factory=list)
    delayType: Short | None = None
    timestamp: Short | None = None


class _Reject(Loose):
    reason: Text | None = None


class _Failure(Loose):
    errorMessage: Text | None = None


class _Engagement(Loose):
    timestamp: Short | None = None


class _Preferences(Loose):
    unsubscribeAll: bool | None = None


class _Subscription(Loose):
    timestamp: Short | None = None
    newTopicPreferences: _Preferences | None = None


class SesNotification(Loose):
    """An SES notification (``notificationType``) or published event (``eventType``)."""

    notificationType: Short | None = None
    eventType: Short | None = None
    mail: _Mail = _Mail()
    bounce: _Bounce | None = None
    complaint: _Complaint | None = None
    delivery: _Delivery | None = None
    deliveryDelay: _Delay | None = None
    reject: _Reject | None = None
    failure: _Failure | None = None
    open: _Engagement | None = None
    click: _Engagement | None = None
    subscription: _Subscription | None = None


def _loopback(host: str | None) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _sns_url(settings: Settings, url: str | None) -> str:
    """``url`` if it is an SNS address (or the loopback test origin), else Unauthorized."""
    parts = urlsplit(url or "")
    if parts.scheme == "https" and _SNS_HOST.fullmatch(parts.netloc):
        return str(url)
    origin = urlsplit(settings.env(SNS_LOOPBACK_ENV) or "")
    if _loopback(origin.hostname) and (parts.scheme, parts.netloc) == (
        origin.scheme,
        origin.netloc,
    ):
        return str(url)
    raise Unauthorized("the certificate or subscribe URL is not on sns.<region>.amazonaws.com")


def _sns_key(url: str) -> rsa.RSAPublicKey:
    with _SNS_KEYS_LOCK:
        if url in _SNS_KEYS:
            return _SNS_KEYS[url]
    try:
        response = httpx.get(url, timeout=10)
        response.raise_for_status()
        cert = x509.load_pem_x509_certificate(response.content)
    except (httpx.HTTPError, ValueError) as e:
        raise Unauthorized(f"the signing certificate could not be fetched or read: {e}") from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unauthorized("the signing certificate does not hold an RSA key")
    if cert.not_valid_after_utc < datetime.now(UTC):
        raise Unauthorized("the signing certificate has expired")
    with _SNS_KEYS_LOCK:
        _SNS_KEYS[url] = key
    return key


def _topics(settings: Settings) -> list[str]:
    topics = (settings.env(SES_TOPIC_ENV) or "").replace(",", " ").split()
    if not topics:
        raise Unauthorized(f"{SES_TOPIC_ENV} is not set, so no topic is trusted")
    return topics


def check_headers(settings: Settings, headers: Mapping[str, str]) -> None:
    """No topic configured, or SNS's topic header naming another topic: refused unread."""
    topic = headers.get("x-amz-sns-topic-arn")
    if topic is not None and topic not in _topics(settings):
        raise Unauthorized(f"the x-amz-sns-topic-arn is not one listed in {SES_TOPIC_ENV}")
    _topics(settings)  # raises when none is configured, header or not


def _verify(settings: Settings, body: bytes, now: float) -> SnsMessage:
    topics = _topics(settings)
    data = load_json(body)
    if not isinstance(data, dict) or "Signature" not in data:
        raise Unauthorized("not a signed SNS message")
    message = validate(SnsMessage, data, "SNS message")
    if message.TopicArn not in topics:
        raise Unauthorized(f"the TopicArn is not one listed in {SES_TOPIC_ENV}")
    hash_type = _SNS_HASH.get(message.SignatureVersion)
    if hash_type is None:
        raise Unauthorized("unknown SignatureVersion")
    fields = [(k, data.get(k)) for k in _SNS_SIGNED[message.Type] if k != "Subject" or k in data]
    if not all(isinstance(v, str) for _, v in fields):
        raise Unauthorized("a signed field is missing")
    key = _sns_key(_sns_url(settings, message.SigningCertURL))
    try:
        key.verify(
            base64.b64decode(message.Signature, validate=True),
            "".join(f"{k}\n{v}\n" for k, v in fields).encode(),
            padding.PKCS1v15(),
            hash_type(),
        )
    except (binascii.Error, ValueError, InvalidSignature):
        raise Unauthorized("the SNS signature does not match") from None
    sent = from_iso(message.Timestamp)
    if sent is None:
        raise Unauthorized("the SNS Timestamp is not a time")
    age = now - sent.timestamp()
    if age > SNS_MAX_AGE or age < -MAX_AGE:
        raise Unauthorized(f"the SNS message is {age:.0f} s old (limit {SNS_MAX_AGE} s)")
    return message


def _confirm(url: str) -> None:
    """Visit the SubscribeURL. Neither it nor its answer is logged (it holds the token)."""
    try:
        httpx.get(url, timeout=10).raise_for_status()
    except httpx.HTTPError as e:
        status = e.response.status_code if isinstance(e, httpx.HTTPStatusError) else type(e)
        log.warning(
            "confirming the SNS subscription failed (%s); confirm it in the AWS console", status
        )
        return
    log.info("SNS subscription confirmed")


def _people(note: SesNotification, kind: str) -> tuple[list[str], str, str | None]:
    """(addresses, reason, SES's id for this event) of one notification."""
    mail = note.mail
    if kind == "Bounce" and note.bounce:
        b = note.bounce
        people = [p.emailAddress for p in b.bouncedRecipients]
        return people, f"{b.bounceType}/{b.bounceSubType}", b.feedbackId
    if kind == "Complaint" and note.complaint:
        c = note.complaint
        return (
            [p.emailAddress for p in c.complainedRecipients],
            c.complaintFeedbackType or "",
            (c.feedbackId),
        )
    if kind == "Delivery" and note.delivery:
        return note.delivery.recipients, "", None
    if kind == "DeliveryDelay" and note.deliveryDelay:
        d = note.deliveryDelay
        return [p.emailAddress for p in d.delayedRecipients], d.delayType or "", None
    if kind == "Reject" and note.reject:
        return mail.destination, note.reject.reason or "", None
    if kind == "Rendering Failure" and note.failure:
        return mail.destination, note.failure.errorMessage or "", None
    return mail.destination, "", None


def events_from(note: SesNotification) -> list[TrackingEvent]:
    kind_name = note.eventType or note.notificationType or ""
    kind, reject = EVENTS.get(kind_name, (EventKind.UNKNOWN, None))
    if kind_name == "Bounce" and note.bounce and note.bounce.bounceType == "Permanent":
        kind = EventKind.HARD_BOUNCE
    if (
        kind_name == "Complaint"
        and note.complaint
        and (note.complaint.complaintFeedbackType == "not-spam")
    ):
        kind = EventKind.UNKNOWN
    if kind_name == "Subscription":
        prefs = note.subscription.newTopicPreferences if note.subscription else None
        if not (prefs and prefs.unsubscribeAll):
            kind = EventKind.UNKNOWN
    people, reason, event_id = _people(note, kind_name)
    tags = (note.mail.tags or {}).get("digest_id") or []
    detail: _Bounce | _Complaint | _Delivery | _Delay | _Engagement | _Subscription | None = (
        note.bounce or note.complaint or note.delivery or note.deliveryDelay
    )
    detail = detail or note.open or note.click or note.subscription
    return [
        TrackingEvent(
            provider="ses",
            kind=kind,
            raw_type=kind_name,
            message_ids=(note.mail.messageId,) if note.mail.messageId else (),
            digest_id=tags[0] if tags else None,
            address=bare_address(person),
            timestamp=from_iso(detail.timestamp if detail else None),
            event_id=f"{event_id}/{person}" if event_id else None,
            reason=reason,
            reject=reject,
        )
        for person in people
    ]


def parse(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> Parsed:
    message = _verify(settings, body, now)
    if message.Type == "SubscriptionConfirmation":
        _confirm(_sns_url(settings, message.SubscribeURL))
    if message.Type != "Notification":
        return Parsed([], nonce=message.MessageId)
    if not message.Message.lstrip().startswith("{"):
        return Parsed([], nonce=message.MessageId)  # a test message sent from the console
    note = validate(SesNotification, load_json(message.Message.encode()), "SES notification")
    return Parsed(events_from(note), nonce=message.MessageId)


PROVIDER = WebhookProvider(
    name="ses",
    env=(SES_TOPIC_ENV,),
    parse=parse,
    max_body=1 * MB,
    check_headers=check_headers,
)
