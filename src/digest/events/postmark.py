"""Postmark: one JSON event per request, checked by HTTP basic auth (Postmark signs nothing).

The webhook URL carries the credentials (``https://USER:PASSWORD@example.org/webhooks/
postmark``), checked before the body is read. A bounce may carry the whole bounced message,
so the body may be as large as Postmark's largest message.

``RecordType`` says what happened; for ``Bounce`` and ``SpamComplaint`` the ``Type`` (with
``TypeCode``) says more, and ``SubscriptionChange`` says whether Postmark now suppresses the
address (``SuppressSending``) and why (``SuppressionReason``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Settings
from .auth import PASSWORD_ENV, USER_ENV, check_basic_auth
from .model import EventKind, RejectReason, TrackingEvent
from .payload import Id, Loose, Short, Text, bare_address, from_iso, load_json, validate
from .provider import MB, Parsed, WebhookProvider

__all__ = ["BOUNCE_TYPES", "PROVIDER", "RECORD_TYPES", "PostmarkEvent"]

RECORD_TYPES: dict[str, EventKind] = {
    "Delivery": EventKind.DELIVERED,
    "Bounce": EventKind.SOFT_BOUNCE,  # refined by Type below
    "SpamComplaint": EventKind.COMPLAINT,
    "Open": EventKind.OPEN,
    "Click": EventKind.CLICK,
    "SubscriptionChange": EventKind.UNSUBSCRIBE,  # refined by SuppressSending below
}

BOUNCE_TYPES: dict[str, tuple[EventKind, RejectReason | None]] = {
    # Postmark's bounce types (name and TypeCode) as its Bounce API lists them.
    "HardBounce": (EventKind.HARD_BOUNCE, None),  # 1
    "Transient": (EventKind.DEFERRED, None),  # 2
    "Unsubscribe": (EventKind.UNSUBSCRIBE, None),  # 16: the reader asked to stop
    "Subscribe": (EventKind.UNKNOWN, None),  # 32
    "AutoResponder": (EventKind.UNKNOWN, None),  # 64
    "AddressChange": (EventKind.UNKNOWN, None),  # 128
    "DnsError": (EventKind.SOFT_BOUNCE, None),  # 256
    "SpamNotification": (EventKind.COMPLAINT, None),  # 512
    "OpenRelayTest": (EventKind.UNKNOWN, None),  # 1024
    "Unknown": (EventKind.SOFT_BOUNCE, None),  # 2048
    "SoftBounce": (EventKind.SOFT_BOUNCE, None),  # 4096
    "VirusNotification": (EventKind.SOFT_BOUNCE, None),  # 8192
    "ChallengeVerification": (EventKind.UNKNOWN, None),  # 16384
    "BadEmailAddress": (EventKind.REJECTED, RejectReason.INVALID),  # 100000
    "SpamComplaint": (EventKind.COMPLAINT, None),  # 100001
    "ManuallyDeactivated": (EventKind.REJECTED, RejectReason.BOUNCED),  # 100002
    "Unconfirmed": (EventKind.REJECTED, RejectReason.OTHER),  # 100003
    "Blocked": (EventKind.REJECTED, RejectReason.BLOCKED),  # 100006
    "SMTPApiError": (EventKind.REJECTED, RejectReason.OTHER),  # 100007
    "InboundError": (EventKind.UNKNOWN, None),  # 100008
    "DMARCPolicy": (EventKind.REJECTED, RejectReason.BLOCKED),  # 100009
    "TemplateRenderingFailed": (EventKind.REJECTED, RejectReason.OTHER),  # 100010
}
_TYPE_CODES = {16: "Unsubscribe", 1: "HardBounce"}

SUPPRESSION_REASONS: dict[str, tuple[EventKind, RejectReason | None]] = {
    "HardBounce": (EventKind.HARD_BOUNCE, None),
    "SpamComplaint": (EventKind.COMPLAINT, None),
    "ManualSuppression": (EventKind.UNSUBSCRIBE, None),
}


class PostmarkEvent(Loose):
    """The fields digest reads from any Postmark webhook."""

    RecordType: Short
    MessageID: Id | None = None
    ID: int | None = None
    Type: Short | None = None
    TypeCode: int | None = None
    Email: Short | None = None
    Recipient: Short | None = None
    Description: Text | None = None
    Details: Text | None = None
    Inactive: bool | None = None
    SuppressSending: bool | None = None
    SuppressionReason: Short | None = None
    Metadata: dict[Short, Short | int | float | bool | None] | None = None
    BouncedAt: Short | None = None
    DeliveredAt: Short | None = None
    ReceivedAt: Short | None = None
    ChangedAt: Short | None = None


def _kind(event: PostmarkEvent) -> tuple[EventKind, RejectReason | None]:
    record = event.RecordType
    if record == "SubscriptionChange":
        if not event.SuppressSending:
            return EventKind.UNKNOWN, None  # reactivated at Postmark: digest keeps its own list
        return SUPPRESSION_REASONS.get(event.SuppressionReason or "", (EventKind.UNSUBSCRIBE, None))
    if record in ("Bounce", "SpamComplaint"):
        name = event.Type or _TYPE_CODES.get(event.TypeCode or 0, "")
        kind, reject = BOUNCE_TYPES.get(name, (RECORD_TYPES[record], None))
        if event.Inactive and kind in (EventKind.SOFT_BOUNCE, EventKind.UNKNOWN):
            # Postmark deactivated the address: it refuses every later send to it.
            return EventKind.REJECTED, RejectReason.BOUNCED
        return kind, reject
    return RECORD_TYPES.get(record, EventKind.UNKNOWN), None


def event_from(event: PostmarkEvent) -> TrackingEvent:
    kind, reject = _kind(event)
    digest_id = (event.Metadata or {}).get("digest_id")
    when = event.BouncedAt or event.DeliveredAt or event.ReceivedAt or event.ChangedAt
    raw = event.RecordType + (f":{event.Type}" if event.Type else "")
    return TrackingEvent(
        provider="postmark",
        kind=kind,
        raw_type=raw,
        message_ids=(event.MessageID,) if event.MessageID else (),
        digest_id=digest_id if isinstance(digest_id, str) else None,
        address=bare_address(event.Email or event.Recipient),
        timestamp=from_iso(when),
        event_id=f"bounce-{event.ID}" if event.ID is not None else None,
        reason=event.Description or event.SuppressionReason or "",
        reject=reject,
    )


def parse(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> Parsed:
    check_basic_auth(settings, headers)
    data = validate(PostmarkEvent, load_json(body), "Postmark event")
    return Parsed([event_from(data)])


PROVIDER = WebhookProvider(
    name="postmark",
    env=(USER_ENV, PASSWORD_ENV),
    parse=parse,
    # A message may be 10 MB with attachments; a bounce with its dump, base64 and JSON-escaped
    # inside the event, stays under this.
    max_body=32 * MB,
    check_headers=check_basic_auth,
    basic_auth=True,
)
