"""The benchmark command runs end to end and prints its whole table (never judged on a number).

``python -m benchmarks --quick`` is what CI can afford; this runs it smaller still (one
round, 100 recipients) and checks that every measure has digest's figure, its reference
and their ratio. Timings themselves are for ``benchmarks/README.md``, not for pass/fail.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from tests.paths import ROOT

MEASURES = [
    r"render, warm: ms vs .+ in-process",
    r"cold build: s vs ",
    r"personalisation: µs/recipient",
    r"postmark 100: msg/s vs pre-built Postmark ceiling",
    r"postmark 100: CPU s per 1k",
    r"postmark 100: peak RSS",
    r"postmark 100, no network \(upper bound\): msg/s vs ceiling",
    r"postmark 100, list and ledger only \(serial part\): msg/s vs ceiling",
    r"postmark 100, any parallel design of this work \(bound\): msg/s vs ceiling",
    r"sendgrid 100: msg/s",
    r"sendgrid 100, no network \(upper bound\)",
    r"sendgrid 100, list and ledger only \(serial part\)",
    r"sendgrid 100, any parallel design of this work \(bound\)",
    r"mailgun 100: msg/s",
    r"mailgun 100, no network \(upper bound\)",
    r"mailgun 100, list and ledger only \(serial part\)",
    r"mailgun 100, any parallel design of this work \(bound\)",
    r"dry-run 100: wall",
    r"file 100: msg/s vs atomic write loop",
    r"smtp 100: client CPU s per 1k vs smtplib loop",
]
NUMBER = r"[\d,.]+(?:e[+-]?\d+)? ?\S*"


def test_quick_benchmark_prints_every_measure_with_its_reference_and_ratio() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--rounds", "1", "--sizes", "100"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].split("|")[1].strip() == "measure"
    cells = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in rows[1:]}
    for pattern in MEASURES:
        found = [name for name in cells if re.match(pattern, name)]
        assert found, f"no row for {pattern!r} in:\n{out.stdout}"
        digest, reference, ratio, spread, _target, _met = cells[found[0]]
        assert re.fullmatch(NUMBER, digest), (found[0], digest)
        assert re.fullmatch(NUMBER, reference), (found[0], reference)
        assert re.fullmatch(r"\d+\.\d\d", ratio), (found[0], ratio)
        assert re.fullmatch(r"\d+\.\d\d/\d+\.\d\d/\d+\.\d\d", spread), (found[0], spread)
    assert out.stdout.startswith("machine: ")


def _run_cut_send(
    tmp_path: Path, runner: str, provider: str, **extra_env: str
) -> list[tuple[str, str]]:
    """``runner`` (a ``benchmarks`` module standing in for ``digest``) sending the sample
    issue to 30 rows through ``provider`` pointed at a closed port; each recipient's state
    and message id from the ledger."""
    from benchmarks.run import ENV, ISSUE, config_text, make_csv

    csv_path = make_csv(tmp_path / "list.csv", 30)
    config = tmp_path / "digest.toml"
    config.write_text(config_text(provider, 9), encoding="utf-8")
    env = {**os.environ, **ENV, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", **extra_env}
    out = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{runner}", "send", str(ISSUE), "--recipients",
         str(csv_path), "--config", str(config), "--skip-check"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    with closing(sqlite3.connect(tmp_path / "ledger.sqlite3")) as db:
        return db.execute("SELECT state, message_id FROM recipients ORDER BY id").fetchall()


def test_the_no_network_run_sends_everyone_with_answers_made_in_the_process(
    tmp_path: Path,
) -> None:
    rows = _run_cut_send(tmp_path, "nowire", "postmark")
    assert len(rows) == 30 - 30 // 50
    # the sink's own answer shape, one id a message: answered in the process (port 9 is shut)
    assert all(state == "sent" and re.fullmatch(r"0d7c7f00-\d{6}-\d{4}-0{4}-0{12}", mid)
               for state, mid in rows), rows


def test_the_serial_part_run_records_everyone_without_building_or_calling(
    tmp_path: Path,
) -> None:
    marks = tmp_path / "startup.txt"
    rows = _run_cut_send(tmp_path, "floor", "sendgrid", DIGEST_BENCH_STARTUP=str(marks))
    assert len(rows) == 30 - 30 // 50
    # the floor's own ids (one a call), which no adapter ever produces: nothing was built
    assert {state for state, _ in rows} == {"sent"}
    assert {mid for _, mid in rows} == {"<000001@sendgrid.example.org>"}
    # where start-up ended: the process's CPU then (imports and a render cost something),
    # and the wall time from then to the end
    startup_cpu, after = map(float, marks.read_text(encoding="utf-8").split())
    assert startup_cpu > 0.05 and after > 0
