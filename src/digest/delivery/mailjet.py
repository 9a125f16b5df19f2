"""Mailjet: Send API v3.1, ``POST /v3.1/send``, up to 50 messages a call.

Facts from Mailjet's documentation (dev.mailjet.com "Send API v3.1", "Send API errors",
"Status codes"; github.com/mailjet/api-documentation guides/_send-api.md):

* Basic authentication with ``MJ_APIKEY_PUBLIC`` as user and ``MJ_APIKEY_PRIVATE`` as
  password; the body is ``{"Messages": [...]}``, at most 50 messages (``mj-0008`` beyond),
  each with ``From``, ``To``, ``ReplyTo``, ``Subject``, ``TextPart``, ``HTMLPart``,
  ``Headers``, ``CustomID`` and ``EventPayload`` (both come back in event webhooks);
  ``SandboxMode`` validates without sending.
* "In bulk sending we process each message separately": the answer lists one entry per
  message, in order, each ``{"Status": "success", "To": [{"Email", "MessageUUID",
  "MessageID", ...}]}`` or ``{"Status": "error", "Errors": [{"ErrorCode", "StatusCode",
  "ErrorMessage", "ErrorRelatedTo", ...}]}``. The HTTP status is 400 as soon as one message
  failed, so a 400 with a ``Messages`` list is read per message, not as a failed call.
* A call-wide error (bad JSON, bad credentials) is a single object with ``ErrorMessage``.
* Mailjet documents no idempotency key: a retry after a lost answer may send twice, so a
  lost answer is never retried. Each message's ``CustomID`` is digest's per-recipient id,
  and the message resource (``GET /v3/REST/message?CustomID=...``, answered
  ``{"Count", "Data": [{"ID", "CustomID", ...}]}``) says whether Mailjet took it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

import httpx

from ..errors import PermanentDeliveryError
from ..message import Address, Batch, Content, Recipient
from ..text import plural
from ._http import Bodies, HTTPOptions, HTTPProvider, HTTPRequest
from .base import Options, RecipientResult

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["MailjetOptions", "MailjetProvider"]

_PROPERTY_HEADERS = frozenset(
    {"from", "sender", "to", "cc", "bcc", "reply-to", "subject", "content-type"}
)
"""Headers Mailjet refuses in ``Headers`` (``send-0011``): they have a message property."""


class MailjetOptions(HTTPOptions):
    """``[providers.mailjet]``."""

    base_url: str = "https://api.mailjet.com"
    """The API's address; change it for a proxy or a test server."""
    sandbox: bool = False
    """Ask Mailjet to validate every message without sending it (``SandboxMode``)."""


def _party(address: Address) -> dict[str, str]:
    return (
        {"Email": address.email, "Name": address.name} if address.name else {"Email": address.email}
    )


class MailjetProvider(HTTPProvider):
    """Mailjet's Send API v3.1: one message per recipient, results per message."""

    name: ClassVar[str] = "mailjet"
    description: ClassVar[str] = "Mailjet Send API v3.1 (POST /v3.1/send, 50 messages a call)"
    options_model: ClassVar[type[Options]] = MailjetOptions
    env_vars: ClassVar[tuple[str, ...]] = ("MJ_APIKEY_PUBLIC", "MJ_APIKEY_PRIVATE")
    max_batch: ClassVar[int] = 50
    idempotent: ClassVar[bool] = False
    reconciles: ClassVar[bool] = True
    rejects_whole_batch: ClassVar[bool] = False
    error_code_field = "ErrorCode"

    options: MailjetOptions

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(settings, sleep=sleep)
        self._user = self.secret("MJ_APIKEY_PUBLIC")
        self._password = self.secret("MJ_APIKEY_PRIVATE")

    def auth(self) -> httpx.Auth:
        return httpx.BasicAuth(self._user, self._password)

    def build_request(self, batch: Batch) -> HTTPRequest:
        bodies = self.bodies(batch.content)
        payload: dict[str, Any] = {
            "Messages": [_message(batch.content, r, batch.key, bodies) for r in batch.recipients]
        }
        if self.options.sandbox:
            payload["SandboxMode"] = True
        return HTTPRequest("POST", "/v3.1/send", json=payload, accept=frozenset({400}))

    def accepted(
        self, content: Content, recipients: Sequence[Recipient], since: datetime
    ) -> dict[str, str | None]:
        """One look-up of the message resource per recipient, by ``CustomID``."""
        found: dict[str, str | None] = {}
        for r in recipients:
            if not r.digest_id:
                continue
            query = urlencode({"CustomID": r.digest_id, "FromTS": int(since.timestamp())})
            response = self.read(HTTPRequest("GET", f"/v3/REST/message?{query}"))
            try:
                data = response.json()["Data"]
            except (ValueError, KeyError, TypeError):
                raise PermanentDeliveryError(
                    "the message resource answered without Data",
                    provider=self.name,
                    status=response.status_code,
                ) from None
            if isinstance(data, list) and data:
                first = data[0] if isinstance(data[0], dict) else {}
                found[r.digest_id] = str(first["ID"]) if "ID" in first else None
        return found

    def parse_response(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        try:
            body = response.json()
        except ValueError:
            body = None
        messages = body.get("Messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            # A 400 for the whole call (bad JSON, too many messages...): nothing was sent.
            raise PermanentDeliveryError(
                self.scrub(self.error_message(response)),
                provider=self.name,
                status=response.status_code,
                body=self.scrub(response.text[:2000]),
            )
        if len(messages) != len(batch.recipients):
            raise PermanentDeliveryError(
                f"answered with {plural(len(messages), 'result')} for "
                f"{plural(len(batch.recipients), 'message')}",
                provider=self.name,
                status=response.status_code,
            )
        return [_result(r, m) for r, m in zip(batch.recipients, messages, strict=True)]


def _message(
    content: Content, recipient: Recipient, batch_key: str, bodies: Bodies
) -> dict[str, Any]:
    values = recipient.values()
    message: dict[str, Any] = {
        "From": _party(content.sender),
        "To": [_party(recipient.address)],
        "Subject": content.subject_for(recipient),
        "TextPart": bodies.text.fill(values),
        "HTMLPart": bodies.html.fill(values),
        "CustomID": recipient.digest_id or content.issue_id,
        "EventPayload": json.dumps({"issue": content.issue_id, "batch": batch_key}),
    }
    if content.reply_to:
        message["ReplyTo"] = _party(content.reply_to)
    headers = {
        k: v
        for k, v in content.headers_for(recipient).items()
        if v.strip("<>, ") and k.lower() not in _PROPERTY_HEADERS
    }
    if headers:
        message["Headers"] = headers
    return message


def _result(recipient: Recipient, entry: Any) -> RecipientResult:
    """One recipient's outcome from its entry in Mailjet's ``Messages`` answer."""
    if not isinstance(entry, dict):
        return RecipientResult(recipient.email, False, error="mailjet: unreadable answer")
    if entry.get("Status") == "success":
        to = [t for t in entry.get("To") or [] if isinstance(t, dict)]
        mine = [t for t in to if str(t.get("Email", "")).lower() == recipient.email.lower()]
        found = (mine or to or [{}])[0].get("MessageID")
        message_id = str(found) if found is not None else None
        return RecipientResult(recipient.email, True, message_id=message_id)
    errors = [e for e in entry.get("Errors") or [] if isinstance(e, dict)]
    text = "; ".join(_describe(e) for e in errors) or "refused without a reason"
    statuses = [_status(e) for e in errors]
    retryable = any(s == 429 or s >= 500 for s in statuses)
    return RecipientResult(recipient.email, False, error=f"mailjet: {text}", retryable=retryable)


def _status(error: dict[str, Any]) -> int:
    try:
        return int(error.get("StatusCode") or 0)
    except (TypeError, ValueError):
        return 0


def _describe(error: dict[str, Any]) -> str:
    code = error.get("ErrorCode") or error.get("StatusCode") or "error"
    message = error.get("ErrorMessage") or ""
    related = error.get("ErrorRelatedTo") or []
    where = f" ({', '.join(str(x) for x in related)})" if related else ""
    return f"{code}: {message}{where}"
