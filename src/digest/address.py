"""Mail addresses: the one validator of every address digest takes in (lists, sign-ups,
``--to``, ``[newsletter] from``), apart from the send machinery so reading the config does
not load it.

Addresses are checked for syntax only (no DNS) with ``email-validator``, internationalised
addresses included. The validator lower-cases the domain and keeps the local part's case;
:func:`email_key` (the lower-cased address) is what makes ``Ann@x.org`` and ``ann@X.org``
one recipient.
"""

from __future__ import annotations

import functools
import re

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

__all__ = ["email_key", "normalise_address"]


def email_key(address: str) -> str:
    """The deduplication key: the normalised address, lower-cased."""
    return address.lower()


_PLAIN_ADDRESS = re.compile(
    r"([A-Za-z0-9_!#$%&'*+\-/=?^`{|}~]+(?:\.[A-Za-z0-9_!#$%&'*+\-/=?^`{|}~]+)*)"
    r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)",
    re.ASCII,
)
"""A plain ASCII address: a dot-atom local part (RFC 5322) at a dotted host name."""
_MAX_ADDRESS = 254
_CASE_INSENSITIVE = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


@functools.lru_cache(maxsize=4096)
def _plain_domain(domain: str) -> str | None:
    """email-validator's normalised form of an ASCII ``domain``, or None if it refuses it
    or would turn it into Unicode (IDNA): asked once per distinct domain of a list."""
    try:
        found = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    normal = str(found.domain)
    return normal if normal == found.ascii_domain and normal.isascii() else None


def _fast_normalise(text: str) -> str | None:
    """The normalised address when ``text`` is plain ASCII (most lists), without a full
    email-validator call per row; None when only email-validator can say.

    Exactly what email-validator gives for such an address: the local part kept as it is
    (RFC 5321 leaves its case to the receiving host), the domain as email-validator
    normalises it (asked once per domain), the whole within 254 characters. Role names it
    lower-cases (``Postmaster``) and everything else go the slow way. A property test holds
    this equal to email-validator.
    """
    m = _PLAIN_ADDRESS.fullmatch(text)
    if m is None:
        return None
    local, domain = m.groups()
    if local.lower() in _CASE_INSENSITIVE or len(text) > _MAX_ADDRESS:
        return None
    normal = _plain_domain(domain)
    if normal is None or len(local) + 1 + len(normal) > _MAX_ADDRESS:
        return None
    return f"{local}@{normal}"


def normalise_address(address: str) -> str:
    """The validated, normalised form of ``address``; raises ``ValueError`` with the reason."""
    text = address.strip()
    if not text:
        raise ValueError("the email is empty")
    if "\r" in text or "\n" in text:
        raise ValueError("the email contains a line break")
    fast = _fast_normalise(text)
    if fast is not None:
        return fast
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as e:
        raise ValueError(str(e)) from None
    return str(result.normalized)
