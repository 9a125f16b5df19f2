"""The ``import-feed`` command: a feed's recent items as an issue file to curate."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from .options import date_option, force_option, number_option, output_option


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
    help="Only items published or updated since DATE (YYYY-MM-DD, or an ISO 8601 time).",
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
@number_option
@force_option
@date_option
@click.option(
    "--section-from-category",
    is_flag=True,
    help="Put each item under a section named by its first category.",
)
def import_feed(
    source: str,
    output: Path | None,
    since: str | None,
    days: int | None,
    limit: int,
    number: int,
    force: bool,
    issue_date: object,
    section_from_category: bool,
) -> None:
    """Turn the recent items of the RSS or Atom feed at SOURCE (a URL or a file) into an
    issue file: newest first, items without a title or an http(s) link skipped."""
    from digest import import_feed as run
    from digest import write_issue_file
    from digest.text import plural

    if since is not None and days is not None:
        raise click.UsageError("Give --since or --days, not both.")

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
