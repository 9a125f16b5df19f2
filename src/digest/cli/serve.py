"""``digest serve``: unsubscribe links, provider webhooks and the issue archive over HTTP."""

from __future__ import annotations

from pathlib import Path

import click

from .options import config_option


@click.command()
@click.option("--host", default=None, help="Address to listen on.  [default: [serve] host]")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to listen on (0: any free port).  [default: [serve] port, 8025]",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes sharing the port.  [default: [serve] workers, 1]",
)
@click.option(
    "--archive",
    "archive_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Web archive folder (digest build --web, or --out) served at /issues/: its pages, "
    "index and feed.  [default: [archive] dir, else out]",
)
@config_option
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    archive_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Answer unsubscribe links (RFC 8058 one-click too), provider webhooks and /issues/<slug>.

    Needs DIGEST_SECRET, the secret the send job makes unsubscribe links with (and, after a
    rotation, the old ones in DIGEST_SECRET_PREVIOUS). Limits, timeouts and trusted proxies
    are in digest.toml's [serve]. Stop with Ctrl-C or SIGTERM: requests in flight finish
    first.

    Each provider's webhook (POST /webhooks/NAME) answers 401 until its environment
    variables are set:

    \b
      postmark, mailjet, brevo   DIGEST_WEBHOOK_USER, DIGEST_WEBHOOK_PASSWORD
      mailgun                    MAILGUN_WEBHOOK_SIGNING_KEY
      resend                     RESEND_WEBHOOK_SECRET
      sendgrid                   SENDGRID_WEBHOOK_PUBLIC_KEY
      ses                        DIGEST_SES_TOPIC_ARN
    """
    from digest import load_settings, serve_web

    def ready(url: str) -> None:
        click.echo(f"Serving on {url} (Ctrl-C to stop)", err=True)

    serve_web(
        load_settings(config_path),
        host=host,
        port=port,
        workers=workers,
        archive_dir=archive_dir,
        ready=ready,
    )
