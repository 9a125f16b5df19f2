"""Resend: one JSON event per request, delivered and signed by Svix.

``svix-signature`` holds ``v1,<base64>`` entries, each an HMAC-SHA256 of
``"{svix-id}.{svix-timestamp}.{body}"`` under the base64 part of ``RESEND_WEBHOOK_SECRET``
(``whsec_…``); the timestamp must be within :data:`~digest.events.auth.MAX_AGE`. Svix keeps
the ``svix-id`` across its retries, so it is the request's one-time id, kept in the ledger.

Resend echoes ``to`` as sent, display name included; the address is parsed out of it. A
bounce is permanent only when ``bounce.type`` says ``Permanent``: older payloads (and "inbox
was full") have no type and count as soft bounces. A ``contact.*`` event with
``unsubscribed: true`` (Resend's own unsubscribe for audiences) is an unsubscribe of that
address. digest's own id comes back in the ``digest_id`` tag.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from ..config import Settings
from .auth import Unauthorized, check_fresh, secret
from .model import EventKind, RejectReason, TrackingEvent
from .payload import Id, Loose, Short, Text, bare_address, from_iso, load_json, validate
from .provider import MB, Parsed, WebhookProvider

__all__ = ["EVENTS", "PROVIDER", "RESEND_ENV", "ResendEvent"]

RESEND_ENV = "RESEND_WEBHOOK_SECRET"

EVENTS: dict[str, tuple[EventKind, RejectReason | None]] = {
    "email.sent": (EventKind.QUEUED, None),
    "email.scheduled": (EventKind.QUEUED, None),
    "email.delivered": (EventKind.DELIVERED, None),
    "email.delivery_delayed": (EventKind.DEFERRED, None),
    "email.bounced": (EventKind.SOFT_BOUNCE, None),  # Permanent below
    "email.complained": (EventKind.COMPLAINT, None),
    "email.opened": (EventKind.OPEN, None),
    "email.clicked": (EventKind.CLICK, None),
    "email.failed": (EventKind.REJECTED, RejectReason.OTHER),
    "email.suppressed": (EventKind.REJECTED, RejectReason.BOUNCED),
    "email.received": (EventKind.UNKNOWN, None),
    "contact.created": (EventKind.UNKNOWN, None),  # unsubscribed below
    "contact.updated": (EventKind.UNKNOWN, None),
    "contact.deleted": (EventKind.UNKNOWN, None),
    "domain.created": (EventKind.UNKNOWN, None),
    "domain.updated": (EventKind.UNKNOWN, None),
    "domain.deleted": (EventKind.UNKNOWN, None),
}


class _Tag(Loose):
    name: Short
    value: Short


class _Bounce(Loose):
    type: Short | None = None
    subType: Short | None = None
    message: Text | None = None


class _Data(Loose):
    email_id: Id | None = None
    to: list[Short] | Short | None = None
    bounce: _Bounce | None = None
    tags: dict[Short, Short] | list[_Tag] | None = None
    email: Short | None = None
    unsubscribed: bool | None = None


class ResendEvent(Loose):
    type: Short
    created_at: Short | None = None
    data: _Data | None = None


def check_headers(settings: Settings, headers: Mapping[str, str]) -> None:
    if not (
        headers.get("svix-id") and headers.get("svix-timestamp") and headers.get("svix-signature")
    ):
        raise Unauthorized("svix-id, svix-timestamp or svix-signature is missing")
    secret(settings, RESEND_ENV)


def _verify(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> None:
    msg_id, timestamp = headers.get("svix-id", ""), headers.get("svix-timestamp", "")
    signatures = headers.get("svix-signature", "")
    if not (msg_id and timestamp and signatures):
        raise Unauthorized("svix-id, svix-timestamp or svix-signature is missing")
    try:
        key = base64.b64decode(
            secret(settings, RESEND_ENV).reveal().removeprefix("whsec_"), validate=True
        )
    except binascii.Error:
        raise Unauthorized(f"{RESEND_ENV} is not a whsec_… signing secret") from None
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    given = [s.partition(",")[2].encode() for s in signatures.split() if s.startswith("v1,")]
    if not any(hmac.compare_digest(expected, g) for g in given):
        raise Unauthorized("no svix-signature entry matches")
    check_fresh(timestamp, now)


def _digest_id(tags: dict[str, str] | list[_Tag] | None) -> str | None:
    if isinstance(tags, dict):
        return tags.get("digest_id")
    return next((t.value for t in tags or [] if t.name == "digest_id"), None)


def events_from(event: ResendEvent) -> list[TrackingEvent]:
    kind, reject = EVENTS.get(event.type, (EventKind.UNKNOWN, None))
    data = event.data or _Data()
    bounce = data.bounce
    if event.type == "email.bounced" and bounce and bounce.type == "Permanent":
        kind = EventKind.HARD_BOUNCE
    if event.type in ("contact.created", "contact.updated") and data.unsubscribed:
        kind = EventKind.UNSUBSCRIBE  # an audience contact unsubscribed (broadcasts)
    to = [data.to] if isinstance(data.to, str) else data.to or ([data.email] if data.email else [])
    addresses = [bare_address(a) for a in to] or [None]
    return [
        TrackingEvent(
            provider="resend",
            kind=kind,
            raw_type=event.type + (f":{bounce.type}" if bounce and bounce.type else ""),
            message_ids=(data.email_id,) if data.email_id else (),
            digest_id=_digest_id(data.tags),
            address=address,
            timestamp=from_iso(event.created_at),
            event_id=None,  # svix-id names the delivery; created_at and type name the event
            reason=(bounce.message or "") if bounce else "",
            reject=reject,
        )
        for address in addresses
    ]


def parse(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> Parsed:
    _verify(settings, headers, body, now)
    event = validate(ResendEvent, load_json(body), "Resend event")
    svix_id = headers["svix-id"]
    return Parsed(events_from(event), nonce=svix_id)


PROVIDER = WebhookProvider(
    name="resend",
    env=(RESEND_ENV,),
    parse=parse,
    max_body=1 * MB,
    check_headers=check_headers,
)
