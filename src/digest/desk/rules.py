"""The pre-send check's content rules: what an editor must fix before an issue goes out.

Each rule reads the loaded issue, its rendering or the settings and returns findings; the
:mod:`digest.desk.check` module runs them all. Errors stop a real send; warnings are
advice. Compliance (unsubscribe link, postal address) lives in
:mod:`digest.sending.compliance`, shared with the send job.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

from ..render import GMAIL_CLIP_BYTES
from .urls import page_key

if TYPE_CHECKING:
    from ..config import Settings
    from ..model import Issue
    from ..render import Rendered

__all__ = [
    "HTML_WARN_BYTES",
    "IMAGE_WARN_BYTES",
    "SUBJECT_MAX",
    "Finding",
    "Link",
    "content_findings",
    "contrast_ratio",
    "issue_links",
    "md_links",
    "placeholder_reason",
]

Severity = Literal["error", "warning"]
SUBJECT_MAX = 60
PREHEADER_RANGE = (40, 100)
HTML_WARN_BYTES = 80 * 1024
IMAGE_WARN_BYTES = 1024 * 1024
MIN_CONTRAST = 4.5
RESERVED_DOMAINS = ("example.org", "example.com", "example.net")
RESERVED_TLDS = ("example", "test", "invalid", "localhost")
MEANINGLESS_ALT = frozenset(
    {"image", "img", "photo", "picture", "pic", "graphic", "thumbnail", "banner", "untitled"}
)
_FILE_NAME = re.compile(r"[\w.-]+\.(?:jpe?g|png|gif|webp|avif|svg|bmp|tiff?)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the check found, where (article number, 1-based) and how to fix it."""

    severity: Severity
    code: str
    message: str
    fix: str = ""
    article: int | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A link the issue shows: where it appears and what kind it is."""

    url: str
    kind: Literal["article", "image", "text", "logo", "website"]
    article: int | None = None


def md_links(text: str) -> list[str]:
    """The link targets in light Markdown, in order."""
    from ..render.markdown import md_text

    urls: list[str] = []

    def ref(url: str) -> int:
        urls.append(url)
        return len(urls)

    md_text(text, ref)
    return urls


def issue_links(issue: Issue, settings: Settings) -> list[Link]:
    """Every link readers can follow or their client loads, article by article."""
    links: list[Link] = []
    nl = settings.newsletter
    if nl.logo:
        links.append(Link(nl.logo, "logo"))
    if nl.website:
        links.append(Link(nl.website, "website"))
    if issue.intro:
        links += [Link(u, "text") for u in md_links(issue.intro)]
    for n, a in enumerate(issue.articles, start=1):
        if a.url:
            links.append(Link(a.url, "article", n))
        if a.image:
            links.append(Link(a.image.src, "image", n))
        if a.summary:
            links += [Link(u, "text", n) for u in md_links(a.summary)]
    return links


def placeholder_reason(url: str, allow_private: bool = False) -> str | None:
    """Why ``url`` points nowhere real (RFC 2606/6761 names, loopback, private), else None.

    ``allow_private`` accepts loopback and private addresses (an intranet newsletter,
    tests); reserved example names stay placeholders.
    """
    parts = urlsplit(url)
    if parts.scheme == "mailto":
        host = unquote(parts.path).rpartition("@")[2].split("?")[0]
    else:
        host = parts.hostname or ""
    host = host.lower().rstrip(".")
    if not host:
        return None
    if host == "localhost" and allow_private:
        return None
    if host == "localhost" or host.endswith(tuple(f".{t}" for t in RESERVED_TLDS)):
        return f"{host} is a reserved name (RFC 2606/6761) that never reaches a real site"
    if host in RESERVED_DOMAINS or host.endswith(tuple(f".{d}" for d in RESERVED_DOMAINS)):
        return f"{host} is an example domain (RFC 2606) that no real site uses"
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if not ip.is_global and not allow_private:
        return f"{host} is a loopback or private address that readers cannot reach"
    return None


def _where(link: Link) -> str:
    return {
        "article": "The link",
        "image": "The image",
        "text": "A link in the text",
        "logo": "The logo ([newsletter] logo)",
        "website": "The website link ([newsletter] website)",
    }[link.kind]


def _link_findings(links: list[Link], allow_private: bool) -> Iterator[Finding]:
    seen: dict[str, int | None] = {}
    for link in links:
        parts = urlsplit(link.url)
        reason = placeholder_reason(link.url, allow_private)
        if reason:
            yield Finding(
                "error",
                "placeholder-link",
                f"{_where(link)} {link.url} is a placeholder: {reason}.",
                "put the real address in, or drop it.",
                link.article,
            )
        if parts.scheme in ("http", "https") and (parts.username or parts.password):
            yield Finding(
                "error",
                "unsafe-link",
                f"{_where(link)} {link.url} carries a user name or password.",
                "link to the page without credentials in the address.",
                link.article,
            )
        elif parts.scheme == "http" and link.kind in ("image", "logo"):
            yield Finding(
                "warning",
                "insecure-image",
                f"{_where(link)} {link.url} is loaded over plain http: many mail clients block it.",
                "use its https:// address.",
                link.article,
            )
        if link.kind == "article":
            key = page_key(link.url)
            if key in seen:
                yield Finding(
                    "error",
                    "duplicate-link",
                    f"The link {link.url} is also article {seen[key]}'s.",
                    "keep one of them.",
                    link.article,
                )
            else:
                seen[key] = link.article


def _alt_findings(issue: Issue) -> Iterator[Finding]:
    for n, a in enumerate(issue.articles, start=1):
        if a.image is None:
            continue
        alt = a.image.alt.strip()
        name = PurePosixPath(urlsplit(a.image.src).path).name
        plain = alt.lower().strip(" .")
        if plain in MEANINGLESS_ALT or alt == name or _FILE_NAME.fullmatch(alt):
            yield Finding(
                "warning",
                "meaningless-alt",
                f"The image's alt text {alt!r} says nothing to someone who cannot see it.",
                "describe what the picture shows, in a short sentence.",
                n,
            )


def _relative_luminance(colour: str) -> float:
    hex_ = colour.lstrip("#")
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)
    channels = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two hex colours (1 to 21)."""
    la, lb = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _contrast_findings(settings: Settings) -> Iterator[Finding]:
    b = settings.brand
    pairs = [
        ("light", "text", b.text, "surface", b.surface),
        ("light", "muted", b.muted, "surface", b.surface),
        ("light", "accent", b.accent, "surface", b.surface),
        ("dark", "dark_text", b.dark_text, "dark_surface", b.dark_surface),
        ("dark", "dark_accent", b.dark_accent, "dark_surface", b.dark_surface),
    ]
    for mode, fg_name, fg, bg_name, bg in pairs:
        ratio = contrast_ratio(fg, bg)
        if ratio < MIN_CONTRAST:
            yield Finding(
                "warning",
                "low-contrast",
                f"[brand] {fg_name} {fg} on {bg_name} {bg} has a contrast of {ratio:.1f}:1 "
                f"in {mode} mode; text needs at least 4.5:1 to be read easily.",
                f"darken or lighten [brand] {fg_name} (or {bg_name}).",
            )


def content_findings(
    issue: Issue, rendered: Rendered, settings: Settings, *, allow_private: bool = False
) -> list[Finding]:
    """Every offline content rule, errors and warnings, in the order a reader meets them."""
    found: list[Finding] = []
    if not issue.articles:
        found.append(
            Finding(
                "error",
                "no-articles",
                "The issue has no articles yet.",
                "add some with `digest add URL`.",
            )
        )
    for n, a in enumerate(issue.articles, start=1):
        if not a.url:
            found.append(
                Finding(
                    "error",
                    "no-link",
                    "The article has no link.",
                    "add its url (or `digest add URL` it again and delete this one).",
                    n,
                )
            )
        if not a.summary:
            found.append(
                Finding("warning", "no-summary", "The article has no summary.", "write one.", n)
            )
        elif len(a.summary) > settings.issues.summary_max:
            found.append(
                Finding(
                    "warning",
                    "long-summary",
                    f"The summary is {len(a.summary)} characters, over "
                    f"[issues] summary_max = {settings.issues.summary_max}.",
                    "shorten it: readers skim.",
                    n,
                )
            )
    found += _link_findings(issue_links(issue, settings), allow_private)
    found += _alt_findings(issue)
    if len(rendered.subject) > SUBJECT_MAX:
        found.append(
            Finding(
                "warning",
                "long-subject",
                f"The subject is {len(rendered.subject)} characters; phones cut it after "
                f"about {SUBJECT_MAX}.",
                "shorten `subject:` (or the lead headline it is made from).",
            )
        )
    low, high = PREHEADER_RANGE
    if not low <= len(rendered.preheader) <= high:
        found.append(
            Finding(
                "warning",
                "preheader-length",
                f"The preheader is {len(rendered.preheader)} characters; inboxes show "
                f"{low}–{high} best.",
                "write a `preheader:` of 40–100 characters.",
            )
        )
    size = len(rendered.html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        found.append(
            Finding(
                "error",
                "html-clipped",
                f"The HTML is {size / 1024:.0f} KB: Gmail clips messages over 102 KB and "
                "drops their styles.",
                "cut articles or shorten summaries.",
            )
        )
    elif size > HTML_WARN_BYTES:
        found.append(
            Finding(
                "warning",
                "html-large",
                f"The HTML is {size / 1024:.0f} KB, near Gmail's 102 KB clipping limit.",
                "cut an article or two.",
            )
        )
    found += _contrast_findings(settings)
    return found
