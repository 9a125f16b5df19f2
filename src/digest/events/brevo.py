"""Brevo: one JSON event per request, checked by HTTP basic auth (Brevo signs nothing).

The webhook URL carries the credentials, checked before the body is read. Brevo has no event
id; its ``message-id`` is the Message-ID header, which for digest's mail is
``<digest.ID@domain>``: the one field that carries digest's own id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import Field

from ..config import Settings
from .auth import PASSWORD_ENV, USER_ENV, check_basic_auth
from .model import EventKind, RejectReason, TrackingEvent
from .payload import Id, Loose, Short, Text, bare_address, from_epoch, load_json, validate
from .provider import MB, Parsed, WebhookProvider

__all__ = ["EVENTS", "PROVIDER", "BrevoEvent", "digest_id_in"]

EVENTS: dict[str, tuple[EventKind, RejectReason | None]] = {
    "request": (EventKind.QUEUED, None),
    "delivered": (EventKind.DELIVERED, None),
    "deferred": (EventKind.DEFERRED, None),
    "soft_bounce": (EventKind.SOFT_BOUNCE, None),
    "hard_bounce": (EventKind.HARD_BOUNCE, None),
    "invalid_email": (EventKind.REJECTED, RejectReason.INVALID),
    "blocked": (EventKind.REJECTED, RejectReason.BLOCKED),
    "error": (EventKind.REJECTED, RejectReason.OTHER),
    "spam": (EventKind.COMPLAINT, None),
    "complaint": (EventKind.COMPLAINT, None),
    "unsubscribed": (EventKind.UNSUBSCRIBE, None),
    "unsubscribe": (EventKind.UNSUBSCRIBE, None),
    "opened": (EventKind.OPEN, None),
    "unique_opened": (EventKind.OPEN, None),
    "proxy_open": (EventKind.OPEN, None),
    "unique_proxy_open": (EventKind.OPEN, None),
    "click": (EventKind.CLICK, None),
    "list_addition": (EventKind.UNKNOWN, None),
}

_DIGEST_MESSAGE_ID = re.compile(r"<?digest\.([0-9a-f]{32})@[^>]+>?")


class BrevoEvent(Loose):
    event: Short
    email: Short | None = None
    message_id: Id | None = Field(None, alias="message-id")
    ts_epoch: int | None = None
    ts_event: int | None = None
    reason: Text | None = None


def digest_id_in(message_id: str | None) -> str | None:
    """The id in a Message-ID digest made (``<digest.ID@domain>``), else None."""
    m = _DIGEST_MESSAGE_ID.fullmatch(message_id.strip()) if message_id else None
    return m[1] if m else None


def event_from(item: BrevoEvent) -> TrackingEvent:
    kind, reject = EVENTS.get(item.event, (EventKind.UNKNOWN, None))
    raw_id = item.message_id
    # The send API answers "<id@smtp-relay.mailin.fr>" (what the ledger keeps).
    ids = (f"<{raw_id.strip('<>')}>", raw_id) if raw_id else ()
    when = from_epoch(item.ts_epoch / 1000) if item.ts_epoch else from_epoch(item.ts_event)
    return TrackingEvent(
        provider="brevo",
        kind=kind,
        raw_type=item.event,
        message_ids=ids,
        digest_id=digest_id_in(raw_id),
        address=bare_address(item.email),
        timestamp=when,
        reason=item.reason or "",
        reject=reject,
    )


def parse(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> Parsed:
    check_basic_auth(settings, headers)
    data = load_json(body)
    items = data if isinstance(data, list) else [data]
    return Parsed(
        [event_from(validate(BrevoEvent, item, f"Brevo event {i}")) for i, item in enumerate(items)]
    )


PROVIDER = WebhookProvider(
    name="brevo",
    env=(USER_ENV, PASSWORD_ENV),
    parse=parse,
    max_body=2 * MB,
    check_headers=check_basic_auth,
    basic_auth=True,
)
