"""The ASGI middleware every request passes: a header cap, one log line, no stray 500s.

* Request line plus headers over ``[serve] max_header_bytes`` get **431** before any route
  runs. uvicorn's h11 cap only stops a head that arrives incomplete; a complete 100 KB head
  read in one go reaches the app, so the check that always works is this one.
* Each request is logged once: client, method, the route's *name* (never its path, which
  may carry a token), status and duration.
* An exception a route did not handle becomes the plain 500 page, logged with the route's
  name; it never reaches uvicorn (which would log the request's path).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Guard"]

log = logging.getLogger("digest.web")


class Guard:
    """Wraps the router; ``route_name`` names a request safely, ``error_page`` is the 500."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        route_name: Callable[[str, str], str],
        error_page: Callable[[], Response],
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.route_name = route_name
        self.error_page = error_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            if _head_size(scope) > self.max_header_bytes:
                await _too_large(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        except Exception:
            log.exception("internal error answering %s %s", scope["method"], self._name(scope))
            if status == 0:
                await self.error_page()(scope, receive, send_status)
        finally:
            client = scope.get("client")
            log.info(
                "%s %s %s %s %.0fms",
                client[0] if client else "-",
                scope["method"],
                self._name(scope),
                status or "-",
                (time.perf_counter() - started) * 1000,
            )

    def _name(self, scope: Scope) -> str:
        return self.route_name(scope["path"], scope["query_string"].decode("latin-1"))


def _head_size(scope: Scope) -> int:
    """Bytes of the request line and headers, as the client sent them (give or take CRLFs)."""
    size = len(scope["raw_path"]) + len(scope["query_string"]) + 16
    return size + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def _too_large(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
    response = PlainTextResponse(
        "Request header fields too large.\n", 431, headers={"Connection": "close"}
    )
    return response(scope, receive, send)
