"""``digest build``: an issue file in, ``<slug>.html``, ``.txt`` and ``.eml`` out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .errors import InputError
from .render import Rendered, render_issue
from .sources import load_issue

__all__ = ["BuildResult", "build_issue"]


@dataclass(frozen=True)
class BuildResult:
    rendered: Rendered
    html_path: Path
    text_path: Path
    eml_path: Path
    web_page: Path | None = None
    """The page published into the web archive (``--web``), if any."""


def build_issue(
    issue_path: Path | str,
    out_dir: Path | str,
    settings: Settings,
    *,
    web_dir: Path | str | None = None,
) -> BuildResult:
    """Render an issue file once and write its three files into ``out_dir``.

    With ``web_dir``, also publish it into that web archive folder (page, metadata, index
    and feed; see :mod:`digest.archive`).
    """
    issue = load_issue(issue_path)
    rendered = render_issue(issue, settings)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out}: cannot create the output folder: {e}") from None
    html_path = out / f"{rendered.slug}.html"
    text_path = out / f"{rendered.slug}.txt"
    eml_path = out / f"{rendered.slug}.eml"
    html_path.write_text(rendered.preview_html(), encoding="utf-8")
    text_path.write_text(rendered.preview_text(), encoding="utf-8")
    eml_path.write_bytes(rendered.preview_message().as_bytes())
    web_page = None
    if web_dir is not None:
        from .archive import publish

        web_page = publish(rendered, web_dir, settings)
    return BuildResult(rendered, html_path, text_path, eml_path, web_page)
