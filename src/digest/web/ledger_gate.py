"""The web side's way into the send ledger: off the event loop, and a 503 when it fails.

Every ledger call runs in a worker thread on its own connection (SQLite's WAL lets the
send job and several server workers write side by side). A ledger that cannot be opened or
written (read-only file, full disk, folder gone) raises :class:`LedgerUnavailable`, which
routes answer with 503, and marks the server unhealthy until a call succeeds again.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from ..errors import ConfigError, LedgerError
from ..sending.ledger import Ledger

__all__ = ["LedgerGate", "LedgerUnavailable"]

log = logging.getLogger("digest.web")

T = TypeVar("T")


class LedgerUnavailable(Exception):
    """The ledger cannot be used right now; the message is for the log (no address)."""


class LedgerGate:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None
        """Why the last call failed, or None while the ledger works."""
        self._keeper: Ledger | None = None

    @property
    def healthy(self) -> bool:
        return self.problem is None

    def open(self) -> None:
        """Check the ledger at start; keep one connection open for the server's life.

        While one connection stays open SQLite does not checkpoint and delete the WAL file
        each time a request's own connection closes. A ledger that exists but cannot be
        written leaves the server running and unhealthy (``/healthz`` 503, routes 503), so a
        proxy or monitor sees it; a path that can never be a ledger is a config error.
        """
        try:
            self._keeper = Ledger(self.path)
        except ConfigError as e:
            if not self.path.is_file():
                raise
            self._fail(e)
            return
        self.check()

    def close(self) -> None:
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    def check(self) -> bool:
        """Probe that the ledger can be written; True when it can."""
        try:
            self._call(lambda ledger: ledger.check_writable())
        except LedgerUnavailable:
            return False
        return True

    async def run(self, work: Callable[[Ledger], T]) -> T:
        """``work(ledger)`` in a worker thread; raises :class:`LedgerUnavailable`."""
        return await anyio.to_thread.run_sync(self._call, work)

    async def probe(self) -> bool:
        return await anyio.to_thread.run_sync(self.check)

    def _call(self, work: Callable[[Ledger], T]) -> T:
        try:
            with Ledger(self.path) as ledger:
                result = work(ledger)
        except (ConfigError, LedgerError, sqlite3.Error, OSError) as e:
            self._fail(e)
            raise LedgerUnavailable(self.problem) from None
        if self.problem is not None:
            log.warning("the send ledger works again")
            self.problem = None
        return result

    def _fail(self, error: Exception) -> None:
        first = self.problem is None
        self.problem = str(error) or type(error).__name__
        if first:
            log.error("the send ledger is unavailable: %s", self.problem)
