"""One-click unsubscribes per second and their latency against the real `digest serve`.

Run: .venv/bin/python benchmarks/bench_unsubscribe.py [--requests N] [--workers W]
Starts `digest serve` on 127.0.0.1 with a fresh ledger, then for 50 and 200 concurrent
clients POSTs RFC 8058 one-click bodies with distinct valid tokens (each a new suppression,
written to SQLite before the answer) and prints requests per second, p50 and p99 latency,
and how many answers were not 200. Each client keeps its connection open, like a mail
provider's worker; `--fresh` opens a new connection per request instead. The client runs on
the same machine and takes CPU from the server: read the numbers as a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serve_process import LIST_ID, SECRET, TOML, serve_process  # noqa: E402

from digest.sending.tokens import Signer  # noqa: E402

BODY = b"List-Unsubscribe=One-Click"


async def run(
    port: int, paths: list[str], clients: int, fresh: bool
) -> tuple[float, list[float], int]:
    """(wall seconds, per-request latencies, answers other than 200).

    A bare HTTP/1.1 client on asyncio streams: httpx costs more CPU per request than the
    server does, and would measure itself.
    """
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in paths:
        queue.put_nowait(p)
    latencies: list[float] = []
    bad = 0

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", port)

    async def client() -> None:
        nonlocal bad
        reader, writer = await connect()
        while not queue.empty():
            path = queue.get_nowait()
            request = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(BODY)}\r\n\r\n"
            ).encode() + BODY
            start = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                ok = head.startswith(b"HTTP/1.1 200 ")
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                ok = False
                writer.close()
                reader, writer = await connect()
            latencies.append(time.perf_counter() - start)
            bad += not ok
            if fresh:
                writer.close()
                reader, writer = await connect()
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - start, latencies, bad


def server_cpu(pid: int) -> float:
    """CPU seconds the server process has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="per concurrency level")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--fresh", action="store_true", help="a new connection per request")
    args = parser.parse_args()
    signer = Signer(SECRET, LIST_ID)
    with tempfile.TemporaryDirectory() as tmp:
        serve_args = ("--workers", str(args.workers))
        with serve_process(Path(tmp), TOML, args=serve_args) as server:
            print(f"digest serve --workers {args.workers}, {args.requests} one-click POSTs a level")
            for clients in (50, 200):
                paths = [
                    f"/unsubscribe/{signer.token(f'c{clients}-{i}@example.org')}"
                    for i in range(args.requests)
                ]
                cpu = server_cpu(server.proc.pid)
                wall, lat, bad = asyncio.run(run(server.port, paths, clients, args.fresh))
                cpu = server_cpu(server.proc.pid) - cpu
                lat.sort()
                p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
                print(
                    f"{clients:>4} clients: {len(lat) / wall:7.0f} unsubscribes/s, "
                    f"p50 {statistics.median(lat) * 1000:6.1f} ms, p99 {p99 * 1000:6.1f} ms, "
                    f"not 200: {bad}, server CPU {cpu / len(lat) * 1000:.2f} ms each"
                )
            print(f"server peak RSS: {server.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
