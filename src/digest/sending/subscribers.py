"""The subscriber store: readers who joined (the form, ``subscribers add``, an import).

One row per address in the ledger's ``subscribers`` table, keyed like the send job keys
recipients (:func:`~digest.sending.recipients.email_key` of the validated address), with
the reader's status and the consent record: when, from which form or import, the client
address (a keyed hash by default), the words they agreed to, and when they confirmed.

Statuses: ``pending`` (signed up, not confirmed; never mailed, purged after
``[subscribe] purge_after_days``), ``active`` (in the audience when ``[audience] source``
includes subscribers), ``unsubscribed``, ``bounced``, ``complained`` (set by triggers on
the suppression list, so the unsubscribe page and provider webhooks need not know about
subscribers: the strongest reason the address has, an unsubscribe before a complaint
before a bounce).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .ledger import Ledger
from .recipients import email_key, normalise_address

if TYPE_CHECKING:
    from ..config import Secret, Settings

__all__ = [
    "STATUSES",
    "Hasher",
    "Subscriber",
    "Subscribers",
    "WeekRow",
]

STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
_GONE = ("unsubscribed", "bounced", "complained")
_COLUMNS = (
    "email, name, status, lang, fields, consent_at, consent_source, consent_ip, "
    "consent_text, confirmed_at, created_at, updated_at"
)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Hasher:
    """Keyed hashes (HMAC-SHA256) of addresses and IPs, under a key derived from the secret.

    Keyed, so a copy of the ledger alone cannot confirm a guessed address or IP; the key id
    stored next to each forgotten address's hash tells which secret made it.
    """

    __slots__ = ("_key", "key_id")

    def __init__(self, secret: Secret | str) -> None:
        raw = secret if isinstance(secret, str) else secret.reveal()
        self._key = hmac.new(raw.encode(), b"digest-subscribers-hash", hashlib.sha256).digest()
        self.key_id = hashlib.sha256(self._key).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"Hasher(key_id={self.key_id})"

    @classmethod
    def from_settings(cls, settings: Settings, why: str) -> Hasher:
        from .tokens import SECRET_ENV, secret_from_settings

        secret = secret_from_settings(settings)
        if secret is None:
            raise ConfigError(f"{SECRET_ENV} is not set; {why} needs it (it keys the hashes).")
        return cls(secret)

    @classmethod
    def all_from_settings(cls, settings: Settings, why: str) -> list[Hasher]:
        """The current secret's hasher, then one per ``DIGEST_SECRET_PREVIOUS`` entry: hashes
        made before a rotation are still recognised."""
        from .tokens import previous_secrets

        return [cls.from_settings(settings, why), *(cls(s) for s in previous_secrets(settings))]

    def hash(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def address(self, email: str) -> str:
        return self.hash("address", email_key(email))

    def ip(self, ip: str) -> str:
        return f"hmac:{self.key_id}:{self.hash('ip', ip)[:32]}"


@dataclass(frozen=True, slots=True)
class Subscriber:
    email: str
    name: str
    status: str
    lang: str
    fields: dict[str, str]
    consent_at: str
    consent_source: str
    consent_ip: str | None
    consent_text: str
    confirmed_at: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Subscriber:
        values = list(row)
        values[4] = json.loads(values[4] or "{}")
        return cls(*values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class WeekRow:
    """One ISO week of growth: who joined (confirmed), who left, the active count after."""

    week: str
    joined: int
    left: int
    active: int

    @property
    def net(self) -> int:
        return self.joined - self.left


class Subscribers:
    """The subscriber rows of an open ledger (one thread, like the ledger itself)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db

    def _tx(self) -> Any:
        return self.ledger._tx()

    # -- reading ---------------------------------------------------------------------------

    def get(self, email: str) -> Subscriber | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE email_key = ?", (email_key(email),)
        ).fetchone()
        return Subscriber.from_row(row) if row else None

    def all(self, status: str | None = None) -> Iterator[Subscriber]:
        """Every subscriber (or those of ``status``), oldest first, streamed."""
        sql = f"SELECT {_COLUMNS} FROM subscribers"
        params: tuple[str, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        cur = self.db.execute(sql + " ORDER BY created_at, email_key", params)
        while rows := cur.fetchmany(1000):
            for row in rows:
                yield Subscriber.from_row(row)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for status, n in self.db.execute(
            "SELECT status, COUNT(*) FROM subscribers GROUP BY status"
        ):
            out[status] = n
        return out

    def active_rows(self) -> Iterator[tuple[str, str, dict[str, str]]]:
        """(email, name, fields) of every active subscriber: the send audience."""
        cur = self.db.execute(
            "SELECT email, name, fields FROM subscribers WHERE status = 'active' ORDER BY rowid"
        )
        while rows := cur.fetchmany(2000):
            for email, name, fields in rows:
                yield email, name, json.loads(fields or "{}")

    # -- writing ---------------------------------------------------------------------------

    def add(
        self,
        rows: Iterable[tuple[str, str, dict[str, str], str | None, str]],
        *,
        source: str,
        consent_text: str,
    ) -> tuple[int, int]:
        """Add ``(email, name, fields, consent_at, status)`` rows the editor vouches for.

        Addresses already stored keep their row (their status and consent record) as they
        are; those on the suppression list go in with its status, never as active.
        Returns (added, already stored).
        """

        def values() -> Iterator[tuple[Any, ...]]:
            for email, name, fields, consent_at, status in rows:
                if status not in STATUSES:
                    raise ValueError(f"status must be one of {STATUSES}")
                now = now_text()
                confirmed = (consent_at or now) if status == "active" else None
                yield (
                    email_key(email),
                    email,
                    name,
                    status,
                    json.dumps(fields, ensure_ascii=False, separators=(",", ":")),
                    consent_at or now,
                    source,
                    consent_text,
                    confirmed,
                    now,
                    now,
                )

        added, already = self.ledger._insert_new(
            "INSERT OR IGNORE INTO subscribers (email_key, email, name, status, fields, "
            "consent_at, consent_source, consent_text, confirmed_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values(),
        )
        with self._tx():
            self.db.execute(
                "UPDATE subscribers SET status = (SELECT s.reason FROM suppressions s "
                "WHERE s.email_key = subscribers.email_key AND s.reason IN "
                "('unsubscribed', 'bounced', 'complained') ORDER BY CASE s.reason "
                "WHEN 'unsubscribed' THEN 1 WHEN 'complained' THEN 2 ELSE 3 END LIMIT 1) "
                "WHERE status = 'active' AND email_key IN (SELECT email_key FROM suppressions "
                "WHERE reason IN ('unsubscribed', 'bounced', 'complained'))"
            )
        return added, already

    def sign_up(
        self,
        email: str,
        *,
        name: str,
        lang: str,
        source: str,
        consent_text: str,
        consent_ip: str | None,
        confirm_id: str,
    ) -> bool:
        """Record a sign-up from the form; True when a confirmation is worth sending.

        A new address becomes ``pending``; one that left (unsubscribed, bounced,
        complained) or never confirmed gets a fresh pending consent record, confirmed only
        by the link. An active reader's row is left alone (and no mail goes out).
        """
        key = email_key(email)
        now = now_text()
        with self._tx():
            row = self.db.execute(
                "SELECT status, confirm_id FROM subscribers WHERE email_key = ?", (key,)
            ).fetchone()
            if row is not None and row[0] == "active":
                return False
            if row is None:
                self.db.execute(
                    "INSERT INTO subscribers (email_key, email, name, status, lang, "
                    "consent_at, consent_source, consent_ip, consent_text, confirm_id, "
                    "created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        email,
                        name,
                        lang,
                        now,
                        source,
                        consent_ip,
                        consent_text,
                        confirm_id,
                        now,
                        now,
                    ),
                )
            else:
                # keep an earlier pending link working: one confirm id per pending record
                self.db.execute(
                    "UPDATE subscribers SET status = 'pending', name = ?, lang = ?, "
                    "consent_at = ?, consent_source = ?, consent_ip = ?, consent_text = ?, "
                    "confirmed_at = NULL, confirm_id = COALESCE(confirm_id, ?), updated_at = ? "
                    "WHERE email_key = ?",
                    (name, lang, now, source, consent_ip, consent_text, confirm_id, now, key),
                )
        return True

    def confirm_id_of(self, email: str) -> str | None:
        row = self.db.execute(
            "SELECT confirm_id FROM subscribers WHERE email_key = ? AND status = 'pending'",
            (email_key(email),),
        ).fetchone()
        return str(row[0]) if row and row[0] else None

    def pending_by_confirm_id(self, confirm_id: str) -> Subscriber | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE confirm_id = ? AND status = 'pending'",
            (confirm_id,),
        ).fetchone()
        return Subscriber.from_row(row) if row else None

    def confirm(
        self, confirm_id: str, hasher: Hasher | Sequence[Hasher] | None = None
    ) -> Subscriber | None:
        """Make the pending reader of ``confirm_id`` active; None if there is none.

        The confirmation proves the inbox and its owner's wish, so the suppressions a
        reader caused themselves (unsubscribe, bounce, complaint) and a forgotten
        address's hash are lifted; an editor's manual suppression stays.
        """
        now = now_text()
        with self._tx():
            row = self.db.execute(
                "SELECT email_key, email FROM subscribers WHERE confirm_id = ? "
                "AND status = 'pending'",
                (confirm_id,),
            ).fetchone()
            if row is None:
                return None
            key, email = row
            self.db.execute(
                "UPDATE subscribers SET status = 'active', confirmed_at = ?, confirm_id = NULL, "
                "updated_at = ? WHERE email_key = ?",
                (now, now, key),
            )
            self.db.execute(
                "DELETE FROM suppressions WHERE email_key = ? AND reason IN "
                "('unsubscribed', 'bounced', 'complained')",
                (key,),
            )
            hashers = [hasher] if isinstance(hasher, Hasher) else list(hasher or [])
            self.db.executemany(
                "DELETE FROM suppression_hashes WHERE hash = ?",
                [(h.address(email),) for h in hashers],
            )
        return self.get(email)

    def set_status(self, email: str, status: str) -> bool:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._tx():
            cur = self.db.execute(
                "UPDATE subscribers SET status = ?, updated_at = ? WHERE email_key = ?",
                (status, now_text(), email_key(email)),
            )
        return cur.rowcount > 0

    def purge_unconfirmed(self, older_than_days: float) -> int:
        """Delete pending sign-ups older than ``older_than_days`` (and their queued mails)."""
        cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(
            timespec="milliseconds"
        )
        with self._tx():
            self.db.execute(
                "DELETE FROM subscriber_mails WHERE email_key IN (SELECT email_key FROM "
                "subscribers WHERE status = 'pending' AND consent_at < ?)",
                (cutoff,),
            )
            cur = self.db.execute(
                "DELETE FROM subscribers WHERE status = 'pending' AND consent_at < ?", (cutoff,)
            )
        return cur.rowcount

    # -- growth ----------------------------------------------------------------------------

    def weekly(self, weeks: int | None = None) -> list[WeekRow]:
        """Growth per ISO week: confirmed joins, departures (by their last change), and
        the active count at the week's end (readers who left are counted until they left).
        """
        joined: dict[str, int] = {}
        left: dict[str, int] = {}
        for status, confirmed, updated in self.db.execute(
            "SELECT status, confirmed_at, updated_at FROM subscribers "
            "WHERE confirmed_at IS NOT NULL"
        ):
            joined[_week(confirmed)] = joined.get(_week(confirmed), 0) + 1
            if status in _GONE:
                left[_week(updated)] = left.get(_week(updated), 0) + 1
        if not joined:
            return []
        first = min(joined)
        last = max(_week(now_text()), *left, *joined)
        out: list[WeekRow] = []
        active = 0
        for week in _weeks(first, last):
            j, g = joined.get(week, 0), left.get(week, 0)
            active += j - g
            out.append(WeekRow(week, j, g, active))
        return out[-weeks:] if weeks else out


def _week(stamp: str) -> str:
    y, w, _ = datetime.fromisoformat(stamp).isocalendar()
    return f"{y}-W{w:02d}"


def _weeks(first: str, last: str) -> Iterator[str]:
    day = date.fromisocalendar(int(first[:4]), int(first[6:]), 1)
    end = date.fromisocalendar(int(last[:4]), int(last[6:]), 1)
    while day <= end:
        y, w, _ = day.isocalendar()
        yield f"{y}-W{w:02d}"
        day += timedelta(days=7)


def validated(address: str, *, check_dns: bool = False) -> str:
    """The normalised address, or ``ValueError``; DNS only when the editor asked for it."""
    if not check_dns:
        return normalise_address(address)
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(address.strip(), check_deliverability=True, allow_smtputf8=True)
    except EmailNotValidError as e:
        raise ValueError(str(e)) from None
    return str(result.normalized)


def has_subscriber_tables(db: sqlite3.Connection) -> bool:
    """False for a ledger file from before subscribers (opened read-only, not migrated)."""
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'subscribers'"
    ).fetchone()
    return row is not None
