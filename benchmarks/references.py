"""The reference loops digest is compared with, each the least a client could do.

Each runs as its own process (``python -m benchmarks.references KIND ...``) so that its wall
time, CPU and peak memory are measured exactly as digest's are, start-up included:

* ``http``: post one pre-built request body (a file digest's own adapter built) ``calls``
  times over ``threads`` threads with one pooled ``httpx.Client``: the loopback ceiling;
* ``files``: write one pre-built message ``count`` times, each to its own file, atomically
  (temporary file, then rename), as the file backend must;
* ``smtp``: ``smtplib``, one connection, ``sendmail`` of one pre-built message ``count``
  times;
* ``csv``: read the recipients CSV with ``csv.reader`` and insert every row into SQLite:
  the floor under a dry run's list load.
"""

from __future__ import annotations

import argparse
import csv
import os
import smtplib
import sqlite3
import tempfile
import threading
from pathlib import Path


def post(body_file: Path, url: str, content_type: str, calls: int, threads: int) -> None:
    import httpx

    body = body_file.read_bytes()
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    left = iter(range(calls))
    lock = threading.Lock()
    with httpx.Client(limits=httpx.Limits(max_connections=threads), trust_env=False) as client:

        def worker() -> None:
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                response = client.post(url, content=body, headers=headers)
                response.raise_for_status()

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()


def files(message_file: Path, folder: Path, count: int) -> None:
    data = message_file.read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / f"reader{i}@example.org.eml")


def smtp(message_file: Path, port: int, count: int) -> None:
    data = message_file.read_bytes()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for i in range(count):
            conn.sendmail("news@example.org", [f"reader{i}@example.org"], data)


def load_csv(csv_file: Path, db_file: Path) -> None:
    db = sqlite3.connect(db_file)
    db.execute("CREATE TABLE r (email_key TEXT PRIMARY KEY, email TEXT, name TEXT, line INT)")
    with csv_file.open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh)
        next(rows)
        db.executemany(
            "INSERT OR IGNORE INTO r VALUES (?, ?, ?, ?)",
            ((r[0].lower(), r[0], r[1], n) for n, r in enumerate(rows, 2)),
        )
    db.commit()
    db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    p = sub.add_parser("http")
    p.add_argument("body", type=Path)
    p.add_argument("url")
    p.add_argument("content_type")
    p.add_argument("calls", type=int)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("files")
    p.add_argument("message", type=Path)
    p.add_argument("folder", type=Path)
    p.add_argument("count", type=int)
    p = sub.add_parser("smtp")
    p.add_argument("message", type=Path)
    p.add_argument("port", type=int)
    p.add_argument("count", type=int)
    p = sub.add_parser("csv")
    p.add_argument("csv", type=Path)
    p.add_argument("db", type=Path)
    a = ap.parse_args()
    if a.kind == "http":
        post(a.body, a.url, a.content_type, a.calls, a.threads)
    elif a.kind == "files":
        files(a.message, a.folder, a.count)
    elif a.kind == "smtp":
        smtp(a.message, a.port, a.count)
    else:
        load_csv(a.csv, a.db)


if __name__ == "__main__":
    main()
