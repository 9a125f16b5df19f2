"""The HTML pages ``digest serve`` answers with, from the project's Jinja2 templates."""

from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse, PlainTextResponse, Response

from ..config import Settings
from ..render.environment import template_environment

__all__ = ["Pages"]

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}


class Pages:
    """Renders ``templates/web/*.html.j2`` with the newsletter's name, language and brand."""

    def __init__(self, settings: Settings) -> None:
        user_dir = settings.path(settings.templates.dir) if settings.templates.dir else None
        self.env = template_environment(user_dir)
        nl = settings.newsletter
        self.context: dict[str, Any] = {
            "newsletter": nl.name,
            "website": nl.website,
            "lang": nl.lang,
            "dir": nl.dir,
            "brand": settings.brand,
        }

    def page(
        self, status: int, template: str, headers: dict[str, str] | None = None, **context: Any
    ) -> Response:
        html = self.env.get_template(template).render(**self.context, **context)
        return HTMLResponse(html, status, headers={**_PAGE_HEADERS, **(headers or {})})

    def message(
        self, status: int, title: str, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        return self.page(status, "web/error.html.j2", headers, title=title, message=message)

    def not_found(self) -> Response:
        return self.message(404, "Page not found", "There is nothing at this address.")

    def error(self) -> Response:
        """The 500 page; plain text if even the template fails."""
        try:
            return self.message(
                500,
                "Something went wrong",
                "The server could not answer. Please try again later.",
            )
        except Exception:
            return PlainTextResponse("Something went wrong. Please try again later.\n", 500)

    def unavailable(self) -> Response:
        """503 while the ledger cannot be written: nothing was changed, try again later."""
        return self.message(
            503,
            "Please try again in a few minutes",
            "The server cannot record changes right now, so nothing has been changed. "
            "Please open the link again a little later.",
            {"Retry-After": "120"},
        )
