"""What the ledger's safety costs: the integrity check on open, and a checkpoint per batch.

Builds a ledger of N recipients (one issue, batches of 500, everyone sent) in a temporary
folder, then measures:

* ``open``: ``Ledger(path)`` as every command opens it (``PRAGMA quick_check`` included),
  against a bare ``sqlite3.connect`` + ``PRAGMA quick_check`` and the connect alone;
* ``checkpoint``: ``Ledger.checkpoint()`` (``wal_checkpoint(FULL)``) after writing one
  batch's results, as the send job does twice per batch (before the call, after it).

Usage::

    python benchmarks/bench_ledger.py                 # 10,000 and 100,000 recipients
    python benchmarks/bench_ledger.py --sizes 200000

Plain numbers, no pass/fail: record them in the notes.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digest.sending.ledger import Ledger, Outcome  # noqa: E402


def build(path: Path, n: int) -> None:
    with Ledger(path) as ledger:
        ledger.start_issue("issue-1", "hash", "Subject")
        ledger.add_recipients(
            "issue-1", ((f"reader{i}@example.org", f"Reader {i}", {}, i) for i in range(n))
        )
        while (row := ledger.plan_batch("issue-1", "hash", 500)) is not None:
            members = ledger.members(row)
            ledger.begin_attempt(row, "bench")
            ledger.record_results(
                row, [Outcome(m.id, True, f"id-{m.id}", None, False) for m in members]
            )


def timed(fn: object, repeat: int = 7) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(n: int, tmp: Path) -> str:
    path = tmp / "ledger.sqlite3"
    build(path, n)
    size = path.stat().st_size

    def ledger_open() -> None:
        Ledger(path).close()

    def bare_check() -> None:
        db = sqlite3.connect(path)
        db.execute("PRAGMA quick_check").fetchall()
        db.close()

    def bare_connect() -> None:
        db = sqlite3.connect(path)
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        db.close()

    with Ledger(path) as ledger:
        ledger.add_recipients(
            "issue-1", ((f"late{i}@example.org", "", {}, None) for i in range(500))
        )
        row = ledger.plan_batch("issue-1", "hash", 500)
        assert row is not None
        pairs = [("x", m.id) for m in ledger.members(row)]

        def write_only() -> None:
            ledger.db.execute("BEGIN IMMEDIATE")
            ledger.db.executemany("UPDATE recipients SET message_id = ? WHERE id = ?", pairs)
            ledger.db.execute("COMMIT")

        def write_and_checkpoint() -> None:
            write_only()
            ledger.checkpoint()

        batch_write = timed(write_only)
        batch_checkpointed = timed(write_and_checkpoint)
    return (
        f"{n:>8,} recipients, {size / 1e6:6.1f} MB: open {timed(ledger_open) * 1e3:7.1f} ms "
        f"(quick_check alone {timed(bare_check) * 1e3:7.1f} ms, bare connect "
        f"{timed(bare_connect) * 1e3:5.2f} ms); a 500-row batch write "
        f"{batch_write * 1e3:5.1f} ms, with checkpoint {batch_checkpointed * 1e3:5.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="digest-bench-ledger-") as tmp:
            print(measure(n, Path(tmp)))


if __name__ == "__main__":
    main()
