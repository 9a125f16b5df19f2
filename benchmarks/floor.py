"""``digest send`` with nothing personalised, built or sent: the part no worker can take.

Run as ``python -m benchmarks.floor send ISSUE --recipients ... --config ...`` (the same
arguments as ``digest send``). It runs digest's own CLI with three things cut out of each
batch: personalising its recipients, building its request, and the call (each batch is
answered at once, one accepted result a recipient with the ids the loopback sink would
give: Postmark one a message, SendGrid and Mailgun one a call). Any other HTTP call (the
check for a lost ledger) is answered in the process, as in :mod:`benchmarks.nowire`.

What is left is what one process has to do in order, whatever runs beside it: start-up
(imports, the one render, the pre-send check), reading the list into the ledger, and the
ledger's durable record of every batch (planned, its members read, marked sending and
checkpointed before the call, its results written after). The ledger is one SQLite file
with one writer, so this part cannot be spread over processes the way personalising,
building and the HTTP client could. A rate target against the loopback ceiling that this
run does not reach cannot be reached by any parallel design of the rest: only a cheaper
record of each recipient could. With ``DIGEST_BENCH_STARTUP`` set, it also records where
start-up ended (see :data:`STARTUP_FILE`), for the bound on any parallel design.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import nowire

_SERIAL = itertools.count(1)

STARTUP_FILE = "DIGEST_BENCH_STARTUP"
"""Environment variable: a file to write two numbers to when the run ends: the process's CPU
seconds when start-up ended (the list load began) and the wall seconds from then to the end."""
_MARK: dict[str, float] = {}


def install() -> None:
    """Answer each batch at once, without personalising or building anything."""
    from digest.delivery.base import Provider, RecipientResult
    from digest.sending import job

    def batch_for(self: job._Run, row: Any, members: Any) -> Any:
        return members

    def deliver(self: Provider, members: Any) -> list[RecipientResult]:
        serial = next(_SERIAL)
        if self.name == "postmark":
            return [
                RecipientResult(m.email, True, f"0d7c7f00-{serial:06d}-{i:04d}-0000-000000000000")
                for i, m in enumerate(members)
            ]
        one = f"<{serial:06d}@{self.name}.example.org>"
        return [RecipientResult(m.email, True, one) for m in members]

    # replacing a method that is no longer there would measure the whole send unnoticed
    assert callable(job._Run.batch_for) and callable(Provider.deliver)
    job._Run.batch_for = batch_for  # type: ignore[method-assign]
    Provider.deliver = deliver  # type: ignore[assignment,method-assign]

    load = job.load_audience  # type: ignore[attr-defined]

    def marked_load(*args: Any, **kwargs: Any) -> Any:
        _MARK.setdefault("cpu", time.process_time())
        _MARK.setdefault("at", time.perf_counter())
        return load(*args, **kwargs)

    job.load_audience = marked_load  # type: ignore[attr-defined]
    if out := os.environ.get(STARTUP_FILE):
        atexit.register(_write_startup, Path(out))


def _write_startup(out: Path) -> None:
    if _MARK:
        out.write_text(f"{_MARK['cpu']} {time.perf_counter() - _MARK['at']}", encoding="utf-8")


def main() -> None:
    nowire.install()
    install()
    from digest.cli import main as digest_main

    sys.argv = ["digest", *sys.argv[1:]]
    digest_main()


if __name__ == "__main__":
    main()
