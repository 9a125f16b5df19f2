"""The MIME message: built by the stdlib, parsed back by the stdlib."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from digest.errors import HeaderError, IssueFileError
from digest.message import Address, Content, Recipient, build_mime
from digest.render import Rendered
from digest.sources import parse_issue


def _parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_eml_parses_back_into_text_then_html_with_correct_headers(
    sample_rendered: Rendered,
) -> None:
    raw = sample_rendered.preview_message().as_bytes()
    msg = _parse(raw)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parts[0].get_content() == sample_rendered.preview_text()
    assert parts[1].get_content() == sample_rendered.preview_html()
    assert msg["Subject"] == sample_rendered.subject
    assert msg["To"] == "undisclosed-recipients:;"
    assert msg["From"].addresses[0].addr_spec == "weekly@example.org"
    assert msg["Reply-To"] == "editors@example.org"
    assert msg["MIME-Version"] == "1.0"
    assert msg["Date"].datetime.tzinfo is not None
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.org>")


def test_non_ascii_subject_is_rfc2047_encoded_and_lines_stay_short(
    sample_rendered: Rendered,
) -> None:
    raw = sample_rendered.preview_message().as_bytes()
    header_block = raw.split(b"\n\n", 1)[0]
    assert b"=?utf-8?" in header_block
    assert "’".encode() not in header_block
    assert max(len(line) for line in raw.splitlines()) <= 998
    assert all(b < 128 for b in raw), "the message should be 7-bit clean after encoding"


def test_list_unsubscribe_headers_are_filled_per_recipient(sample_rendered: Rendered) -> None:
    r = Recipient(
        "ann@example.net", "Ann", {"unsubscribe_url": "https://example.org/unsubscribe/TOK"}
    )
    msg = _parse(build_mime(sample_rendered.content, r).as_bytes())
    assert msg["List-Unsubscribe"] == (
        "<https://example.org/unsubscribe/TOK>, "
        "<mailto:unsubscribe@example.org?subject=unsubscribe>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["To"] == "Ann <ann@example.net>"
    html = msg.get_body(("html",))
    assert html is not None and "https://example.org/unsubscribe/TOK" in html.get_content()


def test_values_filled_into_html_are_escaped_and_text_is_raw() -> None:
    c = Content(
        "i",
        "Hi @@digest.name|friend@@",
        "<p>Hi @@digest.name|friend@@</p>",
        "Hi @@digest.name|friend@@",
        Address("a@example.org", "A"),
    )
    r = Recipient("b@example.org", "<Bob & Co>")
    assert c.html_for(r) == "<p>Hi &lt;Bob &amp; Co&gt;</p>"
    assert c.text_for(r) == "Hi <Bob & Co>"
    assert c.text_for(Recipient("c@example.org")) == "Hi friend"


@pytest.mark.parametrize("field", ["subject", "name", "sender"])
def test_line_breaks_in_header_values_are_refused(field: str) -> None:
    with pytest.raises(HeaderError, match="line break"):
        if field == "subject":
            Content("i", "Hi\r\nBcc: x@evil.example", "h", "t", Address("a@example.org"))
        elif field == "name":
            Address("a@example.org", "Eve\nBcc: x@evil.example")
        else:
            c = Content("i", "s", "h", "t", Address("a@example.org"))
            build_mime(c, Recipient("b@example.org", "x\ny"))


def test_subject_with_a_line_break_in_an_issue_file_is_a_clear_error() -> None:
    text = (
        'number: 1\ndate: 2026-01-01\nsubject: "Hi\\r\\nBcc: x@evil.example"\n'
        "articles:\n  - headline: h\n    summary: s\n    url: https://example.org/\n"
    )
    with pytest.raises(IssueFileError, match=r"x.yaml:3: subject: must be on one line"):
        parse_issue(text, "x.yaml")


def test_internationalised_address_stays_utf8_while_name_and_subject_are_encoded() -> None:
    """RFC 6531 keeps the address raw; RFC 2047 words for the name and subject (rspamd)."""
    sender = Address("news@example.org", "Nachrichten Ü")
    c = Content("i", "Grüße aus Köln", "<p>h</p>", "t", sender)
    raw = build_mime(c, Recipient("محمد@example.org", "محمد")).as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    to = next(line for line in head.splitlines() if line.startswith(b"To:"))
    assert to == "To: =?utf-8?b?2YXYrdmF2K8=?= <محمد@example.org>".encode()
    subject = next(line for line in head.splitlines() if line.startswith(b"Subject:"))
    assert subject.isascii() and b"=?utf-8?" in subject
    sender = next(line for line in head.splitlines() if line.startswith(b"From:"))
    assert sender.isascii() and b"=?utf-8?" in sender
    msg = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "محمد@example.org"
    assert msg["To"].addresses[0].display_name == "محمد"
    assert msg["From"].addresses[0].display_name == "Nachrichten Ü"
    assert msg["Subject"] == "Grüße aus Köln"
    non_ascii = [line for line in head.splitlines() if not line.isascii()]
    assert non_ascii == [to], "only the address itself may be raw UTF-8"


def test_long_list_unsubscribe_url_is_never_encoded(sample_rendered: Rendered) -> None:
    url = "https://example.org/unsubscribe/" + "A" * 110 + ".sig-" + "b" * 43
    r = Recipient("ann@example.net", "Ann", {"unsubscribe_url": url})
    raw = build_mime(sample_rendered.content, r).as_bytes()
    header = raw.split(b"\nList-Unsubscribe:", 1)[1].split(b"\nList-Unsubscribe-Post", 1)[0]
    assert b"=?" not in header
    assert f"<{url}>".encode() in header
    msg = _parse(raw)
    assert msg["List-Unsubscribe"] == (
        f"<{url}>, <mailto:unsubscribe@example.org?subject=unsubscribe>"
    )


def test_digest_id_is_the_message_id_local_part() -> None:
    from digest.message import Recipient, digest_id_of

    r = Recipient("a@example.org", message_id="<digest.0123abcd@news.example.org>")
    assert r.digest_id == "0123abcd"
    assert digest_id_of("<digest.ff@x.org>") == "ff"
    assert Recipient("b@example.org").digest_id is None


@pytest.mark.parametrize("sep", ["\u2028", "\x85", "\x1e", "\x0c"])
def test_other_line_separators_in_a_name_become_a_space_on_both_paths(sep: str) -> None:
    """The stdlib refuses them in a header with a bare ValueError; a subscriber's name may
    hold one, so it becomes a space rather than a traceback."""
    from digest.delivery._mime import render_message

    c = Content("i", "Hi @@digest.name@@", "<p>h</p>", "t", Address("news@example.org"))
    r = Recipient("ann@example.org", f"Ann{sep}Lee")
    for data in (build_mime(c, r).as_bytes(), render_message(c, r).data):
        msg = _parse(data)
        assert msg["To"].addresses[0].display_name == "Ann Lee"
        assert str(msg["Subject"]) == "Hi Ann Lee"


def test_lone_surrogate_in_a_name_is_a_clear_header_error_not_a_traceback() -> None:
    c = Content("i", "Hi", "<p>h</p>", "t", Address("news@example.org"))
    with pytest.raises(HeaderError, match="lone surrogate U\\+D800"):
        build_mime(c, Recipient("ann@example.org", "Ann \ud800"))


@pytest.mark.parametrize(
    "subject", ["=?utf-8?q?x?=", "Save =?utf-8?b?eA==?= now", "Hi @@digest.x@@"]
)
def test_subject_that_looks_like_an_encoded_word_reaches_readers_as_written(subject: str) -> None:
    """The stdlib decodes such text when a header is set: it is handed over encoded."""
    from digest.delivery._mime import render_message

    c = Content("i", subject, "<p>h</p>", "t", Address("news@example.org"))
    r = Recipient("a@example.org", "", {"x": "=?utf-8?q?y?="})
    want = subject.replace("@@digest.x@@", "=?utf-8?q?y?=")
    for data in (build_mime(c, r).as_bytes(), render_message(c, r).data):
        assert str(_parse(data)["Subject"]) == want


def test_a_lone_surrogate_in_a_display_name_is_a_header_error() -> None:
    """Found by the MIME property test: the stdlib raised UnicodeEncodeError instead."""
    import pytest

    from digest.errors import HeaderError
    from digest.message import Address

    with pytest.raises(HeaderError, match="lone surrogate"):
        Address("news@example.org", "\ud800")
