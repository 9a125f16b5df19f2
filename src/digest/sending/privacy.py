"""A person's data on request: everything stored about one address, and forgetting it.

Every ledger table that holds an address (a column named ``email_key``, ``email``,
``address`` or ``recipient``) is a table about people; a row in one belongs to a person
when one of those columns is their address or one of its text columns contains it (a
provider event's raw payload, say). So tables added later by other features are covered
without a list to keep up to date.

:func:`forget` deletes those rows with SQLite's ``secure_delete`` on, rewrites the file
(``VACUUM``) and empties the write-ahead log, so the address is gone from the ledger's
bytes, not only from its queries; it removes the file backend's ``.eml`` copies; and it
keeps a keyed hash of the address in ``suppression_hashes``, which every send checks, so a
CSV that still lists the person never mails them again.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, LedgerError
from ..text import plural
from .ledger import Ledger
from .recipients import email_key
from .subscribers import Hasher, now_text

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["ForgetResult", "ForgottenCheck", "export_person", "forget", "outbox_root"]

ADDRESS_COLUMNS = ("email_key", "email", "address", "recipient")
LINK_COLUMNS = ("message_id", "provider_message_id", "digest_id")
"""Columns that tie a row to one person's message without naming them (provider events)."""
_SKIP = frozenset({"schema_migrations", "suppression_hashes", "sqlite_sequence"})


@dataclass(frozen=True)
class _Table:
    name: str
    address_columns: tuple[str, ...]
    text_columns: tuple[str, ...]
    link_columns: tuple[str, ...] = ()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _person_tables(db: sqlite3.Connection) -> list[_Table]:
    tables = []
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    for name in names:
        if name in _SKIP:
            continue
        cols = [(r[1], (r[2] or "").upper()) for r in db.execute(f"PRAGMA table_info({_q(name)})")]
        address = tuple(c for c, _ in cols if c.lower() in ADDRESS_COLUMNS)
        links = tuple(c for c, _ in cols if c.lower() in LINK_COLUMNS)
        if address or links:
            text = tuple(
                c for c, t in cols if t in ("TEXT", "") and c not in address and c not in links
            )
            tables.append(_Table(name, address, text, links))
    return tables


def _links(db: sqlite3.Connection, key: str) -> set[str]:
    """The ids of the person's messages: the providers' (as the ledger recorded them) and
    digest's own (derived from issue and address, as the send job derives them)."""
    import hashlib

    found: set[str] = set()
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "recipients" not in tables:
        return found
    for issue_id, message_id in db.execute(
        "SELECT issue_id, message_id FROM recipients WHERE email_key = ?", (key,)
    ):
        if message_id:
            found.add(str(message_id))
        found.add(hashlib.sha256(f"{issue_id}\0{key}".encode()).hexdigest()[:32])
    return found


def _rowids(
    db: sqlite3.Connection, table: _Table, key: str, links: Collection[str] = ()
) -> list[int]:
    """The rows of ``table`` about ``key``: an address column equal to it, a message id of
    theirs (``links``), or a text column holding the address whole (``ann@x.org`` is not
    in ``joann@x.org``)."""
    found: list[int] = []
    if table.address_columns:
        exact = " OR ".join(f"lower({_q(c)}) = ?" for c in table.address_columns)
        found += [
            r[0]
            for r in db.execute(
                f"SELECT rowid FROM {_q(table.name)} WHERE {exact}",
                [key] * len(table.address_columns),
            )
        ]
    ids = sorted(links)
    for col in table.link_columns:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            found += [
                r[0]
                for r in db.execute(
                    f"SELECT rowid FROM {_q(table.name)} WHERE {_q(col)} IN ({marks})", chunk
                )
            ]
    found = list(dict.fromkeys(found))
    if table.text_columns:
        whole = re.compile(rf"(?<![\w.+\-]){re.escape(key)}(?![\w\-]|\.\w)")
        cols = ", ".join(_q(c) for c in table.text_columns)
        contains = " OR ".join(f"instr(lower({_q(c)}), ?) > 0" for c in table.text_columns)
        seen = set(found)
        for rowid, *values in db.execute(
            f"SELECT rowid, {cols} FROM {_q(table.name)} WHERE {contains}",
            [key] * len(table.text_columns),
        ):
            if rowid not in seen and any(
                isinstance(v, str) and whole.search(v.lower()) for v in values
            ):
                found.append(rowid)
    return found


def _rows(db: sqlite3.Connection, table: _Table, rowids: list[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rowid in rowids:
        cur = db.execute(f"SELECT * FROM {_q(table.name)} WHERE rowid = ?", (rowid,))
        cols = [d[0] for d in cur.description]
        out.extend(dict(zip(cols, r, strict=True)) for r in cur.fetchall())
    return out


def outbox_root(settings: Settings) -> Path:
    """The file backend's folder (its default, ``outbox``, unless configured)."""
    raw = settings.provider_options("file").get("dir", "outbox")
    return settings.path(Path(str(raw)))


def _outbox_copies(settings: Settings, spellings: set[str]) -> list[Path]:
    from ..delivery.local import safe_file_name

    root = outbox_root(settings)
    if not root.is_dir():
        return []
    names = {f"{safe_file_name(s)}.eml" for s in spellings}
    folders = [f for f in root.iterdir() if f.is_dir()]
    return sorted(p for f in folders for n in names if (p := f / n).is_file())


def _spellings(ledger: Ledger, tables: list[_Table], key: str, given: str) -> set[str]:
    """Every way the address was written down (the outbox names files by exact spelling)."""
    found = {given, key}
    for t in tables:
        for col in t.address_columns:
            if col.lower() == "email_key":
                continue
            for (value,) in ledger.db.execute(
                f"SELECT DISTINCT {_q(col)} FROM {_q(t.name)} WHERE lower({_q(col)}) = ?", (key,)
            ):
                if isinstance(value, str):
                    found.add(value)
    return found


def export_person(settings: Settings, ledger: Ledger, email: str) -> dict[str, Any]:
    """Everything the ledger and the outbox hold about ``email``: rows by table, files."""
    key = email_key(email.strip())
    tables = _person_tables(ledger.db)
    links = _links(ledger.db, key)
    data: dict[str, Any] = {"email": email.strip(), "exported_at": now_text(), "tables": {}}
    for t in tables:
        rows = _rows(ledger.db, t, _rowids(ledger.db, t, key, links))
        if rows:
            data["tables"][t.name] = rows
    copies = _outbox_copies(settings, _spellings(ledger, tables, key, email.strip()))
    data["outbox_files"] = [str(p) for p in copies]
    return data


@dataclass
class ForgetResult:
    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    wal_cleared: bool = True

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def forget(settings: Settings, ledger: Ledger, email: str) -> ForgetResult:
    """Delete ``email`` from every ledger table and the outbox; keep only its keyed hash."""
    hasher = Hasher.from_settings(settings, "forgetting an address")
    given = email.strip()
    key = email_key(given)
    if not key:
        raise ConfigError("Give the address to forget.")
    result = ForgetResult()
    tables = _person_tables(ledger.db)
    spellings = _spellings(ledger, tables, key, given)
    links = _links(ledger.db, key)
    db = ledger.db
    db.execute("PRAGMA secure_delete = ON")
    with ledger._tx():
        for t in tables:
            ids = _rowids(db, t, key, links)
            db.executemany(f"DELETE FROM {_q(t.name)} WHERE rowid = ?", [(i,) for i in ids])
            if ids:
                result.rows[t.name] = len(ids)
        db.execute(
            "DELETE FROM subscriber_limits WHERE scope = 'address' AND key = ?",
            (hasher.address(key),),
        )
        db.execute(
            "INSERT OR IGNORE INTO suppression_hashes (hash, key_id, reason, created_at) "
            "VALUES (?, ?, 'forgotten', ?)",
            (hasher.address(key), hasher.key_id, now_text()),
        )
    try:
        db.execute("VACUUM")
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as e:
        raise LedgerError(
            f"{ledger.path}: the rows are deleted but the file could not be rewritten ({e}); "
            "run `digest subscribers forget` again when no other digest command or server "
            "is using the ledger."
        ) from None
    result.wal_cleared = not busy
    for path in _outbox_copies(settings, spellings):
        path.unlink(missing_ok=True)
        result.files.append(path)
    return result


class ForgottenCheck:
    """Whether an address was forgotten: its keyed hash is in ``suppression_hashes``.

    Loaded once per send (a forgotten list is short). Hashes made under a previous secret
    are recognised while it is listed in ``DIGEST_SECRET_PREVIOUS``. Without the secret the
    hashes cannot be checked, so a send refuses to go ahead rather than risk mailing a
    forgotten person; the same when some were made under a secret no longer given.
    """

    def __init__(self, settings: Settings, ledger: Ledger | None) -> None:
        self.hashes: set[str] = set()
        self.other_keys = 0
        self._hashers: list[Hasher] = []
        if ledger is None:
            return
        exists = ledger.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'suppression_hashes'"
        ).fetchone()
        if not exists:
            return
        rows = ledger.db.execute("SELECT hash, key_id FROM suppression_hashes").fetchall()
        if not rows:
            return
        self._hashers = Hasher.all_from_settings(settings, "checking the forgotten addresses")
        known = {h.key_id for h in self._hashers}
        self.hashes = {h for h, k in rows if k in known}
        self.other_keys = sum(1 for _, k in rows if k not in known)
        if self.other_keys:
            raise ConfigError(
                f"{ledger.path}: "
                f"{plural(self.other_keys, 'forgotten address', 'forgotten addresses')} "
                f"{'was' if self.other_keys == 1 else 'were'} hashed under a secret that is not "
                "set, so a send cannot tell whether it would mail them. Put the old secret in "
                "DIGEST_SECRET_PREVIOUS (it keeps old links working too)."
            )

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def forgotten(self, email: str) -> bool:
        return any(h.address(email) in self.hashes for h in self._hashers)
