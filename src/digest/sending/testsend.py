"""``digest send ISSUE --to ADDRESS``: a test send to a few people.

The subject gets a ``[TEST] `` prefix; the send ledger and the suppression list are never
read or written, so a test send cannot mark anyone as sent or skip anyone later.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..message import Batch
from .job import Prepared
from .personalise import Personaliser
from .recipients import normalise_address

if TYPE_CHECKING:
    from ..config import Settings
    from ..delivery.base import Provider, RecipientResult

__all__ = ["TEST_PREFIX", "send_test"]

TEST_PREFIX = "[TEST] "


def send_test(
    settings: Settings,
    prepared: Prepared,
    addresses: Sequence[str],
    *,
    provider: Provider | None = None,
) -> list[RecipientResult]:
    """Send the issue once to each address (max one provider batch at a time)."""
    checked: list[str] = []
    for address in addresses:
        try:
            checked.append(normalise_address(address))
        except ValueError as e:
            reason = str(e).rstrip(".")
            raise ConfigError(f"--to {address!r} is not a valid address: {reason}.") from None
    if not checked:
        raise ConfigError("Give at least one --to address for a test send.")
    # Its own issue id too: the file backend files messages by issue, and a test copy must
    # not replace the message a real recipient was sent.
    content = replace(
        prepared.content,
        issue_id=f"{prepared.issue_id}-test",
        subject=TEST_PREFIX + prepared.content.subject,
    )
    personaliser = Personaliser(settings, prepared.issue_id, content.sender.email)
    own = provider is None
    if provider is None:
        from ..delivery.base import get_provider

        provider = get_provider(settings)
    try:
        size = max(1, provider.batch_size())
        results: list[RecipientResult] = []
        run = uuid.uuid4().hex[:12]
        for start in range(0, len(checked), size):
            # A fresh Message-ID: the list send's stable one must not be used up by a test
            # (clients drop a second message with a Message-ID they have seen).
            recipients = [
                replace(personaliser.recipient(a), message_id=None)
                for a in checked[start : start + size]
            ]
            key = f"digest-test-{run}-{start // size}"
            results.extend(provider.deliver(Batch(content, recipients, key)))
        return results
    finally:
        if own:
            provider.close()
