"""MJML → HTML → inlined HTML, once per issue.

Each setting here answers a known trap: mjml-python links Google Fonts unless ``fonts`` is
given; premailer fetches remote CSS unless ``allow_network=False``, strips ``!important``
(which the phone and dark-mode ``@media`` rules need), and drops the doctype.
"""

from __future__ import annotations

import logging
import re
from functools import cache

from ..errors import TemplateError
from ..model import FORBIDDEN_CHARACTERS, describe_forbidden

__all__ = ["compile_mjml", "inline_css"]

DOCTYPE = "<!doctype html>"
INLINE_MARKER = "/* digest:inline */"
"""First line of the one ``mj-style inline="inline"`` block premailer should inline.

MJML's own reset styles and the media-query blocks stay in ``<style>`` untouched: inlining
the resets into every table cell doubled the HTML's size, and premailer would drop the
``[data-ogsc]`` selectors Outlook.com's dark mode needs.
"""
_STYLE_OPEN = re.compile(
    r"<style(?![^>]*data-premailer)([^>]*)>(?!\s*" + re.escape(INLINE_MARKER) + ")"
)


def compile_mjml(source: str) -> str:
    """MJML → HTML; text the compiler cannot parse is refused here with where it sits.

    Issue files and listings refuse control characters at their boundary with file, line
    and field; this catches what comes another way (digest.toml, an Issue built in code).
    """
    from mjml import mjml2html

    bad = FORBIDDEN_CHARACTERS.search(source)
    if bad is not None:
        start = max(0, bad.start() - 40)
        near = FORBIDDEN_CHARACTERS.sub("\ufffd", source[start : bad.end() + 40])
        raise TemplateError(
            "The email cannot be built: its text "
            + describe_forbidden(bad.group(), f"near {' '.join(near.split())!r}")
        )
    try:
        html: str = mjml2html(source, fonts={}, disable_comments=True)
    except ValueError as e:
        raise TemplateError(f"The MJML template did not compile: {e}") from None
    return html


@cache
def _without_css_validation() -> None:
    """Give cssutils no property profiles, so it validates nothing.

    premailer is told ``disable_validation``, yet its ``merge_styles`` still parses every
    inline style with validation on; the first validation compiles cssutils' profile
    regexes, ~0.1 s of CPU in every process that renders, to log warnings at a level that
    is never shown. The inlined HTML is the same byte for byte (``cssutils.ser.prefs
    .validOnly`` is off, so validity never changes what is written).
    """
    import cssutils

    cssutils.profile.removeProfile(all=True)


def inline_css(html: str) -> str:
    """Move ``mj-style inline`` and other head CSS into style attributes, keeping media rules."""
    import premailer

    _without_css_validation()
    marked = _STYLE_OPEN.sub(r'<style data-premailer="ignore"\1>', html)
    p = premailer.Premailer(
        marked,
        allow_network=False,
        strip_important=False,
        keep_style_tags=False,
        remove_classes=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
        disable_leftover_css=False,
        align_floating_images=False,
        remove_unset_properties=True,
        capitalize_float_margin=False,
    )
    try:
        out: str = p.transform(pretty_print=False)
    except Exception as e:  # premailer raises bare parser errors from lxml/cssutils
        raise TemplateError(f"CSS inlining failed: {e}") from None
    out = out.replace(' data-premailer="ignore"', "")
    if not re.match(r"\s*<!doctype", out, re.IGNORECASE):
        out = f"{DOCTYPE}\n{out}"
    return out.rstrip("\n") + "\n"
