"""The ledger's schema version and forward migrations, on real SQLite files."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from tests.paths import ROOT

from digest.errors import LedgerError
from digest.sending.ledger import MIGRATIONS, Ledger

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
