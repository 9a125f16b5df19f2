"""Recipients from a CSV file: streamed row by row, validated, normalised.

The file has a header row with an ``email`` column, an optional ``name`` column, and any
further columns, which become merge fields (``@@digest.<column>@@`` in templates). Rows are
read one at a time with :class:`csv.DictReader`, so the file is never loaded whole. A bad row
is yielded as a :class:`BadRow` with its line number and the rest go on.

Addresses are checked for syntax only (no DNS) with ``email-validator``, internationalised
addresses included. The validator lower-cases the domain and keeps the local part's case;
:func:`email_key` (the lower-cased address) is what makes ``Ann@x.org`` and ``ann@X.org``
one recipient. Deduplication itself happens in the ledger's SQLite table, not in memory.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from ..errors import RecipientsError

__all__ = [
    "RESERVED_FIELDS",
    "BadRow",
    "Row",
    "email_key",
    "normalise_address",
    "read_recipients",
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

    @property
    def key(self) -> str:
        return email_key(self.email)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be used, and why."""

    line: int
    value: str
    reason: str


def email_key(address: str) -> str:
    """The deduplication key: the normalised address, lower-cased."""
    return address.lower()


_PLAIN_ADDRESS = re.compile(
    r"([A-Za-z0-9_!#$%&'*+\-/=?^`{|}~]+(?:\.[A-Za-z0-9_!#$%&'*+\-/=?^`{|}~]+)*)"
    r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)",
    re.ASCII,
)
"""A plain ASCII address: a dot-atom local part (RFC 5322) at a dotted host name."""
_MAX_ADDRESS = 254
_CASE_INSENSITIVE = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


@functools.lru_cache(maxsize=4096)
def _plain_domain(domain: str) -> str | None:
    """email-validator's normalised form of an ASCII ``domain``, or None if it refuses it
    or would turn it into Unicode (IDNA): asked once per distinct domain of a list."""
    try:
        found = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    normal = str(found.domain)
    return normal if normal == found.ascii_domain and normal.isascii() else None


def _fast_normalise(text: str) -> str | None:
    """The normalised address when ``text`` is plain ASCII (most lists), without a full
    email-validator call per row; None when only email-validator can say.

    Exactly what email-validator gives for such an address: the local part kept as it is
    (RFC 5321 leaves its case to the receiving host), the domain as email-validator
    normalises it (asked once per domain), the whole within 254 characters. Role names it
    lower-cases (``Postmaster``) and everything else go the slow way. A property test holds
    this equal to email-validator.
    """
    m = _PLAIN_ADDRESS.fullmatch(text)
    if m is None:
        return None
    local, domain = m.groups()
    if local.lower() in _CASE_INSENSITIVE or len(text) > _MAX_ADDRESS:
        return None
    normal = _plain_domain(domain)
    if normal is None or len(local) + 1 + len(normal) > _MAX_ADDRESS:
        return None
    return f"{local}@{normal}"


def normalise_address(address: str) -> str:
    """The validated, normalised form of ``address``; raises ``ValueError`` with the reason."""
    text = address.strip()
    if not text:
        raise ValueError("the email is empty")
    if any(c in text for c in "\r\n"):
        raise ValueError("the email contains a line break")
    fast = _fast_normalise(text)
    if fast is not None:
        return fast
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as e:
        raise ValueError(str(e)) from None
    return str(result.normalized)


def _field_name(column: str) -> str:
    return column.strip().lower().replace("-", "_").replace(" ", "_")


def read_recipients(path: Path | str) -> Iterator[Row | BadRow]:
    """Each data row of the CSV at ``path`` as a :class:`Row` or a :class:`BadRow`.

    Raises :class:`~digest.errors.RecipientsError` only when the file as a whole is unusable
    (missing, not UTF-8, no ``email`` column).
    """
    p = Path(path)
    try:
        fh = open(p, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by ``with``
    except FileNotFoundError:
        raise RecipientsError(f"{p}: no such recipients file.") from None
    except OSError as e:
        raise RecipientsError(f"{p}: cannot read: {e.strerror}.") from None
    with fh:
        reader = csv.DictReader(fh, restkey=_EXTRA)
        try:
            header = reader.fieldnames
        except UnicodeDecodeError:
            raise RecipientsError(f"{p}: not UTF-8 text; save the CSV as UTF-8.") from None
        except csv.Error as e:
            raise RecipientsError(f"{p}: not a readable CSV file: {e}.") from None
        if not header:
            raise RecipientsError(f"{p}: the file is empty; it needs a header row with email.")
        mapping = [(raw, _field_name(raw)) for raw in header]
        if "email" not in {col for _, col in mapping}:
            found = ", ".join(repr(c) for c in header)
            raise RecipientsError(f"{p}:1: the header row has no 'email' column (found: {found}).")
        extra = [
            (raw, col)
            for raw, col in mapping
            if col not in RESERVED_FIELDS and _FIELD_RE.fullmatch(col)
        ]
        email_at = [col for _, col in mapping].index("email")
        rows = iter(reader)
        while True:
            start = reader.line_num + 1
            try:
                raw_row = next(rows)
            except StopIteration:
                break
            except UnicodeDecodeError:
                raise RecipientsError(
                    f"{p}:{start}: not UTF-8 text; save the CSV as UTF-8."
                ) from None
            except csv.Error as e:
                yield BadRow(reader.line_num, "", f"not a readable CSV row: {e}")
                continue
            item = _parse(reader.line_num, raw_row, mapping, extra)
            if isinstance(item, Row) and reader.line_num > start:
                item = _swallowed(start, reader.line_num, item, email_at) or item
            yield item


def _swallowed(start: int, end: int, row: Row, email_at: int) -> BadRow | None:
    """A cell over several lines in which a line looks like a recipient row: a quote never
    closed swallowed the rows after it. Say so, with the lines lost, instead of sending to
    one recipient with a strange merge field and skipping the rest without a word."""
    for value in row.fields.values():
        for line in value.splitlines()[1:]:
            cells = line.split(",")
            if len(cells) > email_at and "@" in cells[email_at]:
                return BadRow(
                    start,
                    row.email,
                    f'the row runs over lines {start} to {end}: a quote (") opened in it is '
                    "never closed, so the rows after it were read as part of one cell, not "
                    "as recipients; close the quote and send again",
                )
    return None


def _parse(
    line: int,
    raw_row: dict[str, object],
    mapping: list[tuple[str, str]],
    extra: list[tuple[str, str]],
) -> Row | BadRow:
    values = {col: raw_row.get(raw) for raw, col in mapping}
    raw_email = values.get("email")
    email_text = raw_email if isinstance(raw_email, str) else ""
    if raw_row.get(_EXTRA):
        return BadRow(line, email_text, "the row has more cells than the header")
    if all(v in (None, "") for v in values.values()):
        return BadRow(line, "", "the row is empty")
    try:
        email = normalise_address(email_text)
    except ValueError as e:
        return BadRow(line, email_text, str(e))
    raw_name = values.get("name")
    name = raw_name.strip() if isinstance(raw_name, str) else ""
    if "\r" in name or "\n" in name:
        return BadRow(line, email_text, "the name contains a line break")
    fields = {}
    for raw, col in extra:
        v = raw_row.get(raw)
        if isinstance(v, str) and v != "":
            fields[col] = v
    return Row(line, email, name, fields)
