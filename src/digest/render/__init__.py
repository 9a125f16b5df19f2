"""Rendering: an Issue becomes a subject, preheader, HTML and text, once per issue.

The HTML goes Jinja2 → MJML → mjml-python → premailer; the text has its own template
written from the same data. Per-recipient values (unsubscribe link, name) are left as
placeholders in :class:`~digest.message.Content`, filled later without re-rendering.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from markupsafe import Markup

from ..errors import ConfigError, TemplateError
from ..message import Address, Content, Recipient, build_mime, placeholder
from ..model import Issue
from .environment import builtin_template_dir, template_environment
from .html import compile_mjml, inline_css
from .markdown import md_plain

if TYPE_CHECKING:
    from email.message import EmailMessage
    from pathlib import Path

    from ..config import Settings

__all__ = [
    "GMAIL_CLIP_BYTES",
    "Rendered",
    "builtin_template_dir",
    "render_issue",
]

GMAIL_CLIP_BYTES = 102 * 1024
"""Gmail clips a message whose HTML is larger than about this."""
CLIP_WARN_BYTES = 90 * 1024
PREHEADER_RANGE = (40, 100)
SIGNATURE = "-- "
SUBJECT_MAX = 60
"""Phones show about 40–60 characters of a subject."""


@dataclass(frozen=True)
class Rendered:
    """One issue, rendered once: what every recipient's message is filled from."""

    issue: Issue
    slug: str
    preheader: str
    content: Content
    warnings: tuple[str, ...] = field(default=())

    @property
    def subject(self) -> str:
        return self.content.subject

    @property
    def html(self) -> str:
        """The inlined HTML, with ``@@digest.NAME@@`` placeholders for per-recipient values."""
        return self.content.html

    @property
    def text(self) -> str:
        return self.content.text

    @cached_property
    def content_hash(self) -> str:
        """Changes whenever anything a recipient would see changes."""
        h = hashlib.sha256()
        for part in (
            self.subject,
            self.html,
            self.text,
            repr(sorted(self.content.headers.items())),
        ):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        return h.hexdigest()

    def preview_html(self) -> str:
        """The HTML with placeholders at their defaults, as ``digest build`` writes it."""
        return self.content.html_for(Recipient(email=""))

    def preview_text(self) -> str:
        return self.content.text_for(Recipient(email=""))

    def preview_message(self) -> EmailMessage:
        return build_mime(self.content)


def _sender(value: str, what: str) -> Address:
    name, addr = parseaddr(value)
    if "@" not in addr:
        raise ConfigError(f"[newsletter] {what} = {value!r} is not a mail address")
    return Address(addr, name)


def _tracker(utm: Mapping[str, str], values: Mapping[str, object]) -> Any:
    params = {
        f"utm_{k}" if not k.startswith("utm_") else k: v.format(**values) for k, v in utm.items()
    }

    def track(url: str) -> str:
        if not params or not url.startswith(("http://", "https://")):
            return url
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        present = {k for k, _ in query}
        query += [(k, v) for k, v in params.items() if k not in present]
        return urlunsplit(parts._replace(query=urlencode(query)))

    return track


def _preheader(issue: Issue) -> str:
    if issue.preheader:
        return issue.preheader
    lead = issue.lead
    flat = md_plain(issue.intro or (lead.summary or lead.headline if lead else ""))
    if len(flat) <= PREHEADER_RANGE[1]:
        return flat
    cut = flat[: PREHEADER_RANGE[1] - 1].rsplit(" ", 1)[0]
    return cut + "…"


@dataclass(frozen=True)
class _Links:
    """The issue's links from ``[links]``: the unsubscribe URL stays a per-recipient placeholder."""

    view_online: str | None
    unsubscribe_preview: str | None
    mailto: str | None

    @property
    def unsubscribe(self) -> str | None:
        """What the footer links to: the per-recipient URL, else the mailto.

        Where no recipient fills it (the built preview, the web archive), the mailto stands
        in when there is one: a link with a made-up token would only reach an error page.
        """
        if self.unsubscribe_preview:
            return placeholder("unsubscribe_url", self.mailto or self.unsubscribe_preview)
        return self.mailto

    def headers(self) -> dict[str, str]:
        """``List-Unsubscribe`` (and RFC 8058's ``-Post`` when the URL is https)."""
        targets = []
        if self.unsubscribe_preview:
            targets.append(f"<{placeholder('unsubscribe_url')}>")
        if self.mailto:
            targets.append(f"<{self.mailto}>")
        headers = {"List-Unsubscribe": ", ".join(targets)} if targets else {}
        if self.unsubscribe_preview and self.unsubscribe_preview.startswith("https://"):
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return headers


def _links(settings: Settings, fmt: Mapping[str, object]) -> _Links:
    links = settings.links
    try:
        view_online = links.view_online_url.format(**fmt) if links.view_online_url else None
        preview = (
            links.unsubscribe_url.format(token="preview", email="", **fmt)
            if links.unsubscribe_url
            else None
        )
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(
            f"[links] URL template has an unknown field {e}: use {{token}}, {{slug}}"
        ) from None
    mailto = (
        f"mailto:{links.unsubscribe_mailto}?subject=unsubscribe"
        if links.unsubscribe_mailto
        else None
    )
    return _Links(view_online, preview, mailto)


def _list_id(settings: Settings, name: str) -> str:
    """RFC 2919 ``List-Id``: the newsletter's name as a phrase when it is plain words."""
    phrase = " ".join(name.split())
    if phrase and all(c.isalnum() or c in " -_.'!&+" for c in phrase) and phrase.isascii():
        return f"{phrase} <{settings.newsletter.list_id}>"
    return f"<{settings.newsletter.list_id}>"


def _warnings(
    settings: Settings, issue: Issue, links: _Links, subject: str, preheader: str, html: str
) -> list[str]:
    """What the editor should fix before sending; the build report prints these."""
    warnings: list[str] = [f"Draft: {p}." for p in issue.draft_problems]
    if len(subject) > SUBJECT_MAX:
        warnings.append(
            f"The subject is {len(subject)} characters; phones show about 40–60. "
            "Shorten it (subject: in the issue, or [newsletter] subject)."
        )
    if not links.unsubscribe:
        warnings.append("No unsubscribe link: set [links] unsubscribe_url (bulk senders must).")
    if not settings.newsletter.postal_address:
        warnings.append("No postal address in the footer: set [newsletter] postal_address.")
    if not PREHEADER_RANGE[0] <= len(preheader) <= PREHEADER_RANGE[1]:
        warnings.append(f"The preheader is {len(preheader)} characters; inboxes show 40–100 best.")
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        warnings.append(
            f"The HTML is {size / 1024:.0f} KB: Gmail clips messages over ~102 KB "
            "(and drops their styles). Cut articles or images."
        )
    elif size > CLIP_WARN_BYTES:
        warnings.append(f"The HTML is {size / 1024:.0f} KB, near Gmail's ~102 KB clipping limit.")
    return warnings


def render_issue(issue: Issue, settings: Settings) -> Rendered:
    """Render ``issue`` with ``settings``: the expensive part, done once per issue."""
    nl = settings.newsletter
    name = issue.newsletter or nl.name
    subject = issue.subject_for(name, nl.subject)
    preheader = _preheader(issue)
    fmt = {"slug": issue.slug, "number": issue.number, "date": issue.date.isoformat()}
    links = _links(settings, fmt)
    context: dict[str, Any] = {
        "issue": issue,
        "newsletter": {**nl.model_dump(by_alias=False), "name": name},
        "brand": settings.brand,
        "subject": subject,
        "preheader": preheader,
        "lead": issue.lead,
        "sections": issue.groups,
        "lang": issue.lang or nl.lang,
        "dir": issue.dir or nl.dir,
        "date_human": f"{issue.date.day} {issue.date:%B} {issue.date.year}",
        "links": {"view_online": links.view_online, "unsubscribe": links.unsubscribe},
        "track": _tracker(settings.links.utm, fmt),
        "merge": lambda field_name, default="": Markup(placeholder(field_name, default)),
    }
    user_dir = settings.path(settings.templates.dir) if settings.templates.dir else None
    if user_dir is not None and not user_dir.is_dir():
        raise ConfigError(_no_template_dir(settings, user_dir))
    env = template_environment(user_dir)
    html = _render_html(env, context)
    content = Content(
        issue_id=issue.slug,
        subject=subject,
        html=html,
        text=_render_text(env, context),
        sender=_sender(nl.from_, "from"),
        reply_to=_sender(nl.reply_to, "reply_to") if nl.reply_to else None,
        headers={**links.headers(), "List-Id": _list_id(settings, name)},
        tags=("digest", issue.slug),
        metadata={"digest_issue": issue.slug},
    )
    return Rendered(
        issue=issue,
        slug=issue.slug,
        preheader=preheader,
        content=content,
        warnings=tuple(_warnings(settings, issue, links, subject, preheader, html)),
    )


def _render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as e:
        where = f"{e.filename or e.name or name}:{e.lineno}"
        raise TemplateError(f"Template {where} has a syntax error: {e.message}") from None
    except jinja2.TemplateError as e:
        raise TemplateError(f"Template {name} failed: {e.message or e}") from None


def _render_html(env: jinja2.Environment, context: dict[str, Any]) -> str:
    return inline_css(compile_mjml(_render(env, "email.mjml.j2", context)))


def _render_text(env: jinja2.Environment, context: dict[str, Any]) -> str:
    refs: list[str] = []

    def ref(url: str) -> int:
        if url not in refs:
            refs.append(url)
        return refs.index(url) + 1

    text = _render(env, "email.txt.j2", {**context, "refs": refs, "ref": ref})
    # Trailing spaces go, except in "-- ", the signature separator (RFC 3676 § 4.3).
    lines = [line if line == SIGNATURE else line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def _no_template_dir(settings: Settings, folder: Path) -> str:
    """``digest.toml:LINE: [templates] dir: …``: the line to fix, as every config error."""
    from ..config import TemplateSettings
    from ..config_problems import section_problems

    what = "not a folder" if folder.exists() else "no such folder"
    message = (
        f"{what}: {folder}. Point it at the folder holding your copies of the templates "
        "(relative to digest.toml), or remove it to use the built-in ones."
    )
    error = {"loc": ("dir",), "msg": message, "type": "value_error"}
    return section_problems(settings.source, ("templates",), [error], TemplateSettings)
