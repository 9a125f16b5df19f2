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
from ..errors import ConfigError
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
        try:
            server = make_server(app, host, port)
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {e.strerror or e}; pick another --port/--host"
            ) from None
        with server:
            if ready is not None:
                ready(f"http://{host}:{server.server_port}")
            ready_providers = [
                p.name for p in PROVIDERS.values() if all(settings.secret(n) for n in p.env)
            ]
            log.info(
                "webhooks ready for: %s (the others answer 401 until their variables are set; "
                "see `digest serve --help`)",
                ", ".join(ready_providers) or "none",
            )
            with contextlib.suppress(KeyboardInterrupt):
                server.serve_forever()
    finally:
        app.close()
