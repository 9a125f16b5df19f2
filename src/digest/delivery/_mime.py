"""Fast per-recipient MIME for bulk sends: the skeleton once, each recipient's bytes by joins.

Building a fresh :class:`~email.message.EmailMessage` per recipient costs a few milliseconds
for a 40 KB issue, most of it in the stdlib's pure-Python quoted-printable encoder and header
folder. :class:`MimeTemplate` asks the stdlib once per issue for the message skeleton (headers
that are the same for everyone, the multipart structure, the boundary) with unique markers
where the recipient's headers and bodies go, and splits it at the markers. Per recipient it
then only

* encodes the recipient's header values: plain ASCII as is (folded at spaces when long),
  non-ASCII names and subjects as RFC 2047 base64 encoded words, anything unusual (quotes,
  control characters, text that looks like an encoded word, a name too long for one encoded
  word) through the stdlib's header registry; a value with CR or LF is refused;
* quoted-printable-encodes, with :func:`binascii.b2a_qp`, the filled placeholder values; the
  text around them was encoded once, and soft line breaks join the two, so even a 40 KB
  line of rendered HTML costs a reader only the size of their values.

Read back with ``email.policy.default``, the bytes give the same header values and decoded
text and HTML parts as :func:`digest.message.build_mime`'s message for that recipient. (Where
the stdlib cannot read its own folding back exactly — a space gained or lost between encoded
words of a long non-ASCII display name, the folding space after ``Name:`` — this path either
avoids that folding or, for the rare values it hands to the stdlib, shares the quirk.) Lines
end in CRLF, as SMTP and DKIM want them.
"""

from __future__ import annotations

import binascii
import email.policy
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..message import (
    PLACEHOLDER_RE,
    QP_LINE,
    Content,
    Recipient,
    _Filler,
    build_mime,
    check_header,
    encoded_words,
    list_headers,
)

__all__ = ["MimeTemplate", "RenderedMessage", "render_message", "template_for"]

CRLF = "\r\n"
_BCRLF = b"\r\n"
_POLICY = email.policy.default.clone(max_line_length=QP_LINE, linesep=CRLF)
_REGISTRY = HeaderRegistry()
_MAX_LINE = QP_LINE
_MAX_HARD_LINE = 998
_QP_LINE = QP_LINE
# Filled per recipient: List-Unsubscribe-Post goes only with a filled https entry (RFC 8058).
_PER_RECIPIENT = frozenset({"list-unsubscribe", "list-unsubscribe-post"})

# Printable ASCII words separated by single spaces: such a value needs no encoding, and
# folding it at its spaces gives back the very same value when a reader unfolds it.
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*", re.ASCII)
# Characters with a meaning inside structured headers (quoting, comments, escapes).
_STRUCTURED_SPECIAL = re.compile(r'["()\\]')
_QUOTING = re.compile(r'["\\]')
_ADDR_SPEC = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*",
    re.ASCII,
)
_MSGID = re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+>", re.ASCII)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One recipient's message: the bytes to send or store, and what a listing shows."""

    data: bytes
    message_id: str
    to: str
    subject: str


def _fold_stdlib(name: str, value: str) -> bytes:
    """The stdlib's own encoding and folding of one header (what build_mime's message gets)."""
    folded: str = _POLICY.header_factory(name, value).fold(policy=_POLICY)
    return folded.encode("ascii")


def _header_line(name: str, value: str, *, unstructured: bool) -> bytes:
    """``Name: value`` CRLF, encoded and folded per RFC 2047/5322; CR or LF is refused."""
    check_header(f"header {name}", value)
    length = len(name) + 2 + len(value)
    if (
        length <= _MAX_HARD_LINE
        and _PLAIN.fullmatch(value)
        and "=?" not in value
        and (unstructured or not _STRUCTURED_SPECIAL.search(value))
    ):
        if length <= _MAX_LINE:
            return f"{name}: {value}{CRLF}".encode("ascii")
        if unstructured:
            return _fold_plain(name, value)
    if unstructured:  # base64 words: the text comes back exactly, "=?" lookalikes too
        words = _encoded_words(value, len(name) + 2)
        if words:
            return f"{name}: {(CRLF + ' ').join(words)}{CRLF}".encode("ascii")
    return _fold_stdlib(name, value)


def _to_line(name: str, email: str, formatted: str) -> bytes:
    """The To header for one mailbox; a non-ASCII name becomes RFC 2047 encoded words."""
    if _ADDR_SPEC.fullmatch(email) and (
        not name
        or (
            name.isprintable()
            and name == name.strip()
            and "  " not in name
            and not _QUOTING.search(name)
            and "=?" not in name
        )
    ):
        if formatted.isascii() and len(formatted) + 4 <= _MAX_LINE:
            return f"To: {formatted}{CRLF}".encode("ascii")
        if not name.isascii():
            # One encoded word only: between two, the stdlib keeps the folding space in a
            # display name where RFC 2047 drops it, so a split name would read differently.
            words = _encoded_words(name, 4)
            if len(words) == 1:
                tail = f"<{email}>"
                sep = " " if len(words[0]) + len(tail) + 5 <= _MAX_LINE else CRLF + " "
                return f"To: {words[0]}{sep}{tail}{CRLF}".encode("ascii")
    return _fold_stdlib("To", formatted)


def _encoded_words(text: str, used: int) -> list[str]:
    return encoded_words(text, used, _MAX_LINE)


def _fold_plain(name: str, value: str) -> bytes:
    """Fold a long plain-ASCII unstructured value at its spaces (a word longer stays long)."""
    lines: list[str] = []
    line = f"{name}:"
    for word in value.split(" "):
        if len(line) + 1 + len(word) > _MAX_LINE and line != f"{name}:":
            lines.append(line)
            line = ""
        line = f"{line} {word}"
    lines.append(line)
    return (CRLF.join(lines) + CRLF).encode("ascii")


def _split_lines(text: str) -> list[str]:
    """Lines as ``str.encode().splitlines()`` sees them (CRLF, CR, LF), ends dropped."""
    norm = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = norm.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _qp(lines: Sequence[str]) -> bytes:
    """Quoted-printable body of ``lines``, each ended by CRLF; an empty body is one CRLF."""
    if not lines:
        return _BCRLF
    return _fit(binascii.b2a_qp((CRLF.join(lines) + CRLF).encode("utf-8")), _QP_LINE)


def _qp_inline(text: str) -> bytes:
    """Quoted-printable for text within one line: soft breaks CRLF, trailing space encoded.

    Its last line is kept to 75 characters, so that a soft break can follow it when the next
    piece of the line is joined on.
    """
    out = binascii.b2a_qp(text.encode("utf-8")).replace(b"=\n", b"=\r\n")
    return _fit(out, _QP_LINE - 1)


def _fit(data: bytes, last_max: int) -> bytes:
    """Every line at most 76 characters (RFC 2045), the last at most ``last_max``.

    b2a_qp writes 77 when it encodes a space at the end of a full line (``=20``); such a
    line gets a soft break inserted, never inside an ``=XX`` escape.
    """
    lines = data.split(b"\n")
    if all(len(line.rstrip(b"\r")) <= _QP_LINE for line in lines) and (
        len(lines[-1]) <= last_max
    ):
        return data
    out: list[bytes] = []
    for i, line in enumerate(lines):
        end = b"\r" if line.endswith(b"\r") else b""
        body = line[: len(line) - len(end)]
        limit = last_max if i == len(lines) - 1 else _QP_LINE
        while len(body) > limit:
            cut = _QP_LINE - 1
            for back in (1, 2):  # never split an =XX escape
                if body[cut - back : cut - back + 1] == b"=":
                    cut -= back
                    break
            out.append(body[:cut] + b"=\r")
            body = body[cut:]
        out.append(body + end)
    return b"\n".join(out)


def _join_inline(parts: list[bytes]) -> bytes:
    """Join encoded pieces of one line, adding a soft break wherever a line would pass 76."""
    out: list[bytes] = []
    col = 0
    for part in parts:
        if not part:
            continue
        nl = part.find(_BCRLF)
        first = nl if nl >= 0 else len(part)
        if col and col + first > _QP_LINE - 1:
            out.append(b"=\r\n")
            col = 0
        out.append(part)
        col = len(part) - part.rfind(_BCRLF) - 2 if nl >= 0 else col + len(part)
    return b"".join(out)


class _Line:
    """A body line with placeholders: its text between them encoded once, values per reader.

    Rendered HTML often comes as a few very long lines; encoding only the filled values and
    joining them to the pre-encoded text with soft line breaks keeps a reader's cost to the
    size of their values, not of the line.
    """

    __slots__ = ("_parts",)

    def __init__(self, line: str, *, escape: bool) -> None:
        parts: list[bytes | _Filler] = []
        pos = 0
        for m in PLACEHOLDER_RE.finditer(line):
            parts.append(_qp_inline(line[pos : m.start()]))
            parts.append(_Filler(m.group(0), escape=escape))
            pos = m.end()
        parts.append(_qp_inline(line[pos:]))
        self._parts = parts

    def encode(self, values: dict[str, str]) -> bytes | None:
        """The encoded line without its line break; None when a value holds a line break."""
        out: list[bytes] = []
        for part in self._parts:
            if isinstance(part, bytes):
                out.append(part)
                continue
            filled = part.fill(values)
            if "\n" in filled or "\r" in filled:
                return None
            out.append(_qp_inline(filled))
        return _join_inline(out)


class _Body:
    """A text or HTML body split once into encoded static runs and per-recipient lines."""

    __slots__ = ("_segments", "_tail_dynamic")

    def __init__(self, text: str, *, escape: bool) -> None:
        lines = _split_lines(text)
        segments: list[bytes | _Line] = []
        run: list[str] = []
        for line in lines:
            if PLACEHOLDER_RE.search(line):
                if run:
                    segments.append(_qp(run))
                    run = []
                segments.append(_Line(line, escape=escape))
            else:
                run.append(line)
        if run or not segments:
            segments.append(_qp(run))
        self._segments = segments
        # build_mime drops a last line left empty when it had no line break of its own.
        self._tail_dynamic = (
            bool(lines) and isinstance(segments[-1], _Line) and not _ends_with_break(text)
        )

    def encode(self, values: dict[str, str]) -> bytes | None:
        """The encoded body for ``values``; None when a value holds a line break."""
        out: list[bytes] = []
        last = len(self._segments) - 1
        for i, seg in enumerate(self._segments):
            if isinstance(seg, bytes):
                out.append(seg)
                continue
            line = seg.encode(values)
            if line is None:
                return None
            if i == last and self._tail_dynamic and not line:
                continue
            out.append(line + _BCRLF)
        return b"".join(out) or _BCRLF

    @staticmethod
    def encode_slow(filled_text: str) -> bytes:
        return _qp(_split_lines(filled_text))


def _ends_with_break(text: str) -> bool:
    return text.endswith(("\n", "\r"))


class MimeTemplate:
    """One issue's message skeleton, filled per recipient into RFC 5322 bytes."""

    def __init__(self, content: Content) -> None:
        self.content = content
        self._domain = content.sender.email.rpartition("@")[2] or "localhost"
        token = secrets.token_hex(8)
        msg = EmailMessage(policy=_POLICY)
        # Each slot: (slot header name, kind, header name, unstructured?)
        slots: list[tuple[str, str, str, bool]] = []

        def slot(kind: str, header: str) -> None:
            marker = f"X-Digest-Slot-{token}-{len(slots)}"
            cls = _REGISTRY[header]
            slots.append((marker, kind, header, issubclass(cls, UnstructuredHeader)))
            msg[marker] = "x"

        msg["From"] = content.sender.formatted()
        slot("to", "To")
        if content.reply_to:
            msg["Reply-To"] = content.reply_to.formatted()
        if PLACEHOLDER_RE.search(content.subject) or "=?" in content.subject:
            slot("subject", "Subject")  # "=?" lookalikes: encoded here, kept literally
        else:
            msg["Subject"] = content.subject
        slot("date", "Date")
        slot("message-id", "Message-ID")
        per_recipient = any(
            PLACEHOLDER_RE.search(v)
            for k, v in content.headers.items()
            if k.lower() in _PER_RECIPIENT
        )
        static = content.headers if per_recipient else list_headers(content.headers)
        for name, value in static.items():
            if PLACEHOLDER_RE.search(value) or (per_recipient and name.lower() in _PER_RECIPIENT):
                slot("header", name)
            elif value.strip("<>, "):
                msg[name] = value
        text_marker = f"digestbody{token}text"
        html_marker = f"digestbody{token}html"
        msg.set_content(text_marker, subtype="plain", charset="utf-8", cte="quoted-printable")
        msg.add_alternative(html_marker, subtype="html", charset="utf-8", cte="quoted-printable")
        skeleton = msg.as_bytes(policy=_POLICY)

        cuts: list[tuple[int, int, str | int]] = []
        for i, (marker, *_rest) in enumerate(slots):
            cuts.append(_find(skeleton, f"{marker}: x{CRLF}".encode("ascii"), i))
        cuts.append(_find(skeleton, f"{text_marker}{CRLF}".encode("ascii"), "text"))
        cuts.append(_find(skeleton, f"{html_marker}{CRLF}".encode("ascii"), "html"))
        cuts.sort()
        pieces: list[bytes | str | int] = []
        pos = 0
        for start, end, what in cuts:
            pieces.append(skeleton[pos:start])
            pieces.append(what)
            pos = end
        pieces.append(skeleton[pos:])
        self._pieces = pieces
        self._slots = slots
        self._text = _Body(content.text, escape=False)
        self._html = _Body(content.html, escape=True)

    def render(self, recipient: Recipient, *, date: datetime | None = None) -> RenderedMessage:
        """This recipient's message; raises HeaderError for a value with a line break."""
        content = self.content
        values = recipient.values()
        to = recipient.address.formatted()
        subject = content.subject_for(recipient)
        message_id = recipient.message_id or make_msgid(domain=self._domain)
        extra: dict[str, str] | None = None
        headers: list[bytes] = []
        for _marker, kind, name, unstructured in self._slots:
            if kind == "to":
                headers.append(_to_line(recipient.address.name, recipient.email, to))
                continue
            if kind == "subject":
                value = subject
            elif kind == "date":
                value = format_datetime(date) if date is not None else _date_now()
            elif kind == "message-id":
                check_header("Message-ID", message_id)
                if _MSGID.fullmatch(message_id):
                    headers.append(f"Message-ID: {message_id}{CRLF}".encode("ascii"))
                    continue
                value = message_id
            else:
                if extra is None:
                    extra = content.headers_for(recipient)
                value = extra.get(name, "")
                if not value.strip("<>, "):
                    headers.append(b"")
                    continue
            headers.append(_header_line(name, value, unstructured=unstructured))
        text = self._text.encode(values)
        if text is None:
            text = self._text.encode_slow(content.text_for(recipient))
        html = self._html.encode(values)
        if html is None:
            html = self._html.encode_slow(content.html_for(recipient))
        out: list[bytes] = []
        for piece in self._pieces:
            if isinstance(piece, bytes):
                out.append(piece)
            elif piece == "text":
                out.append(text)
            elif piece == "html":
                out.append(html)
            elif isinstance(piece, int):
                out.append(headers[piece])
        return RenderedMessage(b"".join(out), message_id, to, subject)


_date_cache: tuple[int, str] = (-1, "")


def _date_now() -> str:
    """The Date header for now: formatted once a second, not once a message."""
    global _date_cache
    second = int(time.time())
    cached = _date_cache
    if cached[0] != second:
        cached = _date_cache = (second, format_datetime(datetime.fromtimestamp(second, UTC)))
    return cached[1]


def _find(skeleton: bytes, needle: bytes, what: str | int) -> tuple[int, int, str | int]:
    start = skeleton.find(needle)
    if start < 0 or skeleton.find(needle, start + 1) >= 0:
        raise RuntimeError(f"MIME skeleton marker {needle!r} not found exactly once")
    return start, start + len(needle), what


_cache_lock = threading.Lock()
_cache: list[tuple[Content, MimeTemplate]] = []
_CACHE_SIZE = 4


def template_for(content: Content) -> MimeTemplate:
    """The template for ``content``, built once and kept for the last few issues."""
    with _cache_lock:
        for cached, template in _cache:
            if cached is content:
                return template
    template = MimeTemplate(content)
    with _cache_lock:
        _cache.insert(0, (content, template))
        del _cache[_CACHE_SIZE:]
    return template


def render_message(
    content: Content, recipient: Recipient, *, date: datetime | None = None
) -> RenderedMessage:
    """One recipient's message bytes (CRLF) from the issue's cached template.

    An internationalised address (RFC 6531) takes the stdlib path: its headers must be raw
    UTF-8, which the template's ASCII skeleton cannot carry.
    """
    if not recipient.email.isascii():
        msg = build_mime(content, recipient, date=date)
        data = msg.as_bytes(policy=msg.policy.clone(linesep=CRLF))
        return RenderedMessage(
            data, str(msg["Message-ID"]), recipient.address.formatted(), str(msg["Subject"])
        )
    return template_for(content).render(recipient, date=date)
