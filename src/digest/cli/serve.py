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
    default=Path("out"),
    show_default=True,
    help="Folder of built issues (digest build's --out) served at /issues/<slug>.",
)
@config_option
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    archive_dir: Path,
    config_path: Path | None,
) -> None:
    """Answer unsubscribe links (RFC 8058 one-click too), provider webhooks and /issues/<slug>.

    Needs DIGEST_SECRET, the secret the send job signs unsubscribe links with. Limits,
    timeouts and trusted proxies are in digest.toml's [serve]. Stop with Ctrl-C or SIGTERM:
    requests in flight finish first.
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
