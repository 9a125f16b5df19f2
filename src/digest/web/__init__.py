"""``digest serve``: the web side of a newsletter.

* ``GET /unsubscribe/<token>`` shows a button; ``POST`` (RFC 8058 one-click, or the button)
  adds the address to the ledger's suppression list. The path follows
  ``[links] unsubscribe_url``.
* ``POST /webhooks/<provider>`` (postmark, mailgun, resend) records hard bounces and
  complaints in the ledger.
* ``GET /issues/<slug>`` serves ``<slug>.html`` from the ``digest build`` folder (the path
  follows ``[links] view_online_url`` when it has ``{slug}``).
* ``GET /healthz`` answers ``ok``.

:func:`make_web_app` returns a plain WSGI app (any WSGI server can run it);
:func:`serve_web` runs it on the stdlib's threaded server until interrupted.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from .app import WebApp, make_web_app
from .server import make_server
from .webhooks import PROVIDERS

__all__ = ["PROVIDERS", "WebApp", "make_server", "make_web_app", "serve_web"]

log = logging.getLogger("digest.web")


def serve_web(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8025,
    archive_dir: Path | str = Path("out"),
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the app until Ctrl-C or SIGTERM; ``ready`` gets the base URL once listening."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = make_web_app(settings, archive_dir)
    try:
        with make_server(app, host, port) as server:
            if ready is not None:
                ready(f"http://{host}:{server.server_port}")
            for provider in PROVIDERS.values():
                missing = [n for n in provider.env if settings.secret(n) is None]
                if missing:
                    log.warning(
                        "webhooks/%s will answer 401: set %s", provider.name, " and ".join(missing)
                    )
            with contextlib.suppress(KeyboardInterrupt):
                server.serve_forever()
    finally:
        app.close()
