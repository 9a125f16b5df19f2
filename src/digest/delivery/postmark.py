"""Postmark: ``POST /email/batch``, up to 500 messages and 50 MB a call.

Each recipient gets a complete message (body filled on our side), and Postmark answers 200
with one result per message, in order: ``ErrorCode`` 0 and a ``MessageID`` when accepted,
else its own error code and message for that recipient only. A bad token or a malformed
request fails the whole call (401, 422).

Each message carries digest's per-recipient id in ``Metadata.digest_id``. After a lost
answer, Postmark's Messages API (``GET /messages/outbound``: ``count`` ≤ 500, ``offset``,
``count + offset`` ≤ 10,000, filters ``tag``, ``recipient``, ``fromdate`` in Eastern time and
``metadata_<key>``) says which of them it accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from ..errors import PermanentDeliveryError
from ..message import Batch, Content, Recipient, format_address
from ._http import (
    HTTPOptions,
    HTTPProvider,
    HTTPRequest,
    RawJSON,
    json_bytes,
    json_pairs,
    json_str,
)
from .base import Options, RecipientResult

__all__ = ["PostmarkOptions", "PostmarkProvider"]

TOKEN_ENV = "POSTMARK_SERVER_TOKEN"

_RETRYABLE_CODES = frozenset({100, 429})
"""Per-message error codes worth another try later (maintenance, rate limit)."""

SEARCH_PAGE = 500
SEARCH_WINDOW = 10_000
"""Postmark's search returns at most ``count + offset`` ≤ 10,000 messages per query."""


def eastern(when: datetime) -> str:
    """``when`` as the Messages API's ``fromdate`` wants it: Eastern time, no offset."""
    try:
        zone: Any = ZoneInfo("America/New_York")
    except ZoneInfoNotFoundError:
        zone = timezone(timedelta(hours=-5))
    return when.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


class PostmarkOptions(HTTPOptions):
    base_url: str = "https://api.postmarkapp.com"
    """The API's address; change it for a proxy or a test server."""
    message_stream: str = "broadcast"
    """The sending stream; newsletters belong on a Broadcast stream."""
    track_opens: bool | None = None
    """Track opens (true/false); unset leaves the server's default."""
    track_links: str | None = None
    """None, HtmlAndText, HtmlOnly or TextOnly; unset leaves the server's default."""
    message_id_header: bool = True
    """Send our own Message-ID header when the recipient has one."""


class PostmarkProvider(HTTPProvider):
    name = "postmark"
    description = "Postmark batch API (500 messages per call, per-recipient results)"
    options_model: ClassVar[type[Options]] = PostmarkOptions
    env_vars = (TOKEN_ENV,)
    max_batch = 500
    max_batch_bytes = 50 * 1000 * 1000
    idempotent = False
    rejects_whole_batch = False
    keeps_message_id = True
    reconciles = True
    key_env = TOKEN_ENV
    key_header = ("X-Postmark-Server-Token", "{key}")

    options: PostmarkOptions

    def build_request(self, batch: Batch) -> HTTPRequest:
        """The batch as one JSON array, each message written as pieces.

        What every message shares (sender, stream, tag, tracking, the issue's metadata) is
        encoded once per call; per message only the recipient's own values are encoded, and
        the bodies encoded once per issue are spliced in, never copied.
        """
        c = batch.content
        o = self.options
        bodies = self.bodies(c)
        shared: dict[str, Any] = {
            "From": c.sender.formatted(),
            "MessageStream": o.message_stream,
            "Tag": c.issue_id,
        }
        if c.reply_to:
            shared["ReplyTo"] = c.reply_to.formatted()
        if o.track_opens is not None:
            shared["TrackOpens"] = o.track_opens
        if o.track_links is not None:
            shared["TrackLinks"] = o.track_links
        head = json_bytes(shared)[:-1]
        fixed = {**c.metadata, "digest_issue": c.issue_id}
        metadata = json_pairs(fixed.items())
        # the issue's metadata but digest_id, left open for each recipient's own
        open_metadata = json_pairs((k, v) for k, v in fixed.items() if k != "digest_id")[:-1]
        messages: list[RawJSON] = []
        for r in batch.recipients:
            values = r.values()
            parts = [head, b',"To":', json_str(format_address(r.email, r.name)), b',"Subject":']
            parts.append(json_str(c.subject_for(r, values)))
            parts.append(b',"HtmlBody":')
            parts += bodies.html.fill(values).parts
            parts.append(b',"TextBody":')
            parts += bodies.text.fill(values).parts
            parts.append(b',"Metadata":')
            if r.digest_id:
                parts += open_metadata
                parts += (b',"digest_id":', json_str(r.digest_id), b"}")
            else:
                parts += metadata
            headers = [(k, v) for k, v in c.headers_for(r, values).items() if v.strip("<>, ")]
            if o.message_id_header and r.message_id:
                headers.append(("Message-ID", r.message_id))
            if headers:
                parts.append(b',"Headers":[')
                for i, (k, v) in enumerate(headers):
                    parts += (b',{"Name":' if i else b'{"Name":', json_str(k), b',"Value":')
                    parts += (json_str(v), b"}")
                parts.append(b"]")
            parts.append(b"}")
            messages.append(RawJSON(parts))
        return HTTPRequest("POST", "/email/batch", json=messages)

    def parse_response(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        try:
            answers = response.json()
        except ValueError:
            answers = None
        if not isinstance(answers, list) or len(answers) != len(batch.recipients):
            raise PermanentDeliveryError(
                "the batch answer is not one result per message",
                provider=self.name,
                status=response.status_code,
                body=self.scrub(response.text[:2000]),
            )
        results = []
        for r, a in zip(batch.recipients, answers, strict=True):
            code = a.get("ErrorCode") if isinstance(a, dict) else None
            if code == 0:
                results.append(RecipientResult(r.email, True, message_id=a.get("MessageID")))
            else:
                text = a.get("Message", "") if isinstance(a, dict) else str(a)
                results.append(
                    RecipientResult(
                        r.email,
                        False,
                        error=f"postmark: {text} (ErrorCode {code})",
                        retryable=code in _RETRYABLE_CODES,
                    )
                )
        return results

    def accepted(
        self, content: Content, recipients: Sequence[Recipient], since: datetime
    ) -> dict[str, str | None]:
        """Page through the issue's messages (its tag) sent since ``since``, matching
        ``Metadata.digest_id``; past the 10,000-message window, ask for each one left."""
        wanted = {r.digest_id for r in recipients if r.digest_id}
        found: dict[str, str | None] = {}
        query = {"tag": content.issue_id, "fromdate": eastern(since)}
        offset = 0
        while wanted - found.keys() and offset + SEARCH_PAGE <= SEARCH_WINDOW:
            messages, total = self._search(query, offset)
            self._match(messages, wanted, found)
            offset += SEARCH_PAGE
            if offset >= total or not messages:
                return found
        for digest_id in sorted(wanted - found.keys()):
            messages, _ = self._search({**query, "metadata_digest_id": digest_id}, 0)
            self._match(messages, wanted, found)
        return found

    def issue_messages(self, content: Content) -> int | None:
        """How many messages tagged with the issue Postmark holds (its retention: 45 days)."""
        _, total = self._search({"tag": content.issue_id}, 0, count=1)
        return total

    def _search(
        self, query: dict[str, str], offset: int, count: int = SEARCH_PAGE
    ) -> tuple[list[Any], int]:
        params = urlencode({"count": count, "offset": offset, **query})
        response = self.read(HTTPRequest("GET", f"/messages/outbound?{params}"))
        try:
            body = response.json()
            messages = body["Messages"]
            total = int(body["TotalCount"])
        except (ValueError, KeyError, TypeError):
            raise PermanentDeliveryError(
                "the message search answered without Messages and TotalCount",
                provider=self.name,
                status=response.status_code,
            ) from None
        return (messages if isinstance(messages, list) else []), total

    @staticmethod
    def _match(messages: list[Any], wanted: set[str], found: dict[str, str | None]) -> None:
        for m in messages:
            meta = m.get("Metadata") if isinstance(m, dict) else None
            digest_id = meta.get("digest_id") if isinstance(meta, dict) else None
            if digest_id in wanted:
                found[digest_id] = m.get("MessageID")

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        if isinstance(body, dict) and "Message" in body:
            return f"{body['Message']} (ErrorCode {body.get('ErrorCode')})"
        return super().error_message(response)
