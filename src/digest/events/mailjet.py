"""Mailjet: one event, or an array of them when grouping is on; HTTP basic auth.

Mailjet signs nothing; the event URL carries the credentials, checked before the body is
read. ``MessageID`` is a JSON number (the send API's answer is kept as its decimal string);
digest's own id comes back as ``CustomID``. Mailjet sends no event id.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Settings
from .auth import PASSWORD_ENV, USER_ENV, check_basic_auth
from .model import EventKind, RejectReason, TrackingEvent
from .payload import Id, Loose, Short, Text, bare_address, from_epoch, load_json, validate
from .provider import MB, Parsed, WebhookProvider

__all__ = ["ERRORS", "EVENTS", "PROVIDER", "MailjetEvent"]

EVENTS: dict[str, EventKind] = {
    "sent": EventKind.DELIVERED,  # accepted by the receiving server
    "open": EventKind.OPEN,
    "click": EventKind.CLICK,
    "bounce": EventKind.SOFT_BOUNCE,  # hard_bounce below
    "blocked": EventKind.REJECTED,  # error below
    "spam": EventKind.COMPLAINT,
    "unsub": EventKind.UNSUBSCRIBE,
}

ERRORS: dict[str, RejectReason] = {
    # error_related_to "recipient"
    "user unknown": RejectReason.BOUNCED,
    "mailbox inactive": RejectReason.BOUNCED,
    "quota exceeded": RejectReason.OTHER,
    "blacklisted": RejectReason.BLOCKED,
    "spam reporter": RejectReason.SPAM,
    # "domain"
    "invalid domain": RejectReason.INVALID,
    "no mail host": RejectReason.INVALID,
    "relay/access denied": RejectReason.BLOCKED,
    "greylisted": RejectReason.OTHER,
    "typofix": RejectReason.INVALID,
    # "spam" (Mailjet's own filtering) and "mailjet"
    "sender blocked": RejectReason.BLOCKED,
    "content blocked": RejectReason.BLOCKED,
    "policy issue": RejectReason.BLOCKED,
    "preblocked": RejectReason.BLOCKED,
    "duplicate in campaign": RejectReason.OTHER,
}


class MailjetEvent(Loose):
    event: Short
    time: int | None = None
    MessageID: int | Id | None = None
    email: Short | None = None
    CustomID: Id | None = None
    hard_bounce: bool | None = None
    error: Short | None = None
    error_related_to: Short | None = None
    comment: Text | None = None


def event_from(item: MailjetEvent) -> TrackingEvent:
    kind = EVENTS.get(item.event, EventKind.UNKNOWN)
    reject = None
    if item.event == "bounce":
        if item.hard_bounce:
            kind = EventKind.HARD_BOUNCE
        elif item.error == "greylisted":
            kind = EventKind.DEFERRED
    elif item.event == "blocked":
        reject = ERRORS.get(item.error or "", RejectReason.OTHER)
    return TrackingEvent(
        provider="mailjet",
        kind=kind,
        raw_type=item.event + (f":{item.error}" if item.error else ""),
        message_ids=(str(item.MessageID),) if item.MessageID not in (None, "") else (),
        digest_id=item.CustomID or None,
        address=bare_address(item.email),
        timestamp=from_epoch(item.time),
        reason=item.error or item.comment or "",
        reject=reject,
    )


def parse(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> Parsed:
    check_basic_auth(settings, headers)
    data = load_json(body)
    items = data if isinstance(data, list) else [data]
    return Parsed(
        [
            event_from(validate(MailjetEvent, item, f"Mailjet event {i}"))
            for i, item in enumerate(items)
        ]
    )


PROVIDER = WebhookProvider(
    name="mailjet",
    env=(USER_ENV, PASSWORD_ENV),
    parse=parse,
    max_body=8 * MB,  # grouped events
    check_headers=check_basic_auth,
    basic_auth=True,
)
