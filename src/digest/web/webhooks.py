"""Answering a provider's webhook request, free of any web framework.

A route does four things: :func:`preflight` with the headers (unknown provider, header
credentials) before reading anything; read at most :func:`body_cap` bytes; :func:`read_webhook`
with the body (checks the proof, reads the events: :mod:`digest.events`); and
:func:`record_webhook` on a ledger (:mod:`digest.sending.event_log`). :func:`handle_webhook`
does the last two in one call. Each step that ends the request gives a
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
from ..events import PROVIDERS, BadPayload, EventKind, Parsed, Unauthorized, parse_webhook
from ..sending.event_log import record_request
from ..sending.ledger import Ledger

__all__ = [
    "PROVIDERS",
    "WebhookAnswer",
    "body_cap",
    "handle_webhook",
    "preflight",
    "read_webhook",
    "record_webhook",
]

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


def body_cap(settings: Settings, provider: str) -> int:
    """The most body bytes to read for ``provider`` once :func:`preflight` has passed.

    A provider checked on its headers (basic auth) may send up to its own maximum (a Postmark
    bounce with the whole message); the others are read before any proof is checked, so the
    server-wide ``[serve] max_webhook_body`` bounds them too.
    """
    hook = PROVIDERS[provider]
    if hook.basic_auth:
        return hook.max_body
    return min(hook.max_body, settings.serve.max_webhook_body)


def _unauthorized(provider: str, reason: Exception) -> WebhookAnswer:
    log.warning("webhook %s refused: %s", provider, reason)
    if PROVIDERS[provider].basic_auth:
        challenge = ("WWW-Authenticate", 'Basic realm="digest webhooks"')
        return WebhookAnswer.text(401, "Unauthorized.\n", challenge)
    return WebhookAnswer.text(401, "Unauthorized.\n")


def preflight(
    settings: Settings, provider: str, headers: Mapping[str, str]
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
    return None


def read_webhook(
    settings: Settings, provider: str, headers: Mapping[str, str], body: bytes, now: float
) -> Parsed | WebhookAnswer:
    """The request's events, or the 401/400 answer when its proof or its body is bad."""
    try:
        parsed = parse_webhook(provider, settings, headers, body, now)
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
    return parsed


def record_webhook(
    ledger: Ledger, settings: Settings, provider: str, parsed: Parsed, now: float
) -> WebhookAnswer:
    """Record the events in ``ledger``; the 200 answer says what was done."""
    done = record_request(
        ledger,
        provider,
        parsed.events,
        nonce=parsed.nonce,
        soft_bounce_limit=settings.events.soft_bounce_limit,
        retention_days=settings.events.retention_days,
        now=now,
    )
    if done.replay:
        log.warning("webhook %s: a replayed request (one-time id seen before) ignored", provider)
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


def handle_webhook(
    settings: Settings,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> WebhookAnswer:
    """Check, read and record one request, opening the ledger itself; never raises for the
    request's own faults (a ledger that cannot be written does raise)."""
    when = time.time() if now is None else now
    early = preflight(settings, provider, headers)
    if early is None and len(body) > body_cap(settings, provider):
        early = WebhookAnswer.text(413, "Request body too large.\n")
    if early is not None:
        return early
    parsed = read_webhook(settings, provider, headers, body, when)
    if isinstance(parsed, WebhookAnswer):
        return parsed
    with Ledger(settings.path(settings.sending.ledger)) as ledger:
        return record_webhook(ledger, settings, provider, parsed, when)
