"""The archive folder over HTTP: ``/issues/<slug>``, the index at ``/issues/``, the feed.

The folder is what ``digest build --web`` (or a send with ``[archive] dir``) wrote: pages,
``index.html`` and ``feed.xml`` (see :mod:`digest.archive`); ``digest build --out`` folders
work too, without the index. The index and feed live at the root of the issue pages' path
(``/issues/`` for ``[links] view_online_url = ".../issues/{slug}"``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import FileResponse, RedirectResponse, Response

from ..archive import FEED_NAME, INDEX_NAME

if TYPE_CHECKING:
    from .app import Web

__all__ = ["archive_file", "issue_page"]

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def issue_file(folder: Path, slug: str) -> Path | None:
    """``<folder>/<slug>.html`` when ``slug`` is a plain name and the file is there."""
    slug = slug.removesuffix(".html")
    if not _SLUG.fullmatch(slug) or ".." in slug:
        return None
    path = folder / f"{slug}.html"
    if path.resolve().parent != folder or not path.is_file():
        return None
    return path


async def issue_page(web: Web, method: str, slug: str) -> Response:
    if (refused := web.allow(method, "GET")) is not None:
        return refused
    path = issue_file(web.archive_dir, slug)
    if path is None:
        return web.pages.not_found()
    return FileResponse(path, media_type="text/html", headers=dict(_HEADERS))


_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=300"}
_TYPES = {INDEX_NAME: "text/html", FEED_NAME: "application/atom+xml"}


def archive_file(web: Web, method: str, path: str) -> Response | None:
    """The index or the feed when ``path`` asks for one, else None (not an archive path)."""
    root = web.archive_path.root
    if root == "/" or web.archive_path.query_name is not None:
        return None
    if path == root.rstrip("/"):
        return RedirectResponse(root, 308)
    name = {root: INDEX_NAME, root + INDEX_NAME: INDEX_NAME, root + FEED_NAME: FEED_NAME}.get(path)
    if name is None:
        return None
    if (refused := web.allow(method, "GET")) is not None:
        return refused
    file = web.archive_dir / name
    if not file.is_file():
        return web.pages.not_found()
    return FileResponse(file, media_type=_TYPES[name], headers=dict(_HEADERS))
