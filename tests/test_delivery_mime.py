"""The fast per-recipient MIME path gives what build_mime gives, read back by the stdlib."""

from __future__ import annotations

import email
import email.policy
import random
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from digest.delivery._mime import MimeTemplate, render_message
from digest.errors import HeaderError
from digest.message import Address, Content, Recipient, build_mime

DATE = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
CRLF_POLICY = email.policy.default.clone(max_line_length=76, linesep="\r\n")

HTML = (
    "<!doctype html>\n<html><body>\n<p>Hello @@digest.name|reader@@,</p>\n"
    "<p>Static line with “quotes” — and a trailing space </p>\n"
    "<p>Yours: @@digest.email@@ · <a href=\"@@digest.unsubscribe_url@@\">unsubscribe</a></p>"
    "\n</body></html>\n"
)
TEXT = (
    "Hello @@digest.name|reader@@,\n\nA line that is longer than seventy-six characters so "
    "quoted-printable must break it softly somewhere.\nTrailing tab\t\n"
    "Unsubscribe: @@digest.unsubscribe_url@@\n"
)


def content(**overrides: Any) -> Content:
    values: dict[str, Any] = {
        "issue_id": "2026-w48",
        "subject": "Weekly digest for @@digest.name|you@@",
        "html": HTML,
        "text": TEXT,
        "sender": Address("news@example.org", "Example News"),
        "reply_to": Address("editor@example.org", "Éditeur"),
        "headers": {
            "List-Unsubscribe": "<@@digest.unsubscribe_url@@>, <mailto:unsub@example.org>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Campaign": "weekly-48",
        },
    }
    values.update(overrides)
    return Content(**values)


def person(name: str = "Alex Reader", email_: str = "alex@example.com", **fields: str) -> (
    Recipient
):
    values = {"unsubscribe_url": "https://example.org/u/abc123?t=1&x=2"}
    values.update(fields)
    return Recipient(email_, name, values, message_id="<digest.1.abc@example.org>")


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def view(msg: EmailMessage, *, strip: bool = False) -> dict[str, Any]:
    """Everything a reader sees: headers (boundary aside) and each decoded part.

    ``strip``: the stdlib, reading its own output back, keeps the folding space when it
    folded straight after the colon (``List-Unsubscribe:`` CRLF SP ``<https…>``); that space
    is not part of the value (RFC 5322 unfolding), so compare those round trips stripped.
    """
    headers: list[tuple[Any, ...]] = []
    for part in msg.walk():
        for name, value in part.items():
            if name.lower() == "content-type":
                params = {k: v for k, v in part.get_params() or [] if k != "boundary"}
                headers.append((name, part.get_content_type(), params))
            else:
                headers.append((name, str(value).strip() if strip else str(value)))
    leaves = [
        (p.get_content_type(), p.get_content_charset(), p.get_content())
        for p in msg.walk()
        if not p.is_multipart()
    ]
    return {"headers": headers, "parts": leaves}


def assert_same(c: Content, r: Recipient) -> bytes:
    """Fast bytes read back by the stdlib say what build_mime's message says.

    The headers and decoded parts equal the in-memory message's (LF line ends there). Where
    the stdlib cannot read its own folding back exactly (it drops or adds a space around
    encoded words in long non-ASCII headers), the fast path takes the stdlib's folding for
    that header, so the read-back then equals build_mime's read back from its own bytes.
    """
    fast = MimeTemplate(c).render(r, date=DATE)
    want = build_mime(c, r, date=DATE)
    got = view(parse(fast.data))
    got["parts"] = [(t, cs, b.replace("\r\n", "\n")) for t, cs, b in got["parts"]]
    if got != view(want):
        assert view(parse(fast.data), strip=True) == view(
            parse(want.as_bytes(policy=CRLF_POLICY)), strip=True
        )
    assert b"\n" not in fast.data.replace(b"\r\n", b"")
    head, _, body = fast.data.partition(b"\r\n\r\n")
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    return fast.data


def exact(c: Content, r: Recipient) -> None:
    """Read back, the fast bytes give exactly the in-memory message's headers and parts."""
    got = view(parse(MimeTemplate(c).render(r, date=DATE).data))
    got["parts"] = [(t, cs, b.replace("\r\n", "\n")) for t, cs, b in got["parts"]]
    assert got == view(build_mime(c, r, date=DATE))


NAMES = {
    "ascii": "Alex Reader",
    "empty": "",
    "comma-quoted": "Doe, John",
    "quotes-apostrophe": 'Ann "The Hammer" O\'Neil',
    "latin": "Zoë Ångström-Łukasiewicz",
    "arabic-rtl": "مريم الحسن",
    "hebrew-rtl": "דוד כהן",
    "mixed-bidi": "Sam \u202eevil\u202c סמי",
    "cjk": "山田太郎",
    "emoji": "Ada 🚀 Lovelace",
    "long-non-ascii": "Ĳsbrand Ŵolfgang Ÿves-Ørjan Þórðarson Ægir Çelik Đorđević Ñúñez",
    "encoded-word-lookalike": "=?utf-8?q?not_really?=",
    "double-space": "Two  Spaces ",
}


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_recipient_names_read_back_as_build_mime(name: str) -> None:
    assert_same(content(), person(name))


@pytest.mark.parametrize(
    "name", ["Alex Reader", "Doe, John", "Zoë Ångström", "مريم الحسن", "דוד כהן", "山田太郎",
             "Ada 🚀 Lovelace", "Ĳsbrand Ŵolfgang Ÿves-Ørjan Þórðarson"],
)
def test_common_names_read_back_exactly(name: str) -> None:
    """Ordinary names in any script (up to one encoded word, 45 UTF-8 bytes) read back
    exactly; longer ones take the stdlib's folding and its quirks, as build_mime does."""
    exact(content(), person(name))


SUBJECTS = {
    "ascii": "Weekly digest for @@digest.name|you@@",
    "static-non-ascii": "Недельный дайджест — выпуск 48",
    "rtl-with-placeholder": "النشرة الأسبوعية لـ @@digest.name@@",
    "long": "A subject long enough that the header has to be folded across lines, for "
    "@@digest.name@@, with more words after it",
    "long-non-ascii": "Ein sehr langer Betreff für @@digest.name@@ über Straßenbahnen, Äpfel, "
    "Öfen und Übermut — Ausgabe 48",
}


@pytest.mark.parametrize("subject", list(SUBJECTS.values()), ids=list(SUBJECTS))
@pytest.mark.parametrize("name", ["Alex Reader", "مريم الحسن", "Zoë"])
def test_subjects_read_back_exactly_as_build_mime(subject: str, name: str) -> None:
    exact(content(subject=subject), person(name))


def test_rtl_bodies_and_html_specials_in_values_read_back_as_build_mime() -> None:
    c = content(
        html="<html dir=\"rtl\"><body>\n<p>مرحبا @@digest.name@@</p>\n<p>שלום</p>\n</body></html>",
        text="مرحبا @@digest.name@@\nשלום עולם\n",
    )
    data = assert_same(c, person("<b>Tom & \"Jerry\"</b>"))
    html = next(p for p in parse(data).walk() if p.get_content_type() == "text/html")
    assert "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;" in html.get_content()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("no newline at the end @@digest.x@@", "v"),
        ("last line only placeholder\n@@digest.x@@", ""),
        ("@@digest.x@@", ""),
        ("", "v"),
        ("windows\r\nline\rends @@digest.x@@\r\n", "v"),
        ("value with a newline: @@digest.x@@\nafter", "one\ntwo\r\nthree\n"),
        ("value ending in a newline, last line: @@digest.x@@", "end\n"),
        ("trailing spaces come from the value @@digest.x@@\n", "   "),
        ("=3D and = signs @@digest.x@@ =\n", "a=b"),
        ("." + "x" * 200 + "@@digest.x@@\n", "y" * 300),
    ],
)
def test_line_edge_cases_read_back_as_build_mime(text: str, value: str) -> None:
    c = content(text=text, html=text.replace("\n", "<br>\n"))
    assert_same(c, person(x=value))


def test_minified_html_with_placeholders_mid_line_reads_back_as_build_mime() -> None:
    """Rendered HTML comes as a few very long lines; values land in their middle."""
    cell = '<td style="padding:0 24px">Café — “{n}” =&gt; ok</td>'
    html = "<table><tr>" + "".join(cell.format(n=n) for n in range(400)) + (
        "<td>Hi @@digest.name|there@@</td>" + "".join(cell.format(n=n) for n in range(400))
        + '<td><a href="@@digest.unsubscribe_url@@">x</a> @@digest.email@@</td></tr></table>'
    )
    assert "\n" not in html and len(html) > 30_000
    c = content(html=html)
    for name in ("Alex", "مريم <&> \"Zoë\"", "", " " * 90, "=" * 200):
        assert_same(c, person(name))


def test_unsubscribe_header_left_empty_is_dropped_like_build_mime() -> None:
    c = content(headers={"List-Unsubscribe": "<@@digest.unsubscribe_url@@>", "X-Static": "<>"})
    data = assert_same(c, person(unsubscribe_url=""))
    assert "List-Unsubscribe" not in parse(data)
    assert "X-Static" not in parse(data)


def test_long_unsubscribe_url_stays_a_plain_url_in_the_raw_header() -> None:
    """Mailbox providers read List-Unsubscribe raw: a long URL must not become encoded words
    (the stdlib's folder does that to any word longer than a line)."""
    url = "https://example.org/unsubscribe/" + "t0k3n" * 30
    data = assert_same(content(), person(unsubscribe_url=url))
    raw = data.split(b"List-Unsubscribe: ", 1)[1].split(b"\r\nList-Unsubscribe-Post")[0]
    assert raw == f"<{url}>,\r\n <mailto:unsub@example.org>".encode()
    assert str(parse(data)["List-Unsubscribe"]) == f"<{url}>, <mailto:unsub@example.org>"


def test_message_id_is_made_when_the_recipient_has_none() -> None:
    r = Recipient("a@example.com", "A", {"unsubscribe_url": "https://e.org/u"})
    out = render_message(content(), r)
    assert out.message_id.endswith("@example.org>")
    assert str(parse(out.data)["Message-ID"]) == out.message_id
    assert render_message(content(), r).message_id != out.message_id


@pytest.mark.parametrize(
    "recipient",
    [
        Recipient("a@example.com", "A\r\nBcc: x@example.com"),
        Recipient("a@example.com", "A", {"unsubscribe_url": "https://e.org/u\r\nBcc: x@e.org"}),
        Recipient("a@example.com", "A", message_id="<a@b>\r\nBcc: x@example.com"),
    ],
    ids=["name", "header-field", "message-id"],
)
def test_line_breaks_in_header_values_are_refused(recipient: Recipient) -> None:
    with pytest.raises(HeaderError):
        MimeTemplate(content()).render(recipient)


def test_many_random_names_and_values_read_back_as_build_mime() -> None:
    """A seeded mix of scripts, spaces, quotes and '=?' finds what hand-picked cases miss."""
    rng = random.Random(48)
    alphabet = list("abcXYZ019 .,;:'\"()<>@=?_-\t") + list("éßŁ€ع ש山🚀\u200f")
    c = content(subject="@@digest.name@@ — weekly @@digest.x|x@@")
    template = MimeTemplate(c)
    for _ in range(300):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        r = person(name.replace("\t", " "), x=value)
        fast = template.render(r, date=DATE)
        want = build_mime(c, r, date=DATE)
        got = view(parse(fast.data))
        got["parts"] = [(t, cs, b.replace("\r\n", "\n")) for t, cs, b in got["parts"]]
        if got != view(want):
            assert view(parse(fast.data), strip=True) == view(
                parse(want.as_bytes(policy=CRLF_POLICY)), strip=True
            ), (name, value)
