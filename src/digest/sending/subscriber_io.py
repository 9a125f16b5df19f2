"""Subscribers in and out as files: ``subscribers add``, ``import`` and ``export``.

``import`` reads a CSV with the send job's reader (:func:`read_recipients`: the same
columns, validation and error lines), and records for every row where its consent came
from: ``import:<file name>`` unless ``--source`` says otherwise, and the time the other tool
recorded it in, when the export has such a column (Mailchimp's ``CONFIRM_TIME`` or
``OPTIN_TIME``, a ``created_at`` or ``subscribed_at``), else the time of the import.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .ledger import Ledger
from .recipients import BadRow, normalise_address, read_recipients
from .subscribers import Subscribers

__all__ = [
    "CONSENT_TIME_COLUMNS",
    "EXPORT_COLUMNS",
    "ImportResult",
    "add_subscribers",
    "export_subscribers",
    "import_subscribers",
]

CONSENT_TIME_COLUMNS = (
    "consent_at",
    "confirm_time",
    "optin_time",
    "subscribed_at",
    "created_at",
    "creation_date",
    "date_added",
)
EXPORT_COLUMNS = (
    "email",
    "name",
    "status",
    "lang",
    "consent_at",
    "consent_source",
    "consent_ip",
    "consent_text",
    "confirmed_at",
    "created_at",
    "updated_at",
    "fields",
)

_GONE = frozenset({"unsubscribed", "bounced", "complained"})
_NOT_FIELDS = frozenset(CONSENT_TIME_COLUMNS) | frozenset(EXPORT_COLUMNS)
"""Columns of digest's own export (and consent times) that are not merge fields."""


@dataclass
class ImportResult:
    added: int = 0
    already: int = 0
    bad: list[BadRow] = field(default_factory=list)
    forgotten: int = 0
    """Rows skipped because the person asked to be forgotten (their keyed hash matched)."""
    inactive: int = 0
    """Rows the exporting tool marks never confirmed: skipped."""
    marked: int = 0
    """Rows it marks unsubscribed, cleaned or complained: stored so, and suppressed."""


def _consent_time(fields: dict[str, str]) -> str | None:
    for col in CONSENT_TIME_COLUMNS:
        value = fields.get(col, "").strip()
        if not value:
            continue
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC).isoformat(timespec="milliseconds")
    return None


def add_subscribers(
    ledger: Ledger,
    addresses: Iterable[str],
    *,
    name: str = "",
    consent_text: str,
    source: str = "cli",
    forgotten: Callable[[str], bool] | None = None,
) -> ImportResult:
    """Add addresses given one by one as active readers; bad ones are reported by position.

    ``forgotten`` (see :class:`~digest.sending.privacy.ForgottenCheck`) names the people who
    asked to be forgotten: they are not written down again.
    """
    result = ImportResult()

    def rows() -> Iterator[tuple[str, str, dict[str, str], str | None, str]]:
        for i, address in enumerate(addresses, start=1):
            try:
                email = normalise_address(address)
            except ValueError as e:
                result.bad.append(BadRow(i, address, str(e)))
                continue
            if forgotten is not None and forgotten(email):
                result.forgotten += 1
                continue
            yield email, name, {}, None, "active"

    result.added, result.already = Subscribers(ledger).add(
        rows(), source=source, consent_text=consent_text
    )
    return result


def import_subscribers(
    ledger: Ledger,
    path: Path,
    *,
    consent_text: str,
    source: str | None = None,
    status: str = "active",
    forgotten: Callable[[str], bool] | None = None,
) -> ImportResult:
    """Add every valid row of the CSV at ``path``; rows already stored keep theirs.

    Rows the exporting tool marks unsubscribed, cleaned or complained go in with that
    status and join the suppression list (as a send would put them there); rows it marks
    never confirmed are skipped (there is no consent to record). The rest get ``status``.
    People who asked to be forgotten (``forgotten``) are skipped: an old export must not
    bring them back.
    """
    result = ImportResult()
    origin = source or f"import:{path.name}"
    gone: list[tuple[str, str]] = []

    def rows() -> Iterator[tuple[str, str, dict[str, str], str | None, str]]:
        for item in read_recipients(path):
            if isinstance(item, BadRow):
                result.bad.append(item)
                continue
            if forgotten is not None and forgotten(item.email):
                result.forgotten += 1
                continue
            if item.status == "inactive":
                result.inactive += 1
                continue
            row_status = status
            if item.status in _GONE:
                row_status = item.status
                gone.append((item.email, item.status))
                result.marked += 1
            fields = {k: v for k, v in item.fields.items() if k not in _NOT_FIELDS}
            yield item.email, item.name, fields, _consent_time(item.fields), row_status

    result.added, result.already = Subscribers(ledger).add(
        rows(), source=origin, consent_text=consent_text
    )
    if gone:
        ledger.suppress(gone, source=str(path))
    return result


def export_subscribers(ledger: Ledger, out: TextIO, status: str | None = None) -> int:
    """Write the list as CSV (``EXPORT_COLUMNS``; merge fields as JSON); returns the count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    for s in Subscribers(ledger).all(status):
        row = s.as_dict()
        row["fields"] = json.dumps(s.fields, ensure_ascii=False) if s.fields else ""
        writer.writerow(["" if row[c] is None else row[c] for c in EXPORT_COLUMNS])
        n += 1
    return n
