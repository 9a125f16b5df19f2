"""What every provider's events module gives: how to check a request and read its events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..config import Settings
from .model import TrackingEvent

__all__ = ["Parsed", "WebhookProvider"]

MB = 1024 * 1024


@dataclass(frozen=True)
class Parsed:
    """The events of one authenticated request, and its one-time id (svix-id, token…)."""

    events: list[TrackingEvent] = field(default_factory=list)
    nonce: str | None = None
    """An id the provider never reuses for another request: seen twice means a replay."""


def _no_header_check(settings: Settings, headers: Mapping[str, str]) -> None:
    return None


@dataclass(frozen=True)
class WebhookProvider:
    """How one provider's webhooks are checked and read."""

    name: str
    env: tuple[str, ...]
    """Environment variables it needs (documented, never logged)."""
    parse: Callable[[Settings, Mapping[str, str], bytes, float], Parsed]
    """Authenticate ``(settings, headers, body, now)`` and read its events."""
    max_body: int = MB
    """Largest body read, after :attr:`check_headers` passes (the provider's own maximum)."""
    check_headers: Callable[[Settings, Mapping[str, str]], None] = _no_header_check
    """What can be checked before the body is read; raises ``Unauthorized``."""
    basic_auth: bool = False
    """Checked with HTTP basic auth (a 401 then asks for credentials)."""
