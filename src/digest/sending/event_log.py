"""Provider events into the ledger: match each to a send, store it once, suppress when due.

Matching, in order: the provider's message id (filtered by address when one id covers a
whole batch); then digest's own per-recipient id echoed in the provider's metadata, checked
against each issue the address was sent; then, only for an event that names no message at
all, the address's latest send. An event that matches nothing changes nothing.

What each kind does:

* hard bounce, complaint, and a rejection because of an earlier bounce, complaint or
  invalid address: the send is marked ``bounced`` / ``complained`` and the address
  suppressed (source ``provider:<name>``);
* unsubscribe (the provider's own link or list management): suppressed as
  ``unsubscribed``;
* soft bounce: stored; after :attr:`~digest.config.EventSettings.soft_bounce_limit`
  issues in a row that soft-bounced (no delivery, open or click in between), suppressed as
  ``bounced``;
* delivered, open, click and the rest: stored per recipient and issue, nothing suppressed.

Every event is stored once (its provider id, or its content and time, as a fingerprint), so
a repeated request changes nothing; one-time request ids (``svix-id``, Mailgun's token,
SNS's ``MessageId``) are kept for :data:`NONCE_WINDOW`, longer than any provider's signed
time window, so a replay within that window is refused even after a restart. Events older
than :attr:`~digest.config.EventSettings.retention_days` are purged as new ones arrive.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..events.model import ENGAGEMENT, EventKind, TrackingEvent
from .ledger import Ledger
from .personalise import digest_id_for
from .recipients import email_key

__all__ = ["NONCE_WINDOW", "Recorded", "event_counts", "event_reach", "record_request"]

NONCE_WINDOW = 3 * 86400
"""Seconds a request's one-time id is remembered: Svix retries for about a day and a half."""

_ENGAGED = tuple(str(k) for k in ENGAGEMENT)
_STATE_OF = {"bounced": "bounced", "complained": "complained"}


@dataclass(frozen=True)
class Recorded:
    """What one request did to the ledger."""

    events: int
    matched: int = 0
    recorded: int = 0
    """Events stored (matched and not seen before)."""
    suppressed: int = 0
    """Suppression entries newly recorded: an address has one per reason, so an
    unsubscribe of an address that bounced before counts too."""
    replay: bool = False
    """The request's one-time id was seen before: nothing was done."""


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    issue_id: str
    email: str
    state: str


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")


def _rows(ledger: Ledger, sql: str, params: tuple[str, ...]) -> list[_Row]:
    return [_Row(*r) for r in ledger.db.execute(sql, params).fetchall()]


_SELECT = "SELECT id, issue_id, email, state FROM recipients "


class _ByMessageId:
    """Sends by provider message id, each id looked up once per request.

    One id may cover a whole batch (Mailgun, SendGrid: up to 1,000 recipients) and a
    request may carry an event for each of them.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.seen: dict[str, dict[str, list[_Row]]] = {}

    def __call__(self, message_id: str) -> dict[str, list[_Row]]:
        """The sends of ``message_id`` by address key (empty when the id is not ours)."""
        if message_id not in self.seen:
            by_key: dict[str, list[_Row]] = {}
            for row in _rows(self.ledger, _SELECT + "WHERE message_id = ?", (message_id,)):
                by_key.setdefault(email_key(row.email), []).append(row)
            self.seen[message_id] = by_key
        return self.seen[message_id]


def match(ledger: Ledger, event: TrackingEvent, by_id: _ByMessageId | None = None) -> list[_Row]:
    """The sends ``event`` is about (see the module's docstring); empty when none."""
    by_id = by_id or _ByMessageId(ledger)
    key = email_key(event.address) if event.address else None
    for mid in event.message_ids:
        sends = by_id(mid)
        if not sends:
            continue
        if key is not None and key in sends:
            return sends[key]
        if key is None and len(sends) == 1:
            return next(iter(sends.values()))
        break  # our id, but another recipient's (or a whole batch's, and no address)
    if key is None:
        return []
    if event.digest_id:
        rows = _rows(ledger, _SELECT + "WHERE email_key = ? AND sent_at IS NOT NULL", (key,))
        return [r for r in rows if digest_id_for(r.issue_id, r.email) == event.digest_id]
    if not event.message_ids:
        return _rows(
            ledger,
            _SELECT + "WHERE email_key = ? AND sent_at IS NOT NULL "
            "ORDER BY sent_at DESC, id DESC LIMIT 1",
            (key,),
        )
    return []


def _fingerprint(event: TrackingEvent, row: _Row) -> str:
    if event.event_id:
        parts = [event.provider, "id", event.event_id]
    else:
        when = event.timestamp.isoformat() if event.timestamp else ""
        parts = [event.provider, event.kind, event.raw_type, event.message_id or "", when]
    parts += [row.issue_id, email_key(row.email)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _soft_streak(ledger: Ledger, key: str, issue_id: str, limit: int) -> int:
    """Issues in a row, newest first up to ``issue_id``, that soft-bounced for ``key``."""
    marks = ",".join("?" * len(_ENGAGED))
    rows = ledger.db.execute(
        "SELECT EXISTS(SELECT 1 FROM events e WHERE e.email_key = r.email_key "
        "AND e.issue_id = r.issue_id AND e.kind = 'soft_bounce'), "
        "EXISTS(SELECT 1 FROM events e WHERE e.email_key = r.email_key "
        f"AND e.issue_id = r.issue_id AND e.kind IN ({marks})) "
        "FROM recipients r WHERE r.email_key = ? AND r.sent_at IS NOT NULL "
        "AND (r.sent_at, r.id) <= "
        "(SELECT sent_at, id FROM recipients WHERE email_key = ? AND issue_id = ?) "
        "ORDER BY r.sent_at DESC, r.id DESC LIMIT ?",
        (*_ENGAGED, key, key, issue_id, limit),
    ).fetchall()
    streak = 0
    for soft, engaged in rows:
        if not soft or engaged:
            break
        streak += 1
    return streak


def _suppress(ledger: Ledger, email: str, reason: str, provider: str, now: str) -> int:
    cur = ledger.db.execute(
        "INSERT OR IGNORE INTO suppressions (email_key, email, reason, source, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (email_key(email), email, reason, f"provider:{provider}", now),
    )
    return cur.rowcount


def _apply(
    ledger: Ledger, event: TrackingEvent, row: _Row, soft_bounce_limit: int, now: str
) -> int:
    """The event's effect on one matched send; returns suppression entries newly made."""
    reason = event.suppression
    if event.kind is EventKind.SOFT_BOUNCE:
        key = email_key(row.email)
        if _soft_streak(ledger, key, row.issue_id, soft_bounce_limit) >= soft_bounce_limit:
            reason = "bounced"
    if reason is None:
        return 0
    if reason in _STATE_OF:
        ledger.db.execute(
            "UPDATE recipients SET state = ?, updated_at = ? "
            "WHERE id = ? AND state IN ('sent', 'failed')",
            (_STATE_OF[reason], now, row.id),
        )
    return _suppress(ledger, row.email, reason, event.provider, now)


def record_request(
    ledger: Ledger,
    provider: str,
    events: Sequence[TrackingEvent],
    *,
    nonce: str | None = None,
    soft_bounce_limit: int = 3,
    retention_days: float = 180.0,
    now: float | None = None,
) -> Recorded:
    """Record one webhook request's events, in one transaction (see the module docstring)."""
    when = time.time() if now is None else now
    stamp = _iso(when)
    matched = recorded = suppressed = 0
    with ledger._tx():
        ledger.db.execute(
            "DELETE FROM webhook_nonces WHERE seen_at < ?", (_iso(when - NONCE_WINDOW),)
        )
        ledger.db.execute(
            "DELETE FROM events WHERE received_at < ?", (_iso(when - retention_days * 86400),)
        )
        if nonce is not None:
            cur = ledger.db.execute(
                "INSERT OR IGNORE INTO webhook_nonces (provider, nonce, seen_at) VALUES (?, ?, ?)",
                (provider, nonce, stamp),
            )
            if cur.rowcount == 0:
                return Recorded(len(events), replay=True)
        by_id = _ByMessageId(ledger)
        for event in events:
            for row in match(ledger, event, by_id):
                matched += 1
                cur = ledger.db.execute(
                    "INSERT OR IGNORE INTO events (fingerprint, provider, kind, raw_type, "
                    "issue_id, email_key, email, message_id, event_id, reason, occurred_at, "
                    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        _fingerprint(event, row),
                        event.provider,
                        str(event.kind),
                        event.raw_type[:200],
                        row.issue_id,
                        email_key(row.email),
                        row.email,
                        event.message_id,
                        event.event_id,
                        event.reason[:2000],
                        event.timestamp.isoformat() if event.timestamp else None,
                        stamp,
                    ),
                )
                if cur.rowcount == 0:
                    continue  # the same event again: already acted on
                recorded += 1
                suppressed += _apply(ledger, event, row, soft_bounce_limit, stamp)
    return Recorded(len(events), matched, recorded, suppressed)


def event_counts(ledger: Ledger, issue_id: str) -> dict[str, int]:
    """Recorded events of one issue by kind (every kind present, zero where none)."""
    reach = event_reach(ledger, issue_id)
    return {str(k): 0 for k in EventKind} | {k: n for k, (_, n) in reach.items()}


def event_reach(ledger: Ledger, issue_id: str) -> dict[str, tuple[int, int]]:
    """Per kind recorded for one issue: (recipients it happened to, events). Only kinds
    present; empty for a ledger older than provider events."""
    known = ledger.db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
    ).fetchone()
    if known is None:
        return {}
    return {
        kind: (people, n)
        for kind, people, n in ledger.db.execute(
            "SELECT kind, COUNT(DISTINCT email_key), COUNT(*) FROM events WHERE issue_id = ? "
            "GROUP BY kind",
            (issue_id,),
        )
    }
