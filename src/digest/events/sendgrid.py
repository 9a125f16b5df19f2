"""SendGrid: a JSON array of events per request, signed with ECDSA (Signed Event Webhook).

``X-Twilio-Email-Event-Webhook-Signature`` holds the base64 DER signature of ``timestamp +
body`` (P-256, SHA-256), ``…-Timestamp`` the timestamp; the public key (base64 DER, as
SendGrid's settings page shows it) is ``SENDGRID_WEBHOOK_PUBLIC_KEY``. SendGrid documents
no time window, so none is enforced; each event's ``sg_event_id`` makes a replay a no-op.

``sg_message_id`` starts with the send's X-Message-Id (which may itself hold dots) and may
go on with ``.filter…``/``.recvd…``; every dot-prefix is tried. digest's own id comes back
as the ``digest_id`` custom argument, a top-level field of each event.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from ..config import Settings
from .auth import Unauthorized, secret
from .model import EventKind, RejectReason, TrackingEvent
from .payload import (
    BadPayload,
    Id,
    Loose,
    Short,
    Text,
    bare_address,
    from_epoch,
    load_json,
    validate,
)
from .provider import MB, Parsed, WebhookProvider

__all__ = ["EVENTS", "PROVIDER", "SENDGRID_ENV", "SendGridEvent"]

SENDGRID_ENV = "SENDGRID_WEBHOOK_PUBLIC_KEY"
_SIGNATURE = "x-twilio-email-event-webhook-signature"
_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"

EVENTS: dict[str, EventKind] = {
    "processed": EventKind.QUEUED,
    "dropped": EventKind.REJECTED,  # reason below
    "deferred": EventKind.DEFERRED,
    "bounce": EventKind.HARD_BOUNCE,  # type "blocked" below
    "blocked": EventKind.REJECTED,
    "delivered": EventKind.DELIVERED,
    "open": EventKind.OPEN,
    "click": EventKind.CLICK,
    "spamreport": EventKind.COMPLAINT,
    "unsubscribe": EventKind.UNSUBSCRIBE,
    "group_unsubscribe": EventKind.UNSUBSCRIBE,
    "group_resubscribe": EventKind.UNKNOWN,
}

DROP_REASONS: dict[str, RejectReason] = {
    "Bounced Address": RejectReason.BOUNCED,
    "Invalid": RejectReason.INVALID,
    "Invalid SMTPAPI header": RejectReason.OTHER,
    "Spam Reporting Address": RejectReason.SPAM,
    "Unsubscribed Address": RejectReason.UNSUBSCRIBED,
    "Spam Content (if spam checker app enabled)": RejectReason.BLOCKED,
}


class SendGridEvent(Loose):
    event: Short
    email: Short | None = None
    sg_message_id: Id | None = None
    sg_event_id: Id | None = None
    timestamp: int | float | None = None
    type: Short | None = None
    reason: Text | None = None
    digest_id: Id | None = None


def _key(settings: Settings) -> ec.EllipticCurvePublicKey:
    try:
        key = load_der_public_key(
            base64.b64decode(secret(settings, SENDGRID_ENV).reveal(), validate=True)
        )
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise Unauthorized(f"{SENDGRID_ENV} is not a base64 DER public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Unauthorized(f"{SENDGRID_ENV} is not an elliptic-curve public key")
    return key


def check_headers(settings: Settings, headers: Mapping[str, str]) -> None:
    if not (headers.get(_SIGNATURE) and headers.get(_TIMESTAMP)):
        raise Unauthorized("the X-Twilio-Email-Event-Webhook-Signature/-Timestamp is missing")
    _key(settings)


def message_ids(sg_message_id: str | None) -> tuple[str, ...]:
    """Every dot-prefix of ``sg_message_id``, longest first: one of them is the X-Message-Id."""
    if not sg_message_id:
        return ()
    parts = sg_message_id.split(".")
    return tuple(".".join(parts[:n]) for n in range(len(parts), 0, -1))


def event_from(item: SendGridEvent) -> TrackingEvent:
    kind = EVENTS.get(item.event, EventKind.UNKNOWN)
    reject = None
    if item.event == "bounce" and item.type == "blocked":
        kind, reject = EventKind.REJECTED, RejectReason.BLOCKED
    elif item.event == "dropped":
        reject = DROP_REASONS.get(item.reason or "", RejectReason.OTHER)
    elif item.event == "blocked":
        reject = RejectReason.BLOCKED
    return TrackingEvent(
        provider="sendgrid",
        kind=kind,
        raw_type=item.event + (f":{item.type}" if item.type else ""),
        message_ids=message_ids(item.sg_message_id),
        digest_id=item.digest_id,
        address=bare_address(item.email),
        timestamp=from_epoch(item.timestamp),
        event_id=item.sg_event_id,
        reason=item.reason or "",
        reject=reject,
    )


def parse(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> Parsed:
    check_headers(settings, headers)
    try:
        signature = base64.b64decode(headers[_SIGNATURE], validate=True)
        _key(settings).verify(
            signature, headers[_TIMESTAMP].encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (binascii.Error, ValueError, InvalidSignature):
        raise Unauthorized("the signature does not match") from None
    data = load_json(body)
    if not isinstance(data, list):
        raise BadPayload("SendGrid events: the top level is not an array")
    return Parsed(
        [
            event_from(validate(SendGridEvent, item, f"SendGrid event {i}"))
            for i, item in enumerate(data)
        ]
    )


PROVIDER = WebhookProvider(
    name="sendgrid",
    env=(SENDGRID_ENV,),
    parse=parse,
    max_body=8 * MB,  # SendGrid batches events by size or time; a few MB at most
    check_headers=check_headers,
)
