"""The audience of one send, loaded into a ledger: the one path a send and its plan share.

``digest send`` loads into the real ledger and ``digest send --dry-run`` into a scratch
copy, through :func:`load_audience` both, so the plan counts rows, duplicates, bad rows and
suppressed addresses exactly as the send will.

``[audience] source`` picks the rows: the recipients CSV, the ledger's active subscribers,
or both (duplicates merged as ever). Suppressions win over both, and so do forgotten
addresses, which the ledger knows only as keyed hashes: those rows are dropped before they
reach the ledger, so a send never writes a forgotten address down again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .ledger import Ledger
from .privacy import ForgottenCheck
from .recipients import BadRow, read_recipients
from .report import Reporter
from .suppression import import_suppressions

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["MAX_BAD_ROWS_SHOWN", "AudienceCounts", "load_audience"]

MAX_BAD_ROWS_SHOWN = 200
"""Bad rows reported one by one; past this, one line says how many more."""


@dataclass(kw_only=True)
class AudienceCounts:
    """What loading the list found (the base of a send's report and of its plan)."""

    rows_read: int = 0
    added: int = 0
    duplicates: int = 0
    bad_rows: int = 0
    suppressed: int = 0
    subscribers: int = 0


def load_audience(
    settings: Settings,
    ledger: Ledger,
    issue_id: str,
    recipients: Path | None,
    reporter: Reporter,
    counts: AudienceCounts,
    *,
    live: Ledger | None = None,
) -> None:
    """Import ``[audience] suppressions``, stream the audience into ``ledger``, mark the
    suppressed.

    ``recipients`` is the CSV (None when ``[audience] source = "subscribers"``); ``live`` the
    ledger holding the subscribers and forgotten hashes, when ``ledger`` is a scratch copy
    (a dry run). Fills ``counts``; each bad row is reported with its line number and the
    rest go on.
    """
    source = settings.audience.source
    home = live if live is not None else ledger
    forgotten = ForgottenCheck(settings, home)
    if forgotten.other_keys:
        reporter.warning(
            f"{forgotten.other_keys} forgotten addresses were hashed under another "
            "DIGEST_SECRET and cannot be checked; see `digest subscribers --help`.",
            event="forgotten_other_key",
        )
    if settings.audience.suppressions is not None:
        supp_path = settings.path(settings.audience.suppressions)
        result = import_suppressions(ledger, supp_path)
        for bad in result.bad[:MAX_BAD_ROWS_SHOWN]:
            reporter.warning(f"{supp_path}:{bad.line}: skipped: {bad.reason}", event="bad_row")

    def rows() -> Iterator[tuple[str, str, dict[str, str], int | None]]:
        if source in ("subscribers", "both"):
            yield from subscriber_rows()
        if source == "subscribers" or recipients is None:
            return
        for item in read_recipients(recipients):
            counts.rows_read += 1
            if isinstance(item, BadRow):
                counts.bad_rows += 1
                if counts.bad_rows <= MAX_BAD_ROWS_SHOWN:
                    shown = f" ({item.value!r})" if item.value else ""
                    reporter.warning(
                        f"{recipients}:{item.line}: skipped{shown}: {item.reason}",
                        event="bad_row",
                        line=item.line,
                    )
                continue
            if forgotten and forgotten.forgotten(item.email):
                counts.suppressed += 1
                continue
            yield item.email, item.name, item.fields, item.line

    def subscriber_rows() -> Iterator[tuple[str, str, dict[str, str], int | None]]:
        from .subscribers import Subscribers, has_subscriber_tables

        if not has_subscriber_tables(home.db):
            return
        for email, name, fields in Subscribers(home).active_rows():
            counts.subscribers += 1
            yield email, name, fields, None

    counts.added, counts.duplicates = ledger.add_recipients(issue_id, rows())
    hidden = counts.suppressed
    if counts.bad_rows > MAX_BAD_ROWS_SHOWN:
        reporter.warning(
            f"{recipients}: {counts.bad_rows - MAX_BAD_ROWS_SHOWN} more bad rows not shown.",
            event="bad_rows_more",
        )
    counts.suppressed = hidden + ledger.apply_suppressions(issue_id)
    if source != "csv":
        reporter.info(
            f"subscribers: {counts.subscribers} active in the ledger.",
            event="subscribers",
            subscribers=counts.subscribers,
        )
    reporter.info(
        f"{recipients or 'subscribers'}: {counts.rows_read} rows, {counts.added} new recipients, "
        f"{counts.duplicates} already listed (duplicates, or loaded by an earlier run), "
        f"{counts.bad_rows} bad rows.",
        event="loaded",
        rows=counts.rows_read,
        added=counts.added,
        duplicates=counts.duplicates,
        bad_rows=counts.bad_rows,
    )
