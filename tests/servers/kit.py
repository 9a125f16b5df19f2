"""A small kit for real HTTP test servers on 127.0.0.1, with fault injection.

A server is a function from :class:`Request` to :class:`Reply` (an "app") run by
:class:`LoopbackServer`: a threaded ``http.server`` on an ephemeral port, speaking HTTP/1.1
with keep-alive so pooled clients behave as they do against a real provider.

Every request the server reads is recorded (method, path, query, headers, raw and parsed
body, and which fault, if any, answered it), thread-safely, in ``server.requests``.
Faults are queued on ``server.faults`` and consumed in order by the requests that arrive:

* ``throttle(n, retry_after=...)``: answer 429 with ``Retry-After`` to the next n requests;
* ``fail(n, status=500)`` / ``fail_for(seconds, status=503)``: server errors;
* ``stall(n, seconds)``: say nothing for ``seconds`` (past a client's timeout), then close;
* ``drop(n)``: close the connection without an answer;
* ``hold()``: let the app accept and record the request, then keep the answer back until
  ``release()``; ``wait_held(k)`` waits until k requests are being held (crash tests);
* ``passthrough(n)``: let the next n requests through untouched (to lay out a schedule of
  faults in advance).

``process=True`` on ``stall`` and ``drop`` runs the app first: the provider accepted the
message, but the client never hears so (a lost answer).

An app that raises answers 500 and the exception lands in ``server.app_errors``, so a bug in
a fake shows instead of passing for a provider outage. Fake providers keep what they accept
in a :class:`Mailbox` of per-recipient :class:`Delivery` records; ``parse_address`` is
the address check they share.

Usage (in tests, the ``loopback`` fixture starts and stops servers)::

    with LoopbackServer(app) as server:
        server.faults.throttle(1, retry_after="2")
        httpx.post(server.url + "/x", json={})
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

__all__ = [
    "App",
    "Delivery",
    "FakeProvider",
    "Faults",
    "LoopbackServer",
    "Mailbox",
    "RateWindow",
    "Reply",
    "Request",
    "Waited",
    "loopback",
    "parse_address",
    "parse_body",
    "serve",
    "split_addresses",
]


@dataclass
class Request:
    """One request as the server read it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Header names in lower case; repeated headers joined with ", "."""
    body: bytes
    json: Any = None
    """The parsed body when it was JSON, else None."""
    form: dict[str, list[str]] | None = None
    """Form fields (urlencoded or multipart, every value a list), else None."""
    files: dict[str, list[bytes]] = field(default_factory=dict)
    fault: str | None = None
    """The fault that answered this request, or None when the app did."""
    status: int | None = None
    """The status sent back (None when the connection was dropped or never answered)."""
    client: tuple[str, int] = ("", 0)
    """The peer's (host, port): one port per connection, so pooling shows."""

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def field(self, name: str) -> str | None:
        """The first value of a form field."""
        values = (self.form or {}).get(name)
        return values[0] if values else None


@dataclass
class Reply:
    """What an app answers: a body that is bytes, text or a JSON value."""

    status: int = 200
    body: Any = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            data = self.body
        elif isinstance(self.body, str):
            data = self.body.encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(self.body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return data, headers


App = Callable[[Request], Reply]


_ADDR_RE = re.compile(
    r"[^@\s<>(),;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)


def parse_address(value: str) -> str | None:
    """The bare address (lower case) of ``addr`` or ``Name <addr>``, or None if malformed."""
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        return None
    _, addr = email.utils.parseaddr(value)
    if not addr or not _ADDR_RE.fullmatch(addr):
        return None
    return addr.lower()


@dataclass(frozen=True)
class Delivery:
    """One message a fake provider accepted for one recipient, as that person would get it."""

    to: str
    """The bare address, lower case."""
    subject: str
    html: str
    text: str
    headers: Mapping[str, str]
    message_id: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Provider extras: tags, metadata, custom args, stream, the To header as sent."""


class Mailbox:
    """What a fake provider delivered, recorded thread-safely, counted per recipient."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Delivery] = []

    def add(self, delivery: Delivery) -> None:
        with self._lock:
            self._items.append(delivery)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._items)

    def count(self, email: str) -> int:
        """How many messages ``email`` received."""
        e = email.lower()
        return sum(1 for d in self.deliveries if d.to == e)

    def to(self, email: str) -> list[Delivery]:
        e = email.lower()
        return [d for d in self.deliveries if d.to == e]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def split_addresses(value: str) -> list[str]:
    """The entries of a comma-separated address list (commas in quoted names do not split).

    An empty entry between two commas stays, as "", so a fake can refuse it.
    """
    out: list[str] = []
    cur, quoted = "", False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


class FakeProvider:
    """What the fakes keeping a :class:`Mailbox` share: their server (set by their fixture),
    its URL, and deliveries counted per recipient."""

    mailbox: Mailbox
    server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "start the fake with its fixture first"
        return self.server.url

    def count(self, email: str) -> int:
        """How many messages ``email`` received."""
        return self.mailbox.count(email)


def parse_body(content_type: str, body: bytes) -> tuple[Any, dict[str, list[str]] | None,
                                                        dict[str, list[bytes]]]:
    """(json, form, files) from a body, by its Content-Type."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            return json.loads(body.decode("utf-8")), None, {}
        except (UnicodeDecodeError, ValueError):
            return None, None, {}
    if ctype == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", errors="replace")
        return None, parse_qs(text, keep_blank_values=True), {}
    if ctype == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        form: dict[str, list[str]] = {}
        files: dict[str, list[bytes]] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if part.get_filename() is not None:
                files.setdefault(name, []).append(data)
            else:
                charset = part.get_content_charset() or "utf-8"
                form.setdefault(name, []).append(data.decode(charset, errors="replace"))
        return None, form, files
    return None, None, {}


class RateWindow:
    """A provider's request quota: ``limit`` requests per window of ``seconds``.

    The window runs on the real clock plus whatever :meth:`advance` added, so a test whose
    provider records its sleeps instead of sleeping can hand each sleep to ``advance``: a
    client that waits as long as the headers say finds the quota refilled.
    """

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._lock = threading.Lock()
        self._skipped = 0.0
        self._start = self._now()
        self._used = 0

    def _now(self) -> float:
        return time.monotonic() + self._skipped

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on the window's clock."""
        with self._lock:
            self._skipped += seconds

    def take(self) -> tuple[bool, int, int]:
        """One request: (allowed, requests left, whole seconds until the window resets)."""
        with self._lock:
            now = self._now()
            if now >= self._start + self.seconds:
                self._start, self._used = now, 0
            allowed = self._used < self.limit
            if allowed:
                self._used += 1
            reset = max(math.ceil(self._start + self.seconds - now), 1)
            return allowed, self.limit - self._used, reset


class Waited(list[float]):
    """A provider's ``sleep`` that records each wait and lets it pass on a window's clock.

    Works as the callable and as the list whose ``append`` a test hands over.
    """

    def __init__(self, window: RateWindow) -> None:
        super().__init__()
        self.window = window

    def append(self, seconds: float) -> None:
        super().append(seconds)
        self.window.advance(seconds)

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class _Rule:
    kind: str
    count: int | None
    until: float | None = None
    status: int = 500
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = b""
    seconds: float = 0.0
    process: bool = False


class Faults:
    """Faults waiting for the next requests; each rule answers ``count`` requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._released = threading.Event()
        self._held = 0
        self._held_cond = threading.Condition(self._lock)
        self._closing = threading.Event()

    def throttle(self, n: int = 1, *, retry_after: str | None = "1",
                 headers: Mapping[str, str] | None = None, body: Any = b"") -> None:
        """Answer 429 to the next ``n`` requests."""
        h = dict(headers or {})
        if retry_after is not None:
            h["Retry-After"] = retry_after
        self._add(_Rule("throttle", n, status=429, headers=h, body=body))

    def fail(self, n: int = 1, *, status: int = 500, body: Any = b"",
             headers: Mapping[str, str] | None = None) -> None:
        """Answer ``status`` to the next ``n`` requests."""
        self._add(_Rule("fail", n, status=status, body=body, headers=dict(headers or {})))

    def fail_for(self, seconds: float, *, status: int = 503, body: Any = b"") -> None:
        """Answer ``status`` to every request for the next ``seconds``."""
        self._add(_Rule("fail", None, until=time.monotonic() + seconds, status=status, body=body))

    def stall(self, n: int = 1, *, seconds: float = 5.0, process: bool = False) -> None:
        """Keep silent ``seconds`` on the next ``n`` requests, then close the connection.

        With ``process=True`` the app handles the request first and its answer is sent late.
        """
        self._add(_Rule("stall", n, seconds=seconds, process=process))

    def drop(self, n: int = 1, *, process: bool = False) -> None:
        """Close the connection of the next ``n`` requests without any answer."""
        self._add(_Rule("drop", n, process=process))

    def passthrough(self, n: int = 1) -> None:
        """Let the next ``n`` requests reach the app with no fault."""
        self._add(_Rule("pass", n))

    def hold(self, n: int | None = None) -> None:
        """Accept and record the next ``n`` requests (all, if None), answer after release()."""
        self._released.clear()
        self._add(_Rule("hold", n, process=True))

    def release(self) -> None:
        """Let every held answer go, and hold no more."""
        with self._lock:
            self._rules = [r for r in self._rules if r.kind != "hold"]
        self._released.set()

    def wait_held(self, k: int = 1, timeout: float = 10.0) -> bool:
        """Wait until at least ``k`` answers are held; False on timeout."""
        with self._held_cond:
            return self._held_cond.wait_for(lambda: self._held >= k, timeout)

    @property
    def held(self) -> int:
        with self._lock:
            return self._held

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _next(self) -> _Rule | None:
        now = time.monotonic()
        with self._lock:
            while self._rules:
                rule = self._rules[0]
                if rule.until is not None and now >= rule.until:
                    self._rules.pop(0)
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.pop(0)
                return rule
        return None

    def _wait_release(self) -> None:
        with self._held_cond:
            self._held += 1
            self._held_cond.notify_all()
        try:
            while not self._released.wait(0.05):
                if self._closing.is_set():
                    return
        finally:
            with self._held_cond:
                self._held -= 1
                self._held_cond.notify_all()

    def _wait(self, seconds: float) -> None:
        self._closing.wait(seconds)


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 running ``app``, with recorded requests."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.faults = Faults()
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self.app_errors: list[BaseException] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[Request]:
        """A snapshot of every request read so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def start(self) -> LoopbackServer:
        handler = _handler_for(self)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="loopback-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.faults._closing.set()
        self.faults.release()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, req: Request) -> None:
        with self._lock:
            self._requests.append(req)

    def _run(self, req: Request) -> Reply:
        try:
            return self.app(req)
        except Exception as e:
            with self._lock:
                self.app_errors.append(e)
            return Reply(500, f"test server app failed: {type(e).__name__}: {e}")


@contextmanager
def serve(app: App) -> Iterator[LoopbackServer]:
    """A started server for the block; use it from a pytest fixture."""
    server = LoopbackServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def loopback() -> Iterator[Callable[[App], LoopbackServer]]:
    """A factory fixture: ``loopback(app)`` starts a server, stopped when the test ends.

    The test errors at teardown if an app raised while serving it.
    """
    started: list[LoopbackServer] = []

    def start(app: App) -> LoopbackServer:
        server = LoopbackServer(app).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    errors = [e for server in started for e in server.app_errors]
    assert not errors, f"a test server's app raised: {errors!r}"


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            for k, v in self.headers.items():
                key = k.lower()
                headers[key] = f"{headers[key]}, {v}" if key in headers else v
            parts = urlsplit(self.path)
            parsed, form, files = parse_body(headers.get("content-type", ""), body)
            req = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers=headers,
                body=body,
                json=parsed,
                form=form,
                files=files,
                client=(str(self.client_address[0]), int(self.client_address[1])),
            )
            server._record(req)
            rule = server.faults._next()
            if rule is None or rule.kind == "pass":
                self._send(req, server._run(req))
                return
            req.fault = rule.kind
            if rule.kind in ("throttle", "fail"):
                self._send(req, Reply(rule.status, rule.body, rule.headers))
            elif rule.kind == "stall":
                reply = server._run(req) if rule.process else None
                server.faults._wait(rule.seconds)
                if reply is None:
                    self._drop()
                else:
                    self._send(req, reply)
            elif rule.kind == "drop":
                if rule.process:
                    server._run(req)
                self._drop()
            elif rule.kind == "hold":
                reply = server._run(req)
                server.faults._wait_release()
                self._send(req, reply)

        def _send(self, req: Request, reply: Reply) -> None:
            data, headers = reply.encode()
            req.status = reply.status
            try:
                self.send_response(reply.status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if req.method != "HEAD":  # a HEAD answer has the headers, never a body
                    self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                self.close_connection = True

        def _drop(self) -> None:
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler
