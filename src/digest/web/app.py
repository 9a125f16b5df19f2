"""The ASGI app behind ``digest serve``: unsubscribe links, provider webhooks, the archive.

:func:`make_web_app` returns a Starlette app; any ASGI server can run it, ``digest serve``
runs it on uvicorn (:mod:`digest.web.server`). Fixed paths are Starlette routes, so other
parts (the editor's live preview, sign-up forms) add theirs with ``app.router.routes``;
paths that follow the ``[links]`` URL templates (the unsubscribe link, the issue pages) are
matched after every route, by :meth:`Web.by_template`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..config import Settings
from ..errors import ConfigError
from ..sending.personalise import EMAIL_FIELD_DEPRECATED
from ..sending.tokens import SECRET_ENV, Verifier, verifier_from_settings
from .archive import archive_file, issue_page
from .body import BodyRefused
from .guard import Guard
from .ledger_gate import LedgerGate
from .pages import Pages
from .routes import DEFAULT_ARCHIVE_PATH, DEFAULT_UNSUBSCRIBE_PATH, PathTemplate
from .subscribe import install_signup
from .unsubscribe import unsubscribe
from .webhook_route import webhook
from .webhooks import PROVIDERS

__all__ = ["Web", "WebApp", "make_web_app"]

log = logging.getLogger("digest.web")

WebApp = Starlette
"""What :func:`make_web_app` returns."""

_WEBHOOK = re.compile(r"/webhooks/(?P<provider>[^/]+)")


@dataclass
class Web:
    """What every route needs: settings, the token secret, the ledger, the page templates."""

    settings: Settings
    archive_dir: Path
    verifier: Verifier
    gate: LedgerGate = field(init=False)
    pages: Pages = field(init=False)
    unsubscribe_path: PathTemplate = field(init=False)
    archive_path: PathTemplate = field(init=False)

    def __post_init__(self) -> None:
        self.archive_dir = self.archive_dir.resolve()
        self.gate = LedgerGate(self.settings.path(self.settings.sending.ledger))
        self.pages = Pages(self.settings)
        links = self.settings.links
        self.unsubscribe_path = PathTemplate.parse(
            links.unsubscribe_url or DEFAULT_UNSUBSCRIBE_PATH, "token", "[links] unsubscribe_url"
        )
        view = links.view_online_url
        self.archive_path = PathTemplate.parse(
            view if view and "{slug}" in view else DEFAULT_ARCHIVE_PATH,
            "slug",
            "[links] view_online_url",
        )

    def verify(self, token: str) -> str | None:
        """The address a token was issued for, or None."""
        return self.verifier.verify(token)

    @staticmethod
    def allow(method: str, *allowed: str) -> Response | None:
        """None if ``method`` is allowed here (HEAD goes with GET), else a 405."""
        if method in allowed or (method == "HEAD" and "GET" in allowed):
            return None
        return PlainTextResponse(
            "Method not allowed.\n", 405, headers={"Allow": ", ".join(allowed)}
        )

    @staticmethod
    def refusal(error: BodyRefused) -> Response:
        """The answer to a body that could not be read; the connection is closed after it."""
        text = "Request body too large.\n" if error.status == 413 else f"Bad request: {error}.\n"
        return PlainTextResponse(text, error.status, headers={"Connection": "close"})

    def route_name(self, path: str, query_string: str) -> str:
        """A name for the route a request hit, safe to log (no token, no address)."""
        if path == "/healthz":
            return "healthz"
        query = dict(parse_qsl(query_string))
        if self.unsubscribe_path.match(path, query) is not None:
            return "unsubscribe"
        if m := _WEBHOOK.fullmatch(path):
            return f"webhook {m['provider'][:20]!r}"
        root = self.archive_path.root
        if self.archive_path.match(path, query) is not None or (
            root != "/" and path.startswith(root.rstrip("/"))
        ):
            return "archive"
        # Only the first segment: enough to spot a proxy that adds a prefix, never a token.
        first, slash, _ = path.lstrip("/").partition("/")
        return f"/{first[:40]}{'/…' if slash else ''}"

    # -- routes --------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        """200 ``ok`` while the ledger can be written; 503 with the reason's gist otherwise."""
        if (refused := self.allow(request.method, "GET")) is not None:
            return refused
        if await self.gate.probe():
            return PlainTextResponse("ok\n")
        return PlainTextResponse("unhealthy: the send ledger cannot be written\n", 503)

    async def webhook(self, request: Request) -> Response:
        return await webhook(self, request, request.path_params["provider"])

    async def by_template(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Unsubscribe links and issue pages, at the paths ``[links]`` gives them; else 404."""
        request = Request(scope, receive)
        query = dict(request.query_params)
        path = request.url.path
        response: Response
        if (token := self.unsubscribe_path.match(path, query)) is not None:
            response = await unsubscribe(self, request, token)
        elif (archived := archive_file(self, request.method, path)) is not None:
            response = archived
        elif (slug := self.archive_path.match(path, query)) is not None:
            response = await issue_page(self, request.method, slug)
        else:
            response = self.pages.not_found()
        await response(scope, receive, send)


class _Endpoint:
    """An ASGI route that takes every method and answers 405 itself, with its own Allow."""

    def __init__(self, answer: Callable[[Request], Awaitable[Response]]) -> None:
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(Request(scope, receive))
        await response(scope, receive, send)


def make_web_app(settings: Settings, archive_dir: Path | str = Path("out")) -> Starlette:
    """The ASGI app for ``settings``; ``archive_dir`` holds ``digest build``'s output.

    Needs ``DIGEST_SECRET`` (the secret the send job signs unsubscribe tokens with). Checks
    the ledger on the spot: a path that can never be a ledger raises :class:`ConfigError`.
    """
    verifier = verifier_from_settings(settings, legacy=settings.serve.legacy_tokens)
    if verifier is None:
        raise ConfigError(
            f"{SECRET_ENV} is not set: digest serve checks unsubscribe links with the same "
            "secret the send job signed them with. Set it in this process's environment."
        )
    if "{email}" in (settings.links.unsubscribe_url or ""):
        log.warning(EMAIL_FIELD_DEPRECATED)
    web = Web(settings, Path(archive_dir), verifier)
    web.gate.check_path()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await web.gate.start()
        ready = [p.name for p in PROVIDERS.values() if all(settings.secret(n) for n in p.env)]
        log.info(
            "webhooks ready for: %s (the others answer 401 until their variables are set; "
            "see `digest serve --help`)",
            ", ".join(ready) or "none",
        )
        if not (web.archive_dir / "index.html").is_file():
            log.warning(
                "archive %s has no index.html yet: %s answers 404 until a send with "
                "[archive] dir or `digest build --web` publishes into it",
                web.archive_dir,
                web.archive_path.root,
            )
        try:
            yield
        finally:
            await web.gate.stop()

    guard = Middleware(
        Guard,
        max_header_bytes=settings.serve.max_header_bytes,
        route_name=web.route_name,
        error_page=web.pages.error,
    )
    app = Starlette(
        routes=[
            Route("/healthz", _Endpoint(web.healthz)),
            Route("/webhooks/{provider}", _Endpoint(web.webhook)),
        ],
        middleware=[guard],
        lifespan=lifespan,
    )
    app.state.web = web
    app.router.default = web.by_template
    install_signup(app, web)
    return app
