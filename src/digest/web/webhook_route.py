"""``POST /webhooks/<provider>``: the HTTP side of provider webhooks.

This module owns what any webhook request must pass before a provider's own code sees it:
the provider's header checks (:func:`.webhooks.preflight`, before a byte of the body is
read), the body cap (:func:`.webhooks.body_cap`, 413), the body deadline (400) and the JSON
nesting cap (400). Checking the proof, reading the events and recording them is
:mod:`.webhooks`' job, called with the raw body, the lower-cased headers and the time.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .body import BodyRefused, json_too_deep, read_body
from .ledger_gate import LedgerUnavailable
from .webhooks import PROVIDERS, WebhookAnswer, body_cap, preflight, read_webhook, record_webhook

if TYPE_CHECKING:
    from .app import Web

__all__ = ["webhook"]

log = logging.getLogger("digest.web")


def _response(answer: WebhookAnswer) -> Response:
    return Response(answer.body, answer.status, headers=dict(answer.headers))


async def webhook(web: Web, request: Request, provider: str) -> Response:
    if (refused := web.allow(request.method, "POST")) is not None:
        return refused
    if provider not in PROVIDERS:
        return PlainTextResponse("Unknown provider.\n", 404, headers={"Connection": "close"})
    headers = dict(request.headers.items())
    if (early := preflight(web.settings, provider, headers)) is not None:
        return _response(early)
    serve = web.settings.serve
    try:
        body = await read_body(request, body_cap(web.settings, provider), serve.body_timeout)
    except BodyRefused as e:
        return web.refusal(e)
    if json_too_deep(body, serve.max_json_depth):
        log.warning("webhook %s: JSON nested deeper than %d levels", provider, serve.max_json_depth)
        return PlainTextResponse("The JSON nests too deep.\n", 400)
    now = time.time()
    read = functools.partial(read_webhook, web.settings, provider, headers, body, now)
    parsed = await anyio.to_thread.run_sync(read)
    if isinstance(parsed, WebhookAnswer):
        return _response(parsed)
    record = functools.partial(
        record_webhook, settings=web.settings, provider=provider, parsed=parsed, now=now
    )
    try:
        answer = await web.gate.run(record)
    except LedgerUnavailable:
        return PlainTextResponse("The ledger is unavailable; retry later.\n", 503)
    return _response(answer)
