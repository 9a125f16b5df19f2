"""Property tests (hypothesis) over the issue loader, the listing importer, both renderers and
the MIME builder.

For any text in any field — control characters, bidi marks, emoji, combining marks, very long
headlines, empty strings, markup, entities, template syntax, CR/LF — the result is a valid
message or one clear error naming the file, the line and the field. Never a traceback, never
markup from the input in the HTML (the output is parsed, not grepped), never a header line over
998 octets, never an injected header. Ordinary printable text must build, and its words must
appear in both parts. Profiles (examples per test) are set in tests/conftest.py.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import lxml.html
import pytest
import yaml
from hypothesis import assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.eml_checks import check_eml

from digest.config import Settings, load_settings
from digest.delivery._mime import render_message
from digest.errors import HeaderError, InputError, IssueFileError, ListingError
from digest.message import Address, Content, Recipient, build_mime
from digest.model import FORBIDDEN_CHARACTERS, Issue
from digest.render import Rendered, render_issue
from digest.sources import parse_issue
from digest.sources.listing import listing_to_yaml, parse_listing

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FULL = hsettings().max_examples


def share(fraction: float) -> int:
    """This test's part of the profile's examples: the costlier a test, the fewer (a render
    with its checks costs ~60 ms, building and checking two messages ~30 ms, loading ~25 ms)."""
    return max(10, int(FULL * fraction))


# Text a hostile or careless source could hold: anything at all, weighted towards what breaks
# parsers (controls, CR/LF, markup, entities, template syntax, bidi, combining marks, emoji).
NASTY = st.sampled_from(
    [
        "\x00", "\x1b[31m", "\x7f", "\x85", "\x9b", "\r\n", "\r", "\n", "\t", "\u2028",
        "<script>alert(1)</script>", "<b>", "</mj-text>", "<mj-raw>", "]]>", "<!--", "-->",
        "&amp;", "&", "&#0;", "&lt;", "{{ 7*7 }}", "{% raw %}", "@@digest.name@@",
        "\u202e", "\u200f", "\u200d", "e\u0301", "🚀", "👩‍👩‍👧", "=?utf-8?q?x?=", '"', "'",
        "`", "*", "_", "[a](javascript:alert(1))", "[b](https://e.org/)", "\ufeff",
        "\ufffd", "\U0010ffff", "\ud800", "Bcc: x@evil.example",
    ]
)
ANY_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(NASTY, st.text(max_size=8)), max_size=8).map("".join),
    st.just(""),
)


def _long(low: int, high: int) -> st.SearchStrategy[str]:
    """Very long text (a mixed-script phrase repeated): past the 998-octet line limit."""
    phrase = st.sampled_from(["Very long headline ", "Überlange Schlagzeile ", "عنوان طويل جدا "])
    return st.tuples(phrase, st.integers(low, high)).map(
        lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]]
    )


HEADLINE_TEXT = st.one_of(ANY_TEXT, _long(1_000, 10_000))
"""Headlines also come 10,000 characters long (the issue's own example)."""
WORD = st.tuples(
    st.text(st.characters(categories=["Lu", "Ll", "Lo"]), min_size=1, max_size=10),
    st.sampled_from(["", "", "", "1", "7"]),
).map("".join)
PLAIN = st.lists(WORD, min_size=1, max_size=12).map(" ".join)
"""Ordinary printable text: words of letters in any script (a digit may end one)."""


def _settings() -> Settings:
    from tests.paths import ROOT

    return load_settings(ROOT / "digest.toml", environ={})


SETTINGS = _settings()
ALLOWED_TAGS = {
    "html", "head", "title", "meta", "style", "body", "div", "table", "tbody", "tr", "td",
    "p", "h1", "h2", "h3", "a", "img", "strong", "em", "ul", "ol", "li", "code", "br",
    "blockquote", "hr",
}
"""Every element the templates and the Markdown renderer make; anything else came from input."""


def _issue_yaml(fields: dict[str, Any]) -> str:
    """An issue file holding ``fields`` as YAML strings (control characters escaped)."""
    article = {
        "headline": fields["headline"],
        "summary": fields["summary"],
        "url": fields["url"],
        "kicker": fields["kicker"],
        "section": fields["section"],
        "author": fields["author"],
        "image": {"src": "https://example.org/i.jpg", "alt": fields["alt"]},
    }
    doc = {
        "number": 7,
        "date": "2026-11-27",
        "intro": fields["intro"],
        "subject": fields["subject"],
        "articles": [article, {"headline": "Second", "summary": "S", "url": "https://e.org/"}],
    }
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=80)


FIELDS = st.fixed_dictionaries(
    {
        "headline": HEADLINE_TEXT,
        "summary": ANY_TEXT,
        "url": st.one_of(ANY_TEXT, st.just("https://example.org/a")),
        "kicker": ANY_TEXT,
        "section": ANY_TEXT,
        "author": ANY_TEXT,
        "alt": ANY_TEXT,
        "intro": ANY_TEXT,
        "subject": ANY_TEXT,
    }
)


def _assert_clear(error: IssueFileError, source: str) -> None:
    assert error.problems
    for line, _field, message in error.problems:
        assert isinstance(line, int) and line >= 1, error
        assert message and "Traceback" not in message
    assert str(error).startswith(f"{source}:")


@hsettings(max_examples=share(0.6))
@given(fields=FIELDS, raw=st.booleans(), where=st.sampled_from(["headline", "summary", "intro"]))
def test_issue_loader_gives_an_issue_or_one_clear_error(
    fields: dict[str, Any], raw: bool, where: str
) -> None:
    """Escaped (yaml.safe_dump) or typed raw into the file: an Issue, or file:line: field."""
    text = _issue_yaml(fields)
    if raw:  # the same text typed raw where a well-behaved value was
        text = text.replace("headline: Second", f"headline: Second{fields[where]}", 1)
    try:
        issue = parse_issue(text, "issues/x.yaml")
    except IssueFileError as e:
        _assert_clear(e, "issues/x.yaml")
        return
    for a in issue.articles:
        for value in (a.headline, a.summary, a.url, a.kicker or "", a.author or ""):
            assert FORBIDDEN_CHARACTERS.search(value) is None


@hsettings(max_examples=FULL)
@given(
    text=st.lists(st.one_of(ANY_TEXT, st.sampled_from(["\n", "\n\n", "\r\n\r\n"])), max_size=12)
    .map("".join)
)
def test_listing_importer_gives_articles_or_one_clear_error(text: str) -> None:
    """Any listing: articles whose issue file loads back with the text kept, or an error
    naming the file (and the line, whenever there is one)."""
    try:
        articles = parse_listing(text, "listing.txt")
    except ListingError as e:
        assert str(e).startswith("listing.txt:"), e
        assert re.match(r"listing\.txt:\d+: ", str(e)) or "no articles found" in str(e)
        return
    try:
        issue = parse_issue(listing_to_yaml(articles, number=3), "issue.yaml")
    except IssueFileError as e:
        _assert_clear(e, "issue.yaml")
        return
    for listed, article in zip(articles, issue.articles, strict=True):
        assert article.headline == listed.headline.strip()
        assert article.summary == listed.summary.strip()


def _model(fields: dict[str, Any]) -> Issue | None:
    data = {
        "number": 7,
        "date": "2026-11-27",
        "intro": fields["intro"] or None,
        "subject": fields["subject"] or None,
        "articles": [
            {
                "headline": fields["headline"],
                "summary": fields["summary"],
                "url": "https://example.org/a?x=1&y=<2>",
                "kicker": fields["kicker"] or None,
                "section": fields["section"] or None,
                "author": fields["author"] or None,
                "image": {"src": "https://example.org/i.jpg", "alt": fields["alt"] or "alt"},
            },
            {"headline": "Second", "summary": "S", "url": "https://example.org/b"},
        ],
    }
    try:
        return Issue.model_validate(data)
    except ValidationError:
        return None


def _elements(html: str) -> Any:
    return lxml.html.document_fromstring(html.encode("utf-8"))


def _check_rendered(rendered: Rendered) -> None:
    """Both parts, parsed: only the templates' own elements, no script, every header short."""
    doc = _elements(rendered.preview_html())
    tags = {el.tag for el in doc.iter() if isinstance(el.tag, str)}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        assert not [k for k in el.attrib if k.lower().startswith("on")], el.attrib
        for attr in ("href", "src"):
            value = el.get(attr)
            if value is not None and not value.startswith("@@"):
                assert value.split(":", 1)[0].lower() in ("http", "https", "mailto"), value
    check_eml(rendered.preview_message().as_bytes())


def _valid(text: str, *, one_line: bool) -> str:
    """``text`` with only what the boundary refuses taken out (so most examples are valid)."""
    text = FORBIDDEN_CHARACTERS.sub("", text)
    if one_line:
        text = re.sub(r"[\r\n]+", " ", text)
    return text if text.strip() else "x"


RENDER_FIELDS = st.fixed_dictionaries(
    {
        k: (HEADLINE_TEXT if k == "headline" else ANY_TEXT).map(
            lambda t, k=k: _valid(t, one_line=k not in ("summary", "intro", "alt"))
        )
        for k in ("headline", "summary", "kicker", "section", "author", "alt", "intro", "subject")
    }
)


@hsettings(max_examples=share(0.2))
@given(fields=RENDER_FIELDS)
def test_any_valid_issue_renders_without_markup_from_its_text(fields: dict[str, Any]) -> None:
    issue = _model(fields)
    assume(issue is not None)
    assert issue is not None
    rendered = render_issue(issue, SETTINGS)
    _check_rendered(rendered)
    headlines = [
        " ".join(a.text_content().split())
        for a in _elements(rendered.html).iter("a")
        if a.getparent() is not None and a.getparent().tag in ("h2", "h3")
    ]
    assert " ".join(issue.lead.headline.split()) in headlines


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


@hsettings(max_examples=share(0.15))
@given(
    headline=PLAIN,
    summary=PLAIN,
    kicker=st.one_of(st.none(), PLAIN),
    section=st.one_of(st.none(), PLAIN),
    author=st.one_of(st.none(), PLAIN),
    intro=st.one_of(st.none(), PLAIN),
)
def test_ordinary_text_builds_and_its_words_are_in_both_parts(
    headline: str,
    summary: str,
    kicker: str | None,
    section: str | None,
    author: str | None,
    intro: str | None,
) -> None:
    """Rejecting everything is not a pass: plain words always build, and show in both parts."""
    doc = {
        "number": 3,
        "date": "2026-11-27",
        "intro": intro,
        "articles": [
            {"headline": "Lead", "summary": "Lead summary.", "url": "https://example.org/l"},
            {
                "headline": headline,
                "summary": summary,
                "url": "https://example.org/a",
                "kicker": kicker,
                "section": section,
                "author": author,
            },
        ],
    }
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    rendered = render_issue(parse_issue(text, "plain.yaml"), SETTINGS)
    _check_rendered(rendered)
    msg = email.message_from_bytes(
        rendered.preview_message().as_bytes(), policy=email.policy.default
    )
    assert isinstance(msg, EmailMessage)
    html_part, text_part = msg.get_body(("html",)), msg.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html_words = _fold(" ".join(_words(_elements(html_part.get_content()).text_content())))
    text_words = _fold(" ".join(_words(text_part.get_content())))
    for value in (headline, summary, kicker, section, author, intro):
        for word in _words(value or ""):
            assert _fold(word) in html_words, word
            assert _fold(word) in text_words, word


def _fold(text: str) -> str:
    """Case-blind: section names are upper-cased in the text part (ı → I, ß → SS)."""
    return text.upper().casefold()


HEADER_TEXT = st.one_of(ANY_TEXT, PLAIN).map(lambda t: t.replace("@@", "@"))
"""Header text; ``@@`` goes, as a merge placeholder in a subject is a feature, not input."""
LONG_HEADER_TEXT = st.one_of(HEADER_TEXT, _long(990, 1_600))
_SPACES = re.compile("[\\s\x00-\x1f\x7f-\x9f]+")


def _same_words(a: str, b: str) -> bool:
    """Equal up to runs of white space and controls (line separators in a header become a
    space; Python's parser unfolds and may drop white space next to an encoded word)."""
    return _SPACES.sub("", a) == _SPACES.sub("", b)


@hsettings(max_examples=share(0.4))
@given(
    subject=LONG_HEADER_TEXT,
    name=HEADER_TEXT,
    local=st.one_of(st.just("reader"), WORD),
    value=LONG_HEADER_TEXT,
    body=HEADLINE_TEXT,
)
def test_mime_builder_gives_a_standard_message_or_a_header_error(
    subject: str, name: str, local: str, value: str, body: str
) -> None:
    """Both MIME paths (build_mime and the bulk template): a message that parses back to
    exactly its headers (none added), or HeaderError for a line break in a header value."""
    try:
        content = Content(
            "iss",
            f"{subject} @@digest.x|x@@",
            f"<p>{body}</p><p>@@digest.x@@</p>",
            f"{body}\n@@digest.x@@\n",
            Address("news@example.org", name),
            headers={
                "List-Unsubscribe": "<@@digest.unsubscribe_url@@>, <mailto:u@example.org>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        person = Recipient(
            f"{local}@example.org",
            name,
            {"x": value, "unsubscribe_url": "https://example.org/u/t"},
            message_id="<digest.1@example.org>",
        )
        datas = [
            build_mime(content, person, date=datetime(2026, 1, 1, tzinfo=UTC)).as_bytes(),
            render_message(content, person).data,
        ]
    except HeaderError as e:
        assert "line break" in str(e) or "lone surrogate" in str(e)
        assert any(re.search("[\r\n\ud800-\udfff]", s) for s in (subject, name, value))
        return
    except InputError as e:
        assert "lone surrogate" in str(e) and re.search("[\ud800-\udfff]", body)
        return
    for data in datas:
        msg = check_eml(data)
        names = [k.lower() for k in msg]
        assert names == [
            "from", "to", "subject", "date", "message-id", "list-unsubscribe",
            "list-unsubscribe-post", "mime-version", "content-type",
        ], names
        assert _same_words(str(msg["Subject"]), f"{subject} {value or 'x'}")
        assert msg["To"].addresses[0].addr_spec == person.email
        text = msg.get_body(("plain",))
        assert text is not None and value in text.get_content().replace("\r\n", "\n")
