"""Provider events: each provider's webhooks, checked and read into one event model.

One module per provider (mirroring :mod:`digest.delivery`) holds its typed payload models,
its authentication and its mapping to :class:`TrackingEvent`. Nothing here touches a web
framework or the ledger: :func:`parse_webhook` takes headers and a body and gives events;
:mod:`digest.sending.event_log` records them; :mod:`digest.web.webhooks` answers the request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..config import Settings
from . import brevo, mailgun, mailjet, postmark, resend, sendgrid, ses
from .auth import MAX_AGE, Unauthorized
from .model import ENGAGEMENT, EventKind, RejectReason, TrackingEvent
from .payload import BadPayload
from .provider import Parsed, WebhookProvider

__all__ = [
    "ENGAGEMENT",
    "MAX_AGE",
    "PROVIDERS",
    "BadPayload",
    "EventKind",
    "Parsed",
    "RejectReason",
    "TrackingEvent",
    "Unauthorized",
    "WebhookProvider",
    "parse_webhook",
]

PROVIDERS: dict[str, WebhookProvider] = {
    m.PROVIDER.name: m.PROVIDER for m in (postmark, mailgun, resend, sendgrid, ses, mailjet, brevo)
}


def parse_webhook(
    provider: str,
    settings: Settings,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> Parsed:
    """Check a webhook request and read its events.

    ``headers`` have lower-case names. Raises :class:`Unauthorized` when the request cannot
    be shown to come from the provider, :class:`BadPayload` when it is malformed (not JSON,
    too deep, a field of the wrong type), and ``KeyError`` for a provider digest does not
    know.
    """
    hook = PROVIDERS[provider]
    return hook.parse(settings, headers, body, time.time() if now is None else now)
