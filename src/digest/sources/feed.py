"""Feeds: the recent items of an RSS 2.0, RSS 1.0 or Atom feed, as an issue file to curate.

``digest import-feed`` does for a feed what ``import-text`` does for a plain listing: it
writes an issue file the editor then finishes (picks, order, sections, intro, lead). The
feed is read by feedparser from bytes we fetched ourselves (httpx: a timeout, a size cap,
redirects followed, a clear User-Agent); feedparser never opens a URL or a file itself.

Each item becomes an article: the headline and summary as plain text (tags stripped,
entities decoded, whitespace collapsed, summaries shortened to about 300 characters at a
sentence or word boundary), the link (http or https only, never with login details), the
author, the first category as its section when asked, and an image from ``media:thumbnail``,
``media:content`` or an image enclosure. Each is checked as the issue file will be: an item
that cannot make a valid article is skipped. Items come newest first; undated items follow
the dated ones in feed order. Anything skipped is reported as a warning naming the item's
position in the feed.
"""

from __future__ import annotations

import calendar
import io
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import date as Date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import feedparser  # type: ignore[import-untyped]
import httpx

from ..errors import InputError
from ..model import article_problem, check_url, has_login, masked_login
from ..text import shown
from .issue_file import parse_issue
from .listing import issue_yaml

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_FEED_BYTES",
    "SUMMARY_MAX",
    "Feed",
    "FeedImage",
    "FeedImport",
    "FeedItem",
    "as_markdown",
    "clean_text",
    "feed_article",
    "feed_since",
    "feed_to_yaml",
    "fetch_feed",
    "html_to_text",
    "import_feed",
    "parse_feed",
    "read_feed",
    "select_items",
    "shorten",
]

DEFAULT_LIMIT = 12
SUMMARY_MAX = 300
MAX_FEED_BYTES = 5 * 1024 * 1024
TIMEOUT = 20.0
MAX_REDIRECTS = 5
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ps", "sd", "ug", "ur", "yi"}
)

_MEDIA = "{http://search.yahoo.com/mrss/}"
_ATOM = "{http://www.w3.org/2005/Atom}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")


@dataclass(frozen=True, slots=True)
class FeedImage:
    src: str
    alt: str


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One usable item of a feed, its text already plain."""

    position: int
    """1-based position in the feed, as warnings name it."""
    headline: str
    summary: str
    url: str
    author: str | None = None
    category: str | None = None
    image: FeedImage | None = None
    published: datetime | None = None
    """Published, else updated, in UTC; None when the feed gives neither."""


@dataclass(frozen=True, slots=True)
class Feed:
    source: str
    """The file or URL it came from, as shown to people (no password, no query)."""
    title: str | None
    language: str | None
    items: tuple[FeedItem, ...]
    warnings: tuple[str, ...] = ()
    warning_dates: tuple[datetime | None, ...] = ()
    """The date of the item each warning is about (None: undated), so an import can drop
    the warnings about items its date filter or limit leaves out anyway."""


@dataclass(frozen=True, slots=True)
class FeedImport:
    """What ``import_feed`` made: the issue file's text, the items in it, and what was skipped."""

    text: str
    items: tuple[FeedItem, ...]
    feed: Feed
    warnings: tuple[str, ...] = field(default=())


# --- text -------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr",
        "ul",
    }
)  # fmt: skip
_HIDDEN_TAGS = frozenset(
    {"script", "style", "template", "noscript", "iframe", "object", "svg", "math", "head"}
)
_SPACES = re.compile(r"[ \t\n\r\f\v\x85\u2028\u2029]+")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
"""The model's FORBIDDEN_CHARACTERS less VT, FF and NEL, which _SPACES makes a space."""


class _TextOnly(HTMLParser):
    """Collects an HTML fragment's visible text; markup is never interpreted, only dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def clean_text(text: str) -> str:
    """One line: runs of spaces and line breaks become one space, control characters and
    other invisible ones the issue model refuses are dropped; no-break spaces stay.

    For text digest did not write (a feed's, a web page's), so that none of it can fail the
    issue file's checks on a character nobody could see.
    """
    return _SPACES.sub(" ", _CONTROLS.sub("", text)).strip()


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags stripped, entities decoded, whitespace collapsed.

    Scripts, styles and other hidden parts are dropped with their contents; block elements
    and ``<br>`` separate words. Everything else (accents, curly quotes, dashes, RTL text)
    is kept as written.
    """
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    return clean_text("".join(parser.parts))


_SENTENCE_END = re.compile(r"[.!?…。！？؟][\"”’»)\]]*(?=\s|$)")
_TRAILING = " ,;:–—-·"
_READ_MORE = re.compile(r"\s*\[(?:…|\.\.\.)\]$")
"""The "[…]" WordPress and others end excerpts with: an ellipsis says the same."""


def shorten(text: str, limit: int = SUMMARY_MAX) -> str:
    """``text`` cut to about ``limit`` characters, never inside a word.

    A sentence ending in the second half of the allowance is a clean stop and is kept
    whole; otherwise the cut falls at the last space and "…" marks it.
    """
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() <= limit]
    if ends and ends[-1] >= limit // 2:
        return text[: ends[-1]]
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space >= limit // 2:
        head = head[:space]
    else:
        while head and unicodedata.combining(text[len(head)]):
            head = head[:-1]
    return head.rstrip(_TRAILING) + "…"


# --- fetching ---------------------------------------------------------------------------------


def user_agent(purpose: str = "newsletter feed importer") -> str:
    """The User-Agent of every fetch digest makes: its name, version and what it fetches for."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("digest")
    except PackageNotFoundError:
        v = "dev"
    return f"digest/{v} ({purpose}; +https://pypi.org/project/digest/)"


def _shown(url: str) -> str:
    """A URL as it may appear in messages and files: no user, password or query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def _is_url(source: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source))


def fetch_feed(
    url: str, *, timeout: float = TIMEOUT, max_bytes: int = MAX_FEED_BYTES
) -> tuple[bytes, dict[str, str]]:
    """GET a feed: its body (at most ``max_bytes``) and the headers feedparser needs.

    The base for relative links is the final URL without its password or query string,
    so neither can leak into an article's link.

    Redirects are followed (at most five); a refusal, a 4xx/5xx answer, a timeout or an
    oversized body is an :class:`InputError` naming the URL.
    """
    try:
        shown = _shown(url)
    except ValueError as e:  # a bad port or IPv6 host; the address is not echoed (a password)
        raise InputError(f"the feed's address cannot be read ({e}); check it") from None
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"{shown}: only http:// and https:// feed addresses can be fetched")
    headers = {"User-Agent": user_agent(), "Accept": ACCEPT}
    try:
        with (
            httpx.Client(
                timeout=timeout,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                headers=headers,
            ) as client,
            client.stream("GET", url) as response,
        ):
            if not response.is_success:
                raise InputError(
                    f"{shown}: the server answered {response.status_code} "
                    f"{response.reason_phrase}; check the feed's address"
                )
            too_big = InputError(
                f"{shown}: the feed is larger than {max_bytes // 1024} KB; "
                "digest reads feeds up to that size"
            )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_big
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise too_big
                chunks.append(chunk)
            base = urlsplit(str(response.url))._replace(query="", fragment="")
            answer = {"content-location": _shown(urlunsplit(base))}
            if "content-type" in response.headers:
                answer["content-type"] = response.headers["content-type"]
            return b"".join(chunks), answer
    except httpx.TimeoutException:
        raise InputError(f"{shown}: no answer within {timeout:g} s; try again later") from None
    except httpx.TooManyRedirects:
        raise InputError(
            f"{shown}: more than {MAX_REDIRECTS} redirects; check the address"
        ) from None
    except httpx.UnsupportedProtocol:
        raise InputError(f"{shown}: redirected to an address that is not http(s)") from None
    except (httpx.InvalidURL, UnicodeError) as e:  # a host IDNA cannot encode
        raise InputError(f"{shown}: not an address digest can read ({e})") from None
    except httpx.TransportError as e:
        raise InputError(f"{shown}: cannot reach it ({type(e).__name__}: {e})") from None
    except httpx.HTTPError as e:
        raise InputError(f"{shown}: cannot fetch it ({type(e).__name__})") from None


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (give a feed URL or a file path)") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read it: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise InputError(f"{path}: the feed is larger than {max_bytes // 1024} KB")
    return data


# --- parsing ----------------------------------------------------------------------------------


def _text_of(value: str, detail: Mapping[str, Any] | None) -> str:
    kind = str((detail or {}).get("type") or "text/html")
    return html_to_text(value) if "html" in kind else clean_text(value)


def _media_alts(data: bytes) -> list[tuple[dict[str, str], str | None]] | None:
    """Per item, in feed order: alt text the feed gives for its media, by image URL and
    for the item as a whole (``media:description``). feedparser folds these descriptions
    into the item's content, so they are read here from the XML itself. None when the
    document is not well-formed XML."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    items = [e for e in root.iter() if e.tag in ("item", f"{_RSS1}item", f"{_ATOM}entry")]
    out: list[tuple[dict[str, str], str | None]] = []
    for item in items:
        by_src: dict[str, str] = {}
        for holder in item.iter():
            if holder.tag not in (f"{_MEDIA}content", f"{_MEDIA}group"):
                continue
            desc = holder.find(f"{_MEDIA}description")
            if desc is None or not (desc.text or "").strip():
                continue
            text = _text_of(desc.text or "", {"type": desc.get("type", "plain")})
            media = [holder] if holder.tag == f"{_MEDIA}content" else list(holder)
            for m in media:
                if m.get("url"):
                    by_src.setdefault(str(m.get("url")).strip(), text)
        own = item.find(f"{_MEDIA}description")
        item_alt = None
        if own is not None and (own.text or "").strip():
            item_alt = _text_of(own.text or "", {"type": own.get("type", "plain")})
        out.append((by_src, item_alt or None))
    return out


def _is_image(kind: str, medium: str, url: str) -> bool:
    if medium:
        return medium == "image"
    if kind:
        return kind.lower().startswith("image/")
    return urlsplit(url).path.lower().endswith(_IMAGE_EXTENSIONS)


def _image(
    entry: Mapping[str, Any],
    headline: str,
    alts: tuple[dict[str, str], str | None],
    where: str,
    warnings: list[str],
) -> FeedImage | None:
    candidates: list[str] = []
    candidates += [str(t.get("url") or "") for t in entry.get("media_thumbnail") or []]
    for m in entry.get("media_content") or []:
        url = str(m.get("url") or "")
        if _is_image(str(m.get("type") or ""), str(m.get("medium") or ""), url):
            candidates.append(url)
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure":
            url = str(link.get("href") or "")
            if _is_image(str(link.get("type") or ""), "", url):
                candidates.append(url)
    for raw in candidates:
        src = raw.strip()
        if not src:
            continue
        if has_login(src):
            warnings.append(f"{where}: image skipped: {_login_refused(src)}")
            continue
        try:
            src = check_url(src, ("http", "https"))
        except ValueError as e:
            warnings.append(f"{where}: image skipped: {e}")
            continue
        by_src, item_alt = alts
        return FeedImage(src=src, alt=by_src.get(src) or item_alt or headline)
    return None


def _author(entry: Mapping[str, Any]) -> str | None:
    detail = entry.get("author_detail") or {}
    name = detail.get("name") or entry.get("author") or ""
    name = clean_text(html_to_text(str(name)))
    if not name or re.fullmatch(r"\S+@\S+", name):
        return None
    return name


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def parse_feed(
    data: bytes, source: str = "<feed>", *, headers: Mapping[str, str] | None = None
) -> Feed:
    """Read a feed's items from its bytes; ``headers`` are the HTTP answer's, if it had one.

    Items without a title or an http(s) link are skipped with a warning naming their
    position. A document that is no RSS or Atom feed at all is an :class:`InputError`.
    """
    parsed = feedparser.parse(io.BytesIO(data), response_headers=dict(headers or {}))
    version = str(parsed.get("version") or "")
    entries: Sequence[Mapping[str, Any]] = parsed.get("entries") or []
    if not version and not entries:
        ctype = (headers or {}).get("content-type", "")
        hint = f" (it was served as {ctype.split(';')[0]})" if ctype else ""
        raise InputError(
            f"{source}: this is not an RSS or Atom feed{hint}; give the feed's own address, "
            "often linked as RSS or ending in /feed, /rss or .xml"
        )
    alts = _media_alts(data)
    if alts is None or len(alts) != len(entries):
        alts = [({}, None)] * len(entries)
    warnings: list[str] = []
    items: list[FeedItem] = []
    seen: dict[str, int] = {}
    dates: list[datetime | None] = []
    for n, entry in enumerate(entries, start=1):
        mark = len(warnings)
        try:
            _read_entry(n, entry, source, alts, warnings, items, seen)
        finally:
            dates.extend([_published(entry)] * (len(warnings) - mark))
    info: Mapping[str, Any] = parsed.get("feed") or {}
    title = _text_of(str(info.get("title") or ""), info.get("title_detail")) or None
    language = clean_text(str(info.get("language") or "")) or None
    return Feed(source, title, language, tuple(items), tuple(warnings), tuple(dates))


def _login_refused(url: str) -> str:
    """Why a link with ``user:password@`` is skipped, the password hidden (as ``add`` does)."""
    return f"{masked_login(url)} carries login details, which digest never writes into an issue"


def _read_entry(
    n: int,
    entry: Mapping[str, Any],
    source: str,
    alts: Sequence[Any],
    warnings: list[str],
    items: list[FeedItem],
    seen: dict[str, int],
) -> None:
    """One entry as a FeedItem appended to ``items``, or skipped with a warning."""
    where = f"{source}: item {n}"
    headline = _text_of(str(entry.get("title") or ""), entry.get("title_detail"))
    if not headline:
        warnings.append(f"{where}: skipped: it has no title")
        return
    link = str(entry.get("link") or "").strip()
    if not link:
        warnings.append(f"{where} ('{shown(headline)}'): skipped: it has no link")
        return
    if has_login(link):
        warnings.append(f"{where} ('{shown(headline)}'): skipped: {_login_refused(link)}")
        return
    try:
        url = check_url(link, ("http", "https"))
    except ValueError as e:
        warnings.append(f"{where} ('{shown(headline)}'): skipped: {e}")
        return
    if url in seen:
        warnings.append(f"{where} ('{shown(headline)}'): skipped: same link as item {seen[url]}")
        return
    summary_html = str(entry.get("summary") or "")
    summary = _text_of(summary_html, entry.get("summary_detail"))
    summary = shorten(_READ_MORE.sub("…", summary))
    notes: list[str] = []  # warned about only if the item is kept
    if not summary:
        summary = headline
        notes.append(
            f"{where} ('{shown(headline)}'): no summary in the feed; the headline stands in "
            "for one"
        )
    tags = entry.get("tags") or []
    category = clean_text(str(tags[0].get("label") or tags[0].get("term") or "")) if tags else ""
    item = FeedItem(
        position=n,
        headline=headline,
        summary=summary,
        url=url,
        author=_author(entry),
        category=category or None,
        image=_image(entry, headline, alts[n - 1], where, notes),
        published=_published(entry),
    )
    # checked as the issue file will be, so a bad item is named here, not as a line of a
    # file the editor never wrote
    problem = article_problem(feed_article(item, section_from_category=True))
    if problem:
        warnings.append(f"{where} ('{shown(headline)}'): skipped: {problem}")
        return
    warnings.extend(notes)
    seen[url] = n
    items.append(item)


def read_feed(source: str, *, timeout: float = TIMEOUT, max_bytes: int = MAX_FEED_BYTES) -> Feed:
    """The feed at ``source``: an http(s) URL, or the path of a local file."""
    if _is_url(source):
        data, headers = fetch_feed(source, timeout=timeout, max_bytes=max_bytes)
        return parse_feed(data, _shown(source), headers=headers)
    path = Path(source)
    return parse_feed(_read_file(path, max_bytes), str(path))


# --- choosing and writing ---------------------------------------------------------------------


def feed_since(
    since: str | None = None, days: int | None = None, *, now: datetime | None = None
) -> datetime | None:
    """The cut-off for ``--since DATE`` or ``--days N`` (UTC), or None for no date filter.

    ``since`` is a date (``2026-11-20``, midnight UTC) or an ISO 8601 time; a time without a
    zone is taken as UTC.
    """
    if since is not None and days is not None:
        raise InputError("give --since or --days, not both")
    if days is not None:
        if days < 1:
            raise InputError(f"--days must be 1 or more, not {days}")
        return (now or datetime.now(UTC)) - timedelta(days=days)
    if since is None:
        return None
    text = since.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(Date.fromisoformat(text), datetime.min.time(), UTC)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"--since {since!r} is not a date; write it as YYYY-MM-DD "
            "or YYYY-MM-DDTHH:MM[:SS][±HH:MM]"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def select_items(
    feed: Feed, *, since: datetime | None = None, limit: int = DEFAULT_LIMIT
) -> tuple[list[FeedItem], list[str]]:
    """The newest ``limit`` items published or updated at or after ``since``.

    Newest first; items without a date come after the dated ones, in feed order, and are
    left out (with a warning) when a date filter is given, since their age is unknown.
    """
    if limit < 1:
        raise InputError(f"--limit must be 1 or more, not {limit}")
    warnings: list[str] = []
    chosen = list(feed.items)
    if since is not None:
        undated = [i.position for i in chosen if i.published is None]
        if undated:
            shown = ", ".join(str(p) for p in undated)
            warnings.append(
                f"{feed.source}: item{'s' if len(undated) > 1 else ''} {shown} left out: "
                "no publication date to compare with the date filter"
            )
        chosen = [i for i in chosen if i.published is not None and i.published >= since]
    floor = datetime.min.replace(tzinfo=UTC)
    chosen.sort(key=lambda i: (i.published is None, -(i.published or floor).timestamp()))
    return chosen[:limit], warnings


def _direction(language: str | None) -> str | None:
    if not language:
        return None
    return "rtl" if language.split("-")[0].lower() in RTL_LANGUAGES else None


_BLOCK_MARKER = re.compile(r"^(?:(\d{1,9})([.)])|([-+*>]))(?=\s|$)")


def as_markdown(text: str) -> str:
    """Plain text written where light Markdown is read: a leading "2026." or "- " would
    start a list (and "> " a quote), so its marker is escaped. Nothing else needs it: raw
    HTML and headings are off, and a summary is one line."""
    return _BLOCK_MARKER.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", text)


def feed_article(item: FeedItem, section_from_category: bool = False) -> dict[str, object]:
    """One feed item as an issue file's article mapping."""
    a: dict[str, object] = {
        "headline": item.headline,
        "summary": as_markdown(item.summary),
        "url": item.url,
    }
    if section_from_category and item.category:
        a["section"] = item.category
    if item.author:
        a["author"] = item.author
    if item.image:
        a["image"] = {"src": item.image.src, "alt": item.image.alt}
    return a


def feed_to_yaml(
    items: Sequence[FeedItem],
    *,
    number: int = 1,
    date: Date | None = None,
    section_from_category: bool = False,
    language: str | None = None,
    source: str = "",
) -> str:
    """An issue file for the editor to finish, in the shape ``import-text`` writes."""
    articles = [feed_article(item, section_from_category) for item in items]
    doc: dict[str, object] = {"number": number, "date": date or Date.today()}
    if language:
        doc["lang"] = language
        direction = _direction(language)
        if direction:
            doc["dir"] = direction
    doc["articles"] = articles
    origin = f" from {clean_text(source)}" if source else ""
    header = (
        f"# Made by `digest import-feed`{origin}.\n"
        "# Keep the picks you want, shorten summaries, check each image's alt text, then add\n"
        "# sections, an intro and `lead: true` on the lead story. Schema: `digest schema`.\n"
    )
    return issue_yaml(doc, header)


def _relevant(feed: Feed, cutoff: datetime | None, chosen: list[FeedItem], limit: int) -> list[str]:
    """The feed's warnings about items the import could have used: not those older than
    ``--since``/``--days``, nor those past the ``--limit`` newest (they were left out anyway)."""
    if len(feed.warning_dates) != len(feed.warnings):
        return list(feed.warnings)
    full = len(chosen) >= limit
    floor = chosen[-1].published if full and chosen else None
    kept = []
    for text, when in zip(feed.warnings, feed.warning_dates, strict=True):
        if cutoff is not None and (when is None or when < cutoff):
            continue
        if floor is not None and (when is None or when < floor):
            continue
        kept.append(text)
    return kept


def import_feed(
    source: str,
    *,
    since: str | None = None,
    days: int | None = None,
    limit: int = DEFAULT_LIMIT,
    number: int = 1,
    date: Date | None = None,
    section_from_category: bool = False,
    now: datetime | None = None,
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_FEED_BYTES,
) -> FeedImport:
    """Read the feed at ``source`` (URL or file) and write its recent items as an issue file.

    The text returned has been read back with :func:`parse_issue`, so it is a valid issue.
    """
    cutoff = feed_since(since, days, now=now)
    feed = read_feed(source, timeout=timeout, max_bytes=max_bytes)
    chosen, dropped = select_items(feed, since=cutoff, limit=limit)
    warnings = [*_relevant(feed, cutoff, chosen, limit), *dropped]
    if not chosen:
        after = f" published since {cutoff:%Y-%m-%d %H:%M} UTC" if cutoff else ""
        raise InputError(
            f"{feed.source}: no usable items{after} (of {len(feed.items)} with a title and a link)"
            + ("; try a longer --days or an earlier --since" if cutoff else "")
            + "".join(f"\n  {w}" for w in warnings[:10])
        )
    text = feed_to_yaml(
        chosen,
        number=number,
        date=date,
        section_from_category=section_from_category,
        language=feed.language,
        source=feed.source,
    )
    parse_issue(text, f"{feed.source} (as an issue file)")
    return FeedImport(text=text, items=tuple(chosen), feed=feed, warnings=tuple(warnings))
