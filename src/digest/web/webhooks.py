"""Answering a provider's webhook request, free of any web framework.

A route does three things: :func:`preflight` with the headers (unknown provider, header
credentials, declared size) before reading anything; read at most :func:`max_body` bytes;
then :func:`handle_webhook` with the body, which checks the proof, reads the events
(:mod:`digest.events`) and records them (:mod:`digest.sending.event_log`). Each returns a
:class:`WebhookAnswer` to send as it is.

A replayed request (a one-time id seen before) is answered 200 with ``"replay": true`` and
changes nothing: the providers that send one-time ids (Svix, SNS, Mailgun) keep them across
their own retries, and an error answer would only make them retry for hours.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..events import PROVIDERS, BadPayload, EventKind, Unauthorized, parse_webhook
from ..sending.event_log import record_request
from ..sending.ledger import Ledger

__all__ = ["PROVIDERS", "WebhookAnswer", "handle_webhook", "max_body", "preflight"]

log = logging.getLogger("digest.web")


@dataclass(frozen=True)
class WebhookAnswer:
    """An HTTP answer: status, body, headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/plain; charset=utf-8"),)

    @classmethod
    def text(cls, status: int, text: str, *extra: tuple[str, str]) -> WebhookAnswer:
        return cls(status, text.encode(), (("Content-Type", "text/plain; charset=utf-8"), *extra))

    @classmethod
    def json(cls, value: dict[str, Any]) -> WebhookAnswer:
        return cls(200, json.dumps(value).encode(), (("Content-Type", "application/json"),))


def max_body(provider: str) -> int:
    """The largest body to read for ``provider`` (0 for one digest does not know)."""
    hook = PROVIDERS.get(provider)
    return hook.max_body if hook else 0


def _unauthorized(provider: str, reason: Exception) -> WebhookAnswer:
    log.warning("webhook %s refused: %s", provider, reason)
    if PROVIDERS[provider].basic_auth:
        challenge = ("WWW-Authenticate", 'Basic realm="digest webhooks"')
        return WebhookAnswer.text(401, "Unauthorized.\n", challenge)
    return WebhookAnswer.text(401, "Unauthorized.\n")


def preflight(
    settings: Settings,
    provider: str,
    headers: Mapping[str, str],
    content_length: int | None = None,
) -> WebhookAnswer | None:
    """An answer for what the headers alone settle, or None: then read the body.

    ``headers`` have lower-case names. Basic-auth providers (Postmark, Mailjet, Brevo) are
    checked here, before a byte of the body is read.
    """
    hook = PROVIDERS.get(provider)
    if hook is None:
        return WebhookAnswer.text(404, "Unknown provider.\n")
    try:
        hook.check_headers(settings, headers)
    except Unauthorized as e:
        return _unauthorized(provider, e)
    if content_length is not None and content_length > hook.max_body:
        log.warning("webhook %s: body of %d bytes refused", provider, content_length)
        return WebhookAnswer.text(413, "Request body too large.\n")
    return None


def handle_webhook(
    settings: Settings,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> WebhookAnswer:
    """Check, read and record one webhook request; never raises for the request's faults."""
    early = preflight(settings, provider, headers, len(body))
    if early is not None:
        return early
    when = time.time() if now is None else now
    try:
        parsed = parse_webhook(provider, settings, headers, body, when)
    except Unauthorized as e:
        return _unauthorized(provider, e)
    except BadPayload as e:
        log.warning("webhook %s: malformed body: %s", provider, e)
        return WebhookAnswer.text(400, f"Malformed {provider} webhook body: {e}\n")
    for event in parsed.events:
        if event.kind is EventKind.UNKNOWN:
            log.info(
                "webhook %s: event type %r acknowledged, not acted on",
                provider,
                event.raw_type[:80],
            )
    with Ledger(settings.path(settings.sending.ledger)) as ledger:
        done = record_request(
            ledger,
            provider,
            parsed.events,
            nonce=parsed.nonce,
            soft_bounce_limit=settings.events.soft_bounce_limit,
            retention_days=settings.events.retention_days,
            now=when,
        )
    if done.replay:
        log.warning(
            "webhook %s: a replayed request (its one-time id was seen before) ignored", provider
        )
    else:
        log.info(
            "webhook %s: %d event(s), %d matched, %d recorded, %d suppressed",
            provider,
            done.events,
            done.matched,
            done.recorded,
            done.suppressed,
        )
    answer: dict[str, Any] = {
        "events": done.events,
        "recorded": done.recorded,
        "suppressed": done.suppressed,
    }
    if done.replay:
        answer["replay"] = True
    return WebhookAnswer.json(answer)
