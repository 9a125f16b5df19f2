"""A fake Brevo transactional email API, written from Brevo's documentation.

Sources: developers.brevo.com "Batch send transactional emails" (up to 1,000 message
versions a call), "Idempotency for batch emails" (``headers.idempotencyKey`` must be a UUID,
kept 30 minutes; a repeat within that time gets the ``duplicate_parameter`` error code and is
not processed; one message id per version), "Rate limit headers" (``x-sib-ratelimit-*``), the
``SendSmtpEmail`` model (``to`` ignored when ``messageVersions`` is given; ``htmlContent``
mandatory without ``templateId``; at most 2,000 recipients a call, 99 a version) and the
``SendSmtpEmailMessageVersions`` model (``to``, ``params``, ``bcc``, ``cc``, ``replyTo``,
``subject``, ``htmlContent``, ``textContent``; the bodies may change per version only when
one of them is set at the top level). Errors are ``{"code": ..., "message": ...}``; an
unknown key answers 401 ``unauthorized`` "Key not found". Success is 201.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from .kit import RateWindow, Reply, Request

__all__ = ["FakeBrevo", "Sent"]

EMAIL_RE = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
VERSION_FIELDS = {"to", "params", "bcc", "cc", "replyTo", "subject", "htmlContent", "textContent"}
TOP_FIELDS = {"sender", "to", "bcc", "cc", "htmlContent", "textContent", "subject", "replyTo",
              "attachment", "headers", "templateId", "params", "messageVersions", "tags",
              "scheduledAt", "batchId"}


@dataclass
class Sent:
    """One message Brevo accepted: a version for one recipient list."""

    message_id: str
    to: list[str]
    sender: str
    subject: str
    html: str | None
    text: str | None
    headers: dict[str, str]
    tags: list[str]


@dataclass
class FakeBrevo:
    """The app; ``sent`` lists accepted messages, ``calls`` counts processed requests."""

    api_key: str = "xkeysib-test"
    sent: list[Sent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _keys: set[str] = field(default_factory=set, repr=False)
    quota: RateWindow | None = None
    """Requests allowed per window; every answer then carries ``x-sib-ratelimit-limit``,
    ``-remaining`` and ``-reset`` (seconds), and a request past it gets 429."""

    def deliveries(self, email: str) -> int:
        with self._lock:
            return sum(1 for s in self.sent for t in s.to if t.lower() == email.lower())

    def __call__(self, req: Request) -> Reply:
        if req.method != "POST" or req.path != "/v3/smtp/email":
            return _error(404, "not_found", "Invalid endpoint")
        if req.header("api-key") != self.api_key:
            return _error(401, "unauthorized", "Key not found")
        if self.quota is None:
            return self._send(req)
        allowed, left, reset = self.quota.take()
        headers = {"x-sib-ratelimit-limit": str(self.quota.limit),
                   "x-sib-ratelimit-remaining": str(left), "x-sib-ratelimit-reset": str(reset)}
        reply = self._send(req) if allowed else _error(
            429, "too_many_requests", "The expected rate limit is exceeded.")
        return Reply(reply.status, reply.body, {**reply.headers, **headers})

    def _send(self, req: Request) -> Reply:
        body = req.json
        if not isinstance(body, dict):
            return _error(400, "bad_request", "Input must be a JSON object")
        problem = _problem(body)
        if problem:
            return _error(400, "invalid_parameter", problem)
        headers = dict(body.get("headers") or {})
        key = headers.pop("idempotencyKey", None)
        with self._lock:
            if key is not None:
                if key in self._keys:
                    return _error(400, "duplicate_parameter",
                                  "Duplicate request: the idempotencyKey was already used")
                self._keys.add(key)
            return Reply(201, self._accept(body, headers))

    def _accept(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        versions = body.get("messageVersions")
        ids: list[str] = []
        for v in versions if versions else [body]:
            message_id = f"<{uuid.uuid4().hex}@smtp-relay.mailin.fr>"
            ids.append(message_id)
            self.sent.append(Sent(
                message_id=message_id,
                to=[t["email"] for t in v["to"]],
                sender=body["sender"]["email"],
                subject=v.get("subject") or body.get("subject") or "",
                html=v.get("htmlContent") or body.get("htmlContent"),
                text=v.get("textContent") or body.get("textContent"),
                headers=headers,
                tags=list(body.get("tags") or []),
            ))
        return {"messageIds": ids} if versions else {"messageId": ids[0]}


def _parties(value: Any, where: str, *, limit: int | None = None) -> str:
    if not isinstance(value, list) or not value:
        return f"{where} must be a non-empty array"
    if limit is not None and len(value) > limit:
        return f"{where} can hold at most {limit} recipients"
    for p in value:
        if not isinstance(p, dict) or not isinstance(p.get("email"), str):
            return f"{where} entries need an email"
        if not EMAIL_RE.match(p["email"]):
            return f"email is not valid in {where}"
        if "name" in p and not isinstance(p["name"], str):
            return f"name is not valid in {where}"
    return ""


def _problem(body: dict[str, Any]) -> str:
    unknown = sorted(set(body) - TOP_FIELDS)
    if unknown:
        return f"{unknown[0]} is not a valid parameter"
    sender = body.get("sender")
    if not isinstance(sender, dict) or not EMAIL_RE.match(str(sender.get("email", ""))):
        return "sender is missing or its email is not valid"
    has_template = "templateId" in body
    if not has_template:
        if not isinstance(body.get("subject"), str) or not body["subject"]:
            return "subject is missing"
        if not isinstance(body.get("htmlContent"), str) or not body["htmlContent"]:
            return "htmlContent is missing"
    headers = body.get("headers")
    if headers is not None:
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            return "headers must be an object of strings"
        key = headers.get("idempotencyKey")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                return "idempotencyKey must be a valid UUID"
    if "replyTo" in body and _parties([body["replyTo"]], "replyTo"):
        return "replyTo is not valid"
    tags = body.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return "tags must be an array of strings"
    versions = body.get("messageVersions")
    if versions is None:
        return _parties(body.get("to"), "to")
    if not isinstance(versions, list) or not versions:
        return "messageVersions must be a non-empty array"
    if len(versions) > 1000:
        return "messageVersions can hold at most 1000 versions"
    total = 0
    top_body = "htmlContent" in body or "textContent" in body
    for i, v in enumerate(versions):
        if not isinstance(v, dict):
            return f"messageVersions[{i}] must be an object"
        unknown = sorted(set(v) - VERSION_FIELDS)
        if unknown:
            return f"{unknown[0]} is not valid in messageVersions"
        problem = _parties(v.get("to"), "messageVersions.to", limit=99)
        if problem:
            return problem
        if ("htmlContent" in v or "textContent" in v) and not top_body:
            return "htmlContent and textContent can be customised only when set globally"
        for k in ("subject", "htmlContent", "textContent"):
            if k in v and not isinstance(v[k], str):
                return f"{k} is not valid in messageVersions"
        total += len(v["to"])
    if total > 2000:
        return "messageVersions can address at most 2000 recipients"
    return ""


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message})
