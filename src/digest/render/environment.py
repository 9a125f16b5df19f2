"""The template environment: the designer's surface.

Built-in templates ship inside the package (``digest/templates``, from the repository's
top-level ``templates/``); a folder named in ``[templates] dir`` overrides them file by file.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import jinja2
from markupsafe import Markup

from .markdown import md_html, md_inline_html, md_text, wrap

__all__ = ["builtin_template_dir", "template_environment"]


def builtin_template_dir() -> Path:
    """The packaged templates, or the repository's ``templates/`` in a source checkout."""
    packaged = Path(str(files("digest"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


def _autoescape(name: str | None) -> bool:
    return not (name or "").endswith(".txt.j2")


@lru_cache(maxsize=8)
def template_environment(user_dir: Path | None = None) -> jinja2.Environment:
    """One environment per template folder: autoescape on (except text), undefined is an error."""
    search = [str(user_dir)] if user_dir else []
    search.append(str(builtin_template_dir()))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        css=_css_value,
        markdown=lambda s: Markup(md_html(s)),
        markdown_inline=lambda s: Markup(md_inline_html(s)),
        md_text=_md_text,
        wrap=wrap,
    )
    return env


def _css_value(value: str) -> Markup:
    """A value for a stylesheet, unescaped (an entity such as ``&#39;`` breaks the MJML
    parser inside ``mj-style``); text that could end a rule, a tag or the parse is refused."""
    bad = sorted({c for c in value if c in "<>{};\\&\r\n" or not c.isprintable()})
    if bad:
        raise jinja2.TemplateRuntimeError(f"{value!r} cannot go into CSS: it contains {bad}")
    return Markup(value)


@jinja2.pass_context
def _md_text(ctx: jinja2.runtime.Context, text: str) -> str:
    """Text-template filter: Markdown as wrapped text, links numbered via the context's ``ref``."""
    return md_text(text, ctx["ref"])
