"""Running the app on uvicorn with the ``[serve]`` limits: ``digest serve``.

What uvicorn gives: an event loop instead of a thread per connection, a listen backlog of
``[serve] backlog`` (the kernel queues a burst instead of resetting it), keep-alive,
``X-Forwarded-For``/``-Proto`` from ``trusted_proxies`` only (the client taken from it only
when it is an IP address: :class:`_ForwardedFor`), several worker processes on
one socket, and a graceful stop on SIGTERM (in-flight requests finish, up to
``graceful_timeout``). What :class:`_Protocol` adds to its HTTP/1.1 protocol: a deadline for
the request's head (uvicorn only times out *idle keep-alive* connections, so a client that
connects and sends nothing, or dribbles its headers, would hold a connection for ever) and
431 instead of 400 when an incomplete head grows past ``max_header_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from ..config import ServeSettings, Settings
from ..errors import ConfigError
from .app import make_web_app

__all__ = ["AppFactory", "bind", "serve_web", "server_config"]

log = logging.getLogger("digest.web")


class _Config(uvicorn.Config):
    """uvicorn's config plus the head deadline :class:`_Protocol` reads."""

    header_timeout: float = 10.0


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head, and 431 for a big one."""

    config: _Config
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:
            self._disarm_head_timer()  # a whole head arrived: the body has its own deadline

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request on this connection gets the same

    def send_400_response(self, msg: str) -> None:
        pending, _ = self.conn.trailing_data
        if len(pending) <= self.config.h11_max_incomplete_event_size:  # type: ignore[operator]
            super().send_400_response(msg)
            return
        event = h11.Response(
            status_code=431,
            headers=[(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
            reason=b"Request Header Fields Too Large",
        )
        for part in (event, h11.Data(data=b"Request header fields too large.\n")):
            self.transport.write(self.conn.send(part) or b"")
        self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        self.transport.close()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.config.header_timeout, self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        """No whole request head in time: close (quietly; a half-open scan is routine)."""
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return
        if not self.transport.is_closing():
            self.transport.close()


_PEER: ContextVar[Any] = ContextVar("digest_peer")
"""The connection's own client address, while :class:`_ForwardedFor` answers a request."""


def _is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 address; an IPv6 zone (``fe80::1%eth0``) may hold any text."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not (isinstance(address, ipaddress.IPv6Address) and address.scope_id)


class _ForwardedFor:
    """uvicorn's ``X-Forwarded-For``/``-Proto`` handling for requests from trusted proxies,
    keeping the client it names only when that is an IP address. Anything else (a host
    name, terminal escapes, a forged log line) would be logged, hashed and rate-limited as
    the client's address, so the connection's own address stays."""

    def __init__(self, app: ASGIApp, trusted: list[str]) -> None:
        self.app = app
        self.proxy = ProxyHeadersMiddleware(self._checked, trusted_hosts=trusted)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _PEER.set(scope.get("client"))
        try:
            await self.proxy(scope, receive, send)  # type: ignore[arg-type]
        finally:
            _PEER.reset(token)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if client and not _is_ip(client[0]):
            scope["client"] = _PEER.get()
        await self.app(scope, receive, send)


class _ForwardedFactory:
    """An app factory whose apps answer behind :class:`_ForwardedFor`; picklable for the
    worker processes, as the factory it wraps is."""

    def __init__(self, factory: Callable[[], ASGIApp], trusted: list[str]) -> None:
        self.factory = factory
        self.trusted = trusted

    def __call__(self) -> ASGIApp:
        return _ForwardedFor(self.factory(), self.trusted)


class AppFactory:
    """Builds the app in each worker process (it is pickled to them, so it holds no app)."""

    def __init__(self, settings: Settings, archive_dir: Path) -> None:
        self.settings = settings
        self.archive_dir = archive_dir

    def __call__(self) -> Any:
        configure_logging()  # a worker process starts with none
        return make_web_app(self.settings, self.archive_dir)


def configure_logging() -> None:
    """INFO lines to stderr, unless the embedding program set up logging itself."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def server_config(app: Any, serve: ServeSettings, *, factory: bool = False) -> uvicorn.Config:
    """uvicorn's settings from ``[serve]`` (``app`` an ASGI app, or an :class:`AppFactory`)."""
    if factory:
        app = _ForwardedFactory(app, serve.trusted_proxies)
    else:
        app = _ForwardedFor(app, serve.trusted_proxies)
    config = _Config(
        app,
        factory=factory,
        http=_Protocol,
        ws="auto",
        lifespan="on",
        workers=serve.workers,
        backlog=serve.backlog,
        limit_concurrency=serve.max_connections,
        timeout_keep_alive=max(1, round(serve.keep_alive)),
        timeout_graceful_shutdown=max(1, round(serve.graceful_timeout)),
        h11_max_incomplete_event_size=serve.max_header_bytes,
        proxy_headers=False,  # _ForwardedFor does it, checking the address
        server_header=False,
        access_log=False,
        log_config=None,
    )
    config.header_timeout = serve.header_timeout
    return config


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """The listening socket (bound before any worker starts, so errors are clear)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {e.strerror or e}; pick another --port/--host"
        ) from None
    sock.set_inheritable(True)
    return sock


def serve_web(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    archive_dir: Path | str | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until Ctrl-C or SIGTERM (both stop gracefully); ``ready`` gets the base URL.

    ``host``, ``port`` and ``workers`` override ``[serve]``; ``archive_dir`` defaults to
    ``[archive] dir``, else ``out``.
    """
    if archive_dir is None:
        archive_dir = settings.path(settings.archive.dir) if settings.archive.dir else Path("out")
    configure_logging()
    serve = settings.serve.model_copy(
        update={
            k: v
            for k, v in {"host": host, "port": port, "workers": workers}.items()
            if v is not None
        }
    )
    factory = AppFactory(settings, Path(archive_dir))
    factory()  # fails here, before listening, on a missing secret or an unusable ledger
    sock = bind(serve.host, serve.port, serve.backlog)
    with sock:
        shown = f"[{serve.host}]" if ":" in serve.host else serve.host
        if ready is not None:
            ready(f"http://{shown}:{sock.getsockname()[1]}")
        config = server_config(factory, serve, factory=True)
        server = uvicorn.Server(config)
        # uvicorn re-raises the stop signal once it has shut down; a graceful stop is a
        # normal exit, so let that second SIGTERM do nothing and Ctrl-C end quietly.
        previous = signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                if serve.workers > 1:
                    Multiprocess(config, sockets=[sock]).run()
                else:
                    server.run(sockets=[sock])
        finally:
            signal.signal(signal.SIGTERM, previous)
