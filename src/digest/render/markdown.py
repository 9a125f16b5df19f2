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

__all__ = ["md_html", "md_inline_html", "md_text", "wrap"]


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


def _inline_text(tokens: list[Token], ref: Callable[[str], int]) -> str:
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
            out.append(f" [{ref(href)}]")
            href = None
        elif t.type in ("em_open", "em_close"):
            out.append("_")
        elif t.type in ("strong_open", "strong_close"):
            out.append("*")
    return "".join(out)


def md_text(text: str, ref: Callable[[str], int], width: int = 78) -> str:
    """Markdown as wrapped plain text; links become ``[n]`` references via ``ref``."""
    blocks: list[str] = []
    prefix = ""
    for t in _md().parse(text):
        if t.type == "bullet_list_open":
            prefix = "- "
        elif t.type == "ordered_list_open":
            prefix = "* "
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            prefix = ""
        elif t.type == "inline":
            body = _inline_text(t.children or [], ref)
            blocks.append(wrap(body, width, prefix, " " * len(prefix)))
    joiner = "\n" if prefix else "\n\n"
    return joiner.join(blocks)


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
