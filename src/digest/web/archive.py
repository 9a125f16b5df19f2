"""``/issues/<slug>``: the issues ``digest build`` wrote, served from its output folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import FileResponse, Response

if TYPE_CHECKING:
    from .app import Web

__all__ = ["issue_page"]

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def issue_file(folder: Path, slug: str) -> Path | None:
    """``<folder>/<slug>.html`` when ``slug`` is a plain name and the file is there."""
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
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=300"}
    return FileResponse(path, media_type="text/html", headers=headers)
