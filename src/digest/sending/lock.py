"""One send job at a time per ledger: an ``fcntl`` lock on a file next to it.

The lock is held by the open file description, so the kernel drops it when the process
dies in any way (SIGKILL included): there is never a stale lock to clean up. A second job
does not wait: it raises :class:`~digest.errors.LockHeldError` (exit status 4) at once.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from ..config import Settings
from ..errors import ConfigError, LockHeldError

__all__ = ["JobLock", "lock_holder", "lock_path"]


def lock_path(settings: Settings) -> Path:
    """The ledger's path plus ``.lock``: one lock per ledger, so two configs sharing a ledger
    can never send its open batches at the same time."""
    ledger = settings.path(settings.sending.ledger)
    return ledger.with_name(ledger.name + ".lock")


class JobLock:
    """``with JobLock(path):`` — raises LockHeldError if another process holds it."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigError(
                f"{self.path}: cannot create the job's lock file: {e.strerror}. Its folder "
                f"{self.path.parent} must be a folder you can write to (it is the folder of "
                "[sending] ledger in digest.toml)."
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = f" (process {holder})" if holder else ""
            raise LockHeldError(
                f"Another digest send job{who} holds the lock {self.path}; this run did "
                "nothing. It will be picked up by the next run once that job ends."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> JobLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""


def lock_holder(path: Path | str) -> str | None:
    """Who holds the lock at ``path`` now: the holder's process id ("" if unknown), or None
    when no job does. Only looks: never creates the file, never keeps the lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
