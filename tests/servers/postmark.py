"""A fake Postmark batch endpoint, built from Postmark's own documentation.

Sources (read for facts): postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails
(``POST /email/batch``, a JSON array of up to 500 messages, 50 MB, a matching array of
results with ``ErrorCode``/``Message``/``MessageID``/``SubmittedAt``/``To``, 200 even when
single messages fail), postmarkapp.com/developer/api/email-api (fields ``From``, ``To``
(max 50 addresses), ``Subject``, ``HtmlBody``/``TextBody``, ``Tag`` (max 1000 chars),
``Headers`` as ``[{"Name", "Value"}]``, ``Metadata``, ``MessageStream``; headers
``Accept``/``Content-Type: application/json`` and ``X-Postmark-Server-Token``), and
postmarkapp.com/developer/api/overview (401 for a missing or wrong token, 422 with
``ErrorCode``/``Message`` for a bad request; error codes 10 bad or missing token, 300
invalid email request, 402 invalid JSON, 403 incompatible JSON, 406 inactive recipient,
409 JSON required, 410 too many batch messages). The docs give no status for a body over
50 MB; this fake answers 413 as a front proxy would.

The Messages API's outbound search, from postmarkapp.com/developer/api/messages-api:
``GET /messages/outbound`` with ``count`` (required, at most 500) and ``offset`` (required;
``count + offset`` at most 10,000), filters ``recipient``, ``tag``, ``status``,
``fromdate``/``todate`` (Eastern time) and ``metadata_<key>``; the answer is
``{"TotalCount", "Messages": [...]}``, newest first, each message with ``MessageID``,
``Tag``, ``To``, ``Recipients``, ``ReceivedAt``, ``Status``, ``Metadata`` and more. The docs
give no error for a count or offset out of range; this fake answers 422 as for any bad
request. ``search_lag`` makes an accepted message show up in the search only that many
seconds later, as a real index lags behind.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

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

__all__ = ["FakePostmark", "postmark"]

MAX_MESSAGES = 500
MAX_BYTES = 50 * 1000 * 1000
MAX_ADDRESSES = 50
TOKEN = "pm-server-token-0d7c7f"


def _error(status: int, code: int, message: str) -> Reply:
    return Reply(status, {"ErrorCode": code, "Message": message})


class FakePostmark(FakeProvider):
    """Answers ``POST /email/batch`` as Postmark documents it; keeps what it accepted."""

    def __init__(self, token: str = TOKEN, streams: tuple[str, ...] = ("outbound", "broadcast")):
        self.token = token
        self.streams = set(streams)
        self.inactive: set[str] = set()
        """Addresses Postmark has marked inactive (hard bounce, spam complaint)."""
        self.mailbox = Mailbox()
        self.batches: list[list[dict[str, Any]]] = []
        self.outbound: list[tuple[float, dict[str, Any]]] = []
        """(accepted at, the message as the search shows it), oldest first."""
        self.search_lag = 0.0
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        route = (req.method, req.path)
        if route not in (("POST", "/email/batch"), ("GET", "/messages/outbound")):
            return Reply(404, "Not Found")
        token = req.header("X-Postmark-Server-Token")
        if not token or token != self.token:
            return _error(401, 10, "Request does not contain a valid Server token.")
        if req.method == "GET":
            return self._search(req)
        if (req.header("Content-Type") or "").split(";")[0].strip() != "application/json":
            return _error(422, 409, "JSON required.")
        if len(req.body) > MAX_BYTES:
            return Reply(413, "Request Entity Too Large")
        if req.json is None:
            return _error(422, 402, "Invalid JSON.")
        if not isinstance(req.json, list):
            return _error(422, 403, "Incompatible JSON: the batch must be an array.")
        if len(req.json) > MAX_MESSAGES:
            return _error(422, 410, f"Too many batch messages ({len(req.json)}); max is 500.")
        with self._lock:
            self.batches.append(req.json)
        return Reply(200, [self._one(m) for m in req.json])

    def _one(self, m: Any) -> dict[str, Any]:
        if not isinstance(m, dict):
            return {"ErrorCode": 403, "Message": "Incompatible JSON."}
        problem = self._check(m)
        if problem:
            return {"ErrorCode": problem[0], "Message": problem[1]}
        to = [parse_address(a) or "" for a in split_addresses(m["To"])]
        inactive = [a for a in to if a in self.inactive]
        if inactive:
            return {
                "ErrorCode": 406,
                "Message": "You tried to send to recipient(s) that have been marked as "
                f"inactive. Found inactive addresses: {', '.join(inactive)}.",
            }
        message_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        with self._lock:
            self.outbound.append((time.monotonic(), {
                "MessageID": message_id,
                "Tag": m.get("Tag") or "",
                "To": [{"Email": a, "Name": None} for a in to],
                "Recipients": to,
                "From": m["From"],
                "Subject": m.get("Subject", ""),
                "ReceivedAt": now.astimezone(ZoneInfo("America/New_York")).isoformat(),
                "Status": "Sent",
                "MessageStream": m.get("MessageStream", "outbound"),
                "Metadata": m.get("Metadata") or {},
            }))
        headers = {h["Name"]: h["Value"] for h in m.get("Headers") or []}
        for addr in to:
            self.mailbox.add(Delivery(
                to=addr,
                subject=m.get("Subject", ""),
                html=m.get("HtmlBody", ""),
                text=m.get("TextBody", ""),
                headers=headers,
                message_id=message_id,
                meta={"Tag": m.get("Tag"), "Metadata": m.get("Metadata") or {},
                      "MessageStream": m.get("MessageStream", "outbound"), "To": m["To"],
                      "From": m["From"], "ReplyTo": m.get("ReplyTo")},
            ))
        return {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": message_id,
            "SubmittedAt": datetime.now(UTC).isoformat(),
            "To": m["To"],
        }

    def _search(self, req: Request) -> Reply:
        q = {k: v[0] for k, v in req.query.items()}
        try:
            count, offset = int(q["count"]), int(q["offset"])
        except (KeyError, ValueError):
            return _error(422, 300, "count and offset are required integers.")
        if not 0 < count <= 500 or offset < 0 or count + offset > 10_000:
            return _error(422, 300, "count is 1 to 500 and count + offset at most 10,000.")
        eastern = ZoneInfo("America/New_York")

        def when(text: str) -> datetime:
            return datetime.fromisoformat(text).replace(tzinfo=eastern)

        visible_before = time.monotonic() - self.search_lag
        with self._lock:
            seen = [m for at, m in self.outbound if at <= visible_before]
        hits = []
        for m in reversed(seen):
            received = datetime.fromisoformat(m["ReceivedAt"])
            if "tag" in q and m["Tag"] != q["tag"]:
                continue
            if "recipient" in q and q["recipient"].lower() not in m["Recipients"]:
                continue
            if "status" in q and m["Status"].lower() != q["status"].lower():
                continue
            if "fromdate" in q and received < when(q["fromdate"]):
                continue
            if "todate" in q and received > when(q["todate"]):
                continue
            meta = {k[len("metadata_"):]: v for k, v in q.items() if k.startswith("metadata_")}
            if any(m["Metadata"].get(k) != v for k, v in meta.items()):
                continue
            hits.append(m)
        return Reply(200, {"TotalCount": len(hits), "Messages": hits[offset : offset + count]})

    def _check(self, m: dict[str, Any]) -> tuple[int, str] | None:
        if not m.get("From") or parse_address(m["From"]) is None:
            return 300, f"Invalid 'From' address: '{m.get('From', '')}'."
        if not m.get("To"):
            return 300, "Zero recipients specified."
        addresses = split_addresses(m["To"])
        if len(addresses) > MAX_ADDRESSES:
            return 300, "Too many recipients: 'To' takes at most 50 addresses."
        for a in addresses:
            if parse_address(a) is None:
                return 300, f"Invalid 'To' address: '{a}'."
        if not m.get("HtmlBody") and not m.get("TextBody"):
            return 300, "Provide either email TextBody or HtmlBody or both."
        reply_to = split_addresses(m.get("ReplyTo") or "")
        if any(parse_address(a) is None for a in reply_to):
            return 300, f"Invalid 'ReplyTo' address: '{m['ReplyTo']}'."
        tag = m.get("Tag")
        if tag is not None and (not isinstance(tag, str) or len(tag) > 1000):
            return 300, "Tag must be a string of at most 1000 characters."
        headers = m.get("Headers")
        if headers is not None and not (
            isinstance(headers, list)
            and all(isinstance(h, dict) and set(h) == {"Name", "Value"} for h in headers)
        ):
            return 403, "Incompatible JSON: Headers must be a list of {Name, Value}."
        meta = m.get("Metadata")
        if meta is not None and not (
            isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())
        ):
            return 403, "Incompatible JSON: Metadata must map names to strings."
        stream = m.get("MessageStream", "outbound")
        if stream not in self.streams:
            return 1235, f"The message stream '{stream}' was not found on this server."
        return None


@pytest.fixture
def postmark(loopback: Callable[[Any], LoopbackServer]) -> Iterator[FakePostmark]:
    """A fake Postmark on 127.0.0.1, with its token in ``.token``."""
    fake = FakePostmark()
    fake.server = loopback(fake)
    yield fake

