"""What a web page says about itself: headline, summary, image, author, site name.

Read from the page's Open Graph and Twitter card tags, its schema.org JSON-LD (Article,
NewsArticle, BlogPosting and kin, ``@graph`` included) and standard meta tags, falling
back to ``<title>`` and the first substantial paragraph. The HTML is parsed by Lexbor
(selectolax), a real HTML5 parser, so broken markup parses as a browser would read it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = ["PageMeta", "extract_meta"]

MIN_PARAGRAPH = 80
_SPACES = re.compile(r"\s+")
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
    text = _SPACES.sub(" ", value).strip()
    return text or None


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
    kind = obj.get("@type", [])
    return [kind] if isinstance(kind, str) else [k for k in kind if isinstance(k, str)]


def _objects(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _objects(item)
    elif isinstance(data, dict):
        yield data
        yield from _objects(data.get("@graph"))


def _json_ld(tree: LexborHTMLParser) -> dict[str, Any]:
    """The page's Article-like JSON-LD object (else a WebPage), or {}."""
    candidates: list[dict[str, Any]] = []
    for node in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(node.text(deep=True) or "null", strict=False)
        except ValueError:
            continue
        candidates += list(_objects(data))
    for obj in candidates:
        if any(t.endswith(_ARTICLE_TYPES) for t in _types(obj)):
            return obj
    for obj in candidates:
        if "WebPage" in _types(obj):
            return obj
    return {}


def _name(value: Any) -> str | None:
    """A schema.org Person/Organization (or a list, or text) as one display name."""
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value) if n]
        return ", ".join(dict.fromkeys(names)) or None
    if isinstance(value, dict):
        return _clean(value.get("name"))
    return _clean(value)


def _ld_image(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, list):
        return _ld_image(value[0]) if value else (None, None)
    if isinstance(value, dict):
        return _clean(value.get("url") or value.get("contentUrl")), _clean(value.get("caption"))
    return _clean(value), None


def _first_paragraph(tree: LexborHTMLParser) -> str | None:
    body = tree.body
    if body is None:
        return None
    scope: LexborNode = tree.css_first("article") or tree.css_first("main") or body
    for node in scope.css("p"):
        parent = node.parent
        skip = False
        while parent is not None:
            if parent.tag in _SKIP_PARENTS:
                skip = True
                break
            parent = parent.parent
        text = _clean(node.text(deep=True, separator=" "))
        if not skip and text and len(text) >= MIN_PARAGRAPH:
            return text
    return None


def _strip_site(title: str, site: str | None) -> str:
    """``"Headline | Site"`` → ``"Headline"`` when the site name is known."""
    if site:
        for sep in (" | ", " - ", " – ", " — ", " · "):
            if title.endswith(sep + site):
                return title[: -len(sep + site)].strip()
    return title


def _absolute(url: str | None, base: str) -> str | None:
    if not url:
        return None
    full = urljoin(base, url)
    return full if urlsplit(full).scheme in ("http", "https") else None


def _author(meta: dict[str, str], ld: dict[str, Any]) -> str | None:
    author = _name(ld.get("author")) or meta.get("author") or meta.get("article:author")
    if author and urlsplit(author).scheme in ("http", "https"):
        return None  # Facebook's article:author is often a profile URL, not a name
    return author


def extract_meta(html: str, base_url: str) -> PageMeta:
    """Everything the page says about itself, with relative URLs made absolute."""
    tree = LexborHTMLParser(html)
    meta = _metas(tree)
    ld = _json_ld(tree)
    base_node = tree.css_first("base[href]")
    base = urljoin(base_url, base_node.attributes.get("href") or "") if base_node else base_url
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
