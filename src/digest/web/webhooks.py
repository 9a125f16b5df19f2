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
* **SendGrid** signs ``timestamp + body`` with ECDSA P-256 / SHA-256: the base64 DER signature
  is in ``X-Twilio-Email-Event-Webhook-Signature``, the timestamp in ``…-Timestamp``, and the
  public key (base64 DER, as SendGrid's settings page shows it) in
  ``SENDGRID_WEBHOOK_PUBLIC_KEY``. SendGrid documents no time window, so none is enforced; a
  replayed request only records the same events again.
* **Amazon SES** posts through **SNS**: each message is RSA-signed (``SignatureVersion`` 1 =
  SHA1withRSA, 2 = SHA256withRSA) over AWS's canonical "Key\\nValue\\n" string, with the
  certificate at ``SigningCertURL``, fetched (once per URL) only from
  ``https://sns.<region>.amazonaws.com``. Only topics listed in ``DIGEST_SES_TOPIC_ARN`` are
  accepted, and only their ``SubscriptionConfirmation`` is confirmed (by fetching the
  ``SubscribeURL``, which must be on the same SNS hosts).
* **Mailjet** and **Brevo** sign nothing: basic auth, as for Postmark.

Only hard bounces and complaints become events; everything else (deliveries, opens, soft
bounces) is accepted and ignored, so the provider does not retry it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

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
SENDGRID_ENV = "SENDGRID_WEBHOOK_PUBLIC_KEY"
SES_TOPIC_ENV = "DIGEST_SES_TOPIC_ARN"
SNS_LOOPBACK_ENV = "DIGEST_SNS_LOOPBACK_ORIGIN"
"""For tests only: an ``http://127.0.0.1:PORT`` origin trusted as if it were SNS (loopback only)."""

log = logging.getLogger("digest.web")


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
    basic_auth: bool = False
    """Checked with HTTP basic auth (a 401 then asks for credentials)."""


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


def _items(data: Any) -> list[dict[str, Any]]:
    """The event objects of a body that holds one object or a list of them."""
    items = data if isinstance(data, list) else [data]
    return [i for i in items if isinstance(i, dict)]


def _bracketed(message_id: str) -> str:
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _fresh(timestamp: str, now: float) -> None:
    try:
        age = abs(now - int(timestamp))
    except (TypeError, ValueError):
        raise Unauthorized("the timestamp is not a number") from None
    if age > MAX_AGE:
        raise Unauthorized(f"the timestamp is {age:.0f} s away from now (limit {MAX_AGE} s)")


# -- Postmark ----------------------------------------------------------------------------------

_POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})


def _basic_auth(settings: Settings, headers: Mapping[str, str]) -> None:
    """Check HTTP basic auth against ``DIGEST_WEBHOOK_USER`` / ``DIGEST_WEBHOOK_PASSWORD``."""
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


def _postmark(
    settings: Settings, headers: Mapping[str, str], body: bytes, now: float
) -> list[Event]:
    _basic_auth(settings, headers)
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
    return [Event(state, _bracketed(message_id), email)]


# -- Resend (Svix) -----------------------------------------------------------------------------


def _resend(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> list[Event]:
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


# -- SendGrid (ECDSA) --------------------------------------------------------------------------

_SENDGRID_DROPPED = {
    "Bounced Address": "bounced",
    "Invalid": "bounced",
    "Spam Reporting Address": "complained",
}


def _sendgrid(
    settings: Settings, headers: Mapping[str, str], body: bytes, now: float
) -> list[Event]:
    secret = _secret(settings, SENDGRID_ENV)
    signature = headers.get("x-twilio-email-event-webhook-signature", "")
    timestamp = headers.get("x-twilio-email-event-webhook-timestamp", "")
    if not (signature and timestamp):
        raise Unauthorized("the X-Twilio-Email-Event-Webhook-Signature/-Timestamp is missing")
    try:
        key = load_der_public_key(base64.b64decode(secret.reveal(), validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise Unauthorized(f"{SENDGRID_ENV} is not a base64 DER public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Unauthorized(f"{SENDGRID_ENV} is not an elliptic-curve public key")
    try:
        sig = base64.b64decode(signature, validate=True)
        key.verify(sig, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, InvalidSignature):
        raise Unauthorized("the signature does not match") from None
    events = []
    for item in _items(_json(body)):
        kind, email, sg_id = item.get("event"), item.get("email"), item.get("sg_message_id")
        if kind == "bounce" and item.get("type", "bounce") == "bounce":
            state: str | None = "bounced"
        elif kind == "dropped":
            state = _SENDGRID_DROPPED.get(str(item.get("reason")))
        else:
            state = "complained" if kind == "spamreport" else None
        # sg_message_id is "<X-Message-Id>.<filter id>"; digest keeps the X-Message-Id.
        message_id = sg_id.partition(".")[0] if isinstance(sg_id, str) else ""
        if state and message_id and isinstance(email, str):
            events.append(Event(state, message_id, email))
    return events


# -- Amazon SES via SNS ------------------------------------------------------------------------

_SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
_SNS_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SNS_SIGNED["UnsubscribeConfirmation"] = _SNS_SIGNED["SubscriptionConfirmation"]
_SNS_HASH = {"1": hashes.SHA1, "2": hashes.SHA256}
_SNS_KEYS: dict[str, rsa.RSAPublicKey] = {}
_SNS_KEYS_LOCK = threading.Lock()


def _sns_url(settings: Settings, url: Any) -> str:
    """``url`` if it is an SNS address (or the loopback test origin), else Unauthorized."""
    parts = urlsplit(url if isinstance(url, str) else "")
    if parts.scheme == "https" and _SNS_HOST.fullmatch(parts.netloc):
        return str(url)
    origin = urlsplit(settings.env(SNS_LOOPBACK_ENV) or "")
    if _loopback(origin.hostname) and (parts.scheme, parts.netloc) == (
        origin.scheme,
        origin.netloc,
    ):
        return str(url)
    raise Unauthorized("the certificate or subscribe URL is not on sns.<region>.amazonaws.com")


def _loopback(host: str | None) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _sns_key(url: str) -> rsa.RSAPublicKey:
    with _SNS_KEYS_LOCK:
        if url in _SNS_KEYS:
            return _SNS_KEYS[url]
    try:
        response = httpx.get(url, timeout=10)
        response.raise_for_status()
        cert = x509.load_pem_x509_certificate(response.content)
    except (httpx.HTTPError, ValueError) as e:
        raise Unauthorized(f"the signing certificate could not be fetched or read: {e}") from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unauthorized("the signing certificate does not hold an RSA key")
    if cert.not_valid_after_utc < datetime.now(UTC):
        raise Unauthorized("the signing certificate has expired")
    with _SNS_KEYS_LOCK:
        _SNS_KEYS[url] = key
    return key


def _ses(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> list[Event]:
    topics = (settings.env(SES_TOPIC_ENV) or "").replace(",", " ").split()
    if not topics:
        raise Unauthorized(f"{SES_TOPIC_ENV} is not set, so no topic is trusted")
    try:
        data = _json(body)
    except ValueError:
        raise Unauthorized("the body is not JSON, so it carries no signature") from None
    kind = data.get("Type") if isinstance(data, dict) else None
    if not isinstance(data, dict) or kind not in _SNS_SIGNED:
        raise Unauthorized("not an SNS message")
    if data.get("TopicArn") not in topics:
        raise Unauthorized(f"the TopicArn is not one listed in {SES_TOPIC_ENV}")
    hash_type = _SNS_HASH.get(str(data.get("SignatureVersion")))
    fields = [(k, data.get(k)) for k in _SNS_SIGNED[kind] if k != "Subject" or k in data]
    if hash_type is None or not all(isinstance(v, str) for _, v in fields):
        raise Unauthorized("unknown SignatureVersion or a signed field is missing")
    key = _sns_key(_sns_url(settings, data.get("SigningCertURL")))
    try:
        key.verify(
            base64.b64decode(str(data.get("Signature")), validate=True),
            "".join(f"{k}\n{v}\n" for k, v in fields).encode(),
            padding.PKCS1v15(),
            hash_type(),
        )
    except (binascii.Error, InvalidSignature):
        raise Unauthorized("the SNS signature does not match") from None
    if kind == "SubscriptionConfirmation":
        _confirm(_sns_url(settings, data["SubscribeURL"]))
    return _ses_events(data["Message"]) if kind == "Notification" else []


def _confirm(url: str) -> None:
    """Visit the SubscribeURL. Neither it nor its answer is logged (it holds the token)."""
    try:
        httpx.get(url, timeout=10).raise_for_status()
    except httpx.HTTPError as e:
        status = e.response.status_code if isinstance(e, httpx.HTTPStatusError) else type(e)
        log.warning(
            "confirming the SNS subscription failed (%s); confirm it in the AWS console", status
        )
        return
    log.info("SNS subscription confirmed")


def _ses_events(message: str) -> list[Event]:
    try:
        note = json.loads(message)
    except ValueError:
        return []  # a test message sent from the SNS console, say
    if not isinstance(note, dict):
        return []
    kind = note.get("notificationType") or note.get("eventType")
    mail, bounce, complaint = note.get("mail"), note.get("bounce"), note.get("complaint")
    message_id = mail.get("messageId") if isinstance(mail, dict) else None
    if kind == "Bounce" and isinstance(bounce, dict) and bounce.get("bounceType") == "Permanent":
        state, people = "bounced", bounce.get("bouncedRecipients")
    elif kind == "Complaint" and isinstance(complaint, dict):
        state, people = "complained", complaint.get("complainedRecipients")
    else:
        return []
    if not isinstance(message_id, str) or not isinstance(people, list):
        return []
    return [
        Event(state, message_id, p["emailAddress"])
        for p in people
        if isinstance(p, dict) and isinstance(p.get("emailAddress"), str)
    ]


# -- Mailjet and Brevo (basic auth) ------------------------------------------------------------


def _mailjet(
    settings: Settings, headers: Mapping[str, str], body: bytes, now: float
) -> list[Event]:
    _basic_auth(settings, headers)
    events = []
    for item in _items(_json(body)):
        kind, message_id, email = item.get("event"), item.get("MessageID"), item.get("email")
        if kind == "bounce" and item.get("hard_bounce") is True:
            state = "bounced"
        elif kind == "spam":
            state = "complained"
        else:
            continue
        # MessageID is a JSON number; the send API's answer is kept as its decimal string.
        if isinstance(message_id, int | str) and str(message_id) and isinstance(email, str):
            events.append(Event(state, str(message_id), email))
    return events


_BREVO = {"hard_bounce": "bounced", "spam": "complained"}


def _brevo(settings: Settings, headers: Mapping[str, str], body: bytes, now: float) -> list[Event]:
    _basic_auth(settings, headers)
    events = []
    for item in _items(_json(body)):
        state = _BREVO.get(str(item.get("event")))
        message_id, email = item.get("message-id"), item.get("email")
        if state and isinstance(message_id, str) and message_id and isinstance(email, str):
            # The send API answers "<id@smtp-relay.mailin.fr>" (what the ledger keeps).
            events.append(Event(state, _bracketed(message_id), email))
    return events


PROVIDERS: dict[str, WebhookProvider] = {
    "postmark": WebhookProvider("postmark", (USER_ENV, PASSWORD_ENV), _postmark, True),
    "mailgun": WebhookProvider("mailgun", (MAILGUN_ENV,), _mailgun),
    "resend": WebhookProvider("resend", (RESEND_ENV,), _resend),
    "sendgrid": WebhookProvider("sendgrid", (SENDGRID_ENV,), _sendgrid),
    "ses": WebhookProvider("ses", (SES_TOPIC_ENV,), _ses),
    "mailjet": WebhookProvider("mailjet", (USER_ENV, PASSWORD_ENV), _mailjet, True),
    "brevo": WebhookProvider("brevo", (USER_ENV, PASSWORD_ENV), _brevo, True),
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
