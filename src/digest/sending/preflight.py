"""Everything a send needs, checked before the ledger or the lock is touched.

A send that stops on its configuration (no ``DIGEST_SECRET``, a provider key missing, an
unreadable list, a message that breaks bulk-sender rules) must leave no trace: no ledger
file, no issue marked started. The issue itself was rendered before (``prepare_issue``),
so a template error has stopped it already.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .compliance import Finding, require_compliance
from .personalise import Personaliser
from .recipients import check_recipients

if TYPE_CHECKING:
    from ..config import Settings
    from .job import Prepared

__all__ = ["preflight"]


def preflight(
    settings: Settings, prepared: Prepared, provider: str, recipients: Path | None
) -> list[Finding]:
    """Raise the first error a send would meet; return the warnings it should show.

    Checks, in order: the unsubscribe secret (ConfigError, exit 3), bulk-sender compliance
    (CheckFailedError, exit 6), and that ``recipients`` opens as a CSV with an ``email`` column
    (RecipientsError; a pipe only has to exist). The provider's own credentials are
    checked by constructing it.
    """
    Personaliser(settings, prepared.issue_id, prepared.content.sender.email)
    found = require_compliance(settings, provider)
    if recipients is not None:
        check_recipients(recipients)
    return found
