"""The message model shared by sending and delivery: content rendered once, filled per recipient.

An issue is rendered once into :class:`Content`, whose HTML, text and headers hold merge
placeholders (``@@digest.NAME@@`` or ``@@digest.NAME|default@@``) wherever a per-recipient
value goes. Filling is a plain join over pieces split once, so the per-recipient path never
touches a template engine, MJML or premailer.
"""

from __future__ import annotations

import binascii
import email.policy
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address as _StdAddress
from email.headerregistry import (
    BaseHeader,
    HeaderRegistry,
    UniqueAddressHeader,
    UniqueUnstructuredHeader,
    UnstructuredHeader,
)
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cached_property
from typing import cast

from .errors import HeaderError, InputError

__all__ = [
    "UNDISCLOSED",
    "Address",
    "Batch",
    "Content",
    "Recipient",
    "build_mime",
    "check_header",
    "digest_id_of",
    "encoded_words",
    "format_address",
    "list_headers",
    "literal_header",
    "placeholder",
]

PLACEHOLDER_RE = re.compile(r"@@digest\.([a-z_][a-z0-9_]*)(?:\|((?:(?!@@)[^\r\n])*))?@@")
UNDISCLOSED = "undisclosed-recipients:;"


class _URLListHeader(UnstructuredHeader):
    """``List-Unsubscribe``: folded only between its ``<…>`` entries, never encoded.

    The stdlib would turn a long URL into RFC 2047 encoded words, which mailbox providers do
    not decode in this header, breaking one-click unsubscribe.
    """

    def fold(self, *, policy: email.policy.Policy) -> str:
        entries = [e.strip() for e in str(self).split(",") if e.strip()]
        return (
            f"{cast(BaseHeader, self).name}: "
            + ("," + policy.linesep + " ").join(entries)
            + policy.linesep
        )


_EW_OVERHEAD = len("=?utf-8?b??=")


def encoded_words(text: str, used: int, max_line: int = 76) -> list[str]:
    """``text`` as RFC 2047 base64 UTF-8 encoded words, the first fitting after ``used``
    columns, each whole characters, each line at most ``max_line`` columns; [] if none fits.

    Spaces stay inside the words: the whitespace between two encoded words is dropped by
    readers (RFC 2047 § 6.2), so a space folded there would be lost.
    """
    data = text.encode("utf-8")
    first = (max_line - used - _EW_OVERHEAD) // 4 * 3
    if first < 4:
        return []
    rest = (max_line - 1 - _EW_OVERHEAD) // 4 * 3
    words: list[str] = []
    pos, limit, size = 0, first, len(data)
    while pos < size:
        end = min(pos + limit, size)
        while end < size and data[end] & 0xC0 == 0x80:
            end -= 1
        chunk = binascii.b2a_base64(data[pos:end], newline=False).decode("ascii")
        words.append(f"=?utf-8?b?{chunk}?=")
        pos, limit = end, rest
    return words


def literal_header(value: str) -> str:
    """What to assign to an unstructured header so the stdlib keeps ``value`` as written.

    The stdlib decodes anything that looks like an RFC 2047 word when a header is set, so
    ``=?utf-8?q?x?=`` typed in a subject would reach readers as ``x``; such a value is handed
    over already encoded (readers drop the space between encoded words).
    """
    if "=?" not in value:
        return value
    return " ".join(encoded_words(value, 0))


class _EncodedSubject(UniqueUnstructuredHeader):
    """``Subject``: RFC 2047 encoded words even in a message that carries raw UTF-8.

    SMTPUTF8 (RFC 6531) permits raw UTF-8 headers, but spam filters (rspamd's
    ``SUBJECT_NEEDS_ENCODING``) still score them, and every reader decodes encoded words.
    A non-ASCII subject is encoded here rather than by the stdlib's folder, which can put a
    space of the subject between two encoded words, where readers drop it.
    """

    def fold(self, *, policy: email.policy.Policy) -> str:
        name = cast(BaseHeader, self).name
        value = str(self)
        if not value.isascii() or "=?" in value:
            words = encoded_words(value, len(name) + 2, policy.max_line_length or 76)
            if words:
                return f"{name}: " + (policy.linesep + " ").join(words) + policy.linesep
        ascii_policy = cast(email.policy.EmailPolicy, policy).clone(utf8=False)
        folded: str = super().fold(policy=ascii_policy)  # type: ignore[misc]
        return folded


class _EncodedNameAddress(UniqueAddressHeader):
    """From, To, Reply-To: display names as RFC 2047 encoded words, addresses as they are.

    An internationalised address (RFC 6531) must stay raw UTF-8 (an encoded word is not
    allowed in an addr-spec); its display name need not, and rspamd scores a raw one
    (``TO_NEEDS_ENCODING``). The stdlib folds the header with an ASCII stand-in for each
    address, which is then swapped back.
    """

    def fold(self, *, policy: email.policy.Policy) -> str:
        header = cast(BaseHeader, self)
        if not getattr(policy, "utf8", False) or any(g.display_name for g in self.groups):
            folded: str = super().fold(policy=policy)  # type: ignore[misc]
            return folded
        ascii_policy = cast(email.policy.EmailPolicy, policy).clone(utf8=False)
        real: dict[str, str] = {}
        stand_ins: list[_StdAddress] = []
        for i, a in enumerate(self.addresses):
            stand_in = f"digest-stand-in-{i}@stand-in.invalid"
            real[stand_in] = a.addr_spec
            stand_ins.append(_StdAddress(display_name=a.display_name, addr_spec=stand_in))
        if not stand_ins:
            folded = super().fold(policy=policy)  # type: ignore[misc]
            return folded
        out: str = ascii_policy.header_factory(header.name, stand_ins).fold(policy=ascii_policy)
        for stand_in, addr in real.items():
            out = out.replace(stand_in, addr)
        return out


_REGISTRY = HeaderRegistry()
_REGISTRY.map_to_type("list-unsubscribe", cast("type[BaseHeader]", _URLListHeader))
_REGISTRY.map_to_type("subject", cast("type[BaseHeader]", _EncodedSubject))
for _name in ("from", "to", "reply-to"):
    _REGISTRY.map_to_type(_name, cast("type[BaseHeader]", _EncodedNameAddress))
QP_LINE = 76
"""RFC 2045: a quoted-printable line is at most 76 characters; headers fold there too."""
_POLICY = email.policy.default.clone(max_line_length=QP_LINE, header_factory=_REGISTRY)
_POLICY_UTF8 = _POLICY.clone(utf8=True)
"""For internationalised addresses (RFC 6531): an encoded-word is not allowed in an address."""


def placeholder(name: str, default: str = "") -> str:
    """The marker a template writes where a recipient's ``name`` field will go."""
    return f"@@digest.{name}|{default}@@" if default else f"@@digest.{name}@@"


_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
"""What Python's ``str.splitlines`` breaks at besides CR and LF: the stdlib refuses each in a
header (a bare ValueError), so a header value gets a space in its place."""
_SURROGATE = re.compile("[\ud800-\udfff]")
# What makes email.headerregistry.Address quote a display name (its SPECIALS) or a local
# part (its DOT_ATOM_ENDS: the specials but ".", and white space); an empty local part too.
_NAME_SPECIALS = re.compile(r'[()<>@,:;.\\"\[\]]')
_LOCAL_ENDS = re.compile(r'^$|[()<>@,:;\\"\[\] \t]')


def check_header(field_name: str, value: str) -> str:
    """Refuse a header value with CR or LF (it would let text forge further headers) or a
    lone surrogate (the stdlib cannot encode it).

    A lone surrogate (text decoded with errors ignored somewhere) is refused too. Returns the
    value with any other line separator (VT, FF, U+001C–U+001E, NEL, U+2028,
    U+2029) made a space. Issue files refuse these at their boundary; this covers
    per-recipient values (a subscriber's name) and text built in code.
    """
    if value.isascii() and value.isprintable():  # the common case: nothing to refuse or change
        return value
    if "\r" in value or "\n" in value:
        raise HeaderError(
            f"The {field_name} contains a line break, which is not allowed in a mail header: "
            f"{value!r}. Put it on one line."
        )
    bad = _SURROGATE.search(value)
    if bad is not None:
        raise HeaderError(
            f"The {field_name} holds a lone surrogate U+{ord(bad.group()):04X}, which cannot "
            f"be written as UTF-8: {value!r}. Fix the text it came from."
        )
    return _OTHER_BREAKS.sub(" ", value)


class _Filler:
    """A text split once at its placeholders, joined per recipient."""

    __slots__ = ("_escape", "_pieces")

    def __init__(self, text: str, escape: bool) -> None:
        self._escape = escape
        pieces: list[str | tuple[str, str]] = []
        pos = 0
        for m in PLACEHOLDER_RE.finditer(text):
            pieces.append(text[pos : m.start()])
            pieces.append((m.group(1), m.group(2) or ""))
            pos = m.end()
        pieces.append(text[pos:])
        self._pieces = pieces

    @property
    def names(self) -> set[str]:
        return {p[0] for p in self._pieces if isinstance(p, tuple)}

    def fill(self, values: Mapping[str, str]) -> str:
        out: list[str] = []
        esc = self._escape
        for p in self._pieces:
            if isinstance(p, str):
                out.append(p)
            else:
                v = values.get(p[0])
                if v:
                    out.append(html.escape(v) if esc else v)
                else:
                    out.append(p[1])
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox: address plus optional display name."""

    email: str
    name: str = ""

    def __post_init__(self) -> None:
        check_header("address", self.email)
        object.__setattr__(self, "name", check_header("display name", self.name))

    def formatted(self) -> str:
        """RFC 5322 form, the name quoted where needed (RFC 2047 comes later, on folding)."""
        return _formatted(self.email, self.name)


def format_address(email: str, name: str = "") -> str:
    """``Address(email, name).formatted()``, without the object when nothing needs checking."""
    if email.isascii() and email.isprintable() and name.isascii() and name.isprintable():
        return _formatted(email, name)
    return Address(email, name).formatted()


def _formatted(email: str, name: str) -> str:
    """A name without specials and a local part without atom-enders are written as they
    are, exactly as the stdlib would write them, without building its Address."""
    if "@" not in email:
        return email
    local, _, domain = email.rpartition("@")
    if _NAME_SPECIALS.search(name) is None and _LOCAL_ENDS.search(local) is None:
        return f"{name} <{email}>" if name else email
    return str(_StdAddress(display_name=name, username=local, domain=domain))


def digest_id_of(message_id: str) -> str:
    """``<digest.0123…@example.org>`` → ``0123…``: the id providers carry for us.

    Hex only, so it fits every provider's metadata field (Resend tags allow no dots).
    """
    local = message_id.strip().strip("<>").rpartition("@")[0] or message_id.strip("<>")
    return local.removeprefix("digest.")


@dataclass(frozen=True, slots=True)
class Recipient:
    """One person a message goes to, with the values for the merge placeholders."""

    email: str
    name: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    message_id: str | None = None

    @property
    def address(self) -> Address:
        return Address(self.email, self.name)

    def values(self) -> dict[str, str]:
        """Merge values: the recipient's fields plus ``email`` and ``name``."""
        return {"email": self.email, "name": self.name, **self.fields}

    @property
    def digest_id(self) -> str | None:
        """digest's own id of this recipient's message (from the Message-ID's local part).

        Providers echo it back (metadata, custom args, ``CustomID``, tags), so that
        reconciliation and webhook events can find the ledger row without the provider's id.
        """
        return digest_id_of(self.message_id) if self.message_id else None


@dataclass(frozen=True)
class Content:
    """One issue's message as rendered once: shared by every recipient of a send."""

    issue_id: str
    subject: str
    html: str
    text: str
    sender: Address
    reply_to: Address | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_header("subject", self.subject)
        for k, v in self.headers.items():
            check_header(f"header {k}", v)
        for part, body in (("HTML", self.html), ("text", self.text)):
            bad = _SURROGATE.search(body)
            if bad is not None:
                raise InputError(
                    f"The {part} part holds a lone surrogate U+{ord(bad.group()):04X} at "
                    f"character {bad.start() + 1}: it cannot be encoded as UTF-8."
                )

    @cached_property
    def _html(self) -> _Filler:
        return _Filler(self.html, escape=True)

    @cached_property
    def _text(self) -> _Filler:
        return _Filler(self.text, escape=False)

    @cached_property
    def _headers(self) -> dict[str, _Filler]:
        return {k: _Filler(v, escape=False) for k, v in self.headers.items()}

    @cached_property
    def _subject(self) -> _Filler:
        return _Filler(self.subject, escape=False)

    @property
    def merge_fields(self) -> set[str]:
        """Names of every placeholder used anywhere in the message."""
        names = self._html.names | self._text.names | self._subject.names
        for f in self._headers.values():
            names |= f.names
        return names

    def html_for(self, recipient: Recipient) -> str:
        return self._html.fill(recipient.values())

    def text_for(self, recipient: Recipient) -> str:
        return self._text.fill(recipient.values())

    @cached_property
    def _fixed_subject(self) -> str | None:
        """The subject when it holds no placeholder (the same for everyone), else None."""
        return None if self._subject.names else check_header("subject", self.subject)

    def subject_for(self, recipient: Recipient, values: Mapping[str, str] | None = None) -> str:
        """The subject filled for ``recipient`` (``values``: its merge values, if at hand)."""
        fixed = self._fixed_subject
        if fixed is not None:
            return fixed
        filled = self._subject.fill(recipient.values() if values is None else values)
        return check_header("subject", filled)

    @cached_property
    def _list_keys(self) -> tuple[str | None, str | None]:
        keys = {k.lower(): k for k in self.headers}
        return keys.get("list-unsubscribe"), keys.get("list-unsubscribe-post")

    @cached_property
    def _header_plan(self) -> tuple[tuple[str, _Filler | None, str], ...]:
        """Each header with its filler when it holds a placeholder, else its checked value."""
        return tuple(
            (k, f, "") if f.names else (k, None, check_header(f"header {k}", self.headers[k]))
            for k, f in self._headers.items()
        )

    def headers_for(
        self, recipient: Recipient, values: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """This recipient's extra headers, List-Unsubscribe kept to RFC 2369 and 8058."""
        if values is None:
            values = recipient.values()
        filled = {
            k: fixed if f is None else check_header(f"header {k}", f.fill(values))
            for k, f, fixed in self._header_plan
        }
        return _tidy_list_headers(filled, *self._list_keys)


def list_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` without an empty List-Unsubscribe entry, and One-Click only with https.

    An entry whose per-recipient URL is unfilled (the built preview, a test send) would be
    ``<>``, which RFC 2369 does not allow; RFC 8058's ``List-Unsubscribe-Post`` means
    nothing without an https entry, and checkers flag it.
    """
    keys = {k.lower(): k for k in headers}
    return _tidy_list_headers(
        dict(headers), keys.get("list-unsubscribe"), keys.get("list-unsubscribe-post")
    )


def _tidy_list_headers(out: dict[str, str], unsub: str | None, post: str | None) -> dict[str, str]:
    """:func:`list_headers` on ``out`` (changed in place), its two keys already looked up."""
    entries: list[str] = []
    if unsub is not None:
        entries = [e for e in map(str.strip, out[unsub].split(",")) if e.strip("<> \t")]
        if entries:
            out[unsub] = ", ".join(entries)
        else:
            del out[unsub]
    if post is not None:
        for e in entries:
            if e[:9].lower() == "<https://":
                break
        else:
            del out[post]
    return out


@dataclass(frozen=True, slots=True)
class Batch:
    """Recipients sent in one provider call; ``key`` is stable across retries and restarts."""

    content: Content
    recipients: Sequence[Recipient]
    key: str


def build_mime(
    content: Content,
    recipient: Recipient | None = None,
    *,
    date: datetime | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) for one recipient, or a placeholder.

    Without a recipient the To header is ``undisclosed-recipients:;`` and placeholders take
    their defaults: that is the ``.eml`` ``digest build`` writes.
    """
    r = recipient or Recipient(email="")
    international = not (r.email.isascii() and content.sender.email.isascii())
    msg = EmailMessage(policy=_POLICY_UTF8 if international else _POLICY)
    msg["From"] = content.sender.formatted()
    msg["To"] = r.address.formatted() if recipient else UNDISCLOSED
    if content.reply_to:
        msg["Reply-To"] = content.reply_to.formatted()
    msg["Subject"] = literal_header(content.subject_for(r))
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    domain = content.sender.email.rpartition("@")[2] or None
    msg["Message-ID"] = r.message_id or make_msgid(domain=domain)
    for name, value in content.headers_for(r).items():
        if value.strip("<>, "):
            msg[name] = value
    msg.set_content(content.text_for(r), subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(
        content.html_for(r), subtype="html", charset="utf-8", cte="quoted-printable"
    )
    return msg
