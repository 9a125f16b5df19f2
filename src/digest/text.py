"""Small helpers for the words digest prints: counts with the right plural, and user text
shown safely in a terminal."""

from __future__ import annotations

import re

__all__ = ["plural", "shown"]

_IRREGULAR = {"batch": "batches", "address": "addresses", "is": "are", "was": "were"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, pluralised when ``n`` is not 1: ``1 batch``, ``2 batches``."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {many or _IRREGULAR.get(word) or word + 's'}"


_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
"""Control characters, line and paragraph separators, bidi controls and lone surrogates:
what could break a terminal line, colour it, or reorder it (a right-to-left override turns
the rest of the line around)."""


def shown(text: str) -> str:
    """``text`` for a message in the terminal: as written (accents, emoji, right-to-left
    scripts), but each character of :data:`_UNSAFE` spelled ``<U+202E>``, so a subject or
    headline cannot reorder, hide or colour the rest of the line."""
    return _UNSAFE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)
