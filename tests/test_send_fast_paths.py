"""The send path's shortcuts give exactly what the general code they skip would give.

Each fast path (an address written without the stdlib's Address, a JSON string quoted without
the encoder, a Postmark message written as pieces, headers fixed once per issue) is held
equal to its reference, the general code, over any text hypothesis finds: control
characters, quotes, specials, non-ASCII, empty values.
"""

from __future__ import annotations

import email
import email.policy
import json
from email.headerregistry import Address as StdAddress
from itertools import accumulate

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.servers.support import make_content, make_settings

from digest.delivery._http import (
    _in_chunks,
    json_bytes,
    json_pieces,
    json_str,
    multipart_pieces,
)
from digest.delivery.postmark import PostmarkProvider
from digest.errors import HeaderError
from digest.message import Address, Batch, Content, Recipient, check_header, format_address
from digest.message import list_headers as reference_list_headers

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# Text weighted towards what the shortcuts must not get wrong: the characters that make the
# stdlib quote a name or a local part, JSON escapes, controls, line breaks, non-ASCII.
TRICKY = st.sampled_from([
    *'()<>@,:;.\\"[] \t', "\x00", "\x1f", "\x7f", "\x0b", "\x85", "\u2028", "é", "Ω", "🚀",
    "\r", "\n", "=?utf-8?q?x?=", "a", "Z", "0", "-", "+", "'",
])
TEXT = st.lists(st.one_of(TRICKY, st.text(max_size=4)), max_size=8).map("".join)
NO_SURROGATES = TEXT.filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t))


def stdlib_formatted(email: str, name: str) -> str:
    """What ``Address.formatted`` gave before its shortcut: the stdlib, always."""
    if "@" not in email:
        return email
    local, _, domain = email.rpartition("@")
    return str(StdAddress(display_name=check_header("display name", name), username=local,
                          domain=domain))


@given(local=TEXT, domain=st.sampled_from(["example.org", "bücher.example", "x"]), name=TEXT)
def test_an_address_is_written_as_the_stdlib_writes_it(local: str, domain: str, name: str) -> None:
    email = f"{local}@{domain}"
    try:
        expected = stdlib_formatted(email, name)
        check_header("address", email)
    except (HeaderError, ValueError):
        with pytest.raises((HeaderError, ValueError)):
            format_address(email, name)
        return
    assert format_address(email, name) == expected
    assert Address(email, name).formatted() == expected


@given(NO_SURROGATES)
def test_a_json_string_is_quoted_as_the_encoder_quotes_it(text: str) -> None:
    assert json_str(text) == json.dumps(text, ensure_ascii=False).encode("utf-8")
    assert json.loads(json_str(text)) == text


def content_with(subject: str, header_value: str, metadata: dict[str, str]) -> Content:
    return make_content(
        subject=subject,
        headers={
            "List-Unsubscribe": header_value,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": "Example <example.example.org>",
        },
        metadata=metadata,
    )


def reference_headers(content: Content, r: Recipient) -> dict[str, str]:
    """Every header filled and checked per recipient, then tidied: the general code."""
    values = r.values()
    filled = {k: check_header(f"header {k}", content._headers[k].fill(values))
              for k in content.headers}
    return reference_list_headers(filled)


HEADER_TEMPLATES = st.sampled_from([
    "<@@digest.unsubscribe_url@@>",
    "<@@digest.unsubscribe_url@@>, <mailto:u@example.org?subject=unsubscribe>",
    "<mailto:u@example.org>, <@@digest.unsubscribe_url|https://example.org/u@@>",
    "<https://example.org/u/@@digest.token@@>",
    "<mailto:u@example.org>",
])
URLS = st.one_of(st.just(""), st.sampled_from(["https://example.org/u/1", "http://e.org/x",
                                               "HTTPS://E.ORG/y", "mailto:x@e.org"]), TEXT)


@given(template=HEADER_TEMPLATES, url=URLS, token=TEXT)
def test_headers_fixed_once_per_issue_are_the_headers_filled_per_recipient(
    template: str, url: str, token: str
) -> None:
    content = content_with("Weekly", template, {})
    r = Recipient("reader@example.org", "Reader", {"unsubscribe_url": url, "token": token})
    try:
        expected = reference_headers(content, r)
    except HeaderError:
        with pytest.raises(HeaderError):
            content.headers_for(r)
        return
    assert content.headers_for(r) == expected
    assert content.headers_for(r, r.values()) == expected


NAMES = st.one_of(st.just(""), st.sampled_from(["Reader", "J. Doe", 'Ann "A" B', "Zoë"]), TEXT)
FIELDS = st.dictionaries(st.sampled_from(["name", "city", "unsubscribe_url"]), TEXT, max_size=3)


@given(
    names=st.lists(NAMES, min_size=1, max_size=4),
    fields=FIELDS,
    subject=st.sampled_from(["Weekly digest", "Hi @@digest.name|you@@", "Ünïcode \"quoted\""]),
    metadata=st.dictionaries(st.sampled_from(["newsletter", "digest_id", "a\"b"]), TEXT,
                             max_size=2),
)
def test_a_postmark_batch_is_the_documented_message_of_every_recipient(
    names: list[str], fields: dict[str, str], subject: str, metadata: dict[str, str]
) -> None:
    """The body written as pieces decodes to exactly the message each recipient should get,
    built here from Content's own per-recipient methods."""
    content = content_with(subject, "<@@digest.unsubscribe_url@@>, <mailto:u@example.org>",
                           metadata)
    rs = [Recipient(f"r{i}@example.org", n, fields, f"<digest.{i:032x}@example.org>")
          for i, n in enumerate(names)]
    settings = make_settings("postmark", {"base_url": "http://127.0.0.1:9"},
                             {"POSTMARK_SERVER_TOKEN": "t"})
    provider = PostmarkProvider(settings)
    try:
        expected = [expected_message(content, r) for r in rs]
    except HeaderError:
        with pytest.raises(HeaderError):
            provider.build_request(Batch(content, rs, "k"))
        return
    request = provider.build_request(Batch(content, rs, "k"))
    body = b"".join(json_pieces(request.json))
    assert json.loads(body) == expected
    assert body == json_bytes(request.json)


def expected_message(content: Content, r: Recipient) -> dict[str, object]:
    assume(content.reply_to is not None)
    headers = [{"Name": k, "Value": v} for k, v in reference_headers(content, r).items()
               if v.strip("<>, ")]
    headers.append({"Name": "Message-ID", "Value": r.message_id})
    return {
        "From": content.sender.formatted(),
        "MessageStream": "broadcast",
        "Tag": content.issue_id,
        "ReplyTo": content.reply_to.formatted() if content.reply_to else None,
        "To": stdlib_formatted(r.email, r.name),
        "Subject": content.subject_for(r),
        "HtmlBody": content.html_for(r),
        "TextBody": content.text_for(r),
        "Metadata": {**content.metadata, "digest_issue": content.issue_id,
                     "digest_id": r.digest_id},
        "Headers": headers,
    }


@given(
    sizes=st.lists(st.integers(0, 3000), max_size=60),
    size=st.sampled_from([1, 10, 1000, 5000, 1 << 20]),
)
def test_a_body_streamed_in_chunks_is_the_body_cut_where_a_write_is_full(
    sizes: list[int], size: int
) -> None:
    """Every byte once, in order; no empty write; each write but the last at least ``size``
    bytes and cut at the first piece that fills it."""
    pieces = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    chunks = list(_in_chunks(pieces, size))
    assert b"".join(chunks) == b"".join(pieces)
    assert all(chunks)
    assert all(len(c) >= size for c in chunks[:-1])
    ends = set(accumulate(sizes))
    written = 0
    for c in chunks[:-1]:
        start, written = written, written + len(c)
        assert written in ends  # cut between pieces
        assert not any(start + size <= e < written for e in ends)  # at the first that fills it


FORM_VALUES = st.lists(st.one_of(TEXT, st.sampled_from(["--", "\r\n--x", "é\r\n\r\n", ""])),
                       min_size=1, max_size=3)


@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["from", "to", "o:tag", "h:List-Id", "v:digest_id", 'a"b', "recipient-variables"]
        ),
        FORM_VALUES, min_size=1, max_size=5,
    )
)
def test_a_form_sent_as_multipart_reads_back_as_the_form(fields: dict[str, list[str]]) -> None:
    """What Mailgun reads from the multipart body is every field and value, in order, as
    a urlencoded form would have carried them (read here with the stdlib's MIME parser)."""
    assume(all(c < "\ud800" or c > "\udfff" for vs in fields.values() for v in vs for c in v))
    pieces, ctype = multipart_pieces(fields)
    raw = f"Content-Type: {ctype}\r\n\r\n".encode() + b"".join(pieces)
    message = email.message_from_bytes(raw, policy=email.policy.HTTP)
    got = [(part.get_param("name", header="content-disposition"),
            part.get_payload(decode=True).decode("utf-8")) for part in message.iter_parts()]
    expected = [(k.replace('"', "%22"), v) for k, vs in fields.items() for v in vs]
    assert got == expected
