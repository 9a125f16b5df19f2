"""Per-recipient unsubscribe tokens: the address, encrypted, for one newsletter.

A token is ``base64url(0x02 ‖ key id (4) ‖ AES-SIV(address))``: authenticated encryption
(RFC 5297, deterministic, so a reader's link is the same in every issue) under a 512-bit
key that HKDF-SHA256 derives from ``DIGEST_SECRET`` *and* the newsletter's list id
(``[newsletter] id``). So:

* the token says nothing: no address in any encoding, only its length rounded up to 32 bytes;
* a token of one newsletter fails for another that shares the secret;
* nobody without the secret can make one, and changing a bit makes it fail;
* the key id (also derived, it reveals nothing of the key) picks the secret that made it:
  after a rotation, old secrets listed in ``DIGEST_SECRET_PREVIOUS`` still open the links
  already in inboxes (CAN-SPAM asks for 30 days).

Tokens of digest 0.1 (``<address, base64url>.<HMAC-SHA256>``, readable by anyone) keep
verifying while ``[serve] legacy_tokens`` is true (the default) so links already sent keep
working; turn it off 30 days after your last send with 0.1. Nothing here touches a
database: the site that receives the click needs only :func:`verify`::

    from digest.sending.tokens import verify
    email = verify(token_from_url, os.environ["DIGEST_SECRET"], "weekly.example.org")
    if email is None:
        ...  # 400: not a token we issued
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..config import Secret, Settings
from ..errors import ConfigError

__all__ = [
    "MIN_SECRET_BITS",
    "MIN_SECRET_LENGTH",
    "PREVIOUS_ENV",
    "SECRET_ENV",
    "Signer",
    "Verifier",
    "make_token",
    "previous_secrets",
    "secret_from_settings",
    "secret_strength_bits",
    "verifier_from_settings",
    "verify",
]

SECRET_ENV = "DIGEST_SECRET"
PREVIOUS_ENV = "DIGEST_SECRET_PREVIOUS"
MIN_SECRET_LENGTH = 16
MIN_SECRET_BITS = 64
"""Least estimated entropy a secret must have (see :func:`secret_strength_bits`)."""

_VERSION = b"\x02"
_KID = 4
_PAD = 32
_SALT = b"digest unsubscribe token v2"
_LEGACY_CONTEXT = b"digest-unsubscribe:"
_MAX_TOKEN = 1024
_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"

SecretLike = str | bytes | Secret


def _raw(secret: SecretLike) -> bytes:
    if isinstance(secret, Secret):
        secret = secret.reveal()
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(secret: bytes, list_id: str) -> tuple[bytes, AESSIV]:
    """The key id and the cipher for ``secret`` and ``list_id``."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=64 + _KID,
        salt=_SALT,
        info=b"unsubscribe\x00" + list_id.encode("utf-8"),
    )
    material = hkdf.derive(secret)
    return material[64:], AESSIV(material[:64])


class Signer:
    """Makes the tokens of one newsletter with one secret; the key is derived once."""

    __slots__ = ("_aad", "_cipher", "_kid")

    def __init__(self, secret: SecretLike, list_id: str) -> None:
        raw = _raw(secret)
        if not raw:
            raise ConfigError(f"The unsubscribe token secret is empty; set {SECRET_ENV}.")
        self._kid, self._cipher = _derive(raw, list_id)
        self._aad = [_VERSION + self._kid]

    def __repr__(self) -> str:
        return "Signer(<secret>)"

    def token(self, email: str) -> str:
        """The token for ``email``: URL-safe, opaque, the same every time."""
        raw = email.encode("utf-8")
        padded = raw + b"\x00" * (-len(raw) % _PAD)
        return _b64(_VERSION + self._kid + self._cipher.encrypt(padded, self._aad))


class Verifier:
    """Opens tokens of one newsletter made with the current secret or any previous one."""

    __slots__ = ("_keys", "_legacy")

    def __init__(self, secrets: Sequence[SecretLike], list_id: str, *, legacy: bool = True) -> None:
        raws = [r for r in (_raw(s) for s in secrets) if r]
        self._keys = [_derive(raw, list_id) for raw in raws]
        self._legacy = raws if legacy else []

    def __repr__(self) -> str:
        return f"Verifier(<{len(self._keys)} secret(s)>)"

    def verify(self, token: str) -> str | None:
        """The address ``token`` was made for, or None for anything else (never raises)."""
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
            return None
        if "." in token:
            return self._verify_legacy(token)
        try:
            data = _unb64(token)
        except (binascii.Error, ValueError):
            return None
        if _b64(data) != token or len(data) < 1 + _KID + 16 or data[:1] != _VERSION:
            return None
        kid, sealed = data[1 : 1 + _KID], data[1 + _KID :]
        for key_id, cipher in self._keys:
            if not hmac.compare_digest(kid, key_id):
                continue
            try:
                padded = cipher.decrypt(sealed, [_VERSION + kid])
            except InvalidTag:
                continue
            try:
                return padded.rstrip(b"\x00").decode("utf-8") or None
            except UnicodeDecodeError:
                return None
        return None

    def _verify_legacy(self, token: str) -> str | None:
        """digest 0.1's ``<address>.<HMAC>`` tokens, while the transition lasts."""
        if token.count(".") != 1:
            return None
        body, _, sig = token.partition(".")
        try:
            raw_email = _unb64(body)
            given = _unb64(sig)
            email = raw_email.decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        if not email or _b64(raw_email) != body or _b64(given) != sig:
            return None
        for key in self._legacy:
            expected = hmac.new(key, _LEGACY_CONTEXT + raw_email, hashlib.sha256).digest()
            if hmac.compare_digest(given, expected):
                return email
        return None


def make_token(email: str, secret: SecretLike, list_id: str) -> str:
    """The token for ``email`` in newsletter ``list_id`` (a send uses :class:`Signer`)."""
    return Signer(secret, list_id).token(email)


def verify(
    token: str,
    secret: SecretLike,
    list_id: str,
    *,
    previous: Iterable[SecretLike] = (),
    legacy: bool = True,
) -> str | None:
    """The address ``token`` was issued for in newsletter ``list_id``, or None.

    ``previous`` are secrets used before a rotation; ``legacy`` accepts digest 0.1 tokens.
    """
    return Verifier([secret, *previous], list_id, legacy=legacy).verify(token)


def secret_strength_bits(value: str) -> float:
    """A rough entropy estimate: length times the Shannon entropy of its characters.

    It cannot know where a value came from; it only catches the obviously weak (a repeated
    word, a tiny alphabet, ``aaaa…``). Dictionary phrases still pass: use a random value.
    """
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    # Cut into 4-character pieces: a value made of few distinct pieces repeats itself.
    pieces = [value[i : i + 4] for i in range(0, n, 4)]
    return per_char * n * len(set(pieces)) / len(pieces)


def _checked(name: str, secret: Secret) -> Secret:
    value = secret.reveal()
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"{name} is shorter than {MIN_SECRET_LENGTH} characters; use a long random "
            f"value, e.g. the output of: {_HINT}"
        )
    if secret_strength_bits(value) < MIN_SECRET_BITS:
        raise ConfigError(
            f"{name} is too easy to guess (repeated or from few different characters); "
            f"use a long random value, e.g. the output of: {_HINT}"
        )
    return secret


def secret_from_settings(settings: Settings) -> Secret | None:
    """``DIGEST_SECRET`` from the environment, checked for strength; None when unset."""
    secret = settings.secret(SECRET_ENV)
    return _checked(SECRET_ENV, secret) if secret is not None else None


def previous_secrets(settings: Settings) -> list[Secret]:
    """``DIGEST_SECRET_PREVIOUS``: old secrets (separated by commas or spaces) still honoured."""
    listed = settings.secret(PREVIOUS_ENV)
    if listed is None:
        return []
    values = [v for v in re.split(r"[\s,]+", listed.reveal()) if v]
    return [Secret(PREVIOUS_ENV, v) for v in values]


def verifier_from_settings(settings: Settings, *, legacy: bool = True) -> Verifier | None:
    """A :class:`Verifier` for this newsletter's current and previous secrets; None if unset."""
    secret = secret_from_settings(settings)
    if secret is None:
        return None
    return Verifier(
        [secret, *previous_secrets(settings)], settings.newsletter.list_id, legacy=legacy
    )
