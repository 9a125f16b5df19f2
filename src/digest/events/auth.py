"""Checks shared by the providers: secrets from the environment, basic auth, time windows."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from ..config import Secret, Settings

__all__ = [
    "MAX_AGE",
    "PASSWORD_ENV",
    "USER_ENV",
    "Unauthorized",
    "check_basic_auth",
    "check_fresh",
    "secret",
]

MAX_AGE = 300
"""Seconds a signed webhook's timestamp may be away from now (Svix's own default)."""

USER_ENV = "DIGEST_WEBHOOK_USER"
PASSWORD_ENV = "DIGEST_WEBHOOK_PASSWORD"


class Unauthorized(Exception):
    """The request is not from the provider (or its proof is missing, stale or forged).

    The message is for the server log: it never holds a secret or a signature.
    """


def secret(settings: Settings, name: str) -> Secret:
    """The secret ``name``, or :class:`Unauthorized` (nothing can be checked without it)."""
    value = settings.secret(name)
    if value is None:
        raise Unauthorized(f"{name} is not set, so no request can be checked")
    return value


def check_basic_auth(settings: Settings, headers: Mapping[str, str]) -> None:
    """HTTP basic auth against ``DIGEST_WEBHOOK_USER`` / ``DIGEST_WEBHOOK_PASSWORD``."""
    user, password = secret(settings, USER_ENV), secret(settings, PASSWORD_ENV)
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("no basic auth credentials")
    try:
        name, _, word = base64.b64decode(given, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized("malformed basic auth credentials") from None
    ok_user = hmac.compare_digest(name.encode(), user.reveal().encode())
    ok_password = hmac.compare_digest(word.encode(), password.reveal().encode())
    if not (ok_user and ok_password):
        raise Unauthorized("wrong basic auth credentials")


def check_fresh(timestamp: object, now: float, max_age: float = MAX_AGE) -> None:
    """Refuse a signed timestamp (Unix seconds) more than ``max_age`` from ``now``."""
    try:
        age = abs(now - int(str(timestamp)))
    except (TypeError, ValueError):
        raise Unauthorized("the timestamp is not a number") from None
    if age > max_age:
        raise Unauthorized(f"the timestamp is {age:.0f} s away from now (limit {max_age:.0f} s)")
