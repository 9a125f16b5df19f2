"""Commands that make issues: ``build``, ``import-text``, ``schema``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from ..text import plural, shown
from .options import (
    config_option,
    date_option,
    force_option,
    issue_argument,
    number_option,
    output_option,
)


@click.command()
@issue_argument
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder for the three files.",
)
@click.option(
    "--web",
    "web_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also publish into this web archive folder: the page, its metadata, index.html "
    "and feed.xml (what digest serve --archive serves).",
)
@config_option
def build(issue: str, out_dir: Path, web_dir: Path | None, config_path: Path | None) -> None:
    """Render ISSUE (a file, slug or number) into OUT/<slug>.html, .txt and .eml, and report."""
    from digest import build_issue, load_settings, resolve_issue

    settings = load_settings(config_path)
    result = build_issue(resolve_issue(issue, settings), out_dir, settings, web_dir=web_dir)
    r = result.rendered
    articles = plural(len(r.issue.articles), "article")
    click.echo(f"Built {r.slug}: {articles}, subject '{shown(r.subject)}'")
    for path in (result.html_path, result.text_path, result.eml_path):
        click.echo(f"  {path}  {path.stat().st_size / 1024:.1f} KB")
    if result.web_page is not None:
        click.echo(f"Published to the web archive: {result.web_page}")
    for warning in r.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)


@click.command(name="import-text")
@click.argument("listing", type=click.Path(dir_okay=False, path_type=Path))
@output_option
@number_option
@force_option
@date_option
def import_text(
    listing: Path,
    output: Path | None,
    number: int,
    force: bool,
    issue_date: object,
) -> None:
    """Turn a plain LISTING (headline, blank line, summary) into an issue file.

    A line holding only an http(s) address, after the headline or at the end of the
    summary, is the article's link; without one the article is a draft without a link."""
    from datetime import datetime

    from digest import listing_to_yaml, read_listing, write_issue_file

    when = issue_date.date() if isinstance(issue_date, datetime) else date.today()
    text = listing_to_yaml(read_listing(listing), number=number, date=when)
    if output:
        write_issue_file(output, text, overwrite=force)
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@click.command()
def schema() -> None:
    """Print the JSON Schema of issue files (for editors' YAML language servers)."""
    from digest import issue_schema

    click.echo(issue_schema(), nl=False)
