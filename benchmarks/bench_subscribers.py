"""What subscribers cost: importing a list, loading it as a send's audience, forgetting one.

Builds a ledger of N subscribers (``subscribers import`` path) plus one finished send to
all of them (N recipient rows), then times:

* ``import``: :func:`import_subscribers` of an N-row CSV;
* ``audience``: :func:`load_audience` with ``[audience] source = "subscribers"`` into a
  fresh issue (what every send does first);
* ``audience (CSV)``: the same from the N-row CSV, for comparison;
* ``audience+hashes``: the CSV again with 1,000 forgotten hashes to check (one HMAC a row);
* ``forget``: :func:`forget` of one address (delete everywhere, ``VACUUM``, WAL truncate):
  its cost grows with the ledger file, not with the person.

Usage::

    python benchmarks/bench_subscribers.py                 # 10,000 and 100,000
    python benchmarks/bench_subscribers.py --sizes 10000

Plain numbers, no pass/fail.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from digest.config import load_settings
from digest.sending import Ledger, Reporter, import_subscribers
from digest.sending.audience import AudienceCounts, load_audience
from digest.sending.privacy import forget
from digest.sending.subscribers import Hasher

SECRET = "bench-secret-0123456789abcdef"


def _settings(folder: Path, source: str, recipients: Path | None = None) -> object:
    lines = ["[audience]", f'source = "{source}"']
    if recipients is not None:
        lines.append(f'recipients = "{recipients}"')
    (folder / "digest.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(folder / "digest.toml", environ={"DIGEST_SECRET": SECRET})


def run(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "list.csv"
        csv_path.write_text(
            "email,name\n" + "".join(f"reader{i}@example.org,Reader {i}\n" for i in range(n)),
            encoding="utf-8",
        )
        settings = _settings(folder, "subscribers")
        with Ledger(folder / "digest-ledger.sqlite3") as ledger:
            t = time.perf_counter()
            import_subscribers(ledger, csv_path, consent_text="bench")
            print(f"{n:>8} import            {time.perf_counter() - t:8.3f} s")
            t = time.perf_counter()
            load_audience(settings, ledger, "issue-1", None, Reporter(), AudienceCounts())  # type: ignore[arg-type]
            print(f"{n:>8} audience          {time.perf_counter() - t:8.3f} s")
            csv_settings = _settings(folder, "csv", csv_path)
            t = time.perf_counter()
            load_audience(csv_settings, ledger, "issue-2", csv_path, Reporter(), AudienceCounts())  # type: ignore[arg-type]
            print(f"{n:>8} audience (CSV)    {time.perf_counter() - t:8.3f} s")
            ledger.db.executemany(
                "INSERT OR IGNORE INTO suppression_hashes VALUES (?, ?, 'forgotten', '')",
                [(f"{i:064x}", Hasher(SECRET).key_id) for i in range(1000)],
            )
            t = time.perf_counter()
            load_audience(csv_settings, ledger, "issue-3", csv_path, Reporter(), AudienceCounts())  # type: ignore[arg-type]
            print(
                f"{n:>8} audience+hashes   {time.perf_counter() - t:8.3f} s  (CSV, 1,000 forgotten)"
            )
            size = (folder / "digest-ledger.sqlite3").stat().st_size
            t = time.perf_counter()
            forget(settings, ledger, f"reader{n // 2}@example.org")  # type: ignore[arg-type]
            print(
                f"{n:>8} forget one        {time.perf_counter() - t:8.3f} s  "
                f"(ledger {size / 1e6:.1f} MB)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    for n in parser.parse_args().sizes:
        run(n)


if __name__ == "__main__":
    main()
