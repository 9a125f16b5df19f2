"""Plain listings: headline, blank line, summary; a short line right above a headline is its kicker.

This is what a CMS export or a copy from a web page usually looks like. A line that is
just an http(s) address, right after the headline or as the last line of the summary, is
the article's link. The importer keeps the text exactly (accents, curly quotes, dashes) and
writes an issue file for the editor to finish: sections, intro, lead. It never invents a
link: an article listed without one stays a draft without a url, which `digest check`
names and a real send refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path

import yaml

from ..errors import ListingError
from ..model import FORBIDDEN_CHARACTERS, describe_forbidden

__all__ = ["ListedArticle", "issue_yaml", "listing_to_yaml", "parse_listing", "read_listing"]

KICKER_MAX = 40
_URL_LINE = re.compile(r"https?://\S+")


@dataclass(frozen=True, slots=True)
class ListedArticle:
    headline: str
    summary: str
    kicker: str | None = None
    line: int = 0
    url: str | None = None


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Paragraphs: runs of non-blank lines, each with its first line number.

    Lines end at CR, LF or CRLF only, as an editor counts them (``str.splitlines`` would also
    break at form feeds, U+2028 and the like, and the line numbers would drift).
    """
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for n, raw in enumerate(_LINE_BREAK.split(text), start=1):
        line = raw.strip()
        if line:
            if not current:
                start = n
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def parse_listing(text: str, source: str = "<listing>") -> list[ListedArticle]:
    """Read articles from a listing; blocks alternate headline block, summary block."""
    text = text.lstrip("\ufeff")
    blocks = _blocks(text)
    if not blocks:
        raise ListingError(f"{source}: no articles found (expected headline, blank line, summary)")
    if len(blocks) % 2:
        start, lines = blocks[-1]
        raise ListingError(
            f"{source}:{start}: the headline {lines[-1]!r} has no summary after it "
            "(expected headline, blank line, summary)"
        )
    _refuse_forbidden(blocks, source)
    articles = []
    for (hline, head), (_, body) in zip(blocks[::2], blocks[1::2], strict=True):
        url: str | None = None
        if len(head) > 1 and _URL_LINE.fullmatch(head[-1]):
            url, head = head[-1], head[:-1]
        if len(body) > 1 and _URL_LINE.fullmatch(body[-1]):
            if url is not None:
                raise ListingError(f"{source}:{hline}: two links for {head[-1]!r}; keep one")
            url, body = body[-1], body[:-1]
        kicker: str | None = None
        if len(head) == 2 and len(head[0]) <= KICKER_MAX:
            kicker, headline = head
        elif len(head) == 1:
            headline = head[0]
        else:
            raise ListingError(
                f"{source}:{hline}: expected a headline (with at most one short kicker line "
                f"above it), found {len(head)} lines: {head[0]!r} …"
            )
        articles.append(
            ListedArticle(
                headline=headline, summary=" ".join(body), kicker=kicker, line=hline, url=url
            )
        )
    return articles


def _refuse_forbidden(blocks: list[tuple[int, list[str]]], source: str) -> None:
    """Refuse control characters once, here, naming line, column and field of each."""
    problems: list[str] = []
    for i, (start, lines) in enumerate(blocks):
        number = i // 2 + 1
        for offset, line in enumerate(lines):
            m = FORBIDDEN_CHARACTERS.search(line)
            if m is None:
                continue
            if i % 2:
                field = "summary"
            elif offset == len(lines) - 1:
                field = "headline"
            else:
                field = "kicker"
            where = f"at character {m.start() + 1}"
            problems.append(
                f"{source}:{start + offset}: article {number} → {field}: "
                + describe_forbidden(m.group(), where)
            )
    if problems:
        raise ListingError("\n".join(problems))


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def listing_to_yaml(
    articles: list[ListedArticle],
    *,
    number: int = 1,
    date: Date | None = None,
) -> str:
    """An issue file for the editor to finish; articles listed without a link have none."""
    items = []
    for a in articles:
        item: dict[str, object] = {}
        if a.kicker:
            item["kicker"] = a.kicker
        item["headline"] = a.headline
        item["summary"] = a.summary
        if a.url:
            item["url"] = a.url
        items.append(item)
    doc = {"number": number, "date": date or Date.today(), "articles": items}
    header = (
        "# Made by `digest import-text`. Add the missing links (`digest check` lists them),\n"
        "# sections, an intro and `lead: true` on the lead story. Schema: `digest schema`.\n"
    )
    return issue_yaml(doc, header)


def issue_yaml(doc: dict[str, object], header: str = "") -> str:
    """An issue file's text: ``header`` (comment lines) then ``doc`` as readable YAML.

    Keys keep their order, text is written as is (no \\u escapes), and multi-line text
    becomes a literal block; every importer writes its issue files through here.
    """
    body = yaml.dump(
        doc,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=1000,
        default_flow_style=False,
    )
    return header + body


def read_listing(path: Path | str) -> list[ListedArticle]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ListingError(f"{p}: cannot read it: {e}") from None
    return parse_listing(text, str(p))
