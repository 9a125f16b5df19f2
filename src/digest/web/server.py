"""A small threaded HTTP server for the app: the stdlib's ``wsgiref``, one thread a request.

Enough for the traffic an unsubscribe page and provider webhooks see, behind a reverse
proxy that terminates TLS. Requests are logged by route name, never by path: an unsubscribe
path carries a token that names a reader.
"""

from __future__ import annotations

import logging
import re
import socketserver
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .app import Request, WebApp

__all__ = ["make_server"]

log = logging.getLogger("digest.web")

_PATHS = re.compile(r"/\S*")


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(WSGIRequestHandler):
    timeout = 30
    """Seconds a client may take to send its request before the connection is closed."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        app = self.server.get_app()  # type: ignore[attr-defined]
        route = (
            app.route(Request.from_environ(self.get_environ())) if isinstance(app, WebApp) else "-"
        )
        log.info("%s %s %s %s", self.address_string(), self.command, route, code)

    def log_message(self, format: str, *args: Any) -> None:
        """Protocol errors (bad request lines, timeouts), with any path blanked out."""
        log.warning("%s %s", self.address_string(), _PATHS.sub("/…", format % args))


def make_server(app: WebApp, host: str = "127.0.0.1", port: int = 8025) -> WSGIServer:
    """A bound server for ``app``; call ``serve_forever()`` on it (``port=0``: any free port)."""
    server = _Server((host, port), _Handler)
    server.set_app(app)
    return server
