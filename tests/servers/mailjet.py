"""A fake Mailjet Send API v3.1, written from Mailjet's documentation.

Sources: github.com/mailjet/api-documentation guides/_send-api.md ("Send API v3.1": the
``Messages`` payload and its properties; "Send API errors": the global error object, the
per-message ``{"Status": "error", "Errors": [...]}`` entries and the error code table —
``mj-0003`` missing property, ``mj-0007`` empty array, ``mj-0008`` too many elements,
``mj-0013`` invalid email, ``send-0003`` no content, ``send-0008`` sender not allowed,
``send-0011`` forbidden header, ``mj-0015`` bad credentials), dev.mailjet.com "Send Emails"
(50 messages a call in v3.1) and "Status codes". "In bulk sending we process each message
separately": valid messages are sent even when others fail, and the call then answers 400
(as django-anymail's tests of Mailjet's partial failures also record).

The message resource of the v3 REST API (dev.mailjet.com "Message" resource: ``GET
/v3/REST/message`` filtered by ``CustomID``, ``FromTS``; the answer ``{"Count", "Data":
[{"ID", "CustomID", "ArrivedAt", ...}], "Total"}``) lists the messages Mailjet took.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .kit import Reply, Request

__all__ = ["FakeMailjet", "Sent"]

EMAIL_RE = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
FORBIDDEN_HEADERS = {"from", "sender", "to", "cc", "bcc", "reply-to", "subject"}
MESSAGE_FIELDS = {
    "From", "Sender", "To", "Cc", "Bcc", "ReplyTo", "Subject", "TextPart", "HTMLPart",
    "TemplateID", "TemplateLanguage", "TemplateErrorReporting", "TemplateErrorDeliver",
    "Attachments", "InlinedAttachments", "Priority", "CustomCampaign", "DeduplicateCampaign",
    "TrackOpens", "TrackClicks", "CustomID", "EventPayload", "MonitoringCategory", "URLTags",
    "Headers", "Variables",
}
_ids = itertools.count(1152921500000000000)


@dataclass
class Sent:
    """One message Mailjet accepted."""

    message_id: int
    to: list[str]
    sender: str
    subject: str
    html: str | None
    text: str | None
    headers: dict[str, str]
    custom_id: str | None
    event_payload: str | None
    at: float = field(default_factory=time.time)


@dataclass
class FakeMailjet:
    """The app. ``senders`` are the validated sender addresses of the account."""

    public: str = "mj-public"
    private: str = "mj-private"
    senders: set[str] = field(default_factory=lambda: {"news@example.org"})
    sent: list[Sent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def deliveries(self, email: str) -> int:
        with self._lock:
            return sum(1 for s in self.sent for t in s.to if t.lower() == email.lower())

    def __call__(self, req: Request) -> Reply:
        route = (req.method, req.path)
        if route not in (("POST", "/v3.1/send"), ("GET", "/v3/REST/message")):
            return _global(404, "mj-0000", "Object not found")
        if not self._authorized(req.header("authorization") or ""):
            return _global(401, "mj-0015", "API key authentication/authorization failure. You "
                           "may be unauthorized to access the API or your API key may be "
                           "expired. Visit API keys management section to check your keys.")
        if req.method == "GET":
            return self._messages(req)
        body = req.json
        if not isinstance(body, dict):
            return _global(400, "mj-0002",
                           "Malformed JSON, please review the syntax and properties types.")
        messages = body.get("Messages")
        if not isinstance(messages, list):
            return _global(400, "mj-0003", "Missing mandatory property: Messages")
        if not messages:
            return _global(400, "mj-0007", "Messages: the array cannot be empty")
        if len(messages) > 50:
            return _global(400, "mj-0008", "Messages: the array holds more than 50 elements")
        sandbox = body.get("SandboxMode") is True
        entries = []
        with self._lock:
            for m in messages:
                errors = self._errors(m)
                entries.append(_error_entry(errors) if errors else self._accept(m, sandbox))
        status = 200 if all(e["Status"] == "success" for e in entries) else 400
        return Reply(status, {"Messages": entries})

    def _messages(self, req: Request) -> Reply:
        q = {k: v[0] for k, v in req.query.items()}
        since = float(q.get("FromTS", 0))
        with self._lock:
            data = [
                {"ID": s.message_id, "CustomID": s.custom_id or "", "ArrivedAt": s.at}
                for s in self.sent
                if ("CustomID" not in q or s.custom_id == q["CustomID"]) and s.at >= since
            ]
        return Reply(200, {"Count": len(data), "Data": data, "Total": len(data)})

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (user, password) == (self.public, self.private)

    def _errors(self, m: Any) -> list[dict[str, Any]]:
        if not isinstance(m, dict):
            return [_e(400, "mj-0004", "Type mismatch. Expected type \"object\".", [])]
        errors = []
        unknown = sorted(set(m) - MESSAGE_FIELDS)
        for name in unknown:
            errors.append(_e(400, "mj-0004", f"Unknown property \"{name}\".", [name]))
        sender = m.get("From")
        if not isinstance(sender, dict) or not sender.get("Email"):
            errors.append(_e(400, "mj-0003", "Missing mandatory property.", ["From"]))
        elif str(sender["Email"]).lower() not in self.senders:
            errors.append(_e(403, "send-0008",
                             f"\"{sender['Email']}\" is not an authorized sender email address "
                             "for your account.", ["From"]))
        to = m.get("To")
        if not isinstance(to, list):
            errors.append(_e(400, "mj-0003", "The To is mandatory but missing from the input",
                             ["To"]))
        elif not to:
            errors.append(_e(400, "mj-0007", "To: the array cannot be empty", ["To"]))
        elif len(to) > 50:
            errors.append(_e(400, "send-0015", "Too many recipients (limit 50).", ["To"]))
        else:
            for i, t in enumerate(to):
                email = t.get("Email") if isinstance(t, dict) else None
                if not isinstance(email, str) or not EMAIL_RE.match(email):
                    errors.append(_e(400, "mj-0013",
                                     f"\"{email}\" is an invalid email address.",
                                     [f"To[{i}].Email"]))
        if not any(m.get(k) for k in ("TextPart", "HTMLPart", "TemplateID")):
            errors.append(_e(400, "send-0003",
                             "At least \"HTMLPart\", \"TextPart\" or \"TemplateID\" must be "
                             "provided.", ["HTMLPart", "TextPart", "TemplateID"]))
        subject = m.get("Subject")
        if subject is not None and (not isinstance(subject, str) or len(subject) > 255):
            errors.append(_e(400, "mj-0006", "Subject is longer than 255 characters.",
                             ["Subject"]))
        headers = m.get("Headers") or {}
        if not isinstance(headers, dict):
            errors.append(_e(400, "mj-0004", "Headers must be an object.", ["Headers"]))
        else:
            for name in headers:
                if name.lower() in FORBIDDEN_HEADERS:
                    errors.append(_e(400, "send-0011",
                                     f"The header \"{name}\" has a message property; use it.",
                                     [f"Headers[\"{name}\"]"]))
        for name in ("CustomID", "EventPayload"):
            if name in m and not isinstance(m[name], str):
                errors.append(_e(400, "mj-0004", "Type mismatch. Expected type \"string\".",
                                 [name]))
        return errors

    def _accept(self, m: dict[str, Any], sandbox: bool) -> dict[str, Any]:
        to = []
        ids = []
        for t in m["To"]:
            message_id = next(_ids)
            ids.append(message_id)
            to.append({
                "Email": t["Email"],
                "MessageUUID": str(uuid.uuid4()),
                "MessageID": message_id,
                "MessageHref": f"https://api.mailjet.com/v3/REST/message/{message_id}",
            })
        if not sandbox:
            self.sent.append(Sent(
                message_id=ids[0],
                to=[t["Email"] for t in m["To"]],
                sender=m["From"]["Email"],
                subject=m.get("Subject", ""),
                html=m.get("HTMLPart"),
                text=m.get("TextPart"),
                headers=dict(m.get("Headers") or {}),
                custom_id=m.get("CustomID"),
                event_payload=m.get("EventPayload"),
            ))
        return {"Status": "success", "CustomID": m.get("CustomID", ""), "To": to,
                "Cc": [], "Bcc": []}


def _e(status: int, code: str, message: str, related: list[str]) -> dict[str, Any]:
    return {"ErrorIdentifier": str(uuid.uuid4()), "ErrorCode": code, "StatusCode": status,
            "ErrorMessage": message, "ErrorRelatedTo": related}


def _error_entry(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Status": "error", "Errors": errors}


def _global(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"ErrorIdentifier": str(uuid.uuid4()), "ErrorCode": code,
                          "StatusCode": status, "ErrorMessage": message})
