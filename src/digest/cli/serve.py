"""``digest serve``: unsubscribe links, provider webhooks and the issue archive over HTTP."""

from __future__ import annotations

from pathlib import Path

import click

from .options import config_option


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8025,
    show_default=True,
    help="Port to listen on (0: any free port).",
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
def serve(host: str, port: int, archive_dir: Path, config_path: Path | None) -> None:
    """Answer unsubscribe links (RFC 8058 one-click too), provider webhooks and /issues/<slug>.

    Needs DIGEST_SECRET, the secret the send job signs unsubscribe links with. Stop with Ctrl-C.
    """
    from digest import load_settings, serve_web

    def ready(url: str) -> None:
        click.echo(f"Serving on {url} (Ctrl-C to stop)", err=True)

    serve_web(
        load_settings(config_path), host=host, port=port, archive_dir=archive_dir, ready=ready
    )
