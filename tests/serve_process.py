"""`digest serve` as a real process on 127.0.0.1, the way an operator runs it.

:func:`serve_process` starts ``python -m digest serve --port 0`` in a folder with its own
digest.toml and ledger, waits for it to listen, drains its log (so a chatty server never
blocks on a full pipe) and stops it at the end. Shared by the server tests and the
benchmark.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789abcdef"
LIST_ID = "test-weekly.example.org"
TOML = """
[newsletter]
name = "Test Weekly"
from = "Test Weekly <weekly@example.org>"
[links]
unsubscribe_url = "https://example.org/unsubscribe/{token}"
[sending]
ledger = "ledger.sqlite3"
"""


@dataclass
class ServeProcess:
    url: str
    proc: subprocess.Popen[str]
    folder: Path
    log: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def ledger_path(self) -> Path:
        return self.folder / "ledger.sqlite3"

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory so far (VmHWM), in MB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text(encoding="ascii")
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        assert match, status
        return int(match.group(1)) / 1024

    def log_text(self) -> str:
        return "".join(self.log)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@contextmanager
def serve_process(
    folder: Path,
    toml: str | None = TOML,
    *,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    prefix: tuple[str, ...] = (),
) -> Iterator[ServeProcess]:
    """Run ``digest serve`` in ``folder`` until the block ends.

    Its digest.toml is ``toml`` (None: already there).

    ``prefix`` goes before the command (e.g. ``setpriv`` to drop a capability).
    """
    if toml is not None:
        (folder / "digest.toml").write_text(toml, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    environ.update(DIGEST_SECRET=SECRET, PYTHONPATH=str(ROOT / "src"), **(env or {}))
    command = [sys.executable, "-m", "digest", "serve", "--port", "0", "--config", "digest.toml"]
    proc = subprocess.Popen(
        [*prefix, *command, *args],
        cwd=folder,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    log: list[str] = []
    url = None
    for line in proc.stderr:
        log.append(line)
        if m := re.search(r"Serving on (http://127\.0\.0\.1:\d+)", line):
            url = m.group(1)
            break
    if url is None:
        proc.wait(timeout=10)
        raise AssertionError("digest serve did not start:\n" + "".join(log))

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    server = ServeProcess(url, proc, folder, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, server.log_text()
                time.sleep(0.05)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        drainer.join(timeout=5)
