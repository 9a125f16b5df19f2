"""The editor's desk: ``init``, ``new``, ``add``, ``check``, ``preview``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from ..text import shown
from .options import config_option


def _shown(path: Path) -> Path:
    """``path`` as the lines a command prints give it: relative to the current folder when
    it lies under it, else absolute. Settings hold the issues folder absolute (from the
    config's real path) while a folder typed stays as typed: both read the same way."""
    full = path.absolute().parent.resolve() / path.name  # the file itself may be a link
    try:
        return full.relative_to(Path.cwd().resolve())
    except ValueError:
        return full


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
        click.echo(f"Wrote {_shown(path)}")
    for path in result.kept:
        click.echo(f"Kept {_shown(path)} (already there)")


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
    click.echo(f"Wrote {_shown(path)}")


issue_option = click.option(
    "--issue",
    "issue_ref",
    metavar="FILE",
    help="The issue: a file, a slug or a number (default: the newest in the issues folder).",
)
allow_private_option = click.option(
    "--allow-private",
    is_flag=True,
    help="Also fetch private and loopback addresses (an intranet; tests).",
)


@click.command()
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@click.option("--section", metavar="NAME", help="Put the new articles under this section.")
@click.option("--lead", is_flag=True, help="Make the (last) new article the lead story.")
@issue_option
@allow_private_option
@config_option
def add(
    urls: tuple[str, ...],
    section: str | None,
    lead: bool,
    issue_ref: str | None,
    allow_private: bool,
    config_path: Path | None,
) -> None:
    """Fetch each URL and append it to the issue: headline, summary, image, author and
    site from the page. Nothing is written unless every page could be read."""
    from digest import add_articles, load_settings, resolve_issue

    settings = load_settings(config_path)
    path = resolve_issue(issue_ref, settings)
    result = add_articles(
        settings, path, list(urls), section=section, lead=lead, allow_private=allow_private
    )
    for article in result.added:
        click.echo(f"Added '{shown(article['headline'])}' ({article['url']}) to {path}")
    for warning in result.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)


@click.command()
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
@click.option("--offline", is_flag=True, help="Skip the online link check.")
@click.option(
    "--json", "as_json", is_flag=True, help="JSON lines: one per finding, then a summary."
)
@allow_private_option
@config_option
def check(
    issue_ref: str | None,
    offline: bool,
    as_json: bool,
    allow_private: bool,
    config_path: Path | None,
) -> int:
    """The pre-send check of ISSUE (a file, a slug or a number; default the newest):
    errors (exit 6) and warnings (exit 0), grouped by article."""
    from digest import check_issue, load_settings, resolve_issue

    settings = load_settings(config_path)
    path = resolve_issue(issue_ref, settings)
    report = check_issue(settings, path, offline=offline, allow_private=allow_private)
    if as_json:
        for line in report.json_lines():
            click.echo(line)
    else:
        click.echo(report.text())
    return report.exit_code


@click.command()
@click.argument("issue_ref", metavar="[ISSUE]", required=False)
@click.option("--port", type=click.IntRange(0, 65535), default=8026, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@config_option
def preview(
    issue_ref: str | None, port: int, host: str, open_browser: bool, config_path: Path | None
) -> None:
    """Serve a live preview of ISSUE (default: the newest): desktop, phone, dark mode and
    plaintext side by side, with the check's findings; updates as you edit."""
    from digest import load_settings, resolve_issue, serve_preview

    settings = load_settings(config_path)
    path = resolve_issue(issue_ref, settings)
    serve_preview(path, config_path, host=host, port=port, open_browser=open_browser)
