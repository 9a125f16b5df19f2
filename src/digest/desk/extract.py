"""What a web page says about itself: headline, summary, image, author, site name.

Read from the page's Open Graph and Twitter card tags, its schema.org JSON-LD (Article,
NewsArticle, BlogPosting and kin, ``@graph`` included) and standard meta tags, falling
back to ``<title>`` and the first substantial paragraph. The HTML is parsed by Lexbor
(selectolax), a real HTML5 parser, so broken markup parses as a browser would read it.

A page is anyone's text: its words are cleaned as a feed's are (one line, no control
characters), and metadata that cannot be read (JSON-LD nested past any real use, a URL
``urllib`` cannot split) is ignored as if the page had not given it, never an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..model import forbidden_character
from ..sources.feed import clean_text

__all__ = ["PageMeta", "extract_meta"]

MIN_PARAGRAPH = 80
MAX_LD_DEPTH = 16
"""How deep into JSON-LD lists and objects to look: real pages need three or four levels."""
_URL_DROPPED = re.compile("[\t\n\r]")
_ARTICLE_TYPES = ("Article", "BlogPosting", "Report", "ScholarlyArticle", "LiveBlogPosting")
_SKIP_PARENTS = frozenset({"nav", "header", "footer", "aside", "form", "figcaption"})


@dataclass(frozen=True)
class PageMeta:
    headline: str | None = None
    summary: str | None = None
    image: str | None = None
    image_alt: str | None = None
    author: str | None = None
    site_name: str | None = None
    canonical: str | None = None


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return clean_text(value) or None


def _scheme(url: str) -> str | None:
    """The URL's scheme, lower-cased; None when ``urllib`` cannot read it (an unclosed
    ``[`` in its host, a port that is not a number)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    return parts.scheme.lower()


def _metas(tree: LexborHTMLParser) -> dict[str, str]:
    """First value of each meta property/name, keys lower-cased."""
    found: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
        value = _clean(attrs.get("content"))
        if key and value:
            found.setdefault(key.strip().lower(), value)
    return found


def _types(obj: dict[str, Any]) -> list[str]:
    kind = obj.get("@type")
    if isinstance(kind, str):
        return [kind]
    return [k for k in kind if isinstance(k, str)] if isinstance(kind, list) else []


def _objects(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > MAX_LD_DEPTH:
        return
    if isinstance(data, list):
        for item in data:
            yield from _objects(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        yield from _objects(data.get("@graph"), depth + 1)


def _json_ld(tree: LexborHTMLParser) -> dict[str, Any]:
    """The page's Article-like JSON-LD object (else a WebPage), or {}."""
    candidates: list[dict[str, Any]] = []
    for node in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(node.text(deep=True) or "null", strict=False)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's stack
            continue
        candidates += list(_objects(data))
    for obj in candidates:
        if any(t.endswith(_ARTICLE_TYPES) for t in _types(obj)):
            return obj
    for obj in candidates:
        if "WebPage" in _types(obj):
            return obj
    return {}


def _name(value: Any, depth: int = 0) -> str | None:
    """A schema.org Person/Organization (or a list, or text) as one display name."""
    if isinstance(value, list):
        if depth > MAX_LD_DEPTH:
            return None
        names = [n for n in (_name(v, depth + 1) for v in value) if n]
        return ", ".join(dict.fromkeys(names)) or None
    if isinstance(value, dict):
        return _clean(value.get("name"))
    return _clean(value)


def _ld_image(value: Any, depth: int = 0) -> tuple[str | None, str | None]:
    if isinstance(value, list):
        if not value or depth > MAX_LD_DEPTH:
            return None, None
        return _ld_image(value[0], depth + 1)
    if isinstance(value, dict):
        return _clean(value.get("url") or value.get("contentUrl")), _clean(value.get("caption"))
    return _clean(value), None


def _first_paragraph(tree: LexborHTMLParser) -> str | None:
    """The first ``<p>`` of the article (else ``<main>``, else the body) long enough to be
    a summary, outside navigation, headers, footers, asides, forms and captions.

    One walk down the tree, carrying whether a skipped element is above: looking up from
    every paragraph instead costs paragraphs × depth, minutes for a page of nested ``<div>``s.
    """
    body = tree.body
    if body is None:
        return None
    scope: LexborNode = tree.css_first("article") or tree.css_first("main") or body
    above = scope.parent
    skipped = False
    while above is not None and not skipped:
        skipped = above.tag in _SKIP_PARENTS
        above = above.parent
    stack: list[tuple[LexborNode, bool]] = [(scope, skipped)]
    while stack:
        node, skipped = stack.pop()
        skipped = skipped or node.tag in _SKIP_PARENTS
        if node.tag == "p" and not skipped:
            text = _clean(node.text(deep=True, separator=" "))
            if text and len(text) >= MIN_PARAGRAPH:
                return text
        stack.extend((child, skipped) for child in reversed(list(node.iter())))
    return None


def _strip_site(title: str, site: str | None) -> str:
    """``"Headline | Site"`` → ``"Headline"`` when the site name is known."""
    if site:
        for sep in (" | ", " - ", " – ", " — ", " · "):
            if title.endswith(sep + site):
                return title[: -len(sep + site)].strip()
    return title


def _absolute(url: str | None, base: str) -> str | None:
    """``url`` made absolute against ``base`` as a browser would (tabs and line breaks
    dropped, spaces encoded); None unless it is a usable http(s) address."""
    if not url:
        return None
    try:
        full = urljoin(base, _URL_DROPPED.sub("", url).strip()).replace(" ", "%20")
    except ValueError:
        return None
    if forbidden_character(full) or _scheme(full) not in ("http", "https"):
        return None
    return full


def _author(meta: dict[str, str], ld: dict[str, Any]) -> str | None:
    author = _name(ld.get("author")) or meta.get("author") or meta.get("article:author")
    if author and _scheme(author) in ("http", "https"):
        return None  # Facebook's article:author is often a profile URL, not a name
    return author


def extract_meta(html: str, base_url: str) -> PageMeta:
    """Everything the page says about itself, with relative URLs made absolute."""
    tree = LexborHTMLParser(html)
    meta = _metas(tree)
    ld = _json_ld(tree)
    base_node = tree.css_first("base[href]")
    given_base = base_node.attributes.get("href") if base_node else None
    base = _absolute(given_base, base_url) or base_url
    publisher = ld.get("publisher")
    site = meta.get("og:site_name") or _name(publisher) or meta.get("application-name")
    title_node = tree.css_first("title")
    title = _clean(title_node.text(deep=True)) if title_node else None
    h1 = tree.css_first("h1")
    headline = (
        meta.get("og:title")
        or meta.get("twitter:title")
        or _clean(ld.get("headline"))
        or _clean(ld.get("name"))
        or (_strip_site(title, site) if title else None)
        or (_clean(h1.text(deep=True, separator=" ")) if h1 else None)
    )
    summary = (
        meta.get("og:description")
        or meta.get("twitter:description")
        or _clean(ld.get("description"))
        or meta.get("description")
        or _first_paragraph(tree)
    )
    ld_src, ld_alt = _ld_image(ld.get("image"))
    image = (
        meta.get("og:image:secure_url")
        or meta.get("og:image")
        or meta.get("og:image:url")
        or meta.get("twitter:image")
        or meta.get("twitter:image:src")
        or ld_src
    )
    alt = meta.get("og:image:alt") or meta.get("twitter:image:alt") or ld_alt
    link = tree.css_first('link[rel="canonical"][href]')
    canonical = (link.attributes.get("href") if link else None) or meta.get("og:url")
    return PageMeta(
        headline=headline,
        summary=summary,
        image=_absolute(image, base),
        image_alt=alt,
        author=_author(meta, ld),
        site_name=site,
        canonical=_absolute(canonical, base),
    )
