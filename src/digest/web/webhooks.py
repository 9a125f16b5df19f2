"""Provider webhooks: check who sent the request, then turn it into bounce / complaint events.

Each provider checks authenticity its own documented way:

* **Postmark** signs nothing; its webhooks carry HTTP basic auth set in the webhook's URL
  (``https://USER:PASSWORD@example.org/webhooks/postmark``), checked against
  ``DIGEST_WEBHOOK_USER`` / ``DIGEST_WEBHOOK_PASSWORD``.
* **Mailgun** puts ``signature: {timestamp, token, signature}`` in the JSON body: the
  signature is hex HMAC-SHA256 of ``timestamp + token`` under ``MAILGUN_WEBHOOK_SIGNING_KEY``.
  Timestamps more than :data:`MAX_AGE` seconds from now, and tokens already seen, are refused.
* **Resend** delivers through Svix: ``svix-signature`` holds ``v1,<base64>`` entries, each an
  HMAC-SHA256 of ``"{svix-id}.{svix-timestamp}.{body}"`` under the base64 part of
  ``RESEND_WEBHOOK_SECRET`` (``whsec_…``); the timestamp must be within :data:`MAX_AGE`.

Only hard bounces and complaints become events; everything else (deliveries, opens, soft
bounces) is accepted and ignored, so the provider does not retry it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Secret, Settings

__all__ = [
    "MAX_AGE",
    "PROVIDERS",
    "Event",
    "Unauthorized",
    "WebhookProvider",
    "parse_webhook",
]

MAX_AGE = 300
"""Seconds a signed webhook's timestamp may be away from now (Svix's own default)."""

USER_ENV = "DIGEST_WEBHOOK_USER"
PASSWORD_ENV = "DIGEST_WEBHOOK_PASSWORD"
MAILGUN_ENV = "MAILGUN_WEBHOOK_SIGNING_KEY"
RESEND_ENV = "RESEND_WEBHOOK_SECRET"


@dataclass(frozen=True)
class Event:
    """One thing to record: ``state`` is ``bounced`` or ``complained``."""

    state: str
    message_id: str
    email: str | None


class Unauthorized(Exception):
    """The request is not from the provider (or its proof is missing, stale or replayed).

    The message is for the server log: it never holds a secret or a signature.
    """


class _SeenTokens:
    """Tokens accepted within the last :data:`MAX_AGE` seconds (replay protection, per process)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def use(self, token: str, now: float) -> None:
        """Remember ``token``; raise :class:`Unauthorized` if it was already used."""
        with self._lock:
            self._seen = {t: exp for t, exp in self._seen.items() if exp > now}
            if token in self._seen:
                raise Unauthorized("a signature token was used twice (replay)")
            self._seen[token] = now + 2 * MAX_AGE


@dataclass(frozen=True)
class WebhookProvider:
    """How one provider's webhooks are checked and read."""

    name: str
    env: tuple[str, ...]
    """Environment variables it needs (documented, never logged)."""
    parse: Callable[[Settings, Mapping[str, str], bytes, float], list[Event]]


def _secret(settings: Settings, name: str) -> Secret:
    secret = settings.secret(name)
    if secret is None:
        raise Unauthorized(f"{name} is not set, so no request can be checked")
    return secret


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not JSON") from None


def _fresh(timestamp: str, now: float) -> None:
    try:
        age = abs(now - int(timestamp))
    except (TypeError, ValueError):
        raise Unauthorized("the timestamp is not a number") from None
    if age > MAX_AGE:
        raise Unauthorized(f"the timestamp is {age:.0f} s away from now (limit {MAX_AGE} s)")


# -- Postmark ----------------------------------------------------------------------------------

_POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})


def _postmark(
    settings: Settings, headers: Mapping[str, str], body: bytes, now: float
) -> list[Event]:
    user, password = _secret(settings, USER_ENV), _secret(settings, PASSWORD_ENV)
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("no basic auth credentials")
    try:
        name, _, word = base64.b64decode(given, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed basic auth credentials") from None
    ok_user = hmac.compare_digest(name.encode(), user.reveal().encode())
    ok_password = hmac.compare_digest(word.encode(), password.reveal().encode())
    if not (ok_user and ok_password):
        raise Unauthorized("wrong basic auth credentials")
    data = _json(body)
    if not isinstance(data, dict):
        return []
    record, message_id, email = data.get("RecordType"), data.get("MessageID"), data.get("Email")
    if not isinstance(message_id, str) or not isinstance(email, str):
        return []
    if record == "SpamComplaint":
        return [Event("complained", message_id, email)]
    if record == "Bounce" and (data.get("Type") in _POSTMARK_HARD or data.get("Inactive") is True):
        return [Event("bounced", message_id, email)]
    return []


# -- Mailgun -----------------------------------------------------------------------------------

_MAILGUN_SEEN = _SeenTokens()


def _mailgun(
    settings: Settings, headers: Mapping[str, str], body: bytes, now: float
) -> list[Event]:
    key = _secret(settings, MAILGUN_ENV)
    try:
        data = _json(body)
    except ValueError:
        raise Unauthorized("the body is not JSON, so it carries no signature") from None
    sig = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(sig, dict):
        raise Unauthorized("no signature object in the body")
    timestamp, token, given = sig.get("timestamp"), sig.get("token"), sig.get("signature")
    if not all(isinstance(v, str | int) for v in (timestamp, token, given)):
        raise Unauthorized("incomplete signature object")
    expected = hmac.new(
        key.reveal().encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, str(given)):
        raise Unauthorized("the signature does not match")
    _fresh(str(timestamp), now)
    _MAILGUN_SEEN.use(str(token), now)
    event = data.get("event-data")
    if not isinstance(event, dict):
        return []
    kind = event.get("event")
    if kind == "failed" and event.get("severity") == "permanent":
        state = "bounced"
    elif kind == "complained":
        state = "complained"
    else:
        return []
    message = event.get("message")
    msg_headers = message.get("headers") if isinstance(message, dict) else None
    message_id = msg_headers.get("message-id") if isinstance(msg_headers, dict) else None
    email = event.get("recipient")
    if not isinstance(message_id, str) or not message_id or not isinstance(email, str):
        return []
    # Mailgun's send API answers "<id@domain>" (what the ledger keeps); webhooks drop the <>.
    if not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    return [Event(state, message_id, email)]


# -- Resend (Svix) -----------------------------------------------------------------------------


def _resend(
    settings: Settings, headers: Mapping[str, str], body: bytes, now: float
) -> list[Event]:
    secret = _secret(settings, RESEND_ENV).reveal()
    msg_id = headers.get("svix-id", "")
    timestamp = headers.get("svix-timestamp", "")
    signatures = headers.get("svix-signature", "")
    if not (msg_id and timestamp and signatures):
        raise Unauthorized("svix-id, svix-timestamp or svix-signature is missing")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise Unauthorized(f"{RESEND_ENV} is not a whsec_… signing secret") from None
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.partition(",")[2] for s in signatures.split() if s.startswith("v1,")]
    if not any(hmac.compare_digest(expected, g) for g in given):
        raise Unauthorized("no svix-signature entry matches")
    _fresh(timestamp, now)
    data = _json(body)
    kind = data.get("type") if isinstance(data, dict) else None
    payload = data.get("data") if isinstance(data, dict) else None
    if not isinstance(payload, dict):
        return []
    if kind == "email.complained":
        state = "complained"
    elif kind == "email.bounced":
        bounce = payload.get("bounce")
        bounce_type = bounce.get("type") if isinstance(bounce, dict) else None
        if bounce_type not in (None, "Permanent"):
            return []
        state = "bounced"
    else:
        return []
    message_id = payload.get("email_id")
    to = payload.get("to")
    addresses = [to] if isinstance(to, str) else to if isinstance(to, list) else []
    if not isinstance(message_id, str) or not message_id:
        return []
    return [Event(state, message_id, a) for a in addresses if isinstance(a, str)] or [
        Event(state, message_id, None)
    ]


PROVIDERS: dict[str, WebhookProvider] = {
    "postmark": WebhookProvider("postmark", (USER_ENV, PASSWORD_ENV), _postmark),
    "mailgun": WebhookProvider("mailgun", (MAILGUN_ENV,), _mailgun),
    "resend": WebhookProvider("resend", (RESEND_ENV,), _resend),
}


def parse_webhook(
    provider: str,
    settings: Settings,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> list[Event]:
    """Check a webhook request and read its events.

    ``headers`` have lower-case names. Raises :class:`Unauthorized` when the request cannot
    be shown to come from the provider, ``ValueError`` when it does but is not JSON, and
    ``KeyError`` for a provider digest does not know.
    """
    return PROVIDERS[provider].parse(settings, headers, body, time.time() if now is None else now)
