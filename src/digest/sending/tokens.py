"""Per-recipient unsubscribe tokens: the address plus an HMAC-SHA256 over it.

A token is ``<address, base64url>.<HMAC-SHA256(secret, "digest-unsubscribe:" + address)>``.
It never expires, so the link in a year-old email still works, and nobody can forge one for
someone else's address without the secret (``DIGEST_SECRET`` in the environment).

The site that receives the click needs only :func:`verify`::

    from digest.sending.tokens import verify
    email = verify(token_from_url, os.environ["DIGEST_SECRET"])
    if email is None:
        ...  # 400: not a token we issued
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from ..config import Secret, Settings
from ..errors import ConfigError

__all__ = [
    "MIN_SECRET_LENGTH",
    "SECRET_ENV",
    "Signer",
    "make_token",
    "secret_from_settings",
    "verify",
]

SECRET_ENV = "DIGEST_SECRET"
MIN_SECRET_LENGTH = 16
_CONTEXT = b"digest-unsubscribe:"


def _key(secret: str | bytes | Secret) -> bytes:
    if isinstance(secret, Secret):
        secret = secret.reveal()
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, email: str) -> bytes:
    return hmac.new(key, _CONTEXT + email.encode("utf-8"), hashlib.sha256).digest()


class Signer:
    """Signs many addresses with one secret: the HMAC key is prepared once, not per token."""

    __slots__ = ("_base",)

    def __init__(self, secret: str | bytes | Secret) -> None:
        key = _key(secret)
        if not key:
            raise ConfigError(f"The unsubscribe token secret is empty; set {SECRET_ENV}.")
        self._base = hmac.new(key, _CONTEXT, hashlib.sha256)

    def __repr__(self) -> str:
        return "Signer(<secret>)"

    def token(self, email: str) -> str:
        """The unsubscribe token for ``email``: URL-safe, no padding, stable for ever."""
        raw = email.encode("utf-8")
        mac = self._base.copy()
        mac.update(raw)
        return f"{_b64(raw)}.{_b64(mac.digest())}"


def make_token(email: str, secret: str | bytes | Secret) -> str:
    """The unsubscribe token for ``email`` (one address; a send uses :class:`Signer`)."""
    return Signer(secret).token(email)


def verify(token: str, secret: str | bytes | Secret) -> str | None:
    """The address ``token`` was issued for, or None if it is malformed or was tampered with.

    The signature is compared in constant time.
    """
    key = _key(secret)
    if not key or not isinstance(token, str) or token.count(".") != 1:
        return None
    body, _, sig = token.partition(".")
    try:
        raw_email = _unb64(body)
        given = _unb64(sig)
        email = raw_email.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if _b64(raw_email) != body or _b64(given) != sig:
        return None
    if not hmac.compare_digest(given, _mac(key, email)):
        return None
    return email


def secret_from_settings(settings: Settings) -> Secret | None:
    """``DIGEST_SECRET`` from the environment, checked for length; None when unset."""
    secret = settings.secret(SECRET_ENV)
    if secret is not None and len(secret.reveal()) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"{SECRET_ENV} is shorter than {MIN_SECRET_LENGTH} characters; use a long random "
            "value, e.g. the output of: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return secret
