"""Bulk-sender rules a real send must meet: one function, shared by the send job and ``check``.

Gmail and Yahoo (2024) want a one-click ``List-Unsubscribe`` https URL (RFC 8058) that
names its reader, and CAN-SPAM a postal address in every message. A real send refuses to
go without them; no flag skips that. The local backends (``file``, ``console``), which mail
nobody, get the same findings as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["LOCAL_PROVIDERS", "Finding", "compliance_findings"]

LOCAL_PROVIDERS = frozenset({"file", "console"})
"""Backends that mail nobody: compliance findings are warnings there, never errors."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a check found: what is wrong, and the fix."""

    severity: Literal["error", "warning"]
    code: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}"


def compliance_findings(settings: Settings, provider: str) -> list[Finding]:
    """What the bulk-sender rules flag in ``settings`` for a send through ``provider``."""
    severity: Literal["error", "warning"] = "warning" if provider in LOCAL_PROVIDERS else "error"
    found: list[Finding] = []
    url = settings.links.unsubscribe_url
    if not url:
        found.append(
            Finding(
                severity,
                "no-unsubscribe-url",
                "No unsubscribe URL: Gmail and Yahoo require a one-click List-Unsubscribe "
                "https URL (RFC 8058) on bulk mail.",
                'set [links] unsubscribe_url = "https://YOUR-SITE/u/{token}" in digest.toml '
                "and serve it with `digest serve`.",
            )
        )
    else:
        if urlsplit(url).scheme != "https":
            found.append(
                Finding(
                    severity,
                    "unsubscribe-not-https",
                    f"The unsubscribe URL {url!r} is not https: one-click unsubscribe "
                    "(RFC 8058) needs https.",
                    "make [links] unsubscribe_url an https:// URL.",
                )
            )
        if "{token}" not in url:
            found.append(
                Finding(
                    severity,
                    "unsubscribe-without-token",
                    f"The unsubscribe URL {url!r} has no {{token}}: every reader would get "
                    "the same link, which cannot tell who wants to leave.",
                    'put {token} in [links] unsubscribe_url, e.g. "https://YOUR-SITE/u/{token}".',
                )
            )
    if not settings.newsletter.postal_address:
        found.append(
            Finding(
                severity,
                "no-postal-address",
                "No postal address: CAN-SPAM requires one in every commercial message.",
                "set [newsletter] postal_address in digest.toml.",
            )
        )
    return found
