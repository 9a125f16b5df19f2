"""Postmark: ``POST /email/batch``, up to 500 messages and 50 MB a call.

Each recipient gets a complete message (body filled on our side), and Postmark answers 200
with one result per message, in order: ``ErrorCode`` 0 and a ``MessageID`` when accepted,
else its own error code and message for that recipient only. A bad token or a malformed
request fails the whole call (401, 422).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from ..errors import PermanentDeliveryError
from ..message import Batch, Recipient
from ._http import Bodies, HTTPOptions, HTTPProvider, HTTPRequest
from .base import Options, RecipientResult

__all__ = ["PostmarkOptions", "PostmarkProvider"]

TOKEN_ENV = "POSTMARK_SERVER_TOKEN"

_RETRYABLE_CODES = frozenset({100, 429})
"""Per-message error codes worth another try later (maintenance, rate limit)."""


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
    key_env = TOKEN_ENV
    key_header = ("X-Postmark-Server-Token", "{key}")

    options: PostmarkOptions

    def build_request(self, batch: Batch) -> HTTPRequest:
        c = batch.content
        bodies = self.bodies(c)
        shared: dict[str, Any] = {
            "From": c.sender.formatted(),
            "MessageStream": self.options.message_stream,
            "Tag": c.issue_id,
            "Metadata": {**c.metadata, "digest_issue": c.issue_id},
        }
        if c.reply_to:
            shared["ReplyTo"] = c.reply_to.formatted()
        return HTTPRequest(
            "POST",
            "/email/batch",
            json=[self._message(batch, r, bodies, shared) for r in batch.recipients],
        )

    def _message(
        self, batch: Batch, r: Recipient, bodies: Bodies, shared: dict[str, Any]
    ) -> dict[str, Any]:
        c = batch.content
        o = self.options
        values = r.values()
        msg: dict[str, Any] = {
            **shared,
            "To": r.address.formatted(),
            "Subject": c.subject_for(r),
            "HtmlBody": bodies.html.fill(values),
            "TextBody": bodies.text.fill(values),
        }
        headers = [{"Name": k, "Value": v} for k, v in c.headers_for(r).items() if v.strip("<>, ")]
        if o.message_id_header and r.message_id:
            headers.append({"Name": "Message-ID", "Value": r.message_id})
        if headers:
            msg["Headers"] = headers
        if o.track_opens is not None:
            msg["TrackOpens"] = o.track_opens
        if o.track_links is not None:
            msg["TrackLinks"] = o.track_links
        return msg

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

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        if isinstance(body, dict) and "Message" in body:
            return f"{body['Message']} (ErrorCode {body.get('ErrorCode')})"
        return super().error_message(response)
