"""Small helpers for the words digest prints: counts with the right plural."""

from __future__ import annotations

__all__ = ["plural"]

_IRREGULAR = {"batch": "batches", "address": "addresses", "is": "are", "was": "were"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, pluralised when ``n`` is not 1: ``1 batch``, ``2 batches``."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {many or _IRREGULAR.get(word) or word + 's'}"
