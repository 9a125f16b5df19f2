"""The web side's way into the send ledger: one writer thread, group commits, 503 on failure.

Every ledger call of a server process runs on one dedicated thread holding one SQLite
connection, so requests never fight each other for SQLite's write lock (its busy handler
sleeps, and a burst of one-click POSTs would queue behind those sleeps). Unsubscribes that
arrive while a write is in progress are gathered and committed together in the next
transaction; each request is answered only after the commit that holds its address, so
every 2xx is on disk. Other processes (the send job, more server workers) share the file
through WAL and SQLite's busy timeout.

A ledger that cannot be opened or written (read-only file, full disk, folder gone) raises
:class:`LedgerUnavailable`, which routes answer with 503, and marks the server unhealthy
until a call succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..errors import ConfigError, LedgerError
from ..sending.ledger import Ledger

__all__ = ["LedgerGate", "LedgerUnavailable"]

log = logging.getLogger("digest.web")

T = TypeVar("T")
_FAILURES = (ConfigError, LedgerError, sqlite3.Error, OSError)


class LedgerUnavailable(Exception):
    """The ledger cannot be used right now; the message is for the log (no address)."""


class LedgerGate:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None
        """Why the last call failed, or None while the ledger works."""
        self._thread: ThreadPoolExecutor | None = None
        self._ledger: Ledger | None = None
        """Opened, used and closed only on the writer thread."""
        self._identity: tuple[int, int] | None = None
        """The open file's device and inode: a ledger replaced on disk is opened anew."""
        self._pending: list[tuple[str, str, asyncio.Future[None]]] = []
        self._flushing = False

    @property
    def healthy(self) -> bool:
        return self.problem is None

    def check_path(self) -> None:
        """At start, before serving: a path that can never be a ledger is a config error.

        A ledger that exists but cannot be written only makes the server unhealthy
        (``/healthz`` and changes answer 503), so a proxy or monitor sees it.
        """
        try:
            Ledger(self.path).close()
        except (ConfigError, LedgerError) as e:
            if not self.path.is_file():
                raise
            self._fail(e)

    async def start(self) -> None:
        """Open the ledger on the writer thread and check it (the app's startup)."""
        await self.probe()

    async def stop(self) -> None:
        if self._thread is None:
            return
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)
        self._thread = None

    async def probe(self) -> bool:
        """True when the ledger can be written right now."""
        try:
            await self.run(lambda ledger: ledger.check_writable())
        except LedgerUnavailable:
            return False
        return True

    async def run(self, work: Callable[[Ledger], T]) -> T:
        """``work(ledger)`` on the writer thread; raises :class:`LedgerUnavailable`."""
        if self._thread is None:  # started here, so a server without lifespan events works
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-ledger")
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._call, work)

    async def suppress(self, email: str, source: str) -> None:
        """Add ``email`` as ``unsubscribed``; returns once it is committed (group commit)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((email, source, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self.run(functools.partial(_suppress_all, batch))
                except LedgerUnavailable as e:
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(LedgerUnavailable(str(e)))
                else:
                    for *_, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._flushing = False

    def _call(self, work: Callable[[Ledger], T]) -> T:
        try:
            if self._ledger is not None and self._identity != _identity(self.path):
                self._close()  # moved, restored or deleted: never write to the old inode
            if self._ledger is None:
                self._ledger = Ledger(self.path)
                self._identity = _identity(self.path)
            result = work(self._ledger)
        except _FAILURES as e:
            self._close()
            self._fail(e)
            raise LedgerUnavailable(self.problem) from None
        if self.problem is not None:
            log.warning("the send ledger works again")
            self.problem = None
        return result

    def _close(self) -> None:
        if self._ledger is not None:
            with contextlib.suppress(sqlite3.Error):
                self._ledger.close()
            self._ledger = None
            self._identity = None

    def _fail(self, error: Exception) -> None:
        first = self.problem is None
        self.problem = str(error) or type(error).__name__
        if first:
            log.error("the send ledger is unavailable: %s", self.problem)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _suppress_all(batch: list[tuple[str, str, asyncio.Future[None]]], ledger: Ledger) -> None:
    """One transaction per source (one-click, web page) for everything gathered."""
    by_source: dict[str, list[tuple[str, str]]] = {}
    for email, source, _ in batch:
        by_source.setdefault(source, []).append((email, "unsubscribed"))
    for source, pairs in by_source.items():
        ledger.suppress(pairs, source=source)
