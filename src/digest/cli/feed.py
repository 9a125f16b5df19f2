"""The ``import-feed`` command: a feed's recent items as an issue file to curate."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from .options import config_option, date_option, force_option, output_option


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--since``: a date or an ISO 8601 time, checked while the command line is read, so a
    bad value is a usage error (exit 2) like every other bad option value."""
    from digest import InputError
    from digest.sources.feed import feed_since

    if value is not None:
        try:
            feed_since(value)
        except InputError as e:
            raise click.BadParameter(str(e).removeprefix("--since "), ctx, param) from None
    return value


@click.command(name="import-feed")
@click.argument("source")
@output_option
@click.option(
    "--since",
    callback=_since,
    metavar="DATE",
    help="Only items published or updated since DATE (YYYY-MM-DD, an ISO 8601 time, or "
    "'last': the previous issue's date).",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only items published or updated in the last N days.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    default=12,
    show_default=True,
    help="At most this many items, newest first.",
)
@click.option(
    "--number",
    type=click.IntRange(min=1),
    help="Issue number of the new file (not needed with --issue).",
)
@click.option(
    "--issue",
    "issue_ref",
    metavar="FILE",
    help="Add the items to this existing issue (a file, a slug or a number), skipping "
    "links already in it.",
)
@force_option
@date_option
@click.option(
    "--section-from-category",
    is_flag=True,
    help="Put each item under a section named by its first category.",
)
@config_option
def import_feed(
    source: str,
    output: Path | None,
    since: str | None,
    days: int | None,
    limit: int,
    number: int | None,
    issue_ref: str | None,
    force: bool,
    issue_date: object,
    section_from_category: bool,
    config_path: Path | None,
) -> None:
    """Turn the recent items of the RSS or Atom feed at SOURCE (a URL or a file) into an
    issue file, or add them to an existing one with --issue: newest first, items without
    a title or an http(s) link skipped."""
    from digest import import_feed as run
    from digest import load_settings, write_issue_file
    from digest.text import plural

    if since is not None and days is not None:
        raise click.UsageError("Give --since or --days, not both.")
    if issue_ref is not None:
        if output is not None or number is not None:
            raise click.UsageError("--issue adds to an existing file: drop -o and --number.")
        from digest import import_feed_into, resolve_issue

        settings = load_settings(config_path)
        path = resolve_issue(issue_ref, settings)
        into = import_feed_into(
            settings,
            path,
            source,
            since=since,
            days=days,
            limit=limit,
            section_from_category=section_from_category,
        )
        for warning in into.warnings:
            click.secho(f"warning: {warning}", fg="yellow", err=True)
        for url in into.skipped:
            click.echo(f"Skipped {url}: already in the issue", err=True)
        click.echo(f"Added {plural(len(into.added), 'item')} to {path}", err=True)
        return
    if number is None:
        raise click.UsageError("Give --number N for a new issue file, or --issue FILE.")
    if since is not None and since.strip().lower() == "last":
        from digest import previous_issue_date

        since = previous_issue_date(load_settings(config_path), None).isoformat()
    when = issue_date.date() if isinstance(issue_date, datetime) else date.today()
    result = run(
        source,
        since=since,
        days=days,
        limit=limit,
        number=number,
        date=when,
        section_from_category=section_from_category,
    )
    for warning in result.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if output:
        write_issue_file(output, result.text, overwrite=force)
        items = plural(len(result.items), "item")
        click.echo(f"Wrote {output}: {items} from {result.feed.source}", err=True)
    else:
        click.echo(result.text, nl=False)
