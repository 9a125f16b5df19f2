"""Mailgun: one JSON event per request, signed inside the body.

``signature: {timestamp, token, signature}``: the signature is hex HMAC-SHA256 of
``timestamp + token`` under ``MAILGUN_WEBHOOK_SIGNING_KEY``. Timestamps more than
:data:`~digest.events.auth.MAX_AGE` seconds from now are refused, and each token is kept in
the ledger (it survives a restart), so a request is acted on once. As the proof sits in the
body, the body is parsed first, under a small size cap and a bounded depth.

``failed`` events say ``severity``: ``permanent`` is a hard bounce unless the ``reason``
says otherwise (``suppress-unsubscribe``, ``suppress-complaint``, or ``old``: Mailgun gave
up retrying a temporary failure, which counts as a soft bounce); ``temporary`` is a deferral
Mailgun retries. digest's own id comes back in ``user-variables.digest_id``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pydantic import Field

from ..config import Settings
from .auth import Unauthorized, check_fresh, secret
from .model import EventKind, RejectReason, TrackingEvent
from .payload import Id, Loose, Short, Text, bare_address, from_epoch, load_json, validate
from .provider import MB, Parsed, WebhookProvider

__all__ = ["EVENTS", "MAILGUN_ENV", "PROVIDER", "MailgunEventData"]

MAILGUN_ENV = "MAILGUN_WEBHOOK_SIGNING_KEY"

EVENTS: dict[str, EventKind] = {
    "accepted": EventKind.QUEUED,
    "rejected": EventKind.REJECTED,
    "delivered": EventKind.DELIVERED,
    "failed": EventKind.HARD_BOUNCE,  # severity and reason below
    "opened": EventKind.OPEN,
    "clicked": EventKind.CLICK,
    "unsubscribed": EventKind.UNSUBSCRIBE,
    "complained": EventKind.COMPLAINT,
    "stored": EventKind.UNKNOWN,
    "list_member_uploaded": EventKind.UNKNOWN,
    "list_member_upload_error": EventKind.UNKNOWN,
    "list_uploaded": EventKind.UNKNOWN,
}

PERMANENT_REASONS: dict[str, tuple[EventKind, RejectReason | None]] = {
    "bounce": (EventKind.HARD_BOUNCE, None),
    "suppress-bounce": (EventKind.REJECTED, RejectReason.BOUNCED),
    "suppress-unsubscribe": (EventKind.REJECTED, RejectReason.UNSUBSCRIBED),
    "suppress-complaint": (EventKind.REJECTED, RejectReason.SPAM),
    "old": (EventKind.SOFT_BOUNCE, None),
    "espblock": (EventKind.REJECTED, RejectReason.BLOCKED),
}


class _Signature(Loose):
    timestamp: Short | int
    token: Short
    signature: Short


class _Headers(Loose):
    message_id: Id | None = Field(None, alias="message-id")


class _Message(Loose):
    headers: _Headers | None = None


class _DeliveryStatus(Loose):
    message: Text | None = None
    description: Text | None = None


class MailgunEventData(Loose):
    event: Short
    id: Id | None = None
    timestamp: float | None = None
    recipient: Short | None = None
    severity: Short | None = None
    reason: Short | None = None
    message: _Message | None = None
    delivery_status: _DeliveryStatus | None = Field(None, alias="delivery-status")
    user_variables: dict[Short, Short | int | float | bool | None] | None = Field(
        None, alias="user-variables"
    )


class _Body(Loose):
    signature: _Signature


def _kind(data: MailgunEventData) -> tuple[EventKind, RejectReason | None]:
    if data.event == "failed":
        if data.severity == "temporary":
            return EventKind.DEFERRED, None
        return PERMANENT_REASONS.get(data.reason or "", (EventKind.HARD_BOUNCE, None))
    if data.event == "rejected":
        return EventKind.REJECTED, RejectReason.OTHER
    return EVENTS.get(data.event, EventKind.UNKNOWN), None


def event_from(data: MailgunEventData) -> TrackingEvent:
    kind, reject = _kind(data)
    headers = data.message.headers if data.message else None
    raw_id = headers.message_id if headers else None
    # The send API answers "<id@domain>" (what the ledger keeps); webhooks drop the <>.
    ids = (f"<{raw_id.strip('<>')}>", raw_id) if raw_id else ()
    digest_id = (data.user_variables or {}).get("digest_id")
    status = data.delivery_status
    return TrackingEvent(
        provider="mailgun",
        kind=kind,
        raw_type=data.event + (f":{data.severity}" if data.severity else ""),
        message_ids=ids,
        digest_id=digest_id if isinstance(digest_id, str) else None,
        address=bare_address(data.recipient),
        timestamp=from_epoch(data.timestamp),
        event_id=data.id,
        reason=(status.message or status.description or "") if status else (data.reason or ""),
        reject=reject,
    )


def parse(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> Parsed:
    key = secret(settings, MAILGUN_ENV)
    data = load_json(body)
    if not isinstance(data, dict) or not isinstance(data.get("signature"), dict):
        raise Unauthorized("no signature object in the body")
    sig = validate(_Body, data, "Mailgun signature").signature
    expected = hmac.new(
        key.reveal().encode(), f"{sig.timestamp}{sig.token}".encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode(), sig.signature.encode()):
        raise Unauthorized("the signature does not match")
    check_fresh(sig.timestamp, now)
    event = data.get("event-data")
    if event is None:
        return Parsed([], nonce=sig.token)  # a signed ping with no event
    return Parsed(
        [event_from(validate(MailgunEventData, event, "Mailgun event-data"))], nonce=sig.token
    )


PROVIDER = WebhookProvider(
    name="mailgun",
    env=(MAILGUN_ENV,),
    parse=parse,
    max_body=1 * MB,  # one event, read before its signature can be checked: kept small
)
