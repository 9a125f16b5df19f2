"""``/unsubscribe/<token>``: a GET asks, a POST (RFC 8058 one-click, or the page's button) acts.

The pages name the newsletter and show the address masked (``a•••@example.org``): the
link may have been forwarded. After the button, an **undo** posts the same token with
``undo=yes`` and takes away only the ``unsubscribed`` suppression (the token proves the
inbox; a bounce or complaint stays, and the page then says mail still will not come, so
nobody is told "you will keep getting it" about an address nothing can be sent to).

The token is checked before a byte of the body is read: a bad link is answered at once and
its body never read. A good link's body is read up to ``[serve] max_unsubscribe_body``
(the one-click body is 26 bytes). The suppression is written before the answer goes out,
so every 2xx is an unsubscribe on disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .body import BodyRefused, read_body, read_form
from .ledger_gate import LedgerUnavailable

if TYPE_CHECKING:
    from ..sending.ledger import Ledger
    from .app import Web

__all__ = ["mask", "unsubscribe"]

_FORM = "application/x-www-form-urlencoded"
_REASON = "unsubscribed"


def mask(email: str) -> str:
    """``ann@example.org`` -> ``a•••@example.org``: enough to recognise, little to leak."""
    local, at, domain = email.rpartition("@")
    if not at:
        local, domain = email, ""
    return f"{local[:1]}•••{at}{domain}"


def _undo(ledger: Ledger, email: str) -> str | None:
    """Take away the reader's unsubscribe; what still stops mail to them, or None."""
    ledger.remove_suppression(email, reason=_REASON)
    return ledger.is_suppressed(email)


def bad_link(web: Web, *, close: bool) -> Response:
    return web.pages.message(
        400,
        "This unsubscribe link is not valid",
        "The link may have been cut short or changed on its way here. Open it again from the "
        "newsletter you received, or copy the whole link into the address bar. Nobody has "
        "been unsubscribed.",
        {"Connection": "close"} if close else None,
    )


async def unsubscribe(web: Web, request: Request, token: str) -> Response:
    if (refused := web.allow(request.method, "GET", "POST")) is not None:
        return refused
    email = web.verify(token)
    if email is None:
        return bad_link(web, close=request.method == "POST")
    if request.method != "POST":
        try:  # a reader back on the link sees that it is done, not the question again
            reason = await web.gate.run(lambda ledger: ledger.is_suppressed(email))
        except LedgerUnavailable:
            reason = None  # only a read: the question still works, the POST answers 503
        if reason == _REASON:
            return web.pages.page(
                200, "web/unsubscribed.html.j2", title="Unsubscribed", masked=mask(email),
                already=True,
            )
        return web.pages.page(
            200, "web/unsubscribe.html.j2", title="Unsubscribe", masked=mask(email)
        )
    serve = web.settings.serve
    try:
        body = await read_body(request, serve.max_unsubscribe_body, serve.body_timeout)
    except BodyRefused as e:
        return web.refusal(e)
    form = {}
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == _FORM:
        try:
            form = read_form(body)
        except ValueError:
            # unreadable, it asks for nothing but the POST itself: an unsubscribe, the one
            # answer that can never mail a reader who did not want it (never an undo)
            form = {}
    if "undo" in form:
        try:
            left = await web.gate.run(lambda ledger: _undo(ledger, email))
        except LedgerUnavailable:
            return web.pages.unavailable()
        if left is not None:
            return web.pages.page(
                200, "web/still_stopped.html.j2", title="Mail is still stopped",
                masked=mask(email), bounced=left == "bounced",
            )
        return web.pages.page(
            200, "web/resubscribed.html.j2", title="You are still subscribed", masked=mask(email)
        )
    from_page = "confirm" in form
    source = "web page" if from_page else "one-click"
    try:
        await web.gate.suppress(email, source)
    except LedgerUnavailable:
        return web.pages.unavailable()
    if not from_page:
        return PlainTextResponse("Unsubscribed.\n")
    return web.pages.page(200, "web/unsubscribed.html.j2", title="Unsubscribed", masked=mask(email))
