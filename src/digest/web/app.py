"""The WSGI app behind ``digest serve``: unsubscribe links, provider webhooks, the archive.

No framework: five routes, the stdlib's WSGI types and the project's own Jinja2
environment. Any WSGI server can run :class:`WebApp`; ``digest serve`` uses
:mod:`digest.web.server`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..config import Secret, Settings
from ..errors import ConfigError
from ..render.environment import template_environment
from ..sending.ledger import Ledger
from ..sending.tokens import SECRET_ENV, secret_from_settings, verify
from .routes import DEFAULT_ARCHIVE_PATH, DEFAULT_UNSUBSCRIBE_PATH, PathTemplate
from .webhooks import handle_webhook, max_body, preflight

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["MAX_BODY", "WebApp", "make_web_app"]

log = logging.getLogger("digest.web")

MAX_BODY = 5 * 1024 * 1024
"""Largest request body read (a Postmark bounce with the full message dump fits)."""

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_WEBHOOK = re.compile(r"/webhooks/(?P<provider>[^/]+)")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    500: "Internal Server Error",
}
_PAGE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'",
    ),
]


class _BodyTooLarge(Exception):
    pass


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    environ: Any = field(repr=False)

    @classmethod
    def from_environ(cls, environ: WSGIEnvironment) -> Request:
        headers = {
            k[5:].replace("_", "-").lower(): str(v)
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        query = {k: v[0] for k, v in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
        # PEP 3333 hands the path over as latin-1-decoded bytes; make it text again.
        raw = str(environ.get("PATH_INFO", "/")).encode("latin-1")
        path = raw.decode("utf-8", "replace") or "/"
        return cls(str(environ["REQUEST_METHOD"]).upper(), path, query, headers, environ)

    def length(self) -> int:
        try:
            return max(int(self.environ.get("CONTENT_LENGTH") or 0), 0)
        except ValueError:
            return 0

    def body(self, limit: int = MAX_BODY) -> bytes:
        length = self.length()
        if length > limit:
            raise _BodyTooLarge
        return bytes(self.environ["wsgi.input"].read(length)) if length > 0 else b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), [("Content-Type", "text/plain; charset=utf-8")])

    @classmethod
    def json(cls, status: int, value: Any) -> Response:
        return cls(status, json.dumps(value).encode(), [("Content-Type", "application/json")])


class WebApp:
    """The WSGI callable. Build it with :func:`make_web_app`."""

    def __init__(self, settings: Settings, archive_dir: Path, secret: Secret) -> None:
        self.settings = settings
        self.archive_dir = archive_dir.resolve()
        self.ledger_path = settings.path(settings.sending.ledger)
        # Held open for the app's life and never used: while one connection stays open,
        # SQLite does not checkpoint and delete the WAL file each time a request's own
        # connection closes (a sync to disk on every request). It also makes the schema
        # and reports a bad ledger path at start.
        self.keeper = Ledger(self.ledger_path)
        self.secret = secret
        links = settings.links
        self.unsubscribe = PathTemplate.parse(
            links.unsubscribe_url or DEFAULT_UNSUBSCRIBE_PATH, "token", "[links] unsubscribe_url"
        )
        view = links.view_online_url
        self.archive = PathTemplate.parse(
            view if view and "{slug}" in view else DEFAULT_ARCHIVE_PATH,
            "slug",
            "[links] view_online_url",
        )
        user_dir = settings.path(settings.templates.dir) if settings.templates.dir else None
        self.env = template_environment(user_dir)
        nl = settings.newsletter
        self.page_context = {
            "newsletter": nl.name,
            "website": nl.website,
            "lang": nl.lang,
            "dir": nl.dir,
            "brand": settings.brand,
        }

    def close(self) -> None:
        self.keeper.close()

    # -- WSGI ------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        try:
            response = self.dispatch(request)
        except _BodyTooLarge:
            response = Response.text(413, "Request body too large.\n")
        except Exception:
            # The route's name, never the path: an unsubscribe path carries a token.
            log.exception("internal error answering %s %s", request.method, self.route(request))
            response = self.error_page()
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {_REASONS.get(response.status, '')}", headers)
        return [] if request.method == "HEAD" else [response.body]

    def route(self, request: Request) -> str:
        """A name for the route a request hit, safe to log (no token, no address)."""
        if self.unsubscribe.match(request.path, request.query):
            return "unsubscribe"
        if m := _WEBHOOK.fullmatch(request.path):
            return f"webhook {m['provider'][:20]!r}"
        if self.archive.match(request.path, request.query):
            return "archive"
        # Only the first segment: enough to spot a proxy that adds a prefix, never a token.
        first, slash, _ = request.path.lstrip("/").partition("/")
        return f"/{first[:40]}{'/…' if slash else ''}"

    def dispatch(self, request: Request) -> Response:
        method, path = request.method, request.path
        if path == "/healthz":
            return self.allow(method, "GET") or Response.text(200, "ok\n")
        if (token := self.unsubscribe.match(path, request.query)) is not None:
            return self.allow(method, "GET", "POST") or self.unsubscribe_page(request, token)
        if m := _WEBHOOK.fullmatch(path):
            return self.allow(method, "POST") or self.webhook(request, m["provider"])
        if (slug := self.archive.match(path, request.query)) is not None:
            return self.allow(method, "GET") or self.issue_page(slug)
        return self.not_found()

    @staticmethod
    def allow(method: str, *allowed: str) -> Response | None:
        """None if ``method`` is allowed here (HEAD goes with GET), else a 405."""
        if method in allowed or (method == "HEAD" and "GET" in allowed):
            return None
        response = Response.text(405, "Method not allowed.\n")
        response.headers.append(("Allow", ", ".join(allowed)))
        return response

    # -- pages -----------------------------------------------------------------------------

    def page(self, status: int, template: str, **context: Any) -> Response:
        html = self.env.get_template(template).render(**self.page_context, **context)
        return Response(status, html.encode(), list(_PAGE_HEADERS))

    def error_page(self) -> Response:
        """The 500 page; plain text if even the template fails."""
        try:
            return self.page(
                500,
                "web/error.html.j2",
                title="Something went wrong",
                message="The server could not answer. Please try again later.",
            )
        except Exception:
            log.exception("the error page failed too")
            return Response.text(500, "Something went wrong. Please try again later.\n")

    def not_found(self) -> Response:
        return self.page(
            404,
            "web/error.html.j2",
            title="Page not found",
            message="There is nothing at this address.",
        )

    def bad_link(self) -> Response:
        return self.page(
            400,
            "web/error.html.j2",
            title="This unsubscribe link is not valid",
            message="The link may have been cut short or changed on its way here. Open it "
            "again from the newsletter you received, or copy the whole link into the address "
            "bar. Nobody has been unsubscribed.",
        )

    # -- unsubscribe -----------------------------------------------------------------------

    def unsubscribe_page(self, request: Request, token: str) -> Response:
        """GET shows a button; POST (one-click or the button) unsubscribes, idempotently."""
        email = verify(token, self.secret)
        if request.method != "POST":
            if email is None:
                return self.bad_link()
            return self.page(200, "web/unsubscribe.html.j2", title="Unsubscribe", email=email)
        form = parse_qs(request.body().decode("utf-8", "replace"))
        from_page = "confirm" in form
        if email is None:
            return self.bad_link() if from_page else Response.text(400, "Invalid link.\n")
        with Ledger(self.ledger_path) as ledger:
            added, _ = ledger.suppress(
                [(email, "unsubscribed")], source="one-click" if not from_page else "web page"
            )
        log.info("unsubscribe: %s", "added to the suppression list" if added else "already there")
        if not from_page:
            return Response.text(200, "Unsubscribed.\n")
        return self.page(200, "web/unsubscribed.html.j2", title="Unsubscribed", email=email)

    # -- webhooks --------------------------------------------------------------------------

    def webhook(self, request: Request, provider: str) -> Response:
        """Headers first (credentials, size), then the body: see :mod:`.webhooks`."""
        answer = preflight(self.settings, provider, request.headers, request.length())
        if answer is None:
            body = request.body(max_body(provider))
            answer = handle_webhook(self.settings, provider, request.headers, body)
        return Response(answer.status, answer.body, list(answer.headers))

    # -- archive ---------------------------------------------------------------------------

    def issue_page(self, slug: str) -> Response:
        """The built ``<slug>.html`` from the archive folder, placeholders at their defaults."""
        if not _SLUG.fullmatch(slug) or ".." in slug:
            return self.not_found()
        path = self.archive_dir / f"{slug}.html"
        if path.resolve().parent != self.archive_dir or not path.is_file():
            return self.not_found()
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "public, max-age=300"),
        ]
        return Response(200, path.read_bytes(), headers)


def make_web_app(settings: Settings, archive_dir: Path | str = Path("out")) -> WebApp:
    """The app for ``settings``; ``archive_dir`` holds ``digest build``'s ``<slug>.html`` files.

    Needs ``DIGEST_SECRET`` (the secret the send job signs unsubscribe tokens with).
    """
    secret = secret_from_settings(settings)
    if secret is None:
        raise ConfigError(
            f"{SECRET_ENV} is not set: digest serve checks unsubscribe links with the same "
            "secret the send job signed them with. Set it in this process's environment."
        )
    return WebApp(settings, Path(archive_dir), secret)
