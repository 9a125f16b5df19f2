"""Backends that need no account: ``file`` writes .eml files, ``console`` prints a summary.

``file`` is the default provider, so a fresh checkout can run a whole send and show the
result as files any mail client opens. Each recipient's message goes to
``<dir>/<issue>/<address>.eml``; a repeat of the same issue and recipient overwrites that file
(written to a temporary name, then renamed), so the provider is idempotent.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TextIO

from pydantic import Field

from ..errors import DigestError, PermanentDeliveryError
from ..message import Batch, Content
from ..text import shown
from ._mime import render_message
from .base import Options, Provider, RecipientResult

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["ConsoleProvider", "FileProvider", "safe_file_name"]

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,99}")
_UNSAFE_CHARS = re.compile(r"[^a-z0-9._@+-]+")
_WINDOWS_RESERVED = re.compile(r"(con|prn|aux|nul|com\d|lpt\d)(\..*)?")
# Worth another try later: the disk may have room or answer again then.
_TRANSIENT_ERRNOS = {
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EIO", "EAGAIN") if hasattr(errno, name)
}


def _ascii(value: str) -> str:
    """Non-ASCII parts of an address spelled as IDNA/Punycode (``xn--…``), so a name like
    ``محمد@example.org`` keeps a readable, recognisable file name instead of losing its
    local part."""
    if value.isascii():
        return value
    local, at, domain = value.rpartition("@")
    if not at:
        local, domain = value, ""
    if not local.isascii():
        local = "xn--" + local.encode("punycode").decode("ascii")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            domain = "xn--" + domain.encode("punycode").decode("ascii")
    return f"{local}@{domain}" if at else local


def safe_file_name(value: str) -> str:
    """A file name for ``value`` that is the same every time and never clashes with another.

    A lower-case name of safe characters is kept as it is; anything else (upper case, which
    clashes on case-insensitive disks, slashes, spaces, non-ASCII) becomes a cleaned name plus
    a short hash of the exact value.
    """
    if _SAFE.fullmatch(value) and not _WINDOWS_RESERVED.fullmatch(value) and ".." not in value:
        return value
    cleaned = _UNSAFE_CHARS.sub("_", _ascii(value).lower()).strip("._")[:80] or "_"
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{cleaned}-{digest}"


class FileOptions(Options):
    dir: Path = Field(
        Path("outbox"), description="folder for the .eml files, relative to the config file"
    )


class FileProvider(Provider):
    """Write each recipient's message as an .eml file (the default; needs no account)."""

    name = "file"
    description = "Write each recipient's message as an .eml file into a folder."
    options_model: ClassVar[type[Options]] = FileOptions
    max_batch = 1000
    keeps_message_id = True
    idempotent = True

    @property
    def root(self) -> Path:
        opts = self.options
        assert isinstance(opts, FileOptions)
        return self.settings.path(opts.dir)

    def path_for(self, issue_id: str, email: str) -> Path:
        """Where the message for this issue and recipient goes."""
        return self.root / safe_file_name(issue_id) / f"{safe_file_name(email)}.eml"

    def issue_messages(self, content: Content) -> int | None:
        """The .eml files of this issue already in the outbox."""
        folder = self.root / safe_file_name(content.issue_id)
        return sum(1 for p in folder.glob("*.eml") if p.is_file()) if folder.is_dir() else 0

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        folder = self.root / safe_file_name(batch.content.issue_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PermanentDeliveryError(
                f"cannot create the outbox folder {folder}: {e.strerror or e}; "
                "set [providers.file] dir to a folder you can write",
                provider=self.name,
            ) from None
        results: list[RecipientResult] = []
        for recipient in batch.recipients:
            try:
                message = render_message(batch.content, recipient)
            except DigestError as e:
                results.append(RecipientResult(recipient.email, False, error=str(e)))
                continue
            path = folder / f"{safe_file_name(recipient.email)}.eml"
            try:
                _write_atomic(path, message.data)
            except OSError as e:
                results.append(
                    RecipientResult(
                        recipient.email,
                        False,
                        error=f"cannot write {path}: {e.strerror or e}",
                        retryable=e.errno in _TRANSIENT_ERRNOS,
                    )
                )
                continue
            log.debug("file: wrote %s (%d bytes)", path, len(message.data))
            results.append(RecipientResult(recipient.email, True, message_id=message.message_id))
        return results


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader never sees half a file, then replace the old.

    ``mkstemp`` creates the file owner-only (:data:`~digest.files.OWNER_ONLY`) and the
    rename keeps that: a message names its reader.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ConsoleOptions(Options):
    full: bool = Field(False, description="print each whole message, not just a summary")


class ConsoleProvider(Provider):
    """Print each message to standard output: a one-line summary, or the whole message."""

    name = "console"
    description = "Print each message to standard output (a summary line, or in full)."
    options_model: ClassVar[type[Options]] = ConsoleOptions
    max_batch = 1000
    keeps_message_id = True

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(settings, sleep=sleep)
        self._stream = stream

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        opts = self.options
        assert isinstance(opts, ConsoleOptions)
        out = self._stream or sys.stdout
        results: list[RecipientResult] = []
        for recipient in batch.recipients:
            try:
                message = render_message(batch.content, recipient)
            except DigestError as e:
                results.append(RecipientResult(recipient.email, False, error=str(e)))
                continue
            if opts.full:
                out.write(message.data.decode("ascii", "replace").replace("\r\n", "\n"))
                out.write("\n")
            else:
                out.write(
                    f"To: {shown(message.to)}  Subject: {shown(message.subject)}  "
                    f"({len(message.data):,} bytes)\n"
                )
            results.append(RecipientResult(recipient.email, True, message_id=message.message_id))
        out.flush()
        return results
