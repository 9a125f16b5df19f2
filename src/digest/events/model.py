"""One normalised tracking event, whatever provider reported it.

Every provider module turns its own payload into :class:`TrackingEvent` values; the ledger
only ever sees these. The kinds follow django-anymail's tracking events, narrowed to what a
newsletter acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["ENGAGEMENT", "EventKind", "RejectReason", "TrackingEvent"]


class EventKind(StrEnum):
    """What happened to one message for one recipient."""

    QUEUED = "queued"
    """The provider accepted the message (``processed``, ``accepted``, ``request``…)."""
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    """Delayed; the provider is still trying."""
    SOFT_BOUNCE = "soft_bounce"
    """Not delivered this time (full inbox, temporary failure); counts towards the limit."""
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    """The reader unsubscribed through the provider's own link or list management."""
    OPEN = "open"
    CLICK = "click"
    REJECTED = "rejected"
    """The provider did not send it; :attr:`TrackingEvent.reject` says why."""
    UNKNOWN = "unknown"
    """A type digest has no use for (auto-replies, inbound, account events) or does not know."""


class RejectReason(StrEnum):
    """Why a provider refused to send (``rejected`` events)."""

    BOUNCED = "bounced"
    """It bounced before: the provider's own suppression list."""
    INVALID = "invalid"
    """The address cannot receive mail."""
    SPAM = "spam"
    """The reader reported mail as spam before."""
    UNSUBSCRIBED = "unsubscribed"
    BLOCKED = "blocked"
    """Policy: the sender, the content or the receiving side's blocklists (not the reader)."""
    OTHER = "other"


ENGAGEMENT = frozenset({EventKind.DELIVERED, EventKind.OPEN, EventKind.CLICK})
"""Kinds that show the address works (they end a run of soft bounces)."""


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    """One event for one recipient of one message.

    ``message_ids`` are the forms of the provider's message id to look up, best first
    (SendGrid's ``sg_message_id`` only starts with the X-Message-Id; Mailgun drops the
    angle brackets its send API gave). ``digest_id`` is digest's own per-recipient id echoed
    in the provider's metadata; ``address`` is the bare address (any display name dropped).
    """

    provider: str
    kind: EventKind
    raw_type: str
    message_ids: tuple[str, ...] = ()
    digest_id: str | None = None
    address: str | None = None
    timestamp: datetime | None = None
    event_id: str | None = None
    reason: str = ""
    reject: RejectReason | None = None

    @property
    def message_id(self) -> str | None:
        return self.message_ids[0] if self.message_ids else None

    @property
    def suppression(self) -> str | None:
        """The suppression reason this event proves by itself, or None."""
        if self.kind is EventKind.HARD_BOUNCE:
            return "bounced"
        if self.kind is EventKind.COMPLAINT:
            return "complained"
        if self.kind is EventKind.UNSUBSCRIBE:
            return "unsubscribed"
        if self.kind is EventKind.REJECTED:
            return (
                {
                    RejectReason.BOUNCED: "bounced",
                    RejectReason.INVALID: "bounced",
                    RejectReason.SPAM: "complained",
                    RejectReason.UNSUBSCRIBED: "unsubscribed",
                }.get(self.reject)
                if self.reject
                else None
            )
        return None
