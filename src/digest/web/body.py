"""Reading a request body under a byte cap and a deadline, and refusing over-deep JSON.

A route decides how much it will read *before* reading: ``Content-Length`` over the cap is
refused at once, a chunked body is counted as it streams and dropped the moment it passes
the cap, and a client that stops sending gets 400 when the deadline passes. Nothing here
buffers more than the cap.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import anyio
from starlette.requests import ClientDisconnect, Request

__all__ = ["BodyRefused", "json_too_deep", "read_body", "read_form"]


class BodyRefused(Exception):
    """The body cannot be read: ``status`` is the answer (400 or 413), ``reason`` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, at most ``limit`` bytes, all of it within ``timeout`` seconds."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyRefused(413, f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, f"the body is larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyRefused(400, f"the body did not arrive within {timeout:g} s") from None
    except ClientDisconnect:
        raise BodyRefused(400, "the client went away before sending the whole body") from None
    return b"".join(chunks)


def read_form(body: bytes, max_fields: int | None = None) -> dict[str, str]:
    """An urlencoded ``body`` as its fields (the first value of each), or ``ValueError``
    (``UnicodeDecodeError`` among them) when it is not UTF-8 text, raw or %-escaped, or has
    more than ``max_fields`` fields: decoding with replacement would store U+FFFD junk."""
    parsed = parse_qs(body.decode("utf-8"), max_num_fields=max_fields, errors="strict")
    return {k: v[0] for k, v in parsed.items()}


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_too_deep(body: bytes, max_depth: int) -> bool:
    """True when ``body``, read as JSON, nests arrays/objects more than about ``max_depth`` deep.

    Runs before any JSON parser sees the body (the stdlib's recurses and fails past ~1,000
    levels). Strings are removed first so brackets inside them do not count; then innermost
    ``[]`` / ``{}`` pairs are removed level by level, in C, at most ``max_depth`` times.
    """
    head = body.lstrip()[:1]
    if head not in (b"[", b"{"):
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"").replace(b"{}", b"")
    return bool(brackets)
