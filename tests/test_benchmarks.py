"""The benchmark command runs end to end and prints its whole table (never judged on a number).

``python -m benchmarks --quick`` is what CI can afford; this runs it smaller still (one
round, 100 recipients) and checks that every measure has digest's figure, its reference
and their ratio. Timings themselves are for ``benchmarks/README.md``, not for pass/fail.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.paths import ROOT

MEASURES = [
    r"render, warm: ms vs .+ in-process",
    r"cold build: s vs ",
    r"personalisation: µs/recipient",
    r"postmark 100: msg/s vs pre-built Postmark ceiling",
    r"postmark 100: CPU s per 1k",
    r"postmark 100: peak RSS",
    r"postmark 100, no network \(upper bound\): msg/s vs ceiling",
    r"sendgrid 100: msg/s",
    r"sendgrid 100, no network \(upper bound\)",
    r"mailgun 100: msg/s",
    r"mailgun 100, no network \(upper bound\)",
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
