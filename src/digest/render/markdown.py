"""Light Markdown for intros and summaries: HTML for the email, plain text for the text part.

Raw HTML is off, so markup an editor types is shown rather than obeyed, and links are
limited to http, https and mailto.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ..model import ALLOWED_SCHEMES

__all__ = ["md_html", "md_inline_html", "md_plain", "md_text", "wrap"]


def _validate_link(url: str) -> bool:
    scheme, sep, _ = url.partition(":")
    return bool(sep) and scheme.lower() in ALLOWED_SCHEMES


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "typographer": False})
    md.disable(["image", "html_inline", "html_block", "heading", "lheading", "code", "fence"])
    md.validateLink = _validate_link  # type: ignore[method-assign]
    return md


def md_html(text: str) -> str:
    """Block Markdown (paragraphs, lists, emphasis, links) as HTML."""
    return str(_md().render(text))


def md_inline_html(text: str) -> str:
    """One paragraph's worth of Markdown, without the surrounding ``<p>``."""
    return str(_md().renderInline(text))


def _inline_text(
    tokens: list[Token], ref: Callable[[str], int] | None, *, marks: bool = True
) -> str:
    """Inline tokens as text: emphasis as ``_``/``*`` when ``marks``, links as ``[n]``."""
    out: list[str] = []
    href: str | None = None
    for t in tokens:
        if t.type in ("text", "code_inline"):
            out.append(t.content)
        elif t.type in ("softbreak", "hardbreak"):
            out.append(" " if t.type == "softbreak" else "\n")
        elif t.type == "link_open":
            href = str(t.attrs.get("href", ""))
        elif t.type == "link_close" and href:
            if ref is not None:
                out.append(f" [{ref(href)}]")
            href = None
        elif marks and t.type in ("em_open", "em_close"):
            out.append("_")
        elif marks and t.type in ("strong_open", "strong_close"):
            out.append("*")
    return "".join(out)


def md_plain(text: str) -> str:
    """Markdown as one line of words: no emphasis marks, no link numbers (the preheader)."""
    parts = [
        _inline_text(t.children or [], None, marks=False)
        for t in _md().parse(text)
        if t.type == "inline"
    ]
    return " ".join(" ".join(parts).split())


def md_text(text: str, ref: Callable[[str], int], width: int = 78) -> str:
    """Markdown as wrapped plain text; links become ``[n]`` references via ``ref``.

    Paragraphs are separated by a blank line; the items of a list sit on consecutive
    lines (``- `` for bullets, ``1. `` for numbered items), the list set off by blank lines.
    """
    out: list[str] = []
    lists: list[list[int]] = []  # per open list: [is_ordered, items so far]
    starts_item = prev_item = False
    for t in _md().parse(text):
        if t.type in ("bullet_list_open", "ordered_list_open"):
            ordered = t.type == "ordered_list_open"
            start = int(str(t.attrs.get("start") or 1)) - 1 if ordered else 0
            lists.append([int(ordered), start])
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            prev_item = False
        elif t.type == "list_item_open":
            lists[-1][1] += 1
            starts_item = True
        elif t.type == "inline":
            body = _inline_text(t.children or [], ref)
            indent = "   " * max(len(lists) - 1, 0)
            if starts_item:
                marker = f"{lists[-1][1]}. " if lists[-1][0] else "- "
                block = wrap(body, width, indent + marker, indent + " " * len(marker))
            else:
                pad = indent + ("  " if lists else "")
                block = wrap(body, width, pad, pad)
            if out:
                out.append("\n" if starts_item and prev_item else "\n\n")
            out.append(block)
            prev_item, starts_item = bool(lists), False
    return "".join(out)


def wrap(text: str, width: int = 78, initial: str = "", subsequent: str = "") -> str:
    """Wrap at ``width`` without breaking words or URLs (a long URL gets its own line)."""
    lines: list[str] = []
    for para in text.split("\n"):
        lines.extend(
            textwrap.wrap(
                para,
                width=width,
                initial_indent=initial,
                subsequent_indent=subsequent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            or [""]
        )
    return "\n".join(lines)
