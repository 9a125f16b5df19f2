"""``POST /webhooks/<provider>``: the HTTP side of provider webhooks.

This module owns what any webhook request must pass before a provider's own code sees it:
the body cap (:func:`max_body`, 413), the body deadline (400) and the JSON nesting cap
(400). Checking who sent it and reading its events is :func:`.webhooks.parse_webhook`'s job,
called with the raw body, the lower-cased headers and the time.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from .body import BodyRefused, json_too_deep, read_body
from .ledger_gate import LedgerUnavailable
from .webhooks import PROVIDERS, Event, Unauthorized, parse_webhook

if TYPE_CHECKING:
    from ..sending.ledger import Ledger
    from .app import Web

__all__ = ["max_body", "webhook"]

log = logging.getLogger("digest.web")


def max_body(web: Web, provider: str) -> int:
    """The most body bytes read for ``provider``: the server-wide ``[serve]`` cap.

    A provider's own smaller cap belongs here, asked before the body is read.
    """
    return web.settings.serve.max_webhook_body


async def webhook(web: Web, request: Request, provider: str) -> Response:
    if (refused := web.allow(request.method, "POST")) is not None:
        return refused
    if provider not in PROVIDERS:
        return PlainTextResponse("Unknown provider.\n", 404, headers={"Connection": "close"})
    serve = web.settings.serve
    try:
        body = await read_body(request, max_body(web, provider), serve.body_timeout)
    except BodyRefused as e:
        return web.refusal(e)
    if json_too_deep(body, serve.max_json_depth):
        log.warning("webhook %s: JSON nested deeper than %d levels", provider, serve.max_json_depth)
        return PlainTextResponse("The JSON nests too deep.\n", 400)
    headers = dict(request.headers.items())
    parse = functools.partial(
        parse_webhook,
        provider=provider,
        settings=web.settings,
        headers=headers,
        body=body,
        now=time.time(),
    )
    try:
        events = await anyio.to_thread.run_sync(parse)
    except Unauthorized as e:
        log.warning("webhook %s refused: %s", provider, e)
        response = PlainTextResponse("Unauthorized.\n", 401)
        if PROVIDERS[provider].basic_auth:
            response.headers["WWW-Authenticate"] = 'Basic realm="digest webhooks"'
        return response
    except (ValueError, RecursionError) as e:
        log.warning("webhook %s: unreadable body: %s", provider, e)
        return PlainTextResponse("The body is not JSON.\n", 400)
    try:
        recorded = await web.gate.run(functools.partial(_record, events)) if events else 0
    except LedgerUnavailable:
        return PlainTextResponse("The ledger is unavailable; retry later.\n", 503)
    return JSONResponse({"events": len(events), "recorded": recorded})


def _record(events: list[Event], ledger: Ledger) -> int:
    """Record events for messages the ledger knows; ignore the rest (not our messages)."""
    recorded = 0
    for event in events:
        if not ledger.knows_message(event.message_id):
            continue
        ledger.record_event(event.state, message_id=event.message_id, email=event.email)
        recorded += 1
    return recorded
