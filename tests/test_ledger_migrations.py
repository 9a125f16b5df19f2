"""The ledger's schema version and forward migrations, on real SQLite files."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from tests.paths import ROOT

from digest.errors import LedgerError
from digest.sending import Subscribers
from digest.sending.ledger import MIGRATIONS, Ledger
from digest.sending.subscriber_io import add_subscribers

FIXTURE = ROOT / "tests" / "fixtures" / "ledgers" / "v0.1.0.sqlite3"


def test_a_new_ledger_has_every_migration_and_the_matching_version(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        assert ledger.schema_version == len(MIGRATIONS)
        names = [
            r[0] for r in ledger.db.execute("SELECT name FROM schema_migrations ORDER BY rowid")
        ]
    assert names == [name for name, _ in MIGRATIONS]


def test_a_ledger_written_by_release_0_1_0_opens_migrated_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    shutil.copyfile(FIXTURE, path)
    with Ledger(path) as ledger:
        assert ledger.schema_version == len(MIGRATIONS)
        counts = ledger.counts("issue-12")
        assert (counts["sent"], counts["failed"], counts["suppressed"]) == (2, 1, 1)
        assert ledger.is_suppressed("dee@example.org") == "unsubscribed"
        assert ledger.knows_message("pm-2")


def test_opening_twice_applies_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    Ledger(path).close()
    with Ledger(path) as ledger:
        n = ledger.db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
    assert n == len(MIGRATIONS)


def test_a_ledger_from_a_newer_release_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_migrations VALUES ('9999-from-the-future', 'now')")
    db.commit()
    db.close()
    with pytest.raises(LedgerError, match="newer digest"):
        Ledger(path)


def test_0002_once_outcomes_turns_an_attempted_open_batch_into_one_to_reconcile(
    tmp_path: Path,
) -> None:
    """A 0.1.0 ledger left by a crash (an open batch with attempts) migrates to a `sending`
    batch, whose members then become unknown instead of being sent again blindly."""
    path = tmp_path / "old.sqlite3"
    shutil.copyfile(FIXTURE, path)
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO batches (issue_id, number, key, state, size, attempts, created_at, "
        "updated_at) VALUES ('issue-12', 2, 'k', 'open', 1, 1, '2026-11-20T08:01:00.000+00:00', "
        "'2026-11-20T08:01:00.000+00:00')"
    )
    db.execute(
        "INSERT INTO recipients (issue_id, email_key, email, state, batch, created_at, "
        "updated_at) VALUES ('issue-12', 'eve@example.org', 'eve@example.org', 'pending', 2, "
        "'2026-11-20T08:00:00.000+00:00', '2026-11-20T08:00:00.000+00:00')"
    )
    db.commit()
    db.close()
    with Ledger(path) as ledger:
        names = {r[0] for r in ledger.db.execute("SELECT name FROM schema_migrations")}
        assert names == {name for name, _ in MIGRATIONS} and "0002-once-outcomes" in names
        states = dict(ledger.db.execute("SELECT number, state FROM batches"))
        assert states == {1: "done", 2: "sending"}
        assert ledger.counts("issue-12")["exposure"] == 1
        assert ledger.settle_in_flight("issue-12", idempotent=False) == 1
        counts = ledger.counts("issue-12")
        assert (counts["unknown"], counts["sent"], counts["found"]) == (1, 2, 0)
        [lost] = ledger.unknown_batches("issue-12")
        assert lost.number == 2 and [m.email for m in lost.members] == ["eve@example.org"]


def test_a_read_only_open_of_an_unmigrated_ledger_still_counts(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    shutil.copyfile(FIXTURE, path)
    with Ledger(path, readonly=True) as ledger:
        counts = ledger.counts("issue-12")
    assert (counts["sent"], counts["unknown"], counts["found"]) == (2, 0, 0)


def test_keyed_batches_of_the_short_lived_design_become_unknown(tmp_path: Path) -> None:
    """A ledger written between 0006 and 0007 may hold 'keyed' batches (answers lost, members
    failed retryably): 0008 makes them unknown, so no run requeues them under new keys."""
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as ledger:
        ledger.start_issue("issue-1", "hash", "Subject")
        ledger.add_recipients("issue-1", [(f"r{i}@example.org", "", {}, i) for i in range(2)])
        batch = ledger.plan_batch("issue-1", "hash", 10)
        assert batch is not None
        ledger.begin_attempt(batch, "resend")
        ledger.db.execute("UPDATE batches SET state = 'done', outcome = 'keyed'")
        ledger.db.execute("UPDATE recipients SET state = 'failed', retryable = 1")
        ledger.db.execute("DELETE FROM schema_migrations WHERE name = '0008-keyed-to-unknown'")
        ledger.db.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    with Ledger(path) as ledger:
        assert [r[0] for r in ledger.db.execute("SELECT state FROM recipients")] == ["unknown"] * 2
        assert ledger.db.execute("SELECT outcome FROM batches").fetchone()[0] == "ambiguous"
        assert ledger.reopen_lost("issue-1", "hash", "resend", 3600) == 2


def test_0009_keeps_each_suppression_and_lets_an_unsubscribe_join_a_bounce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger of the release before 0009 (one reason per address) keeps its entries and
    subscriber statuses; after it, an unsubscribe of a bounced reader is recorded and
    outlives the bounce, and the triggers still follow the list."""
    path = tmp_path / "l.sqlite3"
    before_0009 = [n for n, _ in MIGRATIONS].index("0009-suppressions-per-reason")
    monkeypatch.setattr("digest.sending.ledger.MIGRATIONS", MIGRATIONS[:before_0009])
    with Ledger(path) as ledger:
        add_subscribers(ledger, ["hans@example.de", "ann@example.org"], consent_text="ok")
        ledger.suppress([("hans@example.de", "bounced")], source="provider:postmark")
        ledger.suppress([("ann@example.org", "unsubscribed")], source="one-click")
        before = ledger.db.execute("SELECT * FROM suppressions ORDER BY email_key").fetchall()
    monkeypatch.undo()
    with Ledger(path) as ledger:
        assert ledger.schema_version == len(MIGRATIONS)
        assert ledger.db.execute("SELECT * FROM suppressions ORDER BY email_key").fetchall() == (
            before
        )
        store = Subscribers(ledger)
        assert store.counts()["bounced"] == store.counts()["unsubscribed"] == 1
        assert ledger.suppress([("hans@example.de", "unsubscribed")], source="one-click") == (1, 0)
        assert store.get("hans@example.de").status == "unsubscribed"  # type: ignore[union-attr]
        assert ledger.remove_suppression("hans@example.de") == ("bounced",)
        assert ledger.is_suppressed("hans@example.de") == "unsubscribed"
        assert ledger.remove_suppression("ann@example.org", reason="unsubscribed")
        assert store.get("ann@example.org").status == "active"  # type: ignore[union-attr]
