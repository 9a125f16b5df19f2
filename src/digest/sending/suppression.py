"""The suppression list: addresses no send may reach (unsubscribed, bounced, complained).

It lives in the ledger's SQLite file (table ``suppressions``), one entry per lower-cased
address and reason, and every send drops an address with any entry before batching. Add to
it with ``digest suppress ADDRESS...``, ``digest suppress --from-csv FILE``, the
``[audience] suppressions`` CSV (imported at the start of every send), or provider events.

``digest suppress --remove`` takes back what it can: bounces, manual entries and what was
typed on its own command line. A reader's own unsubscribe or spam report stays; only the
reader lifts it (the unsubscribe page's undo, or signing up again and confirming).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .ledger import OPERATOR_SOURCE, SUPPRESSION_REASONS, Ledger, Suppression
from .recipients import BadRow, normalise_address, read_recipients

__all__ = [
    "SuppressResult",
    "UnsuppressResult",
    "import_suppressions",
    "suppress_addresses",
    "unsuppress_addresses",
]


@dataclass
class SuppressResult:
    added: int = 0
    already: int = 0
    bad: list[BadRow] = field(default_factory=list)


def _check_reason(reason: str) -> str:
    if reason not in SUPPRESSION_REASONS:
        raise ConfigError(
            f"Unknown suppression reason {reason!r}; use one of: {', '.join(SUPPRESSION_REASONS)}."
        )
    return reason


def suppress_addresses(
    ledger: Ledger,
    addresses: Iterable[str],
    *,
    reason: str = "unsubscribed",
    source: str = OPERATOR_SOURCE,
) -> SuppressResult:
    """Validate and add addresses given one by one; bad ones are reported by position."""
    _check_reason(reason)
    result = SuppressResult()

    def good() -> Iterator[tuple[str, str]]:
        for i, address in enumerate(addresses, start=1):
            try:
                yield normalise_address(address), reason
            except ValueError as e:
                result.bad.append(BadRow(i, address, str(e)))

    result.added, result.already = ledger.suppress(good(), source=source)
    return result


def import_suppressions(
    ledger: Ledger, path: Path | str, *, reason: str = "unsubscribed"
) -> SuppressResult:
    """Add every address of a CSV (``email`` column; an optional ``reason`` column wins)."""
    _check_reason(reason)
    result = SuppressResult()

    def good() -> Iterator[tuple[str, str]]:
        for row in read_recipients(path):
            if isinstance(row, BadRow):
                result.bad.append(row)
                continue
            exported = row.status if row.status in SUPPRESSION_REASONS else ""
            row_reason = row.fields.get("reason", "").strip().lower() or exported or reason
            if row_reason not in SUPPRESSION_REASONS:
                result.bad.append(
                    BadRow(row.line, row.email, f"unknown suppression reason {row_reason!r}")
                )
                continue
            yield row.email, row_reason

    result.added, result.already = ledger.suppress(good(), source=str(path))
    return result


@dataclass
class UnsuppressResult:
    removed: list[str] = field(default_factory=list)
    """Off the list now: a send may reach them again."""
    kept: list[tuple[str, Suppression, tuple[str, ...]]] = field(default_factory=list)
    """Still on the list because the reader opted out: (address, their opt-out, the
    reasons that were removed)."""
    absent: list[str] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


def unsuppress_addresses(ledger: Ledger, addresses: Iterable[str]) -> UnsuppressResult:
    """Take addresses off the list (a mistake undone, a bounce lifted); bad ones reported by
    position. A reader's own opt-out is never taken off (see the module docstring)."""
    result = UnsuppressResult()
    for i, address in enumerate(addresses, start=1):
        try:
            email = normalise_address(address)
        except ValueError as e:
            result.bad.append(BadRow(i, address, str(e)))
            continue
        lifted = ledger.remove_suppression(email)
        left = ledger.suppressions(email)
        if left:
            result.kept.append((email, left[0], lifted))
        elif lifted:
            result.removed.append(email)
        else:
            result.absent.append(email)
    return result
