"""What every .eml digest writes must satisfy, read back by the stdlib's own parser.

RFC 5322 (header lines at most 998 octets, no bare CR or LF), RFC 2045 (quoted-printable
lines at most 76 characters), RFC 2369 (List-Unsubscribe: angle-bracketed URIs, none empty),
RFC 8058 (One-Click only beside an https URI), RFC 2919 (List-Id), RFC 2047 (the subject and
display names as encoded words, even when an internationalised address forces raw UTF-8).
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

_URI_ENTRY = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]*:[^<>\s]+)>")
_LIST_ID = re.compile(r"(?:[^<>]*)<[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+>")


def _lines(data: bytes) -> list[bytes]:
    return data.replace(b"\r\n", b"\n").split(b"\n")


def check_eml(data: bytes) -> EmailMessage:
    """Assert the standards above on ``data``; return the parsed message."""
    head, sep, _ = data.replace(b"\r\n", b"\n").partition(b"\n\n")
    assert sep, "no blank line between headers and body"
    assert b"\r" not in data.replace(b"\r\n", b""), "a bare CR"
    for line in _lines(data):
        assert len(line) <= 998, f"a line of {len(line)} octets"
    if data.isascii():
        msg = email.message_from_bytes(data, policy=email.policy.default)
    else:  # RFC 6531: raw UTF-8 (an internationalised address), read as text
        msg = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert not msg.defects, msg.defects
    # RFC 2047: only an addr-spec may be raw UTF-8 (RFC 6531); names and subject are encoded.
    raw_headers = {}
    for line in head.split(b"\n"):
        if line[:1] not in (b" ", b"\t"):
            name = line.split(b":", 1)[0].decode("ascii").lower()
            raw_headers[name] = line
        else:
            raw_headers[name] += line
    assert raw_headers.get("subject", b"").isascii(), "a raw UTF-8 subject"
    for name in ("from", "to", "reply-to"):
        if name in raw_headers and not raw_headers[name].isascii():
            for address in msg[name].addresses:
                shown = address.display_name.encode()
                line = raw_headers[name].replace(address.addr_spec.encode(), b"")
                assert not shown or shown.isascii() or shown not in line, (
                    f"a raw UTF-8 display name in {name}"
                )
    # RFC 2369 and 8058.
    unsubscribe = msg.get("List-Unsubscribe")
    entries: list[str] = []
    if unsubscribe is not None:
        value = " ".join(str(unsubscribe).split())
        pieces = [p.strip() for p in value.split(",")]
        for piece in pieces:
            m = _URI_ENTRY.fullmatch(piece)
            assert m, f"List-Unsubscribe entry {piece!r} is not <scheme:…>"
            entries.append(m.group(1))
        assert entries, "an empty List-Unsubscribe"
    if msg.get("List-Unsubscribe-Post") is not None:
        assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        assert any(e.startswith("https://") for e in entries), "One-Click without https"
    if msg.get("List-Id") is not None:
        assert _LIST_ID.fullmatch(" ".join(str(msg["List-Id"]).split())), msg["List-Id"]
    # RFC 2045: every quoted-printable part's lines at most 76 characters.
    qp_parts = 0
    for part in msg.walk():
        if part.is_multipart():
            continue
        if str(part.get("Content-Transfer-Encoding", "")).lower() == "quoted-printable":
            qp_parts += 1
            payload = part.get_payload(decode=False)
            assert isinstance(payload, str)
            long = [ln for ln in payload.replace("\r\n", "\n").split("\n") if len(ln) > 76]
            assert not long, f"{len(long)} quoted-printable lines over 76: {long[0][:90]!r}"
    assert qp_parts, "no quoted-printable part was checked"
    return msg
