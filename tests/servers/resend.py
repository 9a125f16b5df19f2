"""A fake Resend batch API, written from Resend's documentation, not from digest's adapter.

Sources: resend.com/docs/api-reference/emails/send-batch-emails (body fields, 100 emails a
call, ``to`` at most 50), .../dashboard/emails/idempotency-keys (``Idempotency-Key`` up to 256
characters; a repeat returns the first answer without sending), .../api-reference/errors
(``{"statusCode", "name", "message"}``; 401 ``missing_api_key``, 403 ``invalid_api_key``,
400 ``invalid_idempotency_key``, 409 ``invalid_idempotent_request`` and
``concurrent_idempotent_requests``, 422 ``validation_error``), and the batch validation
changelog (``x-batch-validation: strict`` (default) rejects the whole request for one invalid
email; ``permissive`` sends the valid ones and lists the rest in ``errors``).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from .kit import RateWindow, Reply, Request

__all__ = ["FakeResend", "Sent"]

EMAIL_RE = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
TAG_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
FIELDS = {"from", "to", "subject", "bcc", "cc", "reply_to", "html", "text", "react", "headers",
          "tags", "template", "topic_id"}
NOT_IN_BATCH = {"attachments", "scheduled_at"}


def mailbox(value: str) -> str:
    """The address part of ``email`` or ``Name <email>``."""
    value = value.strip()
    if value.endswith(">") and "<" in value:
        return value[value.rindex("<") + 1 : -1].strip()
    return value


@dataclass
class Sent:
    """One email Resend accepted for delivery."""

    id: str
    to: list[str]
    sender: str
    subject: str
    html: str | None
    text: str | None
    headers: dict[str, str]
    tags: list[dict[str, str]]
    reply_to: Any = None


@dataclass
class FakeResend:
    """The app: call it with a :class:`Request`; ``sent`` lists accepted emails in order."""

    api_key: str = "re_test_key"
    sent: list[Sent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _keys: dict[str, tuple[bytes, Reply]] = field(default_factory=dict, repr=False)
    _running: set[str] = field(default_factory=set, repr=False)
    quota: RateWindow | None = None
    """Requests allowed per window; every answer then reports it in ``ratelimit-*`` headers
    (the IETF draft's names, as Resend's "Rate limit" page lists them), and a request past it
    gets 429 ``rate_limit_exceeded`` with ``retry-after``."""

    def forget_keys(self) -> None:
        """A day has passed: Resend keeps an idempotency key 24 hours, then a repeat is new."""
        with self._lock:
            self._keys.clear()

    def deliveries(self, email: str) -> int:
        """How many emails went to ``email``."""
        with self._lock:
            return sum(1 for s in self.sent for t in s.to if mailbox(t).lower() == email.lower())

    def __call__(self, req: Request) -> Reply:
        if req.method != "POST" or req.path != "/emails/batch":
            return _error(404, "not_found", "The requested endpoint does not exist.")
        auth = req.header("authorization") or ""
        if not auth:
            return _error(401, "missing_api_key", "Missing API key in the authorization header.")
        if auth != f"Bearer {self.api_key}":
            return _error(403, "invalid_api_key", "API key is invalid.")
        if self.quota is None:
            return self._send(req)
        allowed, left, reset = self.quota.take()
        headers = {"ratelimit-limit": str(self.quota.limit), "ratelimit-remaining": str(left),
                   "ratelimit-reset": str(reset)}
        if not allowed:
            reply = _error(429, "rate_limit_exceeded", "Too many requests. You can only make "
                           f"{self.quota.limit} requests per second.")
            return Reply(429, reply.body, {**headers, "retry-after": str(reset)})
        reply = self._send(req)
        return Reply(reply.status, reply.body, {**reply.headers, **headers})

    def _send(self, req: Request) -> Reply:
        key = req.header("idempotency-key")
        if key is None:
            return self._process(req)
        if not 1 <= len(key) <= 256:
            return _error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
        with self._lock:
            if key in self._running:
                return _error(409, "concurrent_idempotent_requests",
                              "Same idempotency key used while original request is still in "
                              "progress.")
            if key in self._keys:
                body, reply = self._keys[key]
                if _canonical(body) != _canonical(req.body):
                    return _error(409, "invalid_idempotent_request",
                                  "Same idempotency key used with a different request payload.")
                return reply
            self._running.add(key)
        try:
            reply = self._process(req)
        finally:
            with self._lock:
                self._running.discard(key)
        if reply.status < 500:
            with self._lock:
                self._keys[key] = (req.body, reply)
        return reply

    def _process(self, req: Request) -> Reply:
        mode = (req.header("x-batch-validation") or "strict").lower()
        if mode not in ("strict", "permissive"):
            return _error(422, "validation_error",
                          "The `x-batch-validation` header must be `strict` or `permissive`.")
        emails = req.json
        if not isinstance(emails, list) or not emails:
            return _error(422, "validation_error", "The request body must be an array of emails.")
        if len(emails) > 100:
            return _error(422, "validation_error",
                          "Too many emails in the batch: the limit is 100.")
        problems = [(i, _problem(e)) for i, e in enumerate(emails)]
        bad = [(i, p) for i, p in problems if p]
        if bad and mode == "strict":
            # Strict mode names the first problem only, not which email had it.
            return _error(422, "validation_error", bad[0][1])
        data: list[dict[str, str]] = []
        with self._lock:
            for i, e in enumerate(emails):
                if problems[i][1]:
                    continue
                sent = Sent(
                    id=str(uuid.uuid4()),
                    to=_list(e["to"]),
                    sender=e["from"],
                    subject=e["subject"],
                    html=e.get("html"),
                    text=e.get("text"),
                    headers=dict(e.get("headers") or {}),
                    tags=list(e.get("tags") or []),
                    reply_to=e.get("reply_to"),
                )
                self.sent.append(sent)
                data.append({"id": sent.id})
        body: dict[str, Any] = {"data": data}
        if mode == "permissive":
            body["errors"] = [{"index": i, "message": p} for i, p in bad]
        return Reply(200, body)


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _problem(email: Any) -> str:
    """What is wrong with one email of the batch, in Resend's words, or ''."""
    if not isinstance(email, dict):
        return "Each email must be an object."
    for name in NOT_IN_BATCH:
        if name in email:
            return f"The `{name}` field is not supported in batch emails."
    unknown = sorted(set(email) - FIELDS)
    if unknown:
        return f"Unknown field `{unknown[0]}`."
    for name in ("from", "to", "subject"):
        if not email.get(name):
            return f"Missing `{name}` field."
    if not isinstance(email["from"], str) or not EMAIL_RE.match(mailbox(email["from"])):
        return "Invalid `from` field. The email address needs to follow the " \
               "`email@example.com` or `Name <email@example.com>` format."
    for name in ("to", "cc", "bcc", "reply_to"):
        if name not in email:
            continue
        value = email[name]
        if not (isinstance(value, str) or (isinstance(value, list)
                                           and all(isinstance(v, str) for v in value))):
            return f"The `{name}` field must be a string or an array of strings."
        addresses = _list(value)
        if name == "to" and len(addresses) > 50:
            return "The `to` field can hold at most 50 addresses."
        for a in addresses:
            if not EMAIL_RE.match(mailbox(a)):
                return f"Invalid `{name}` field. The email address needs to follow the " \
                       "`email@example.com` or `Name <email@example.com>` format."
    if not isinstance(email["subject"], str):
        return "The `subject` field must be a string."
    if not any(isinstance(email.get(k), str) for k in ("html", "text", "react", "template")):
        return "Missing `html` or `text` field."
    headers = email.get("headers")
    if headers is not None and not (
        isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())
    ):
        return "The `headers` field must be an object of strings."
    for tag in email.get("tags") or []:
        if not (isinstance(tag, dict) and TAG_RE.match(str(tag.get("name", "")))
                and TAG_RE.match(str(tag.get("value", "")))):
            return "Tags may hold only ASCII letters, numbers, underscores or dashes."
    return ""


def _canonical(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def _error(status: int, name: str, message: str) -> Reply:
    return Reply(status, {"statusCode": status, "name": name, "message": message})
