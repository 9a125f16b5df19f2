"""The editor's desk: ``init``, ``new``, ``add``, ``check``, ``preview``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from .options import config_option


@click.command()
@click.argument(
    "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."), required=False
)
@click.option("--name", default="My Newsletter", show_default=True, help="Newsletter name.")
@click.option("--from", "sender", metavar="ADDRESS", help='From address, "Name <address>".')
def init(folder: Path, name: str, sender: str | None) -> None:
    """Set up FOLDER (default: here) for a newsletter: a commented digest.toml, the issues
    folder and a first draft. Never overwrites anything."""
    from digest import init_newsletter

    result = init_newsletter(folder, name=name, sender=sender)
    for path in result.created:
        click.echo(f"Wrote {path}")
    for path in result.kept:
        click.echo(f"Kept {path} (already there)")


@click.command()
@click.option(
    "--date",
    "issue_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Issue date, YYYY-MM-DD (default: the newest issue's date plus the cadence).",
)
@config_option
def new(issue_date: datetime | None, config_path: Path | None) -> None:
    """Write the next issue file into the issues folder: number + 1, date one cadence later,
    the same sections, no articles yet. Never overwrites."""
    from digest import load_settings, new_issue

    settings = load_settings(config_path)
    path = new_issue(settings, when=issue_date.date() if issue_date else None)
    click.echo(f"Wrote {path}")
