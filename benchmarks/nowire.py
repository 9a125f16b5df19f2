"""``digest send`` with no network: every HTTP call answered at once, in the process.

Run as ``python -m benchmarks.nowire send ISSUE --recipients ... --config ...`` (the same
arguments as ``digest send``). It runs digest's own CLI unchanged, except that each HTTP
provider's ``httpx.Client`` gets :class:`Instant` as its transport: the request body is
still produced chunk by chunk as it would be for a socket, then dropped, and the provider's
documented success answer comes back: the very answers of the loopback sink
(:mod:`benchmarks.sinks`), ids included, so that the pair of runs differs only in the
network (Postmark: one entry per message; SendGrid: 202 and ``X-Message-Id``; Mailgun: a
queued id).

What it measures is digest's own work on a send (start-up, list, ledger, personalising,
building, parsing answers) with the network's cost at zero. A target against the loopback
ceiling that this run does not reach cannot be reached by any change to how bytes are
written: the rest of the send is already slower than the target allows.
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import Any

import httpx

from benchmarks.sinks import _postmark
from digest.delivery import _http

_BATCH = threading.local()
"""Messages in the request being made on this thread (Postmark answers one entry each)."""


class Instant(httpx.BaseTransport):
    """Consume the request body as a socket write would, then answer without delay."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _chunk in request.stream:  # type: ignore[union-attr]
            pass
        path = request.url.path
        serial = next(_SERIAL)
        if path == "/email/batch":
            _, body = _postmark(getattr(_BATCH, "n", 0), serial)
            return httpx.Response(200, content=body, headers=_JSON)
        if path == "/v3/mail/send":
            return httpx.Response(202, headers={"X-Message-Id": f"sg{serial:06d}"})
        if path.endswith("/messages"):
            body = b'{"id":"<%06d@mg.example.org>","message":"Queued. Thank you."}' % serial
            return httpx.Response(200, content=body, headers=_JSON)
        return httpx.Response(404, content=b"{}", headers=_JSON)


_JSON = {"Content-Type": "application/json"}
_SERIAL = itertools.count(1)


def install() -> None:
    """Give every HTTP provider's client the instant transport."""
    make_client = _http.HTTPProvider._make_client
    request = _http.HTTPProvider.request

    def instant_client(self: _http.HTTPProvider) -> httpx.Client:
        client = make_client(self)
        client._transport = Instant()
        return client

    def counted_request(self: _http.HTTPProvider, req: _http.HTTPRequest) -> Any:
        _BATCH.n = len(req.json) if isinstance(req.json, list) else 0
        return request(self, req)

    _http.HTTPProvider._make_client = instant_client  # type: ignore[method-assign]
    _http.HTTPProvider.request = counted_request  # type: ignore[method-assign]


def main() -> None:
    install()
    from digest.cli import main as digest_main

    sys.argv = ["digest", *sys.argv[1:]]
    digest_main()


if __name__ == "__main__":
    main()
