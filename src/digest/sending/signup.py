"""Double opt-in: a sign-up, its rate limits, the confirmation link, and confirming.

A sign-up from the form records a ``pending`` reader and queues one confirmation mail
(:mod:`digest.sending.confirmations` sends it); the link's token confirms them. What the
web side shows never depends on whether the address was known: :func:`sign_up` answers
``accepted`` for a new address, a pending one, an active one and a rate-limited one alike;
only a client over its own limit is told to wait.

Limits live in the ledger (``subscriber_limits``), keyed by keyed hashes, so they hold for
every ``serve`` worker process: ``[subscribe] ip_limit`` sign-ups per client address per
``ip_window_minutes``, and one confirmation mail per address per ``mail_window_minutes``
(nobody can mail-bomb a victim by signing them up again and again).

The confirmation token is ``<base64url(confirm id ‖ expiry)>.<base64url(HMAC-SHA256)>``
under a key derived from ``DIGEST_SECRET``: it carries no address, cannot be forged, and
stops working at its expiry or once the reader is confirmed (the id is cleared).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .ledger import Ledger
from .recipients import email_key
from .subscribers import Hasher, Subscriber, Subscribers, now_text

if TYPE_CHECKING:
    from ..config import Secret, Settings

__all__ = [
    "ConfirmTokens",
    "SignUp",
    "confirm",
    "new_confirm_id",
    "prune_limits",
    "sign_up",
]

_ID_BYTES = 16
_MAC_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


def new_confirm_id() -> str:
    return secrets.token_hex(_ID_BYTES)


def _confirm_key(secret: Secret | str) -> bytes:
    raw = secret if isinstance(secret, str) else secret.reveal()
    return hmac.new(raw.encode(), b"digest-confirm-key", hashlib.sha256).digest()


class ConfirmTokens:
    """Makes confirmation tokens under a key derived from the secret; checks them under it
    and the ``previous`` secrets (a rotation does not break links already mailed)."""

    __slots__ = ("_key", "_keys")

    def __init__(self, secret: Secret | str, previous: Sequence[Secret | str] = ()) -> None:
        self._key = _confirm_key(secret)
        self._keys = [self._key, *(_confirm_key(p) for p in previous)]

    def __repr__(self) -> str:
        return "ConfirmTokens(<secret>)"

    def _mac(self, body: bytes, key: bytes | None = None) -> bytes:
        mac = hmac.new(key or self._key, b"digest-confirm:" + body, hashlib.sha256)
        return mac.digest()[:_MAC_BYTES]

    def make(self, confirm_id: str, expires_at: float) -> str:
        body = bytes.fromhex(confirm_id) + struct.pack(">Q", int(expires_at))
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def check(self, token: str, now: float | None = None) -> tuple[str | None, str]:
        """(confirm id, "ok"), or (None, "forged") / (None, "expired")."""
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 200:
            return None, "forged"
        body_text, _, mac_text = token.partition(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            return None, "forged"
        if len(body) != _ID_BYTES + 8 or not any(
            hmac.compare_digest(mac, self._mac(body, key)) for key in self._keys
        ):
            return None, "forged"
        (expires,) = struct.unpack(">Q", body[_ID_BYTES:])
        if expires < (time.time() if now is None else now):
            return None, "expired"
        return body[:_ID_BYTES].hex(), "ok"


@dataclass(frozen=True)
class SignUp:
    """What a sign-up did: ``accepted`` (the page says "check your inbox" whatever
    happened inside) or ``too_many`` (this client is over its limit; nothing recorded)."""

    outcome: Literal["accepted", "too_many"]
    queued: bool = False


def _hits(ledger: Ledger, scope: str, key: str, since: float) -> int:
    row = ledger.db.execute(
        "SELECT COUNT(*) FROM subscriber_limits WHERE scope = ? AND key = ? AND at > ?",
        (scope, key, since),
    ).fetchone()
    return int(row[0])


def sign_up(
    settings: Settings,
    ledger: Ledger,
    hasher: Hasher,
    *,
    email: str,
    name: str,
    lang: str,
    client_ip: str | None,
    source: str,
    consent_text: str,
    now: float | None = None,
) -> SignUp:
    """Record a sign-up of the validated ``email`` from ``client_ip``; queue its mail."""
    sub = settings.subscribe
    t = time.time() if now is None else now
    ip_key = hasher.hash("ip", client_ip or "-")
    with ledger._tx():
        if _hits(ledger, "ip", ip_key, t - sub.ip_window_minutes * 60) >= sub.ip_limit:
            return SignUp("too_many")
        ledger.db.execute(
            "INSERT INTO subscriber_limits (scope, key, at) VALUES ('ip', ?, ?)", (ip_key, t)
        )
    stored_ip = None
    if client_ip and sub.store_ip == "hash":
        stored_ip = hasher.ip(client_ip)
    elif client_ip and sub.store_ip == "full":
        stored_ip = client_ip
    wants_mail = Subscribers(ledger).sign_up(
        email,
        name=name,
        lang=lang,
        source=source,
        consent_text=consent_text,
        consent_ip=stored_ip,
        confirm_id=new_confirm_id(),
    )
    if not wants_mail:
        return SignUp("accepted")
    address_key = hasher.address(email)
    with ledger._tx():
        window = sub.mail_window_minutes * 60
        if window and _hits(ledger, "address", address_key, t - window):
            return SignUp("accepted")
        ledger.db.execute(
            "INSERT INTO subscriber_limits (scope, key, at) VALUES ('address', ?, ?)",
            (address_key, t),
        )
        ledger.db.execute(
            "INSERT INTO subscriber_mails (email_key, kind, next_at, created_at) "
            "VALUES (?, 'confirm', ?, ?)",
            (email_key(email), t, now_text()),
        )
    return SignUp("accepted", queued=True)


def confirm(
    ledger: Ledger,
    tokens: ConfirmTokens,
    hasher: Hasher | Sequence[Hasher] | None,
    token: str,
) -> tuple[Subscriber | None, str]:
    """Confirm the reader a token names: (subscriber, "ok") or (None, why not)."""
    confirm_id, why = tokens.check(token)
    if confirm_id is None:
        return None, why
    subscriber = Subscribers(ledger).confirm(confirm_id, hasher)
    return (subscriber, "ok") if subscriber else (None, "used")


def peek(ledger: Ledger, tokens: ConfirmTokens, token: str) -> tuple[Subscriber | None, str]:
    """The pending reader a token names, without confirming (the GET page)."""
    confirm_id, why = tokens.check(token)
    if confirm_id is None:
        return None, why
    subscriber = Subscribers(ledger).pending_by_confirm_id(confirm_id)
    return (subscriber, "ok") if subscriber else (None, "used")


def prune_limits(ledger: Ledger, settings: Settings, now: float | None = None) -> int:
    """Forget rate-limit entries older than every window."""
    sub = settings.subscribe
    oldest = max(sub.ip_window_minutes, sub.mail_window_minutes) * 60
    t = time.time() if now is None else now
    with ledger._tx():
        cur = ledger.db.execute("DELETE FROM subscriber_limits WHERE at < ?", (t - oldest,))
    return cur.rowcount
