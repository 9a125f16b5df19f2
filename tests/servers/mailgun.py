"""A fake Mailgun ``POST /v3/<domain>/messages``, built from Mailgun's own documentation.

Sources (read for facts): documentation.mailgun.com "Messages" (api-sending: form fields
``from``, ``to`` (repeatable), ``cc``, ``bcc``, ``subject``, ``text``, ``html``, ``o:tag``,
``h:X-My-Header``, ``v:my-var``, ``recipient-variables``; o:/h:/v: options limited to 16 kB
in total; messages up to 25 MB; "parameter is not a valid address" for a bad address),
"Batch Sending" (at most 1,000 recipients; ``recipient-variables`` a JSON object keyed by
plain address; without it every recipient sees all the others in To; ``%recipient.KEY%``
filled per recipient), "API Response Codes" (400 with a JSON ``message``; 429 rate limit;
500 retry), and the quick-start answer ``{"id": "<...>", "message": "Queued. Thank you."}``.

The Events API, from documentation.mailgun.com "Events" (``GET /v3/<domain>/events``:
``begin``/``end`` in epoch seconds, ``ascending`` yes/no, ``limit`` at most 300, filters
``event``, ``recipient``, ``tags``; the answer ``{"items": [...], "paging": {"next": URL,
...}}`` with one event per recipient carrying ``recipient``, ``tags``, ``timestamp``,
``user-variables`` and ``message.headers.message-id``; a page past the end has no items).
Custom variables (``v:``) may hold ``%recipient.KEY%``, filled per recipient as anymail's
per-recipient metadata relies on. ``search_lag`` delays an event's visibility, as Mailgun's
event storage lags behind its API.

Two choices where the docs are thin: a wrong key answers 401 with the plain text
``Forbidden`` (what the API sends; the response-code table lists auth errors under 403),
and ``%recipient.KEY%`` is filled in ``h:`` headers as in the subject and bodies (the docs
show subject and body only). More than three ``o:tag`` values are kept but only the first
three count, as the tagging docs say.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from .kit import (
    Delivery,
    FakeProvider,
    LoopbackServer,
    Mailbox,
    Reply,
    Request,
    parse_address,
    split_addresses,
)

__all__ = ["FakeMailgun", "mailgun"]

API_KEY = "key-fake-0123456789abcdef"
DOMAIN = "mg.example.org"
MAX_RECIPIENTS = 1000
MAX_OPTIONS = 16 * 1024
MAX_MESSAGE = 25 * 1000 * 1000
_PATH = re.compile(r"/v3/([^/]+)/messages")
_EVENTS = re.compile(r"/v3/([^/]+)/events(?:/([A-Za-z0-9_=-]+))?")
_VAR = re.compile(r"%recipient\.([A-Za-z0-9_.-]+)%")


def _msg(status: int, message: str) -> Reply:
    return Reply(status, {"message": message})


class FakeMailgun(FakeProvider):
    """Answers ``POST /v3/<domain>/messages`` as Mailgun documents it."""

    def __init__(self, api_key: str = API_KEY, domains: tuple[str, ...] = (DOMAIN,)) -> None:
        self.api_key = api_key
        self.domains = set(domains)
        self.mailbox = Mailbox()
        self.accepted: list[dict[str, list[str]]] = []
        self.ids: list[str] = []
        self.events: list[tuple[float, dict[str, Any]]] = []
        """(recorded at, the accepted event as the Events API shows it), oldest first."""
        self.search_lag = 0.0
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        m = _PATH.fullmatch(req.path)
        events = _EVENTS.fullmatch(req.path)
        if not m and not events:
            return Reply(404, "404 page not found")
        if not self._authorised(req):
            return Reply(401, "Forbidden")
        if events:
            if req.method != "GET":
                return Reply(405, "Method Not Allowed")
            return self._events(req, unquote(events.group(1)), events.group(2))
        assert m is not None
        domain = unquote(m.group(1))
        if domain not in self.domains:
            return _msg(404, f"Domain not found: {domain}")
        if req.method != "POST":
            return Reply(405, "Method Not Allowed")
        if req.form is None:
            return _msg(400, "Bad Request: the body must be multipart/form-data or "
                        "application/x-www-form-urlencoded")
        form = req.form
        problem = self._check(form, len(req.body))
        if problem:
            return problem
        message_id = (f"<{datetime.now(UTC):%Y%m%d%H%M%S}.{secrets.token_hex(6)}"
                      f"@{domain}>")
        with self._lock:
            self.accepted.append(form)
            self.ids.append(message_id)
        self._deliver(form, message_id)
        return Reply(200, {"id": message_id, "message": "Queued. Thank you."})

    def _authorised(self, req: Request) -> bool:
        auth = req.header("Authorization") or ""
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, key = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == "api" and key == self.api_key

    def _check(self, form: dict[str, list[str]], size: int) -> Reply | None:
        if not form.get("from"):
            return _msg(400, "from parameter is missing")
        if parse_address(form["from"][0]) is None:
            return _msg(400, "from parameter is not a valid address. please check "
                        "documentation")
        if not form.get("to"):
            return _msg(400, "to parameter is missing")
        rcpts = [a for kind in ("to", "cc", "bcc") for a in _addresses(form.get(kind, []))]
        for a in rcpts:
            if parse_address(a) is None:
                return _msg(400, "to parameter is not a valid address. please check "
                            "documentation")
        if len(rcpts) > MAX_RECIPIENTS:
            return _msg(400, "Too many recipients; max is 1000")
        if not (form.get("text", [""])[0] or form.get("html", [""])[0]) and \
                "template" not in form:
            return _msg(400, "Need at least one of 'text' or 'html' parameters specified")
        options = sum(len(k) + sum(len(v.encode()) for v in vs)
                      for k, vs in form.items() if k[:2] in ("o:", "h:", "v:"))
        if options > MAX_OPTIONS:
            return _msg(400, "Send options (parameters starting with o:, h:, or v:) are "
                        "limited to 16 kB total")
        for k in form:
            if k.startswith("h:") and not k[2:].isascii():
                return _msg(400, f"Header name must be pure ASCII: {k[2:]}")
        if "recipient-variables" in form:
            try:
                rv = json.loads(form["recipient-variables"][0])
            except ValueError:
                return _msg(400, "recipient-variables parameter is not a valid JSON")
            if not isinstance(rv, dict) or not all(isinstance(v, dict) for v in rv.values()):
                return _msg(400, "recipient-variables parameter is not a valid JSON")
        if size > MAX_MESSAGE:
            return Reply(413, "Request Entity Too Large")
        return None

    def _deliver(self, form: dict[str, list[str]], message_id: str) -> None:
        to = _addresses(form["to"])
        first = {k: v[0] for k, v in form.items()}
        headers = {k[2:]: v for k, v in first.items() if k.startswith("h:")}
        meta = {
            "tags": form.get("o:tag", [])[:3],
            "variables": {k[2:]: v for k, v in first.items() if k.startswith("v:")},
            "from": first["from"],
            "options": {k: v for k, v in first.items() if k.startswith("o:")},
        }
        if "recipient-variables" not in form:
            for a in to:
                self._record_event(parse_address(a) or a, meta["tags"], meta["variables"],
                                   message_id)
                self.mailbox.add(Delivery(
                    to=parse_address(a) or a, subject=first.get("subject", ""),
                    html=first.get("html", ""), text=first.get("text", ""), headers=headers,
                    message_id=message_id, meta={**meta, "To": ", ".join(to)},
                ))
            return
        variables = json.loads(first["recipient-variables"])
        by_addr = {k.lower(): v for k, v in variables.items()}
        for a in to:
            addr = parse_address(a) or a
            values = {k: str(v) for k, v in by_addr.get(addr, {}).items()}

            def fill(text: str, values: dict[str, str] = values) -> str:
                return _VAR.sub(lambda m: values.get(m.group(1), m.group(0)), text)

            self._record_event(addr, meta["tags"],
                               {k: fill(v) for k, v in meta["variables"].items()}, message_id)
            self.mailbox.add(Delivery(
                to=addr, subject=fill(first.get("subject", "")),
                html=fill(first.get("html", "")), text=fill(first.get("text", "")),
                headers={k: fill(v) for k, v in headers.items()},
                message_id=message_id, meta={**meta, "To": a},
            ))


    def _record_event(self, addr: str, tags: list[str], variables: dict[str, str],
                      message_id: str) -> None:
        now = time.time()
        event = {
            "event": "accepted", "id": secrets.token_hex(8), "timestamp": now,
            "recipient": addr, "tags": tags, "user-variables": variables,
            "message": {"headers": {"message-id": message_id.strip("<>"), "to": addr}},
        }
        with self._lock:
            self.events.append((time.monotonic(), event))

    def _events(self, req: Request, domain: str, page: str | None) -> Reply:
        if domain not in self.domains:
            return _msg(404, f"Domain not found: {domain}")
        if page:
            state = json.loads(base64.urlsafe_b64decode(page.encode()))
            q, offset = state["q"], state["offset"]
        else:
            q, offset = {k: v[0] for k, v in req.query.items()}, 0
        try:
            limit = int(q.get("limit", 100))
            begin = float(q["begin"]) if "begin" in q else None
        except ValueError:
            return _msg(400, "Invalid limit or begin")
        if not 0 < limit <= 300:
            return _msg(400, "limit must be between 1 and 300")
        if begin is None and q.get("ascending") == "yes":
            return _msg(400, "begin is required with ascending=yes")
        visible_before = time.monotonic() - self.search_lag
        with self._lock:
            seen = [e for at, e in self.events if at <= visible_before]
        if q.get("ascending") != "yes":
            seen.reverse()
        hits = [
            e for e in seen
            if q.get("event", e["event"]) == e["event"]
            and q.get("recipient", e["recipient"]).lower() == e["recipient"]
            and ("tags" not in q or q["tags"] in e["tags"])
            and (begin is None or e["timestamp"] >= begin)
        ]
        items = hits[offset : offset + limit]
        token = base64.urlsafe_b64encode(
            json.dumps({"q": q, "offset": offset + len(items)}).encode()).decode()
        base = f"{self.url}/v3/{domain}/events"
        return Reply(200, {"items": items, "paging": {"next": f"{base}/{token}",
                                                       "previous": f"{base}/{token}"}})


def _addresses(values: list[str]) -> list[str]:
    """Every address in repeated fields, each of which may hold a comma-separated list."""
    return [a for v in values for a in split_addresses(v) if a]


@pytest.fixture
def mailgun(loopback: Callable[[Any], LoopbackServer]) -> Iterator[FakeMailgun]:
    """A fake Mailgun on 127.0.0.1 for the domain ``mg.example.org``."""
    fake = FakeMailgun()
    fake.server = loopback(fake)
    yield fake
