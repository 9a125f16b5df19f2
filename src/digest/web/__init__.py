"""``digest serve``: the web side of a newsletter, an ASGI app on uvicorn.

* ``GET /unsubscribe/<token>`` shows a button; ``POST`` (RFC 8058 one-click, or the button)
  adds the address to the ledger's suppression list. The path follows
  ``[links] unsubscribe_url``.
* ``POST /webhooks/<provider>`` records provider events (:mod:`digest.events`) in the
  ledger: bounces, complaints and unsubscribes suppress; engagement is kept.
* ``GET /issues/<slug>`` serves ``<slug>.html`` from the ``digest build`` folder (the path
  follows ``[links] view_online_url`` when it has ``{slug}``).
* ``GET /healthz`` answers ``ok``, or 503 while the ledger cannot be written.

:func:`make_web_app` returns a Starlette (ASGI) app; :func:`serve_web` runs it on uvicorn
with the ``[serve]`` settings until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

from .app import WebApp, make_web_app
from .server import serve_web
from .webhooks import PROVIDERS

__all__ = ["PROVIDERS", "WebApp", "make_web_app", "serve_web"]
