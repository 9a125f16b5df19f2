"""The send ledger: one SQLite file (WAL mode) that knows who got which issue.

Tables::

    issues        one row per issue: content hash, timestamps, finished or not
    recipients    one row per issue and recipient: state, provider message id, error,
                  retryable, attempts, timestamps, and the batch it was last sent in
    batches       one row per provider call: number, state (open/sending/done), the key last
                  sent, the provider, when the last call started and its outcome class
    suppressions  addresses no send may reach, one row per address and reason
                  (unsubscribed, bounced, complained, manual) with its source
    events        provider events matched to a recipient of an issue (see event_log)
    webhook_nonces  one-time ids of webhook requests already acted on (replays)
    requeues      failures a person chose to send again (``retry --failed``): what they
                  failed with, kept when they go again

and, for readers who join themselves (:mod:`digest.sending.subscribers`)::

    subscribers         one row per address: status, name, the consent record
    subscriber_mails    the queue of confirmation mails ``digest serve`` sends
    subscriber_limits   sign-up and mail counts per keyed hash of an IP or address
    suppression_hashes  keyed hashes of forgotten addresses: no send may reach them

Two triggers keep a subscriber's status in step with the suppression list: it is their
strongest reason (an unsubscribe, then a complaint, then a bounce), and removing the last
one (the unsubscribe page's undo of an unsubscribe that is all there is) makes a confirmed
reader active again.

Recipient states: ``pending`` (not sent yet), ``sent``, ``failed`` (with ``retryable``),
``unknown`` (the call may have been taken but its answer was lost: never sent again until
the provider says it did not accept it, or ``retry --unknown``), ``suppressed`` (skipped: on
the suppression list), and later ``bounced`` / ``complained`` (set from provider events).
``reconciled`` says how an unknown outcome was settled: ``found`` at the provider,
``resent`` (the provider had not accepted it) or ``risked`` (sent again on request).

A batch is ``open`` when planned, ``sending`` from just before its provider call until its
results are written, ``done`` after. Its ``outcome``: ``answered`` (the provider answered
per recipient), ``not_sent`` (refused before it could act), ``ambiguous`` (the answer was
lost), ``reconciled`` (an ambiguous batch settled by asking the provider). ``maybe_taken``
marks a batch whose earlier call may have gone (a crash mid-call, a lost answer) and that
is repeated under the same idempotency key: it is only ever called again under that key,
at that provider, while the provider keeps the key.

Duplicates are merged by SQLite itself: ``(issue_id, email_key)`` is unique and rows go in
with ``INSERT OR IGNORE``, so memory stays flat however long the list is.

A batch's members and key are committed (and checkpointed) *before* the provider is
called. After a crash, a ``sending`` batch goes again with the same members and key at a
provider that honours idempotency keys; at the others its members become ``unknown`` and are
reconciled. The write-ahead log is checkpointed after every batch, so a copy of the file
without its ``-wal`` loses nothing recorded. Every SQLite failure is a
:class:`~digest.errors.LedgerError` that says what to do. Only :mod:`digest.sending` writes
the ledger.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, LedgerError
from ..files import create_owner_only
from .recipients import email_key

__all__ = [
    "EVENT_STATES",
    "MIGRATIONS",
    "OPERATOR_SOURCE",
    "STATES",
    "SUPPRESSION_REASONS",
    "BatchRow",
    "IssueRow",
    "Ledger",
    "MemberRow",
    "Outcome",
    "Suppression",
    "UnknownBatch",
    "batch_key",
    "ledger_error",
]

STATES = ("pending", "sent", "failed", "unknown", "suppressed", "bounced", "complained")
EVENT_STATES = ("bounced", "complained")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained", "manual")
_OPT_OUTS = ("unsubscribed", "complained")
OPERATOR_SOURCE = "cli"
"""The source of an address typed on ``digest suppress``'s command line: the operator's own
word, which ``digest suppress --remove`` may take back."""
_RANK = (
    "CASE reason WHEN 'unsubscribed' THEN 1 WHEN 'complained' THEN 2 WHEN 'bounced' THEN 3 "
    "ELSE 4 END"
)
"""Which of an address's reasons is shown: the reader's own opt-out before a bounce."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS issues (
    issue_id      TEXT PRIMARY KEY,
    content_hash  TEXT NOT NULL,
    subject       TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT
);
CREATE TABLE IF NOT EXISTS recipients (
    id          INTEGER PRIMARY KEY,
    issue_id    TEXT NOT NULL,
    email_key   TEXT NOT NULL,
    email       TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    fields      TEXT NOT NULL DEFAULT '{}',
    line        INTEGER,
    state       TEXT NOT NULL DEFAULT 'pending',
    batch       INTEGER,
    message_id  TEXT,
    error       TEXT,
    retryable   INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    sent_at     TEXT,
    UNIQUE (issue_id, email_key)
);
CREATE INDEX IF NOT EXISTS recipients_state ON recipients (issue_id, state, batch);
CREATE INDEX IF NOT EXISTS recipients_batch ON recipients (issue_id, batch);
CREATE INDEX IF NOT EXISTS recipients_message ON recipients (message_id);
CREATE TABLE IF NOT EXISTS batches (
    issue_id     TEXT NOT NULL,
    number       INTEGER NOT NULL,
    key          TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'open',
    size         INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (issue_id, number)
);
CREATE TABLE IF NOT EXISTS suppressions (
    email_key   TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
"""

_EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id           INTEGER PRIMARY KEY,
    fingerprint  TEXT NOT NULL UNIQUE,
    provider     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    raw_type     TEXT NOT NULL,
    issue_id     TEXT NOT NULL,
    email_key    TEXT NOT NULL,
    email        TEXT NOT NULL,
    message_id   TEXT,
    event_id     TEXT,
    reason       TEXT NOT NULL DEFAULT '',
    occurred_at  TEXT,
    received_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_recipient ON events (email_key, issue_id, kind);
CREATE INDEX IF NOT EXISTS events_issue ON events (issue_id, kind);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS webhook_nonces (
    provider  TEXT NOT NULL,
    nonce     TEXT NOT NULL,
    seen_at   TEXT NOT NULL,
    PRIMARY KEY (provider, nonce)
);
CREATE INDEX IF NOT EXISTS webhook_nonces_seen ON webhook_nonces (seen_at);
"""

_REQUEUES = """
CREATE TABLE IF NOT EXISTS requeues (
    issue_id     TEXT NOT NULL,
    email_key    TEXT NOT NULL,
    error        TEXT,
    retryable    INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    batch        INTEGER,
    requeued_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requeues_issue ON requeues (issue_id, email_key);
"""

_OUTCOMES = """
ALTER TABLE batches ADD COLUMN provider TEXT;
ALTER TABLE batches ADD COLUMN outcome TEXT;
ALTER TABLE batches ADD COLUMN attempted_at TEXT;
ALTER TABLE recipients ADD COLUMN reconciled TEXT;
UPDATE batches SET state = 'sending', attempted_at = updated_at
    WHERE state = 'open' AND attempts > 0;
"""
"""Outcome classes per batch, ``unknown`` recipients and how they were settled. An ``open``
batch with attempts from an older release may have been in flight at a crash: it becomes
``sending``, so it is reconciled rather than sent again blindly."""

_SUBSCRIBERS = """
CREATE TABLE subscribers (
    email_key        TEXT PRIMARY KEY,
    email            TEXT NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                     ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
    lang             TEXT NOT NULL DEFAULT '',
    fields           TEXT NOT NULL DEFAULT '{}',
    consent_at       TEXT NOT NULL,
    consent_source   TEXT NOT NULL,
    consent_ip       TEXT,
    consent_text     TEXT NOT NULL DEFAULT '',
    confirmed_at     TEXT,
    confirm_id       TEXT UNIQUE,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX subscribers_status ON subscribers (status, created_at);
CREATE TABLE subscriber_mails (
    id          INTEGER PRIMARY KEY,
    email_key   TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'confirm',
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     REAL NOT NULL,
    sent_at     TEXT,
    failed_at   TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX subscriber_mails_due ON subscriber_mails (sent_at, failed_at, next_at);
CREATE TABLE subscriber_limits (
    scope  TEXT NOT NULL,
    key    TEXT NOT NULL,
    at     REAL NOT NULL
);
CREATE INDEX subscriber_limits_key ON subscriber_limits (scope, key, at);
CREATE TABLE suppression_hashes (
    hash        TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TRIGGER subscribers_suppressed AFTER INSERT ON suppressions
WHEN NEW.reason IN ('unsubscribed', 'bounced', 'complained')
BEGIN
    UPDATE subscribers SET status = NEW.reason, updated_at = NEW.created_at
    WHERE email_key = NEW.email_key AND status = 'active';
END;
CREATE TRIGGER subscribers_unsuppressed AFTER DELETE ON suppressions
BEGIN
    UPDATE subscribers SET status = 'active',
        updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
    WHERE email_key = OLD.email_key AND status = OLD.reason AND confirmed_at IS NOT NULL;
END;
"""

_SUPPRESSIONS_PER_REASON = """
CREATE TABLE suppressions_per_reason (
    email_key   TEXT NOT NULL,
    email       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    PRIMARY KEY (email_key, reason)
);
INSERT INTO suppressions_per_reason (email_key, email, reason, source, created_at)
    SELECT email_key, email, reason, source, created_at FROM suppressions;
DROP TABLE suppressions;
ALTER TABLE suppressions_per_reason RENAME TO suppressions;
CREATE TRIGGER subscribers_suppressed AFTER INSERT ON suppressions
WHEN NEW.reason IN ('unsubscribed', 'bounced', 'complained')
BEGIN
    UPDATE subscribers SET status = NEW.reason, updated_at = NEW.created_at
    WHERE email_key = NEW.email_key AND (status = 'active' OR (
        status IN ('unsubscribed', 'bounced', 'complained')
        AND CASE NEW.reason WHEN 'unsubscribed' THEN 1 WHEN 'complained' THEN 2 ELSE 3 END
          < CASE status WHEN 'unsubscribed' THEN 1 WHEN 'complained' THEN 2 ELSE 3 END));
END;
CREATE TRIGGER subscribers_unsuppressed AFTER DELETE ON suppressions
WHEN OLD.reason IN ('unsubscribed', 'bounced', 'complained')
BEGIN
    UPDATE subscribers SET status = COALESCE((SELECT s.reason FROM suppressions s
            WHERE s.email_key = OLD.email_key
            AND s.reason IN ('unsubscribed', 'bounced', 'complained')
            ORDER BY CASE s.reason WHEN 'unsubscribed' THEN 1 WHEN 'complained' THEN 2
            ELSE 3 END LIMIT 1), 'active'),
        updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
    WHERE email_key = OLD.email_key AND status = OLD.reason AND (confirmed_at IS NOT NULL
        OR EXISTS (SELECT 1 FROM suppressions s WHERE s.email_key = OLD.email_key
            AND s.reason IN ('unsubscribed', 'bounced', 'complained')));
END;
"""
"""One row per address *and reason*: an unsubscribe is recorded even when the address
already bounced, so lifting the bounce later leaves the reader's opt-out in place. The
triggers are made anew (dropping the old table dropped them): a subscriber's status is
their strongest remaining reason (unsubscribed, then complained, then bounced), and they
are active again only when none is left."""

MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0001-initial", _SCHEMA),
    ("0003-events", _EVENTS_SCHEMA),
    ("0002-sendux-requeues", _REQUEUES),
    (
        "0004-events-by-address",
        "CREATE INDEX IF NOT EXISTS recipients_email_key ON recipients (email_key, sent_at);",
    ),
    ("0002-once-outcomes", _OUTCOMES),
    ("0004-subscribers", _SUBSCRIBERS),
    (
        # sent_at out of the index: each recorded send rewrote an entry at a random place
        "0005-events-by-address-lean",
        "DROP INDEX IF EXISTS recipients_email_key;\n"
        "CREATE INDEX IF NOT EXISTS recipients_email ON recipients (email_key);",
    ),
    (
        # a provider's idempotency key lives from the first call made under it
        "0006-batches-first-attempt",
        "ALTER TABLE batches ADD COLUMN first_attempted_at TEXT;\n"
        "UPDATE batches SET first_attempted_at = attempted_at;",
    ),
    (
        # an earlier call of the batch may have gone: repeat it only under its key
        "0007-batches-maybe-taken",
        "ALTER TABLE batches ADD COLUMN maybe_taken INTEGER NOT NULL DEFAULT 0;",
    ),
    (
        # 'keyed' batches (answers lost, members failed retryably) of a short-lived design:
        # unknown, as lost answers are now, for reopen_lost to repeat under their key
        "0008-keyed-to-unknown",
        "UPDATE recipients SET state = 'unknown', retryable = 0 WHERE state = 'failed' "
        "AND retryable = 1 AND batch IS NOT NULL AND EXISTS (SELECT 1 FROM batches b "
        "WHERE b.issue_id = recipients.issue_id AND b.number = recipients.batch "
        "AND b.outcome = 'keyed');\n"
        "UPDATE batches SET outcome = 'ambiguous' WHERE outcome = 'keyed';",
    ),
    ("0009-suppressions-per-reason", _SUPPRESSIONS_PER_REASON),
)
"""Forward migrations, applied in order, each once, each in its own transaction.

A migration is named, not numbered, so work on separate features can each add one; the
ledger's schema version (``PRAGMA user_version``) is the count applied. Append only: never
edit or reorder a migration that has shipped.
"""

_CHUNK = 2000

_LOST = "the run stopped while this batch was being sent: its answer was lost"
_KEY_LOST = (
    "its call may have been taken and its answer was lost, and it cannot be repeated under "
    "the same idempotency key any more (the provider no longer keeps it, the provider or "
    "the issue changed since): sending it again could send twice"
)
_REPEATABLE = (
    "(?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR "
    "COALESCE(first_attempted_at, attempted_at) >= ?2)"
)
"""A batch's call can be repeated under its key: the same provider (?1, None: any; a batch
that does not say where it went is not the same), the key still kept (?2: the oldest first
call it covers, None: any). Numbered: the statement's own parameters come after, as ?3 on."""


def _cutoff(window: float | None) -> str | None:
    """The oldest first call a key still covers (None: no limit)."""
    if window is None:
        return None
    return (datetime.now(UTC) - timedelta(seconds=window)).isoformat(timespec="milliseconds")

_encode_fields = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Merge fields as stored: compact JSON (one encoder made once, not one per row)."""

_CHECKED: set[tuple[int, int]] = set()
"""Ledger files (device, inode) this process has integrity-checked."""


MIN_SQLITE = (3, 35, 0)
"""The oldest SQLite the ledger's statements run on (``RETURNING``, ``UPDATE … FROM``,
``json_each``). Python's own builds carry newer ones; some distributions' Pythons do not."""


def _refuse_old_sqlite(path: Path) -> None:
    """A LedgerError before anything is opened when this Python's SQLite is too old (a
    send would otherwise stop at its first batch, on an SQL syntax error)."""
    have = sqlite3.sqlite_version_info
    if have < MIN_SQLITE:
        need = ".".join(map(str, MIN_SQLITE))
        raise LedgerError(
            f"{path}: this Python's SQLite is {'.'.join(map(str, have))}; the send ledger "
            f"needs SQLite {need} or newer. Run digest with a Python built with a newer SQLite "
            "(the python.org and pyenv builds, or your distribution's current Python)."
        )


def ledger_error(path: Path, error: sqlite3.Error | OSError) -> LedgerError:
    """One clear message for an SQLite (or file) failure of the ledger at ``path``."""
    text = str(error)
    low = text.lower()
    if "readonly" in low or "read-only" in low or "permission" in low:
        what = (
            "is read-only: digest must write it to record every send. Make the file, its "
            "-wal and -shm files and their folder writable"
        )
    elif "locked" in low or "busy" in low:
        what = (
            "is locked by another program (a sqlite3 shell, a backup or sync tool?). Let it "
            "finish or close it"
        )
    elif "full" in low:
        what = (
            "cannot grow: the disk is full (or the ledger reached its size limit). Free some "
            "space"
        )
    elif "malformed" in low or "not a database" in low or "corrupt" in low:
        what = (
            "is damaged. Restore it from a backup (`digest ledger backup FILE` makes one); "
            "sending without it would mail everyone again"
        )
    elif "unable to open" in low:
        what = "cannot be opened: check that the path is right and its folder is writable"
    else:
        what = "failed"
    return LedgerError(
        f"{path}: the send ledger {what} ({text}), then run the same command again. What "
        "was recorded is kept; nothing is sent while the ledger cannot record it."
    )


class _Connection(sqlite3.Connection):
    """A connection whose every SQLite failure becomes one :class:`LedgerError`."""

    ledger_path: Path = Path("ledger")

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as e:
            raise ledger_error(self.ledger_path, e) from None

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as e:
            raise ledger_error(self.ledger_path, e) from None


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into complete SQL statements (inside one transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf.strip()
            buf = ""
    if buf.strip():
        yield buf.strip()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def batch_key(issue_id: str, content_hash: str, number: int) -> str:
    """The idempotency key of batch ``number``: derived from the issue, so a rerun reuses it.

    The content hash is part of it, so a forced resume of an edited issue never replays an
    old key with a different body.
    """
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in issue_id)[:120]
    digest = hashlib.sha256(f"{issue_id}\0{content_hash}".encode()).hexdigest()[:16]
    return f"digest-{slug}-{digest}-b{number}"


@dataclass(frozen=True, slots=True)
class IssueRow:
    issue_id: str
    content_hash: str
    subject: str
    created_at: str
    updated_at: str
    finished_at: str | None


@dataclass(frozen=True, slots=True)
class BatchRow:
    issue_id: str
    number: int
    key: str
    state: str
    size: int
    attempts: int


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One recipient of a batch as the ledger stores it."""

    id: int
    email: str
    name: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to write for one recipient after a provider call."""

    id: int
    ok: bool
    message_id: str | None
    error: str | None
    retryable: bool
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class Suppression:
    """One reason an address is on the suppression list, where it came from and when."""

    reason: str
    source: str
    created_at: str


@dataclass(frozen=True, slots=True)
class UnknownBatch:
    """A batch whose answer was lost: its unknown members, and when and where it went."""

    number: int
    provider: str | None
    attempted_at: float
    """Unix time the call started (for search lag)."""
    members: list[MemberRow]


class Ledger:
    """The ledger file. Use from one thread; open one per process (WAL handles the rest)."""

    def __init__(
        self, path: Path | str, *, readonly: bool = False, timeout: float = 30.0
    ) -> None:
        self.path = Path(path)
        _refuse_old_sqlite(self.path)
        self._refuse_empty()
        try:
            if readonly:
                db = self._open_readonly(timeout)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # SQLite would create it 0644 (less the umask); the -wal, -shm and -journal
                # files it makes take the database file's mode, so those follow
                create_owner_only(self.path)
                db = sqlite3.connect(
                    self.path, timeout=timeout, isolation_level=None, factory=_Connection
                )
        except sqlite3.Error as e:
            raise ledger_error(self.path, e) from None
        except OSError as e:
            raise ConfigError(
                f"{self.path}: cannot create the send ledger's folder {self.path.parent}: "
                f"{e.strerror}. Check [sending] ledger in digest.toml."
            ) from None
        assert isinstance(db, _Connection)
        db.ledger_path = self.path
        self.db: _Connection = db
        try:
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.check_integrity()
            if not readonly:
                self._migrate()
            self.db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        except BaseException:
            self.db.close()
            raise

    def _open_readonly(self, timeout: float) -> sqlite3.Connection:
        """A read-only connection; for a file nobody can write (a read-only folder, where
        SQLite cannot make the WAL's shared-memory file) an ``immutable`` one."""
        base = self.path.resolve().as_uri()
        for query in ("mode=ro", "mode=ro&immutable=1"):
            db = sqlite3.connect(
                f"{base}?{query}", uri=True, timeout=timeout, isolation_level=None,
                factory=_Connection,
            )
            db.ledger_path = self.path
            try:
                db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except LedgerError as e:
                db.close()
                if "read-only" not in str(e) or "immutable" in query:
                    raise
                continue
            return db
        raise AssertionError("unreachable")

    def _refuse_empty(self) -> None:
        """A ledger file that exists but is empty or unreadable was truncated or replaced:
        taking it as a new ledger would send the whole list again."""
        try:
            size = self.path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as e:
            raise ledger_error(self.path, e) from None
        if size == 0:
            raise LedgerError(
                f"{self.path}: the send ledger is empty (0 bytes). A ledger is never empty "
                "once written, so it was truncated or replaced, and starting afresh would "
                "mail everyone again. Restore it from a backup (`digest ledger backup FILE` "
                "makes one). If you really mean to start over, delete the file and send "
                "with --new-ledger."
            )
        if not os.access(self.path, os.R_OK):
            raise LedgerError(
                f"{self.path}: the send ledger cannot be read (permission denied). Make it "
                "readable by the user running digest, then run the same command again."
            )

    def check_integrity(self) -> None:
        """``PRAGMA quick_check``: refuse a damaged file before anything is sent.

        Once per file per process: it reads the whole file (~150 ms at 100,000 recipients,
        ``benchmarks/bench_ledger.py``), so a server opening the ledger per request checks
        it when it starts, not on every request.
        """
        try:
            st = self.path.stat()
            seen = (st.st_dev, st.st_ino)
        except OSError:
            seen = None
        if seen is not None and seen in _CHECKED:
            return
        try:
            rows = self.db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.Error as e:
            raise ledger_error(self.path, e) from None
        if [r[0] for r in rows] != ["ok"]:
            detail = "; ".join(str(r[0]) for r in rows[:3])
            raise ledger_error(self.path, sqlite3.DatabaseError(f"corrupt: {detail}"))
        if seen is not None:
            _CHECKED.add(seen)

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the main file, so a copy of the file alone (without
        its ``-wal``) holds everything recorded so far."""
        self.db.execute("PRAGMA wal_checkpoint(FULL)").fetchone()

    def backup(self, target: Path | str) -> Path:
        """A consistent copy of the ledger at ``target``, made with SQLite's online backup
        API (safe while another process writes); written beside it, then renamed. A new copy
        is owner-only, as the ledger is."""
        dest = Path(target)
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)
            create_owner_only(tmp)
            out = sqlite3.connect(tmp)
            try:
                self.db.backup(out)
                out.execute("PRAGMA journal_mode=DELETE")
            finally:
                out.close()
            with suppress(FileNotFoundError):  # a backup replacing one keeps its mode
                os.chmod(tmp, dest.stat().st_mode & 0o777)
            os.replace(tmp, dest)
        except sqlite3.Error as e:
            tmp.unlink(missing_ok=True)
            raise ledger_error(dest, e) from None
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise LedgerError(f"{dest}: cannot write the backup: {e.strerror or e}.") from None
        return dest

    def _migrate(self) -> None:
        """Bring the file up to this release's schema; refuse one from a newer release."""
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {r[0] for r in self.db.execute("SELECT name FROM schema_migrations")}
        known = {name for name, _ in MIGRATIONS}
        if done - known:
            raise LedgerError(
                f"{self.path}: this ledger was written by a newer digest (it has the "
                f"migration {sorted(done - known)[-1]!r}); upgrade digest to use it."
            )
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(sql):
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (name, _now()),
                )
                self.db.execute(f"PRAGMA user_version = {len(done) + 1}")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            done.add(name)

    @property
    def schema_version(self) -> int:
        """How many migrations this file has had (``PRAGMA user_version``)."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def check_writable(self) -> None:
        """Raise :class:`LedgerError` unless this process can write the file (health checks).

        Takes the write lock and rewrites the schema version inside a transaction that is
        rolled back, so nothing changes.
        """
        try:
            version = self.schema_version
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(f"PRAGMA user_version = {version}")
            finally:
                self.db.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise LedgerError(f"{self.path}: the send ledger cannot be written: {e}.") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------

    def _tx(self) -> _Tx:
        return _Tx(self.db)

    # -- issues --------------------------------------------------------------------------

    def issue(self, issue_id: str) -> IssueRow | None:
        row = self.db.execute(
            "SELECT issue_id, content_hash, subject, created_at, updated_at, finished_at "
            "FROM issues WHERE issue_id = ?",
            (issue_id,),
        ).fetchone()
        return IssueRow(*row) if row else None

    def start_issue(self, issue_id: str, content_hash: str, subject: str) -> IssueRow:
        """Create the issue's row if new; return it as stored (the hash is not overwritten)."""
        now = _now()
        with self._tx():
            self.db.execute(
                "INSERT OR IGNORE INTO issues (issue_id, content_hash, subject, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?)",
                (issue_id, content_hash, subject, now, now),
            )
        row = self.issue(issue_id)
        assert row is not None
        return row

    def replace_hash(self, issue_id: str, content_hash: str, subject: str) -> None:
        """Accept an edited issue (``--force``): later batches use keys of the new content."""
        with self._tx():
            self.db.execute(
                "UPDATE issues SET content_hash = ?, subject = ?, updated_at = ? "
                "WHERE issue_id = ?",
                (content_hash, subject, _now(), issue_id),
            )

    def set_finished(self, issue_id: str, finished: bool) -> None:
        """Mark the issue finished (keeping the first finish time) or not finished."""
        with self._tx():
            self.db.execute(
                "UPDATE issues SET finished_at = ?, updated_at = ? "
                "WHERE issue_id = ? AND (finished_at IS NULL) = ?",
                (_now() if finished else None, _now(), issue_id, finished),
            )

    def issues(self) -> list[IssueRow]:
        rows = self.db.execute(
            "SELECT issue_id, content_hash, subject, created_at, updated_at, finished_at "
            "FROM issues ORDER BY created_at"
        ).fetchall()
        return [IssueRow(*r) for r in rows]

    # -- recipients ----------------------------------------------------------------------

    def add_recipients(
        self, issue_id: str, rows: Iterable[tuple[str, str, dict[str, str], int | None]]
    ) -> tuple[int, int]:
        """Insert ``(email, name, fields, line)`` rows; returns (new, duplicates)."""

        def values() -> Iterator[tuple[Any, ...]]:
            now = _now()
            for n, (email, name, fields, line) in enumerate(rows, 1):
                if n % _CHUNK == 0:  # a timestamp per chunk, not a clock read per row
                    now = _now()
                text = _encode_fields(fields) if fields else "{}"
                yield issue_id, email_key(email), email, name, text, line, now, now

        return self._insert_new(
            "INSERT OR IGNORE INTO recipients (issue_id, email_key, email, name, fields, line, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            values(),
        )

    def _insert_new(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> tuple[int, int]:
        """Run an ``INSERT OR IGNORE`` over ``rows``; returns (inserted, ignored).

        Rows go in chunks of a few thousand, each chunk one transaction, so a huge list
        neither sits in memory nor holds the write lock for long. Counted by the cursor's
        rowcount, which leaves out what triggers change (a subscriber's status).
        """
        inserted = ignored = 0
        it = iter(rows)
        while chunk := list(islice(it, _CHUNK)):
            with self._tx():
                n = self.db.executemany(sql, chunk).rowcount
            inserted += n
            ignored += len(chunk) - n
        return inserted, ignored

    def apply_suppressions(self, issue_id: str) -> int:
        """Mark pending, not-yet-batched recipients on the suppression list as suppressed."""
        with self._tx():
            cur = self.db.execute(
                "UPDATE recipients SET state = 'suppressed', updated_at = ? "
                "WHERE issue_id = ? AND state = 'pending' AND batch IS NULL "
                "AND email_key IN (SELECT email_key FROM suppressions)",
                (_now(), issue_id),
            )
        return cur.rowcount

    def recipient_count(self, issue_id: str) -> int:
        """How many recipients the issue has in the ledger, in any state."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM recipients WHERE issue_id = ?", (issue_id,)
        ).fetchone()
        return int(row[0])

    def counts(self, issue_id: str) -> dict[str, int]:
        """Recipients by state (every state present, zero where none), plus
        ``failed_retryable`` / ``failed_permanent``, how unknown outcomes were settled:
        ``found`` (at the provider), ``resent`` (the provider had not accepted them),
        ``risked`` (sent again on ``retry --unknown``), and ``exposure``: how many could
        still get a second copy (the unknown ones, if resent, and members of batches a
        crash caught mid-call)."""
        out = dict.fromkeys(STATES, 0)
        for state, n in self.db.execute(
            "SELECT state, COUNT(*) FROM recipients WHERE issue_id = ? GROUP BY state",
            (issue_id,),
        ):
            out[state] = n
        out["failed_retryable"] = self.db.execute(
            "SELECT COUNT(*) FROM recipients WHERE issue_id = ? AND state = 'failed' "
            "AND retryable = 1",
            (issue_id,),
        ).fetchone()[0]
        out["failed_permanent"] = out["failed"] - out["failed_retryable"]
        out.update(found=0, resent=0, risked=0)
        if self._has_column("recipients", "reconciled"):
            for how, n in self.db.execute(
                "SELECT reconciled, COUNT(*) FROM recipients WHERE issue_id = ? "
                "AND reconciled IS NOT NULL GROUP BY reconciled",
                (issue_id,),
            ):
                out[how] = n
        out["exposure"] = out["unknown"] + self.in_flight(issue_id)
        return out

    def sending_batches(self, issue_id: str) -> int:
        """Batches whose provider call started and whose results are not written yet."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM batches WHERE issue_id = ? AND state = 'sending'", (issue_id,)
        ).fetchone()
        return int(row[0])

    def in_flight(self, issue_id: str) -> int:
        """Pending recipients of batches whose call may have gone: caught mid-call
        (``sending``) by a crash, or reopened to be repeated under their key
        (``maybe_taken``)."""
        taken = " OR b.maybe_taken = 1" if self._has_column("batches", "maybe_taken") else ""
        row = self.db.execute(
            "SELECT COUNT(*) FROM recipients r JOIN batches b ON b.issue_id = r.issue_id "
            "AND b.number = r.batch WHERE r.issue_id = ? AND r.state = 'pending' "
            f"AND (b.state = 'sending'{taken})",
            (issue_id,),
        ).fetchone()
        return int(row[0])

    def _has_column(self, table: str, column: str) -> bool:
        """True once the migration adding ``column`` ran (a read-only open cannot migrate)."""
        return any(r[1] == column for r in self.db.execute(f"PRAGMA table_info({table})"))

    def failures(self, issue_id: str, limit: int | None = None) -> list[tuple[str, str, bool]]:
        """(email, error, retryable) of failed recipients, oldest first."""
        sql = (
            "SELECT email, COALESCE(error, ''), retryable FROM recipients "
            "WHERE issue_id = ? AND state = 'failed' ORDER BY id"
        )
        params: tuple[Any, ...] = (issue_id,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (issue_id, limit)
        return [(e, err, bool(r)) for e, err, r in self.db.execute(sql, params)]

    def recipient_states(self, issue_id: str) -> Iterator[tuple[str, str, str | None]]:
        """(email, state, message_id) of every recipient, in list order."""
        yield from self.db.execute(
            "SELECT email, state, message_id FROM recipients WHERE issue_id = ? ORDER BY id",
            (issue_id,),
        )

    def is_finished(self, issue_id: str) -> bool:
        """True when the issue has recipients and nothing is left to send, retry or settle.

        An issue with no recipient at all (an empty or wholly broken list) is not finished:
        ``send-due`` must try again once the list is fixed.
        """
        total, left = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(state IN ('pending', 'unknown') OR "
            "(state = 'failed' AND retryable = 1)), 0) FROM recipients WHERE issue_id = ?",
            (issue_id,),
        ).fetchone()
        return bool(total and not left)

    # -- batches -------------------------------------------------------------------------

    def open_batches(self, issue_id: str) -> list[BatchRow]:
        """Batches recorded but not finished (a crash, a kill, a requeue), oldest first.

        Each key is derived from the issue's current content hash, so after ``--force`` an
        old key never carries the edited body.
        """
        rows = self.db.execute(
            "SELECT b.number, b.state, b.size, b.attempts, i.content_hash FROM batches b "
            "JOIN issues i ON i.issue_id = b.issue_id "
            "WHERE b.issue_id = ? AND b.state = 'open' ORDER BY b.number",
            (issue_id,),
        ).fetchall()
        return [
            BatchRow(issue_id, number, batch_key(issue_id, content_hash, number), *rest)
            for number, *rest, content_hash in rows
        ]

    def _next_number(self, issue_id: str) -> int:
        row = self.db.execute(
            "SELECT COALESCE(MAX(number), 0) FROM batches WHERE issue_id = ?", (issue_id,)
        ).fetchone()
        return int(row[0]) + 1

    def plan_batch(self, issue_id: str, content_hash: str, size: int) -> BatchRow | None:
        """Record the next batch of up to ``size`` unbatched pending recipients, or None.

        Addresses suppressed since the send started (an unsubscribe arriving mid-send) are
        marked ``suppressed`` here instead of joining the batch.
        """
        while True:
            with self._tx():
                rows = self._one_json_row(
                    "SELECT json_group_array(json_array(id, gone)) FROM ("
                    "SELECT r.id AS id, EXISTS (SELECT 1 FROM suppressions s "
                    "WHERE s.email_key = r.email_key) AS gone FROM recipients r "
                    "WHERE r.issue_id = ? AND r.state = 'pending' AND r.batch IS NULL "
                    "ORDER BY r.id LIMIT ?)",
                    (issue_id, size),
                )
                if not rows:
                    return None
                gone = [(_now(), i) for i, suppressed in rows if suppressed]
                if gone:
                    self.db.executemany(
                        "UPDATE recipients SET state = 'suppressed', updated_at = ? WHERE id = ?",
                        gone,
                    )
                ids = [i for i, suppressed in rows if not suppressed]
                if ids:
                    return self._record_batch(issue_id, content_hash, ids)

    def _record_batch(self, issue_id: str, content_hash: str, ids: Sequence[int]) -> BatchRow:
        number = self._next_number(issue_id)
        key = batch_key(issue_id, content_hash, number)
        now = _now()
        self.db.execute(
            "INSERT INTO batches (issue_id, number, key, state, size, created_at, updated_at) "
            "VALUES (?, ?, ?, 'open', ?, ?, ?)",
            (issue_id, number, key, len(ids), now, now),
        )
        # one set-based statement for the whole batch, not one per recipient
        self.db.execute(
            "UPDATE recipients SET batch = ?, updated_at = ? "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (number, now, _encode_fields(list(ids))),
        )
        return BatchRow(issue_id, number, key, "open", len(ids), 0)

    def members(self, batch: BatchRow) -> list[MemberRow]:
        """The pending recipients of ``batch``, in the order they were recorded."""
        rows = self._one_json_row(
            "SELECT json_group_array(json_array(id, email, name, json(fields))) "
            "FROM recipients WHERE issue_id = ? AND batch = ? AND state = 'pending'",
            (batch.issue_id, batch.number),
        )
        return [MemberRow(*r) for r in rows]

    def _one_json_row(self, sql: str, params: tuple[Any, ...]) -> list[list[Any]]:
        """The rows of ``sql``, a ``json_group_array`` of ``json_array(id, ...)``, by id.

        One step of SQLite for a whole batch instead of one per row: each step gives the
        interpreter lock back and takes it again, and while the workers build and send,
        taking it back is what a per-row query spends its time on.
        """
        text = self.db.execute(sql, params).fetchone()[0]
        return sorted(json.loads(text), key=itemgetter(0))

    def begin_attempt(self, batch: BatchRow, provider: str = "") -> None:
        """Mark the batch ``sending``: one more call, its key, its provider and start time.

        Written and checkpointed before the call, so that after a crash (even with the
        ``-wal`` file lost) the batch is known to have maybe gone.
        """
        with self._tx():
            self.db.execute(
                "UPDATE batches SET attempts = attempts + 1, key = ?1, state = 'sending', "
                "provider = ?2, attempted_at = ?3, "
                "first_attempted_at = COALESCE(first_attempted_at, ?3), updated_at = ?3 "
                "WHERE issue_id = ?4 AND number = ?5",
                (batch.key, provider, _now(), batch.issue_id, batch.number),
            )
        self.checkpoint()

    def undo_attempt(self, batch: BatchRow) -> None:
        """The call never started (the job was stopped first): the batch is ``open`` again."""
        with self._tx():
            self.db.execute(
                "UPDATE batches SET attempts = MAX(attempts - 1, 0), state = 'open', "
                "updated_at = ? WHERE issue_id = ? AND number = ?",
                (_now(), batch.issue_id, batch.number),
            )

    def release_batch(self, batch: BatchRow) -> None:
        """The provider refused the call before acting (a bad key): the members go back in
        line, unbatched, and the batch is closed as ``not_sent``."""
        now = _now()
        with self._tx():
            self.db.execute(
                "UPDATE recipients SET batch = NULL, updated_at = ? "
                "WHERE issue_id = ? AND batch = ? AND state = 'pending'",
                (now, batch.issue_id, batch.number),
            )
            self.db.execute(
                "UPDATE batches SET state = 'done', outcome = 'not_sent', updated_at = ? "
                "WHERE issue_id = ? AND number = ?",
                (now, batch.issue_id, batch.number),
            )

    def record_results(self, batch: BatchRow, outcomes: Sequence[Outcome]) -> None:
        """Write every member's outcome and close the batch with its outcome class, in one
        transaction.

        Not checkpointed here: the next batch's :meth:`begin_attempt` checkpoints before its
        call, and the job checkpoints when it ends. Until then a lost ``-wal`` only loses
        answers, and a batch left ``sending`` is reconciled, never sent blindly again.
        """
        now = _now()
        # Recipients that share an outcome (a provider's one id for the whole call, one
        # error for all) are written by one set-based statement per group.
        sent: dict[str | None, list[int]] = {}
        failed: dict[tuple[str, int], list[int]] = {}
        unknown: dict[str, list[int]] = {}
        for o in outcomes:
            if o.ok:
                sent.setdefault(o.message_id, []).append(o.id)
            elif o.unknown:
                unknown.setdefault(o.error or "the answer was lost", []).append(o.id)
            else:
                failed.setdefault((o.error or "failed", int(o.retryable)), []).append(o.id)
        if unknown:
            outcome = "ambiguous"
        elif outcomes and not sent and all(r for _, r in failed):
            outcome = "not_sent"
        else:
            outcome = "answered"
        with self._tx():
            # each recipient's own id, all in one statement (one step, see _one_json_row)
            own = [[i, m] for m, ids in sent.items() if len(ids) == 1 for i in ids]
            if own:
                self.db.execute(
                    "UPDATE recipients SET state = 'sent', "
                    "message_id = json_extract(j.value, '$[1]'), error = NULL, "
                    "retryable = 0, attempts = attempts + 1, sent_at = ?, updated_at = ? "
                    "FROM json_each(?) AS j "
                    "WHERE recipients.id = json_extract(j.value, '$[0]') "
                    "AND recipients.state = 'pending'",
                    (now, now, _encode_fields(own)),
                )
            self.db.executemany(
                "UPDATE recipients SET state = 'sent', message_id = ?, error = NULL, "
                "retryable = 0, attempts = attempts + 1, sent_at = ?, updated_at = ? "
                "WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
                [(m, now, now, _encode_fields(ids)) for m, ids in sent.items() if len(ids) > 1],
            )
            self.db.executemany(
                "UPDATE recipients SET state = 'failed', error = ?, retryable = ?, "
                "attempts = attempts + 1, updated_at = ? "
                "WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
                [(e, r, now, _encode_fields(ids)) for (e, r), ids in failed.items()],
            )
            self.db.executemany(
                "UPDATE recipients SET state = 'unknown', error = ?, retryable = 0, "
                "attempts = attempts + 1, updated_at = ? "
                "WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
                [(e, now, _encode_fields(ids)) for e, ids in unknown.items()],
            )
            self.db.execute(
                "UPDATE batches SET state = 'done', outcome = ?, updated_at = ? "
                "WHERE issue_id = ? AND number = ?",
                (outcome, now, batch.issue_id, batch.number),
            )

    def settle_in_flight(
        self,
        issue_id: str,
        *,
        idempotent: bool,
        window: float | None = None,
        provider: str | None = None,
    ) -> int:
        """Batches left ``sending`` by a crash: their calls may have been taken.

        With an idempotency key they are ``open`` again, marked ``maybe_taken``, to be
        repeated under the same key (which makes a repeat safe) by ``provider``, if it is
        the provider they went to and its first call is within ``window`` seconds (the
        provider forgets keys: Brevo after 30 minutes, Resend after 24 hours). Every other
        such batch has its pending members made ``unknown``, to be reconciled. Returns how
        many recipients became unknown.
        """
        with self._tx():
            numbers = [
                r[0]
                for r in self.db.execute(
                    "SELECT number FROM batches WHERE issue_id = ? AND state = 'sending'",
                    (issue_id,),
                )
            ]
            if not numbers:
                return 0
            now = _now()
            if idempotent:
                self.db.execute(
                    "UPDATE batches SET state = 'open', maybe_taken = 1, updated_at = ?3 "
                    f"WHERE issue_id = ?4 AND state = 'sending' AND {_REPEATABLE}",
                    (provider, _cutoff(window), now, issue_id),
                )
            error = _KEY_LOST if idempotent else _LOST
            return self._lost(issue_id, "state = 'sending'", (), now, error)

    def _lost(
        self, issue_id: str, where: str, params: tuple[Any, ...], now: str, error: str
    ) -> int:
        """Pending members of the batches ``where`` picks become ``unknown``; the batches
        are done, ``ambiguous``. Inside a transaction."""
        picked = f"SELECT number FROM batches WHERE issue_id = ? AND {where}"
        cur = self.db.execute(
            "UPDATE recipients SET state = 'unknown', error = ?, updated_at = ? "
            f"WHERE issue_id = ? AND state = 'pending' AND batch IN ({picked})",
            (error, now, issue_id, issue_id, *params),
        )
        self.db.execute(
            "UPDATE batches SET state = 'done', outcome = 'ambiguous', updated_at = ? "
            f"WHERE issue_id = ? AND number IN ({picked})",
            (now, issue_id, issue_id, *params),
        )
        return cur.rowcount

    def reopen_lost(
        self, issue_id: str, content_hash: str, provider: str, window: float | None
    ) -> int:
        """At a provider with idempotency keys, settle lost answers by repeating the call:
        each ``ambiguous`` batch that went to ``provider``, whose members are all still
        ``unknown`` (none unsubscribed since) and whose key is the one the issue gives it
        now, is ``open`` again (``maybe_taken``) while the provider keeps the key. Returns
        how many recipients."""
        reopened = 0
        with self._tx():
            now = _now()
            rows = self.db.execute(
                "SELECT number, key, size FROM batches WHERE issue_id = ?3 AND state = 'done' "
                f"AND outcome = 'ambiguous' AND {_REPEATABLE}",
                (provider, _cutoff(window), issue_id),
            ).fetchall()
            for number, key, size in rows:
                if key != batch_key(issue_id, content_hash, number):
                    continue  # the issue was edited since (--force): another key now
                # whole (every member still unknown), and nobody in it unsubscribed since
                cur = self.db.execute(
                    "UPDATE recipients SET state = 'pending', error = NULL, updated_at = ?1 "
                    "WHERE issue_id = ?2 AND batch = ?3 AND state = 'unknown' AND ?4 = "
                    "(SELECT COUNT(*) FROM recipients WHERE issue_id = ?2 AND batch = ?3 "
                    "AND state = 'unknown' AND email_key NOT IN "
                    "(SELECT email_key FROM suppressions))",
                    (now, issue_id, number, size),
                )
                if cur.rowcount:
                    reopened += cur.rowcount
                    self.db.execute(
                        "UPDATE batches SET state = 'open', outcome = NULL, maybe_taken = 1, "
                        "updated_at = ? WHERE issue_id = ? AND number = ?",
                        (now, issue_id, number),
                    )
        return reopened

    def drop_suppressed(self, batch: BatchRow) -> int:
        """Just before a batch's call: pending members suppressed since it was planned (an
        unsubscribe while the batch waited, a run stopped before its call) are
        ``suppressed`` instead of sent. Returns how many."""
        with self._tx():
            cur = self.db.execute(
                "UPDATE recipients SET state = 'suppressed', updated_at = ? "
                "WHERE issue_id = ? AND batch = ? AND state = 'pending' "
                "AND email_key IN (SELECT email_key FROM suppressions)",
                (_now(), batch.issue_id, batch.number),
            )
        return cur.rowcount

    def refuse_unrepeatable(
        self, issue_id: str, content_hash: str, provider: str, window: float | None
    ) -> int:
        """:meth:`repeat_check` for every open batch reopened for a repeat, at the start of a
        run (so that ``retry --unknown`` sees the ones refused). Returns how many recipients
        became unknown."""
        rows = self.db.execute(
            "SELECT number, state, size, attempts FROM batches WHERE issue_id = ? "
            "AND state = 'open' AND maybe_taken = 1",
            (issue_id,),
        ).fetchall()
        lost = 0
        for number, state, size, attempts in rows:
            row = BatchRow(issue_id, number, batch_key(issue_id, content_hash, number), state,
                           size, attempts)
            pending = len(self.members(row))
            if self.repeat_check(row, provider, window) == "refused":
                lost += pending
        return lost

    def repeat_check(self, batch: BatchRow, provider: str, window: float | None) -> str:
        """Before a call of ``batch``: ``"fresh"`` (no earlier call may have gone),
        ``"repeat"`` (one may have, and this call repeats it under the key of its first
        call, at the provider it went to, while the provider keeps the key, with nobody in
        it unsubscribed since) or ``"refused"``: the repeat could send twice (or mail
        someone who left), so the pending members became ``unknown`` and the call must not
        be made."""
        with self._tx():
            row = self.db.execute(
                f"SELECT key, maybe_taken, {_REPEATABLE} FROM batches "
                "WHERE issue_id = ?3 AND number = ?4",
                (provider, _cutoff(window), batch.issue_id, batch.number),
            ).fetchone()
            if row is None or not row[1]:
                return "fresh"
            key, _, repeatable = row
            # had the first call not gone, a repeat would mail whoever unsubscribed since
            left = self.db.execute(
                "SELECT 1 FROM recipients WHERE issue_id = ? AND batch = ? "
                "AND state = 'pending' AND email_key IN (SELECT email_key FROM suppressions) "
                "LIMIT 1",
                (batch.issue_id, batch.number),
            ).fetchone()
            if key == batch.key and repeatable and left is None:
                return "repeat"
            self._lost(batch.issue_id, "number = ?", (batch.number,), _now(), _KEY_LOST)
        return "refused"

    def unknown_batches(self, issue_id: str) -> list[UnknownBatch]:
        """Batches with members whose outcome is unknown, oldest first."""
        rows = self.db.execute(
            "SELECT r.batch, b.provider, COALESCE(b.attempted_at, b.updated_at), r.id, "
            "r.email, r.name, r.fields FROM recipients r JOIN batches b "
            "ON b.issue_id = r.issue_id AND b.number = r.batch "
            "WHERE r.issue_id = ? AND r.state = 'unknown' ORDER BY r.batch, r.id",
            (issue_id,),
        ).fetchall()
        out: list[UnknownBatch] = []
        for number, provider, at, i, e, n, f in rows:
            if not out or out[-1].number != number:
                when = datetime.fromisoformat(at).timestamp()
                out.append(UnknownBatch(number, provider or None, when, []))
            out[-1].members.append(MemberRow(i, e, n, json.loads(f)))
        return out

    def settle_unknown(
        self,
        issue_id: str,
        content_hash: str,
        size: int,
        found: dict[int, str | None],
        missing: Sequence[int],
    ) -> None:
        """Write what the provider said about unknown members: ``found`` (row id → its
        message id) were sent; ``missing`` were not accepted and go out again in new
        batches of up to ``size``."""
        now = _now()
        with self._tx():
            self.db.executemany(
                "UPDATE recipients SET state = 'sent', message_id = ?, error = NULL, "
                "reconciled = 'found', sent_at = ?, updated_at = ? "
                "WHERE id = ? AND state = 'unknown'",
                [(mid, now, now, i) for i, mid in found.items()],
            )
            self._rebatch_unknown(issue_id, content_hash, size, list(missing), "resent")
            self.db.execute(
                "UPDATE batches SET outcome = 'reconciled', updated_at = ? WHERE issue_id = ? "
                "AND outcome = 'ambiguous' AND number NOT IN (SELECT batch FROM recipients "
                "WHERE issue_id = ? AND state = 'unknown' AND batch IS NOT NULL)",
                (now, issue_id, issue_id),
            )
        self.checkpoint()

    def release_unknown(self, issue_id: str, content_hash: str, size: int) -> int:
        """``retry --unknown``: every unknown member goes out again (marked ``risked``)."""
        with self._tx():
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM recipients WHERE issue_id = ? AND state = 'unknown' "
                    "ORDER BY id",
                    (issue_id,),
                )
            ]
            self._rebatch_unknown(issue_id, content_hash, size, ids, "risked")
        return len(ids)

    def _rebatch_unknown(
        self, issue_id: str, content_hash: str, size: int, ids: list[int], how: str
    ) -> None:
        """Unknown members back to pending, in new open batches of up to ``size``."""
        now = _now()
        for chunk in _chunks(ids, max(1, min(size, 500))):
            self.db.execute(
                "UPDATE recipients SET state = 'pending', error = NULL, reconciled = ?, "
                f"updated_at = ? WHERE id IN ({_marks(chunk)}) AND state = 'unknown'",
                (how, now, *chunk),
            )
            self._record_batch(issue_id, content_hash, chunk)

    def requeue_retryable(self, issue_id: str, content_hash: str, size: int) -> int:
        """Put failed-but-retryable recipients back into open batches; returns how many.

        A batch whose every member failed retryably (nothing was sent: a call that may have
        gone leaves its members ``unknown``) is reopened as it was, with its key; the rest
        are regrouped into new batches of up to ``size``. Those suppressed since they failed
        (an unsubscribe before the retry) are marked ``suppressed`` instead.
        """
        now = _now()
        moved = 0
        with self._tx():
            self.db.execute(
                "UPDATE recipients SET state = 'suppressed', updated_at = ? "
                "WHERE issue_id = ? AND state = 'failed' AND retryable = 1 "
                "AND email_key IN (SELECT email_key FROM suppressions)",
                (now, issue_id),
            )
            whole = [
                number
                for number, failed, size_ in self.db.execute(
                    "SELECT r.batch, COUNT(*), b.size FROM recipients r JOIN batches b "
                    "ON b.issue_id = r.issue_id AND b.number = r.batch "
                    "WHERE r.issue_id = ? AND r.state = 'failed' AND r.retryable = 1 "
                    "GROUP BY r.batch",
                    (issue_id,),
                ).fetchall()
                if failed == size_ and size_ <= size
            ]
            for number in whole:
                cur = self.db.execute(
                    "UPDATE recipients SET state = 'pending', updated_at = ? "
                    "WHERE issue_id = ? AND batch = ? AND state = 'failed' AND retryable = 1",
                    (now, issue_id, number),
                )
                moved += cur.rowcount
                self.db.execute(
                    "UPDATE batches SET state = 'open', updated_at = ? "
                    "WHERE issue_id = ? AND number = ?",
                    (now, issue_id, number),
                )
            while True:
                ids = [
                    r[0]
                    for r in self.db.execute(
                        "SELECT id FROM recipients WHERE issue_id = ? AND state = 'failed' "
                        "AND retryable = 1 ORDER BY id LIMIT ?",
                        (issue_id, size),
                    )
                ]
                if not ids:
                    break
                self.db.executemany(
                    "UPDATE recipients SET state = 'pending', updated_at = ? WHERE id = ?",
                    [(now, i) for i in ids],
                )
                self._record_batch(issue_id, content_hash, ids)
                moved += len(ids)
        return moved

    def make_retryable(self, issue_id: str, addresses: Sequence[str] = ()) -> int:
        """Let chosen failures go again (``digest retry --failed`` / ``--address``).

        Every failed recipient of the issue, or only ``addresses`` (InputError, changing
        nothing, if one of them did not fail in this send), becomes a retryable failure
        outside its old batch, so it goes in a new batch with a new key. What it failed with
        is kept in ``requeues``. Returns how many.
        """
        where = "issue_id = ? AND state = 'failed'"
        params: list[Any] = [issue_id]
        if addresses:
            keys = sorted({email_key(a.strip()) for a in addresses})
            found = dict(
                self.db.execute(
                    f"SELECT email_key, state FROM recipients WHERE issue_id = ? "
                    f"AND email_key IN ({','.join('?' * len(keys))})",
                    (issue_id, *keys),
                ).fetchall()
            )
            wrong = [
                f"{k} ({found[k]})" if k in found else f"{k} (not in this send)"
                for k in keys
                if found.get(k) != "failed"
            ]
            if wrong:
                raise InputError(
                    f"Only failed recipients can be sent again; these did not fail in "
                    f"{issue_id}: {', '.join(wrong)}. Nothing was changed."
                )
            where += f" AND email_key IN ({','.join('?' * len(keys))})"
            params += keys
        now = _now()
        with self._tx():
            self.db.execute(
                "INSERT INTO requeues (issue_id, email_key, error, retryable, attempts, batch, "
                f"requeued_at) SELECT issue_id, email_key, error, retryable, attempts, batch, ? "
                f"FROM recipients WHERE {where}",
                (now, *params),
            )
            cur = self.db.execute(
                f"UPDATE recipients SET retryable = 1, batch = NULL, updated_at = ? WHERE {where}",
                (now, *params),
            )
        return cur.rowcount

    def pending_unbatched(self, issue_id: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM recipients WHERE issue_id = ? AND state = 'pending' "
            "AND batch IS NULL",
            (issue_id,),
        ).fetchone()
        return int(row[0])

    def pending_in_open_batches(self, issue_id: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM recipients r JOIN batches b ON b.issue_id = r.issue_id "
            "AND b.number = r.batch WHERE r.issue_id = ? AND r.state = 'pending' "
            "AND b.state = 'open'",
            (issue_id,),
        ).fetchone()
        return int(row[0])

    # -- suppression ---------------------------------------------------------------------

    def suppress(
        self, addresses: Iterable[tuple[str, str]], *, source: str = ""
    ) -> tuple[int, int]:
        """Add ``(email, reason)`` pairs; returns (added, already there).

        Each reason of an address is its own entry, so an unsubscribe is recorded even when
        the address already bounced (and outlives the bounce's removal).
        """

        def rows() -> Iterator[tuple[str, str, str, str, str]]:
            for email, reason in addresses:
                if reason not in SUPPRESSION_REASONS:
                    raise ConfigError(
                        f"Unknown suppression reason {reason!r}; use one of: "
                        f"{', '.join(SUPPRESSION_REASONS)}."
                    )
                yield email_key(email), email, reason, source, _now()

        return self._insert_new(
            "INSERT OR IGNORE INTO suppressions (email_key, email, reason, source, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            rows(),
        )

    def is_suppressed(self, email: str) -> str | None:
        """The reason ``email`` is suppressed (its strongest: an unsubscribe before a
        complaint before a bounce), or None."""
        row = self.db.execute(
            f"SELECT reason FROM suppressions WHERE email_key = ? ORDER BY {_RANK} LIMIT 1",
            (email_key(email),),
        ).fetchone()
        return str(row[0]) if row else None

    def suppressions(self, email: str) -> list[Suppression]:
        """Every reason ``email`` is suppressed, strongest first."""
        return [
            Suppression(*row)
            for row in self.db.execute(
                "SELECT reason, source, created_at FROM suppressions WHERE email_key = ? "
                f"ORDER BY {_RANK}, created_at",
                (email_key(email),),
            )
        ]

    def remove_suppression(self, email: str, *, reason: str | None = None) -> tuple[str, ...]:
        """Take ``email``'s entries off the suppression list; returns the reasons removed.

        With ``reason``, only that entry: the unsubscribe page's undo takes away the
        reader's unsubscribe (the token proves the inbox) and never a bounce or complaint.
        Without, every entry except the reader's own opt-outs (an unsubscribe or spam
        report from the link, the page, their provider or an imported list; only one the
        operator typed on ``digest suppress``'s command line goes): ``digest suppress
        --remove`` undoes a mistake or lifts a bounce, and must never make a reader who
        unsubscribed mailable again. Only the reader lifts their opt-out: the undo, or
        signing up again and confirming.
        """
        sql = "DELETE FROM suppressions WHERE email_key = ?"
        params: tuple[str, ...] = (email_key(email),)
        if reason is not None:
            sql += " AND reason = ?"
            params = (*params, reason)
        else:
            sql += " AND (reason NOT IN (?, ?) OR source = ?)"
            params = (*params, *_OPT_OUTS, OPERATOR_SOURCE)
        with self._tx():
            removed = self.db.execute(sql + " RETURNING reason", params).fetchall()
        return tuple(sorted(str(r[0]) for r in removed))

    def suppression_count(self) -> int:
        """How many addresses the list holds (an address with two reasons counts once)."""
        return int(
            self.db.execute("SELECT COUNT(DISTINCT email_key) FROM suppressions").fetchone()[0]
        )

    # -- provider events -----------------------------------------------------------------

    def knows_message(self, message_id: str) -> bool:
        """True when some send in this ledger got ``message_id`` from its provider."""
        row = self.db.execute(
            "SELECT 1 FROM recipients WHERE message_id = ? LIMIT 1", (message_id,)
        ).fetchone()
        return row is not None

    def record_event(
        self, state: str, *, message_id: str | None = None, email: str | None = None
    ) -> int:
        """A bounce or complaint reported by the provider: mark the send and suppress.

        Finds the recipient rows by provider message id, or else by address; returns how
        many rows changed. Only addresses of rows found join the suppression list: an event
        that matches no send changes nothing.
        """
        if state not in EVENT_STATES:
            raise ValueError(f"state must be one of {EVENT_STATES}, not {state!r}")
        now = _now()
        with self._tx():
            if message_id:
                rows = self.db.execute(
                    "SELECT id, email FROM recipients WHERE message_id = ?", (message_id,)
                ).fetchall()
            elif email:
                rows = self.db.execute(
                    "SELECT id, email FROM recipients WHERE email_key = ? AND state = 'sent'",
                    (email_key(email),),
                ).fetchall()
            else:
                raise ValueError("give message_id or email")
            if email and message_id:
                rows = [r for r in rows if email_key(r[1]) == email_key(email)]
            self.db.executemany(
                "UPDATE recipients SET state = ?, updated_at = ? WHERE id = ?",
                [(state, now, r[0]) for r in rows],
            )
            targets = {r[1] for r in rows}
            self.db.executemany(
                "INSERT OR IGNORE INTO suppressions (email_key, email, reason, source, "
                "created_at) VALUES (?, ?, ?, 'provider event', ?)",
                [(email_key(e), e, state, now) for e in targets],
            )
        return len(rows)


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    """``ids`` in pieces small enough for one ``IN (...)`` each."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _marks(ids: Sequence[int]) -> str:
    return ", ".join("?" * len(ids))


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
            return
        # the original error says more; SQLite may have rolled back already
        with suppress(sqlite3.Error, LedgerError):
            self.db.execute("ROLLBACK")
