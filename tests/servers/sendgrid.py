"""A fake SendGrid v3 ``POST /v3/mail/send``, built from SendGrid's own documentation.

Sources (read for facts): the v3 Mail Send reference and its "Limitations" and "Errors"
pages (twilio.com/docs/sendgrid/api-reference/mail-send/...), "Personalizations" and
"Substitution Tags" (twilio.com/docs/sendgrid/for-developers/sending-email/...):

* ``Authorization: Bearer <key>``; 401 with an ``errors`` array otherwise;
* JSON body with ``personalizations`` (1 to 1,000; at most 1,000 recipients over to, cc and
  bcc; each address only once in the whole array; each needs a ``to``), ``from``,
  ``subject`` (unless every personalization has one), ``content`` (``text/plain`` first,
  then ``text/html``; values at least one character);
* ``to[].name`` may not hold ``;`` or ``,``; custom arguments under 10,000 bytes;
  substitutions are strings, at most 50,000 bytes per personalization (the older
  reference said 10,000; the current Substitution Tags page says 50,000); at most 10
  categories; the email under 30 MB;
* reserved headers may not be set (x-sg-id, x-sg-eid, received, dkim-signature,
  Content-Type, Content-Transfer-Encoding, To, From, Subject, Reply-To, CC, BCC);
* 202 Accepted, an empty body, and ``X-Message-Id``; 400 with
  ``{"errors": [{"message", "field", "help"}]}`` for any invalid part, which refuses the
  whole request.

Substitutions are applied the way SendGrid documents them (plain replacement of each key in
the subject and the content), so a delivery shows what that recipient would read.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .kit import (
    Delivery,
    FakeProvider,
    LoopbackServer,
    Mailbox,
    Reply,
    Request,
    parse_address,
)

__all__ = ["FakeSendGrid", "sendgrid"]

API_KEY = "SG.fake-key.0123456789abcdef"
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_BYTES = 30 * 1000 * 1000
MAX_CUSTOM_ARGS = 10_000
MAX_SUBSTITUTIONS = 50_000
RESERVED_HEADERS = {
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
    "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc",
}
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"


class _Invalid(Exception):
    def __init__(self, message: str, field: str | None, anchor: str = "") -> None:
        self.message, self.field, self.anchor = message, field, anchor


def _errors(status: int, *errors: tuple[str, str | None, str]) -> Reply:
    return Reply(status, {"errors": [
        {"message": m, "field": f, "help": f"{HELP}#{a}" if a else None} for m, f, a in errors
    ]})


class FakeSendGrid(FakeProvider):
    """Answers ``POST /v3/mail/send`` as SendGrid documents it; keeps what it accepted."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.max_recipients = MAX_RECIPIENTS
        """A smaller limit lets a test see the whole-request refusal with few recipients."""
        self.mailbox = Mailbox()
        self.accepted: list[dict[str, Any]] = []
        """Every accepted request body, in order."""
        self.message_ids: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        if req.path != "/v3/mail/send":
            return _errors(404, ("not found", None, ""))
        if req.method != "POST":
            return _errors(405, ("method not allowed", None, ""))
        auth = req.header("Authorization")
        if not auth:
            return _errors(401, ("authorization required", None, ""))
        if auth != f"Bearer {self.api_key}":
            return _errors(
                401, ("The provided authorization grant is invalid, expired, or revoked",
                      None, ""),
            )
        if (req.header("Content-Type") or "").split(";")[0].strip() != "application/json":
            return _errors(415, ("Content-Type should be application/json.", None, ""))
        if len(req.body) > MAX_BYTES:
            return _errors(413, ("The JSON payload you have included in your request is too "
                                 "large.", None, ""))
        if not isinstance(req.json, dict):
            return _errors(400, ("Bad Request", None, ""))
        try:
            self._validate(req.json)
        except _Invalid as e:
            return _errors(400, (e.message, e.field, e.anchor))
        message_id = secrets.token_urlsafe(16)[:22]
        with self._lock:
            self.accepted.append(req.json)
            self.message_ids.append(message_id)
        self._deliver(req.json, message_id)
        return Reply(202, b"", {"X-Message-Id": message_id})

    def _validate(self, body: dict[str, Any]) -> None:
        ps = body.get("personalizations")
        if not isinstance(ps, list) or not ps:
            raise _Invalid("You must have at least one personalization.", "personalizations",
                           "message.personalizations")
        if len(ps) > MAX_PERSONALIZATIONS:
            raise _Invalid(
                "The personalization block is limited to 1000 personalizations per API "
                f"request. You have provided {len(ps)} personalizations. Please consider "
                "splitting this into multiple requests and resending your request.",
                "personalizations", "message.personalizations",
            )
        seen: set[str] = set()
        total = 0
        for i, p in enumerate(ps):
            if not isinstance(p, dict) or not p.get("to"):
                raise _Invalid("The to parameter is required for all personalization objects, "
                               "and must have at least one element", f"personalizations.{i}.to",
                               "message.personalizations.to")
            for kind in ("to", "cc", "bcc"):
                for j, rcpt in enumerate(p.get(kind) or []):
                    total += 1
                    addr = rcpt.get("email") if isinstance(rcpt, dict) else None
                    field = f"personalizations.{i}.{kind}.{j}.email"
                    if not isinstance(addr, str) or parse_address(addr) != addr.lower():
                        raise _Invalid("Does not contain a valid address.", field,
                                       f"message.personalizations.{kind}")
                    name = rcpt.get("name", "")
                    if ";" in name or "," in name:
                        raise _Invalid(
                            "The to.name, cc.name, and bcc.name personalizations cannot "
                            "include either the ; or , characters.",
                            f"personalizations.{i}.{kind}.{j}.name",
                            "message.personalizations.to",
                        )
                    if addr.lower() in seen:
                        raise _Invalid(
                            "Each unique email address in the personalizations array should "
                            f"only be included once. You have included {addr} more than once.",
                            "personalizations", "message.personalizations",
                        )
                    seen.add(addr.lower())
            headers = p.get("headers") or {}
            for name, value in headers.items():
                if name.lower() in RESERVED_HEADERS:
                    raise _Invalid(f"The header {name} is reserved and cannot be set.",
                                   f"personalizations.{i}.headers", "message.headers")
                if not isinstance(value, str):
                    raise _Invalid("Header values must be strings.",
                                   f"personalizations.{i}.headers", "message.headers")
            subs = p.get("substitutions") or {}
            if not all(isinstance(v, str) for v in subs.values()):
                raise _Invalid("Substitutions must be strings.",
                               f"personalizations.{i}.substitutions",
                               "message.personalizations.substitutions")
            if len(json.dumps(subs).encode()) > MAX_SUBSTITUTIONS:
                raise _Invalid("Substitutions are limited to 50,000 bytes per personalization "
                               "block.", f"personalizations.{i}.substitutions",
                               "message.personalizations.substitutions")
            if p.get("custom_args") and len(json.dumps(p["custom_args"]).encode()) >= \
                    MAX_CUSTOM_ARGS:
                raise _Invalid("The total length of custom arguments must be less than 10000 "
                               "bytes.", f"personalizations.{i}.custom_args",
                               "message.custom_args")
        if total > self.max_recipients:
            raise _Invalid("There is a limit of 1000 total recipients (to + cc + bcc) per "
                           "request.", "personalizations", "message.personalizations")
        sender = body.get("from")
        if not isinstance(sender, dict) or parse_address(sender.get("email", "")) is None:
            raise _Invalid("The from object must be provided for every email send. It is an "
                           "object that requires the email parameter, but may also contain a "
                           "name parameter.", "from.email", "message.from")
        if not body.get("subject") and not all(p.get("subject") for p in ps):
            raise _Invalid("The subject is required. You can get around this requirement if "
                           "you use a template with a subject defined or if every "
                           "personalization has a subject defined.", "subject",
                           "message.subject")
        content = body.get("content")
        if not isinstance(content, list) or not content:
            raise _Invalid("Unless a valid template_id is provided, the content parameter is "
                           "required. There must be at least one defined content block.",
                           "content", "message.content")
        for k, c in enumerate(content):
            if not isinstance(c, dict) or not isinstance(c.get("value"), str) or not c["value"]:
                raise _Invalid("The content value must be a string at least one character in "
                               "length.", f"content.{k}.value", "message.content.value")
        types = [c.get("type") for c in content]
        if "text/plain" in types and types[0] != "text/plain":
            raise _Invalid("The text/plain content type must be first, followed by "
                           "text/html or any other content.", "content",
                           "message.content.type")
        if body.get("custom_args") and len(json.dumps(body["custom_args"]).encode()) >= \
                MAX_CUSTOM_ARGS:
            raise _Invalid("The total length of custom arguments must be less than 10000 "
                           "bytes.", "custom_args", "message.custom_args")
        categories = body.get("categories") or []
        if len(categories) > 10:
            raise _Invalid("You may not have more than 10 categories per request.",
                           "categories", "message.categories")
        for name in (body.get("headers") or {}):
            if name.lower() in RESERVED_HEADERS:
                raise _Invalid(f"The header {name} is reserved and cannot be set.", "headers",
                               "message.headers")

    def _deliver(self, body: dict[str, Any], message_id: str) -> None:
        contents = {c["type"]: c["value"] for c in body["content"]}
        for p in body["personalizations"]:
            subs: dict[str, str] = p.get("substitutions") or {}
            subject = _substitute(p.get("subject") or body.get("subject", ""), subs)
            headers = {**(body.get("headers") or {}), **(p.get("headers") or {})}
            custom_args = {**(body.get("custom_args") or {}), **(p.get("custom_args") or {})}
            for rcpt in p["to"]:
                self.mailbox.add(Delivery(
                    to=rcpt["email"].lower(),
                    subject=subject,
                    html=_substitute(contents.get("text/html", ""), subs),
                    text=_substitute(contents.get("text/plain", ""), subs),
                    headers=headers,
                    message_id=message_id,
                    meta={"custom_args": custom_args, "categories": body.get("categories", []),
                          "from": body["from"], "reply_to": body.get("reply_to"),
                          "to": rcpt},
                ))


def _substitute(text: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        text = text.replace(key, value)
    return text


@pytest.fixture
def sendgrid(loopback: Callable[[Any], LoopbackServer]) -> Iterator[FakeSendGrid]:
    """A fake SendGrid on 127.0.0.1, with its key in ``.api_key``."""
    fake = FakeSendGrid()
    fake.server = loopback(fake)
    yield fake
