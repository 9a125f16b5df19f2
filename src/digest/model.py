"""The issue model: what an editor picked, typed and validated. No I/O, no digest imports."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date as Date
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from .text import shown

__all__ = [
    "MAX_ISSUE_NUMBER",
    "Article",
    "Image",
    "Issue",
    "Section",
    "article_problem",
    "check_text",
    "check_url",
    "describe_forbidden",
    "forbidden_character",
    "has_login",
    "masked_login",
    "slugify",
]

ALLOWED_SCHEMES = ("http", "https", "mailto")

FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
"""C0 and C1 control characters other than tab and line breaks, lone surrogates and the
noncharacters U+FFFE/U+FFFF: nothing a reader could see, and the MJML compiler (an XML
parser) fails on them with no hint of where they came from."""
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC"}


def forbidden_character(text: str) -> str | None:
    """What is wrong with ``text``, naming its first forbidden character; None if nothing."""
    m = FORBIDDEN_CHARACTERS.search(text)
    if m is None:
        return None
    return describe_forbidden(m.group(), f"at character {m.start() + 1}")


def describe_forbidden(char: str, where: str) -> str:
    """``contains … U+001B (ESC) <where>: remove it …``: one wording for every boundary."""
    code = ord(char)
    label = f"U+{code:04X}"
    if code in _CONTROL_NAMES:
        label += f" ({_CONTROL_NAMES[code]})"
    kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "the invisible character"
    return (
        f"contains {kind} {label} {where}: remove it "
        "(only tab and line breaks are allowed among control characters)"
    )


def check_text(text: str) -> str:
    """Refuse text holding a character from :data:`FORBIDDEN_CHARACTERS`."""
    problem = forbidden_character(text)
    if problem:
        raise ValueError(problem)
    return text


def _split(url: str) -> SplitResult:
    """``url``'s parts; what ``urlsplit`` refuses said in words, as other field errors are."""
    try:
        return urlsplit(url)
    except ValueError as e:
        if str(e) == "Invalid IPv6 URL":
            raise ValueError(
                f"{url!r} has a [ or ] that does not pair up: brackets hold an IPv6 address, "
                "e.g. https://[2001:db8::1]/"
            ) from None
        raise ValueError(f"{url!r} has a host digest cannot read: {e}") from None


def check_url(url: str, schemes: tuple[str, ...] = ALLOWED_SCHEMES) -> str:
    """Accept only absolute http, https and mailto links: nothing a reader's client could run."""
    url = check_text(url.strip())
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(f"{s}:" for s in schemes)
        shown = f"{scheme}:" if scheme else "a relative link"
        raise ValueError(f"links must start with {allowed} — {shown} is not allowed ({url!r})")
    if scheme in ("http", "https") and not parts.netloc:
        raise ValueError(f"{url!r} has no host")
    if any(c.isspace() for c in url):
        raise ValueError(f"{url!r} contains spaces; encode them as %20")
    return url


_LOGIN = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?//([^/?#]*)@")
"""The ``user:password@`` of an address, found as ``urlsplit`` finds its netloc, but on any
text: the password must stay hidden even in an address ``urlsplit`` refuses."""


def has_login(url: str) -> bool:
    """Whether ``url`` carries login details (``user:password@``), which digest never
    sends, stores or shows."""
    return _LOGIN.match(url.strip()) is not None


def masked_login(url: str) -> str:
    """``url`` with its password (or a lone user name, often a token) shown as ``***``."""

    def hide(m: re.Match[str]) -> str:
        user, colon, _ = m[2].partition(":")
        return f"{m[1] or ''}//{user + ':***' if colon else '***'}@"

    return _LOGIN.sub(hide, url.strip(), count=1)


def _one_line(value: str) -> str:
    if any(c in value for c in "\n\r\u2028\u2029"):
        raise ValueError("must be on one line")
    return value


def _web_url(value: str) -> str:
    return check_url(value, ("http", "https"))


def _markdown_links(text: str) -> str:
    """Every Markdown link must pass :func:`check_url`; otherwise it would reach readers as
    raw ``[text](target)`` (the renderer refuses to link it)."""
    if "](" not in text and "]:" not in text:
        return text
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    for token in md.parseInline(text) if "\n\n" not in text else md.parse(text):
        for child in token.children or []:
            if child.type == "link_open":
                check_url(str(child.attrs.get("href", "")))
    return text


Line = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(_one_line),
    AfterValidator(check_text),
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(check_text)
]
Markdown = Annotated[Text, AfterValidator(_markdown_links)]
Url = Annotated[str, AfterValidator(check_url)]
WebUrl = Annotated[str, AfterValidator(_web_url)]


def slugify(text: str, max_length: int = 60) -> str:
    """ASCII, lower-case, hyphenated: for file names and URL paths."""
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^a-zA-Z0-9]+", "-", s).strip("-").lower()
    return s[:max_length].rstrip("-") or "issue"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Image(_Model):
    """A picture shown with an article; ``alt`` describes it for screen readers."""

    src: WebUrl = Field(description="Absolute http(s) URL of the image.")
    alt: Text = Field(description="What the image shows, for people who cannot see it.")
    width: int | None = Field(None, ge=16, le=1200, description="Display width in px.")


class Article(_Model):
    """One picked article: a headline and summary linking to the full piece."""

    headline: Line = Field(description="The article's headline, on one line.")
    summary: Markdown | None = Field(
        None, description="One or two sentences; light Markdown allowed (a draft may lack it)."
    )
    url: Url | None = Field(
        None,
        description="Link to the article (http, https or mailto); a draft may lack it, "
        "but `digest check` and a real send refuse an issue with an article without one.",
    )
    kicker: Line | None = Field(None, description="Short label shown above the headline.")
    section: Line | None = Field(None, description="Section heading this article goes under.")
    author: Line | None = None
    site: Line | None = Field(None, description="The site or publication it appeared in.")
    image: Image | None = None
    lead: bool = Field(False, description="The lead story: shown first and largest.")


class Section(_Model):
    """Articles under one heading; ``name`` is None for articles given no section."""

    name: str | None
    articles: tuple[Article, ...]


MAX_ISSUE_NUMBER = 1_000_000
"""Far past any newsletter's run (a daily one would take 2,700 years): a larger number is
a typo, and slugs, file names and subjects would carry it."""


def _none_is_empty(value: object) -> object:
    """``articles:`` left empty is YAML's null: no articles yet, as ``articles: []`` says."""
    return [] if value is None else value


class Issue(_Model):
    """One issue of the newsletter, as the editor wrote it."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        json_schema_extra={"title": "digest issue file"},
    )

    newsletter: Line | None = Field(
        None, description="Newsletter name; defaults to [newsletter] name in digest.toml."
    )
    number: int = Field(ge=1, le=MAX_ISSUE_NUMBER, description="Issue number.")
    date: Date = Field(description="Issue date, YYYY-MM-DD.")
    send_at: AwareDatetime | None = Field(
        None, description="When `digest send-due` may send it; must include a time zone."
    )
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")] = Field(
        "", description="Used in file names and the view-online URL; default issue-NUMBER."
    )
    subject: Line | None = Field(
        None, description="Default: the lead headline ([newsletter] subject in digest.toml)."
    )
    preheader: Line | None = Field(
        None, description="Preview text shown after the subject in inboxes (40–100 chars)."
    )
    intro: Markdown | None = Field(None, description="Editor's note; light Markdown allowed.")
    lang: Annotated[str, AfterValidator(check_text)] | None = Field(
        None, description="Language tag, e.g. en, de, ar."
    )
    dir: Literal["ltr", "rtl", "auto"] | None = Field(None, description="Text direction.")
    sections: list[Line] | None = Field(
        None,
        description="Section names in the order they appear; sections not listed follow "
        "in order of first appearance. `digest new` copies it to the next issue.",
    )
    articles: Annotated[
        list[Article], BeforeValidator(_none_is_empty, json_schema_input_type=list[Article] | None)
    ] = Field(
        default_factory=list,
        description="The picks, in order (a draft may have none yet: `articles:` left empty).",
    )

    @model_validator(mode="after")
    def _one_lead(self) -> Issue:
        if not self.slug:
            object.__setattr__(self, "slug", f"issue-{self.number}")
        if self.sections is not None:
            seen: set[str] = set()
            for name in self.sections:
                if name in seen:
                    raise ValueError(f"sections: {name!r} is listed twice")
                seen.add(name)
        leads = [i for i, a in enumerate(self.articles) if a.lead]
        if len(leads) > 1:
            numbers = ", ".join(str(i + 1) for i in leads)
            raise ValueError(
                f"only one article may be the lead; articles {numbers} all say lead: true"
            )
        return self

    @property
    def lead(self) -> Article | None:
        """The article marked lead, else the first; None while a draft has no articles."""
        return next(
            (a for a in self.articles if a.lead), self.articles[0] if self.articles else None
        )

    @property
    def groups(self) -> list[Section]:
        """Articles other than the lead, grouped by section.

        Sections named in ``sections`` come first, in that order; the others follow in order
        of first appearance. The editor's order is kept within each.
        """
        lead = self.lead
        order: dict[str | None, list[Article]] = {name: [] for name in self.sections or ()}
        for a in self.articles:
            if a is lead:
                continue
            order.setdefault(a.section, []).append(a)
        return [Section(name=name, articles=tuple(items)) for name, items in order.items() if items]

    @property
    def draft_problems(self) -> list[str]:
        """Why this issue is still a draft (empty when it is complete enough to send)."""
        if not self.articles:
            return ["it has no articles yet"]
        return [
            f"article {i} ('{shown(a.headline)}') has no link"
            for i, a in enumerate(self.articles, start=1)
            if not a.url
        ]

    @property
    def is_draft(self) -> bool:
        """A draft loads, previews and builds, but `digest check` and real sends refuse it."""
        return bool(self.draft_problems)

    def subject_for(self, newsletter: str, template: str = "{headline}") -> str:
        """The issue's subject, else ``template`` filled (``{headline}`` leads: phones show
        40–60 characters, and the From line already names the newsletter). A draft with no
        articles yet has no headline to lead with; it says so."""
        if self.subject:
            return self.subject
        lead = self.lead
        return template.format(
            headline=lead.headline if lead else "(no articles yet)",
            newsletter=newsletter,
            number=self.number,
            date=self.date.isoformat(),
        )


def article_problem(article: Mapping[str, Any]) -> str | None:
    """What an issue file would refuse in ``article`` (made by digest from a page or a
    feed), field by field on one line; None if nothing. Checked before the article is
    written, so the message can name where it came from rather than a line of the file."""
    try:
        Article.model_validate(article)
    except ValidationError as e:
        return "; ".join(
            f"{' → '.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        )
    return None
