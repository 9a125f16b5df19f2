"""Files that hold readers' personal data are created owner-only.

The ledger and its backups, the file backend's outbox messages and a subscriber export
name readers; the usual umask (022) would make a new file readable by every user of the
machine.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

__all__ = ["OWNER_ONLY", "create_owner_only"]

OWNER_ONLY = 0o600
"""The mode of a new file holding personal data."""


def create_owner_only(path: Path | str) -> None:
    """Create ``path`` empty and owner-only unless it exists (an existing file keeps the
    mode its owner gave it), for the caller to open and fill.

    Any failure is left for the caller's own open to report in its own words.
    """
    with suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY))
