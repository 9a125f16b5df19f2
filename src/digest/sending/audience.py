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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..text import plural
from .ledger import Ledger
from .privacy import ForgottenCheck
from .recipients import BadRow, read_recipients, sniff_recipients
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
    inactive: int = 0
    """Rows the exporter marks never confirmed or switched off: skipped, not suppressed."""
    marked_suppressed: int = 0
    """Rows the exporter marks unsubscribed, cleaned or complained: added to the list."""
    subscribers: int = 0
    """Active subscribers read from the ledger (``[audience] source``)."""


_SUPPRESS_CHUNK = 500


def load_audience(
    settings: Settings,
    ledger: Ledger,
    issue_id: str,
    recipients: Path | None,
    reporter: Reporter,
    counts: AudienceCounts,
    *,
    dry_run: bool = False,
    live: Ledger | None = None,
    already_done: Callable[[], int] | None = None,
) -> None:
    """Import ``[audience] suppressions``, stream the audience into ``ledger``, mark the
    suppressed.

    ``recipients`` is the CSV (None when ``[audience] source = "subscribers"``); ``live`` the
    ledger holding the subscribers and forgotten hashes, when ``ledger`` is a scratch copy
    (a dry run), and ``already_done`` counts the loaded addresses it has finished with (so
    the count line's "to send" is the plan's). Fills ``counts``; each bad row is reported
    with its line number and the rest go on. Rows an exporter marks unsubscribed, cleaned or
    complained join the suppression list (source: the file) and are counted as suppressed;
    never-confirmed rows are skipped.
    """
    source = settings.audience.source
    home = live if live is not None else ledger
    forgotten = ForgottenCheck(settings, home)
    if source == "subscribers":
        recipients = None
    if settings.audience.suppressions is not None:
        supp_path = settings.path(settings.audience.suppressions)
        result = import_suppressions(ledger, supp_path)
        for bad in result.bad[:MAX_BAD_ROWS_SHOWN]:
            reporter.warning(f"{supp_path}:{bad.line}: skipped: {bad.reason}", event="bad_row")

    fmt = sniff_recipients(recipients) if recipients and recipients.is_file() else None
    if fmt is not None and (fmt.source != "digest" or fmt.delimiter != ","):
        sep = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}[fmt.delimiter]
        reporter.info(
            f"{recipients}: read as a {fmt.source} export, {sep}-separated.",
            event="csv_format",
            source=fmt.source,
            delimiter=fmt.delimiter,
        )
    before = ledger.recipient_count(issue_id)
    pending_suppress: list[tuple[str, str]] = []

    def flush() -> None:
        if pending_suppress:
            ledger.suppress(pending_suppress, source=str(recipients))
            pending_suppress.clear()

    is_forgotten = forgotten.forgotten if forgotten else None  # asked once, not per row
    no_fields: dict[str, str] = {}

    def rows() -> Iterator[tuple[str, str, dict[str, str], int | None]]:
        if source in ("subscribers", "both"):
            yield from subscriber_rows()
        if recipients is None:
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
            if is_forgotten is not None and is_forgotten(item.email):
                counts.suppressed += 1
                continue
            if item.status == "inactive":
                counts.inactive += 1
                continue
            if item.status != "subscribed":
                counts.marked_suppressed += 1
                pending_suppress.append((item.email, item.status))
                if len(pending_suppress) >= _SUPPRESS_CHUNK:
                    flush()
            # a dry run's scratch ledger is only counted: merge fields would be encoded and
            # stored for nothing (a tenth of its load)
            yield item.email, item.name, no_fields if dry_run else item.fields, item.line

    def subscriber_rows() -> Iterator[tuple[str, str, dict[str, str], int | None]]:
        from .subscribers import Subscribers, has_subscriber_tables

        if not has_subscriber_tables(home.db):
            return
        for email, name, fields in Subscribers(home).active_rows():
            counts.subscribers += 1
            yield email, name, no_fields if dry_run else fields, None

    counts.added, counts.duplicates = ledger.add_recipients(issue_id, rows())
    hidden = counts.suppressed
    flush()
    if counts.bad_rows > MAX_BAD_ROWS_SHOWN:
        more = plural(counts.bad_rows - MAX_BAD_ROWS_SHOWN, "more bad row")
        reporter.warning(
            f"{recipients}: {more} not shown.",
            event="bad_rows_more",
        )
    counts.suppressed = hidden + ledger.apply_suppressions(issue_id)
    done = already_done() if already_done is not None else 0
    if source != "csv":
        reporter.info(
            f"subscribers: {plural(counts.subscribers, 'active subscriber')} in the ledger.",
            event="subscribers",
            subscribers=counts.subscribers,
        )
    reporter.info(
        _loaded(
            recipients or "subscribers",
            counts,
            forgotten=hidden,
            done=done,
            first_load=before == 0,
            dry_run=dry_run,
        ),
        event="loaded",
        rows=counts.rows_read,
        added=counts.added,
        duplicates=counts.duplicates,
        bad_rows=counts.bad_rows,
        inactive=counts.inactive,
        marked_suppressed=counts.marked_suppressed,
        suppressed=counts.suppressed,
    )


def _loaded(
    path: Path | str, c: AudienceCounts, *, forgotten: int, done: int, first_load: bool,
    dry_run: bool
) -> str:
    """One sentence on what the list held, in the words that are true for this run: the
    addresses split into those to send and those suppressed, so "to send" is the number the
    plan and the send go on to use, never one that still counts suppressed rows."""
    if first_load or dry_run:
        # rows of forgotten people never reach the ledger but are addresses read, suppressed
        addresses = c.added + forgotten
        split = [f"{c.added - (c.suppressed - forgotten) - done} to send"]
        if done:
            split.append(f"{done} already done")
        split.append(f"{c.suppressed} suppressed")
        if dry_run:
            kept = (
                f"{plural(addresses, 'address')} after removing "
                f"{plural(c.duplicates, 'duplicate')} ({', '.join(split)})"
            )
        else:
            kept = (
                f"{plural(addresses, 'new address', 'new addresses')} ({', '.join(split)}), "
                f"{plural(c.duplicates, 'duplicate')}"
            )
    else:
        kept = (
            f"{plural(c.added, 'new address', 'new addresses')}, {c.duplicates} already listed "
            "(loaded by an earlier run, or repeated in the file)"
        )
        if c.suppressed:
            kept += f", {c.suppressed} not yet sent now suppressed"
    parts = [f"{path}: {plural(c.rows_read, 'row')}: {kept}", plural(c.bad_rows, "bad row")]
    if c.marked_suppressed:
        parts.append(
            f"{c.marked_suppressed} marked unsubscribed or cleaned by the exporter (added to "
            "the suppression list)"
        )
    if c.inactive:
        parts.append(f"{c.inactive} never confirmed (skipped)")
    tail = " (dry run: nothing stored)" if dry_run else ""
    return ", ".join(parts) + f"{tail}."
