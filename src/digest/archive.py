"""The web archive: a folder of issue pages, an index page and an Atom feed.

Publishing an issue writes ``<slug>.html`` (the issue as ``digest build`` renders it) and
``<slug>.json`` (its number, date, subject, preheader and when it was published) into the
folder, then remakes ``index.html`` (newest first) and ``feed.xml`` (Atom 1.0) from every
``*.json`` there. The folder is complete on its own: any static host can serve it, and
``digest serve`` does. ``digest build --web DIR`` publishes; so do ``send`` and ``send-due``
once an issue is sent, when ``[archive] dir`` is set.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from .config import Settings
from .errors import InputError
from .render import Rendered
from .render.environment import template_environment

__all__ = ["FEED_NAME", "INDEX_NAME", "ArchiveEntry", "publish", "read_entries", "rebuild"]

INDEX_NAME = "index.html"
FEED_NAME = "feed.xml"
_ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class ArchiveEntry:
    """One published issue, as its ``<slug>.json`` says."""

    slug: str
    number: int
    date: str
    subject: str
    preheader: str
    published: str
    updated: str
    url: str | None = None
    """The issue's own address (``[links] view_online_url``), when there is one."""

    @property
    def href(self) -> str:
        """Where the index and the feed link: the public URL, else the page beside them."""
        return self.url or f"{self.slug}.html"

    @property
    def date_human(self) -> str:
        d = date.fromisoformat(self.date)
        return f"{d.day} {d:%B} {d.year}"


def publish(rendered: Rendered, folder: Path | str, settings: Settings) -> Path:
    """Write the issue's page and metadata into ``folder``, then remake the index and feed."""
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out}: cannot create the archive folder: {e.strerror}") from None
    now = _now()
    meta = out / f"{rendered.slug}.json"
    published = now
    if meta.is_file():
        published = _load(meta).get("published", now)
    issue = rendered.issue
    view = settings.links.view_online_url
    fmt = {"slug": rendered.slug, "number": issue.number, "date": issue.date.isoformat()}
    entry = ArchiveEntry(
        slug=rendered.slug,
        number=issue.number,
        date=issue.date.isoformat(),
        subject=rendered.subject,
        preheader=rendered.preheader,
        published=published,
        updated=now,
        url=view.format(**fmt) if view else None,
    )
    page = out / f"{rendered.slug}.html"
    _write(page, rendered.preview_html())
    _write(meta, json.dumps(asdict(entry), ensure_ascii=False, indent=2) + "\n")
    rebuild(out, settings)
    return page


def read_entries(folder: Path) -> list[ArchiveEntry]:
    """Every issue published in ``folder``, newest first (by date, then number)."""
    entries = []
    for path in folder.glob("*.json"):
        data = _load(path)
        try:
            entries.append(ArchiveEntry(**data))
        except TypeError:
            continue  # not one of ours
    return sorted(entries, key=lambda e: (e.date, e.number), reverse=True)


def rebuild(folder: Path, settings: Settings) -> None:
    """Remake ``index.html`` and ``feed.xml`` from the folder's metadata files."""
    entries = read_entries(folder)
    _write(folder / INDEX_NAME, _index_html(entries, settings))
    _write(folder / FEED_NAME, _atom(entries, settings))


def _index_html(entries: list[ArchiveEntry], settings: Settings) -> str:
    user_dir = settings.path(settings.templates.dir) if settings.templates.dir else None
    nl = settings.newsletter
    return (
        template_environment(user_dir)
        .get_template("web/archive.html.j2")
        .render(
            newsletter=nl.name,
            website=nl.website,
            lang=nl.lang,
            dir=nl.dir,
            brand=settings.brand,
            title="Past issues",
            issues=entries,
            feed=FEED_NAME,
        )
    )


def _atom(entries: list[ArchiveEntry], settings: Settings) -> str:
    """An Atom 1.0 feed (RFC 4287) of the issues; ids are stable UUIDs of list id + slug."""
    nl = settings.newsletter
    ET.register_namespace("", _ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{_ATOM}}}{tag}", attrs)
        element.text = text
        return element

    feed = ET.Element(f"{{{_ATOM}}}feed", {"xml:lang": nl.lang})
    sub(feed, "id", _urn(nl.list_id))
    sub(feed, "title", nl.name)
    sub(feed, "updated", max((e.updated for e in entries), default=_now()))
    author = sub(feed, "author")
    sub(author, "name", nl.name)
    if nl.website:
        sub(feed, "link", rel="alternate", href=nl.website)
    if settings.archive.url:
        sub(feed, "link", rel="self", href=settings.archive.url.rstrip("/") + "/" + FEED_NAME)
    for e in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", _urn(f"{nl.list_id}/{e.slug}"))
        sub(entry, "title", e.subject)
        sub(entry, "link", rel="alternate", type="text/html", href=e.href)
        sub(entry, "published", e.published)
        sub(entry, "updated", e.updated)
        sub(entry, "summary", e.preheader)
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, "unicode") + "\n"


def _urn(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'digest:' + name)}"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, text: str) -> None:
    """Replace ``path`` at once (a reader never sees half a page)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"{path}: cannot write the archive: {e.strerror}") from None
