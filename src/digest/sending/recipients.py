"""Subscriber lists from a CSV file: streamed row by row, validated, normalised.

digest's own CSV has a header row with an ``email`` column, an optional ``name`` column,
and any further columns, which become merge fields (``@@digest.<column>@@`` in templates).
The exports of the tools people leave are read as they come (docs/subscriber-csv.md):
``Email Address`` or ``email_address`` for the address, first and last name columns joined
into the name, the delimiter sniffed (comma, semicolon, tab, bar), a BOM or Excel's UTF-16
taken in stride, and each exporter's own way of marking a reader unsubscribed, cleaned or
never confirmed carried in :attr:`Row.status`.

Rows are read one at a time with :func:`csv.reader` and matched to the header's columns
(as ``csv.DictReader`` would, without its per-row cost), so the file is never loaded whole.
A bad row is yielded as a :class:`BadRow` with its line number and the rest go on.

Addresses are checked by :func:`digest.address.normalise_address` (syntax only, no DNS);
:func:`email_key` (the lower-cased address) is what makes ``Ann@x.org`` and ``ann@X.org``
one recipient. Deduplication itself happens in the ledger's SQLite table, not in memory.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from ..address import email_key, normalise_address
from ..errors import RecipientsError
from ..model import FORBIDDEN_CHARACTERS

__all__ = [
    "RESERVED_FIELDS",
    "BadRow",
    "CsvFormat",
    "Row",
    "check_recipients",
    "email_key",
    "normalise_address",
    "read_recipients",
    "sniff_recipients",
]

RESERVED_FIELDS = frozenset({"email", "name", "unsubscribe_url", "unsubscribe_token"})
"""Merge-field names digest fills itself; CSV columns with these names are not merge fields."""

_FIELD_RE = re.compile(r"[a-z_][a-z0-9_]*")
_EXTRA = "\0extra"


@dataclass(frozen=True, slots=True)
class Row:
    """One valid recipient row; ``line`` is the line its record ends on."""

    line: int
    email: str
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    status: str = "subscribed"
    """``subscribed``; ``unsubscribed``, ``bounced`` or ``complained`` (an exporter's
    suppressed row: record it, never mail it); or ``inactive`` (never confirmed: skip)."""

    @property
    def key(self) -> str:
        return email_key(self.email)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be used, and why."""

    line: int
    value: str
    reason: str


def _field_name(column: str) -> str:
    return column.strip().lower().replace("-", "_").replace(" ", "_")


EMAIL_COLUMNS = ("email", "email_address", "e_mail", "e_mail_address", "emailaddress")
"""Header names (after :func:`_field_name`) read as the address, first match wins: digest's
own ``email``, Mailchimp's and Kit's ``Email Address``, and spreadsheet variants."""
NAME_COLUMNS = ("name", "full_name", "display_name")
FIRST_NAME_COLUMNS = (
    *("first_name", "fname", "firstname", "given_name", "first"),
    *("vorname", "prenom", "nombre", "nome", "voornaam"),
)
LAST_NAME_COLUMNS = (
    *("last_name", "lname", "lastname", "surname", "family_name", "last"),
    *("nachname", "nom", "apellidos", "apellido", "cognome", "achternaam"),
)
"""First and last name columns (English, and the common European spreadsheet headings),
joined with a space into the name when there is no name column."""

STATUS_COLUMNS = ("status", "subscriber_type", "type", "member_status", "subscription_status")
"""Exporters' subscription-state columns (Kit, listmonk, Buttondown, generic tools)."""

SUPPRESSED_STATUSES: dict[str, str] = {
    "unsubscribed": "unsubscribed",
    "cancelled": "unsubscribed",
    "canceled": "unsubscribed",
    "opted_out": "unsubscribed",
    "blocklisted": "unsubscribed",
    "blacklisted": "unsubscribed",
    "cleaned": "bounced",
    "bounced": "bounced",
    "hard_bounce": "bounced",
    "complained": "complained",
    "spam": "complained",
    "spammy": "complained",
}
"""A status an exporter gives a row → the suppression reason digest records for it."""

INACTIVE_STATUSES = frozenset(
    {"unconfirmed", "unactivated", "pending", "inactive", "disabled", "removed", "deleted"}
)
"""Rows an exporter keeps but does not mail (never confirmed, switched off): skipped, not
suppressed, so the reader can still sign up again."""

_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 64 * 1024
_FALSE = frozenset({"false", "no", "0", "n", "f"})
_TRUE = frozenset({"true", "yes", "1", "y", "t"})


@dataclass(frozen=True, slots=True)
class CsvFormat:
    """What :func:`sniff_recipients` found: how to read the file and which column is what."""

    delimiter: str = ","
    encoding: str = "utf-8-sig"
    source: str = "digest"
    """Which exporter's layout: digest, Mailchimp, Substack, Buttondown, Ghost, Kit, listmonk."""
    file_status: str | None = None
    """A status every row has (a Mailchimp "unsubscribed" or "cleaned" export file)."""


def _encoding(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # Excel's "Unicode text" export
    return "utf-8-sig"


def _source(columns: set[str]) -> tuple[str, str | None]:
    """Name the exporter from its columns (for the report), and a status for the whole file."""
    if "unsub_time" in columns:
        return "Mailchimp (unsubscribed)", "unsubscribed"
    if "clean_time" in columns:
        return "Mailchimp (cleaned)", "bounced"
    if "email_address" in columns and ({"member_rating", "optin_time", "leid", "euid"} & columns):
        return "Mailchimp", None
    if "email_disabled" in columns or "active_subscription" in columns:
        return "Substack", None
    if "subscriber_type" in columns or "referrer_url" in columns:
        return "Buttondown", None
    if "subscribed_to_emails" in columns:
        return "Ghost", None
    if "uuid" in columns and "attributes" in columns:
        return "listmonk", None
    if "email_address" in columns and "first_name" in columns:
        return "Kit", None
    return "digest", None


def sniff_recipients(path: Path | str) -> CsvFormat:
    """The encoding, delimiter (comma, semicolon, tab or bar: ``csv.Sniffer`` on the first
    64 KB, else the one the header holds most of) and exporter of the CSV at ``path``."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except FileNotFoundError:
        raise RecipientsError(f"{p}: no such recipients file.") from None
    except OSError as e:
        raise RecipientsError(f"{p}: cannot read: {e.strerror}.") from None
    encoding = _encoding(head)
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut by the 64 KB boundary
            raise RecipientsError(f"{p}: not UTF-8 text; save the CSV as UTF-8.") from None
        text = head[: e.start].decode(encoding)
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(text[:8192], delimiters=_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    counts = {d: first.count(d) for d in _DELIMITERS}
    if counts.get(delimiter, 0) == 0 and max(counts.values()) > 0:
        delimiter = max(counts, key=lambda d: counts[d])
    header = next(csv.reader([first], delimiter=delimiter), [])
    source, file_status = _source({_field_name(c) for c in header})
    return CsvFormat(delimiter, encoding, source, file_status)


@dataclass(frozen=True, slots=True)
class _Columns:
    """Where the address, name and status sit in one file's header."""

    mapping: list[tuple[str, str]]
    email: str
    name: str | None
    first: str | None
    last: str | None
    status: str | None
    subscribed: str | None
    """Ghost's ``subscribed_to_emails`` or Substack's ``email_disabled`` (inverted)."""
    extra: list[tuple[str, str]]


def _refuse_repeated_columns(mapping: list[tuple[str, str]], p: Path) -> None:
    """A column named twice (``email,email``, ``Email,Name,email``) is refused: the row's
    cells are looked up by name, so one of the two would be read and the other dropped
    without a word. Blank headings (a spreadsheet's trailing empty columns) are not names."""
    seen: dict[str, str] = {}
    for raw, col in mapping:
        if not col:
            continue
        if col in seen:
            as_written = "" if raw == seen[col] else f" (as {seen[col]!r} and {raw!r})"
            raise RecipientsError(
                f"{p}:1: the header row names the column {col!r} twice{as_written}; digest "
                "would read one and drop the other, so rename or remove one of them."
            )
        seen[col] = raw


def _columns(header: list[str], p: Path) -> _Columns:
    mapping = [(raw, _field_name(raw)) for raw in header]
    _refuse_repeated_columns(mapping, p)
    by_field = {col: raw for raw, col in mapping}

    def pick(names: tuple[str, ...]) -> str | None:
        return next((by_field[n] for n in names if n in by_field), None)

    email = pick(EMAIL_COLUMNS)
    if email is None:
        found = ", ".join(repr(c) for c in header)
        raise RecipientsError(
            f"{p}:1: the header row has no 'email' column (found: {found}); digest reads "
            "email, Email Address or email_address."
        )
    extra = [
        (raw, col)
        for raw, col in mapping
        if raw != email and col not in RESERVED_FIELDS and _FIELD_RE.fullmatch(col)
    ]
    subscribed = pick(("subscribed_to_emails", "email_disabled"))
    return _Columns(
        mapping=mapping,
        email=email,
        name=pick(NAME_COLUMNS),
        first=pick(FIRST_NAME_COLUMNS),
        last=pick(LAST_NAME_COLUMNS),
        status=pick(STATUS_COLUMNS),
        subscribed=subscribed,
        extra=extra,
    )


def read_recipients(path: Path | str) -> Generator[Row | BadRow, None, None]:
    """Each data row of the CSV at ``path`` as a :class:`Row` or a :class:`BadRow`.

    The one reader of subscriber lists, for the send job and any import: digest's own CSV
    and the exports of Mailchimp, Substack, Buttondown, Ghost, Kit and listmonk, comma,
    semicolon, tab or bar separated, UTF-8 (with or without BOM) or Excel's UTF-16. A row
    the exporter marks unsubscribed, cleaned or complained is a Row whose ``status`` says so
    (the send records it as suppressed); one never confirmed is ``inactive``.

    Raises :class:`~digest.errors.RecipientsError` only when the file as a whole is unusable
    (missing, not UTF-8, no email column, a column named twice).
    """
    p = Path(path)
    fmt = sniff_recipients(p) if p.is_file() else CsvFormat()
    try:
        fh = open(p, encoding=fmt.encoding, newline="")  # noqa: SIM115 - closed by ``with``
    except FileNotFoundError:
        raise RecipientsError(f"{p}: no such recipients file.") from None
    except OSError as e:
        raise RecipientsError(f"{p}: cannot read: {e.strerror}.") from None
    with fh:
        # csv.reader, each row zipped with the header here as DictReader would (extra cells
        # under _EXTRA, missing ones None, blank lines skipped), without its Python loop
        reader = csv.reader(fh, delimiter=fmt.delimiter)
        try:
            header = next(reader, None)
        except UnicodeDecodeError:
            raise RecipientsError(f"{p}: not UTF-8 text; save the CSV as UTF-8.") from None
        except csv.Error as e:
            raise RecipientsError(f"{p}: not a readable CSV file: {e}.") from None
        if not header:
            raise RecipientsError(f"{p}: the file is empty; it needs a header row with email.")
        columns = _columns(list(header), p)
        email_at = header.index(columns.email)
        width = len(header)
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError:
                raise RecipientsError(
                    f"{p}:{start}: not UTF-8 text; save the CSV as UTF-8."
                ) from None
            except csv.Error as e:
                yield BadRow(reader.line_num, "", f"not a readable CSV row: {e}")
                continue
            if not cells:  # a blank line
                continue
            raw_row: dict[str, object] = dict(zip(header, cells, strict=False))
            if len(cells) > width:
                raw_row[_EXTRA] = cells[width:]
            elif len(cells) < width:
                for key in header[len(cells) :]:
                    raw_row[key] = None
            item = _parse(reader.line_num, raw_row, columns, fmt)
            if isinstance(item, Row) and reader.line_num > start:
                item = _swallowed(start, reader.line_num, item, email_at, fmt.delimiter) or item
            yield item


def check_recipients(path: Path | str) -> None:
    """Raise the :class:`~digest.errors.RecipientsError` the CSV at ``path`` would stop a
    read with as a whole (missing, not UTF-8, no email column, a column named twice), now:
    before a command creates or opens the ledger, so a bad file leaves no ledger behind.
    A pipe only has to exist: it can be read once, by the command itself."""
    p = Path(path)
    if p.is_file() or not p.exists():
        rows = read_recipients(p)
        try:
            next(rows, None)
        finally:
            rows.close()


def _swallowed(start: int, end: int, row: Row, email_at: int, delimiter: str) -> BadRow | None:
    """A cell over several lines in which a line looks like a recipient row: a quote never
    closed swallowed the rows after it. Say so, with the lines lost, instead of sending to
    one recipient with a strange merge field and skipping the rest without a word."""
    for value in row.fields.values():
        for line in value.splitlines()[1:]:
            cells = line.split(delimiter)
            if len(cells) > email_at and "@" in cells[email_at]:
                return BadRow(
                    start,
                    row.email,
                    f'the row runs over lines {start} to {end}: a quote (") opened in it is '
                    "never closed, so the rows after it were read as part of one cell, not "
                    "as recipients; close the quote and send again",
                )
    return None


def _status(raw_row: dict[str, object], columns: _Columns, fmt: CsvFormat) -> str:
    """``subscribed``, a suppression reason (``unsubscribed``, ``bounced``, ``complained``)
    or ``inactive``, from the file (a Mailchimp export per state) or the row's own columns."""
    if fmt.file_status is not None:
        return fmt.file_status
    if columns.subscribed is not None:
        flag = str(raw_row.get(columns.subscribed) or "").strip().lower()
        off = flag in _FALSE if columns.subscribed == "subscribed_to_emails" else flag in _TRUE
        if off:
            return "unsubscribed"
    if columns.status is not None:
        value = _field_name(str(raw_row.get(columns.status) or ""))
        if value in SUPPRESSED_STATUSES:
            return SUPPRESSED_STATUSES[value]
        if value in INACTIVE_STATUSES:
            return "inactive"
    return "subscribed"


def _text(raw_row: dict[str, object], column: str | None) -> str:
    value = raw_row.get(column) if column is not None else None
    return value.strip() if isinstance(value, str) else ""


def _parse(
    line: int, raw_row: dict[str, object], columns: _Columns, fmt: CsvFormat
) -> Row | BadRow:
    raw_email = raw_row.get(columns.email)
    email_text = raw_email if isinstance(raw_email, str) else ""
    if raw_row.get(_EXTRA):
        return BadRow(line, email_text, "the row has more cells than the header")
    if email_text == "" and all(raw_row.get(raw) in (None, "") for raw, _ in columns.mapping):
        return BadRow(line, "", "the row is empty")
    try:
        email = normalise_address(email_text)
    except ValueError as e:
        return BadRow(line, email_text, str(e))
    name = _text(raw_row, columns.name) or " ".join(
        part for part in (_text(raw_row, columns.first), _text(raw_row, columns.last)) if part
    )
    if not (name.isascii() and name.isprintable()):  # most names: nothing to refuse
        if "\r" in name or "\n" in name:
            return BadRow(line, email_text, "the name contains a line break")
        if bad := FORBIDDEN_CHARACTERS.search(name):
            return BadRow(
                line,
                email_text,
                f"the name contains the control character U+{ord(bad.group()):04X}",
            )
    fields = {}
    for raw, col in columns.extra:
        v = raw_row.get(raw)
        if isinstance(v, str) and v != "":
            fields[col] = v
    return Row(line, email, name, fields, _status(raw_row, columns, fmt))
