"""Peak memory of a send as the list grows: does it stay flat?

Generates a recipients CSV of N addresses (with some case-duplicates) in a temporary
folder, then runs the real CLI in a fresh process for each measurement and reads that
process's peak RSS from the kernel (``os.wait4``):

* ``dry-run``: ``digest send ISSUE --dry-run`` (stream, validate, dedupe in SQLite, plan);
* ``send``: ``digest send ISSUE`` with the ``file`` backend (ledger, batches, personalised
  .eml files written to disk).

Usage::

    python benchmarks/bench_memory.py                  # 10,000 and 200,000, both modes
    python benchmarks/bench_memory.py --sizes 10000 --modes dry-run

For a send, ``msg/s`` is the messages written (``.eml`` files counted in the outbox) over
the whole run, start-up and list load included: the end-to-end rate with the file backend.

Plain numbers, no pass/fail: record them in the notes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ISSUE = """number: 1
date: 2026-11-20
articles:
- headline: A story
  summary: Something happened, @@digest.name|reader@@ should know.
  url: https://example.org/a
"""

CONFIG = """[newsletter]
from = "Bench <news@example.org>"
postal_address = "1 Example Street"
[links]
unsubscribe_url = "https://example.org/u/{token}"
[delivery]
provider = "file"
[providers.file]
dir = "outbox"
[sending]
ledger = "ledger.sqlite3"
"""


def make_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("email,name,city\n")
        for i in range(n):
            # every 50th row repeats an earlier address in upper case: a duplicate to merge
            address = f"READER{i - 1}@EXAMPLE.ORG" if i % 50 == 49 else f"reader{i}@example.org"
            f.write(f"{address},Reader {i},City {i % 97}\n")


def measure(folder: Path, mode: str) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit status) of one CLI run."""
    args = [sys.executable, "-m", "digest", "send", "issue.yaml", "--recipients", "subs.csv"]
    args += ["--dry-run"] if mode == "dry-run" else ["--log-format", "text"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), DIGEST_SECRET="bench-secret-0123456789")
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument(
        "--modes", nargs="+", default=["dry-run", "send"], choices=["dry-run", "send"]
    )
    opts = parser.parse_args()
    head = ("recipients", "mode", "peak RSS MiB", "seconds", "msg/s")
    print("{:>10}  {:<8}  {:>12}  {:>8}  {:>7}  exit".format(*head))
    for n in opts.sizes:
        for mode in opts.modes:
            with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
                folder = Path(tmp)
                (folder / "issue.yaml").write_text(ISSUE, encoding="utf-8")
                (folder / "digest.toml").write_text(CONFIG, encoding="utf-8")
                make_csv(folder / "subs.csv", n)
                rss, seconds, code = measure(folder, mode)
                sent = sum(1 for _ in (folder / "outbox").rglob("*.eml"))
            rate = f"{sent / seconds:>7.0f}" if mode == "send" else f"{'-':>7}"
            print(f"{n:>10}  {mode:<8}  {rss:>12.1f}  {seconds:>8.1f}  {rate}  {code}", flush=True)


if __name__ == "__main__":
    main()
