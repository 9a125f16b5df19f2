"""Bulk-sender rules a real send must meet: one function, shared by the send job and ``check``.

Gmail and Yahoo (2024) require a one-click ``List-Unsubscribe`` https URL (RFC 8058) on bulk
mail, and CAN-SPAM a postal address in every message. A real send refuses to go without
them (:class:`~digest.errors.CheckFailedError`, exit 6); no flag skips that. Only the local
backends (``file``, ``console``), which mail nobody, go ahead, with the same findings as
warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import CheckFailedError, ConfigError

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["LOCAL_PROVIDERS", "Finding", "compliance_findings", "require_compliance"]

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
    """What the bulk-sender rules would flag in ``settings`` for a send through ``provider``.

    Errors for a real provider; the same findings as warnings for ``file`` and ``console``.
    """
    from .tokens import SECRET_ENV, secret_from_settings

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
    elif "{token}" in url:
        try:
            secret = secret_from_settings(settings)
        except ConfigError as e:
            found.append(Finding(severity, "weak-secret", str(e), f"set a longer {SECRET_ENV}."))
        else:
            if secret is None:
                found.append(
                    Finding(
                        severity,
                        "no-secret",
                        f"{SECRET_ENV} is not set: unsubscribe links cannot be signed.",
                        f"set {SECRET_ENV} in the environment to a long random value and "
                        "keep it (changing it breaks every link already sent).",
                    )
                )
    if not settings.newsletter.postal_address:
        found.append(
            Finding(
                severity,
                "no-postal-address",
                "No postal address: CAN-SPAM requires one in every message.",
                'set [newsletter] postal_address = "…" in digest.toml.',
            )
        )
    return found


def require_compliance(settings: Settings, provider: str) -> list[Finding]:
    """Raise CheckFailedError on any error finding; return the warnings to show."""
    found = compliance_findings(settings, provider)
    errors = [f for f in found if f.severity == "error"]
    if errors:
        where = f" ({settings.source})" if settings.source else ""
        lines = "\n".join(f"  - {f}" for f in errors)
        raise CheckFailedError(
            f"Not sending through {provider}: the message would break bulk-sender rules"
            f"{where}:\n{lines}\nNothing was sent."
        )
    return found
