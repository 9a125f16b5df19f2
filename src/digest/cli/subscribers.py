"""``digest subscribers …``: the list of readers who joined, and their data on request."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from ..text import plural
from .options import config_option

if TYPE_CHECKING:
    from digest import ImportResult, Ledger, Settings

_STATUSES = ["pending", "active", "unsubscribed", "bounced", "complained"]


def _settings(config_path: Path | None) -> Settings:
    from digest import load_settings

    return load_settings(config_path)


def _ledger(settings: Settings, must_exist: bool = False) -> Ledger:
    """The ledger, brought up to this release's schema (an older file gets the tables)."""
    from digest import ConfigError, Ledger, ledger_path

    path = ledger_path(settings)
    if must_exist and not path.exists():
        raise ConfigError(f"{path}: no ledger yet; nobody has subscribed or been sent to.")
    return Ledger(path)


def _consent(settings: Settings, given: str | None) -> str:
    text = given if given is not None else settings.subscribe.consent_text
    return text.replace("{newsletter}", settings.newsletter.name)


def _report(result: ImportResult, where: str) -> int:
    from digest import EXIT_CONFIG

    for row in result.bad:
        click.secho(
            f"skipped {where}{row.line} ({row.value!r}): {row.reason}", fg="yellow", err=True
        )
    click.echo(
        f"Added {plural(result.added, 'subscriber')}; "
        f"{plural(result.already, 'was')} already on the list."
    )
    if result.marked:
        click.echo(f"{result.marked} marked unsubscribed, cleaned or complained by the exporter.")
    if result.inactive:
        click.echo(f"Skipped {result.inactive} never confirmed.")
    if result.forgotten:
        click.echo(f"Skipped {result.forgotten} who asked to be forgotten.")
    return EXIT_CONFIG if result.bad else 0


def _forgotten(settings: Settings, ledger: Ledger) -> Callable[[str], bool]:
    """Who asked to be forgotten: an import or an add never writes them down again."""
    from digest import ForgottenCheck

    return ForgottenCheck(settings, ledger).forgotten


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def subscribers() -> None:
    """Readers who joined: list, add, import, export, forget, stats.

    Subscribers live in the send ledger. A send reaches the active ones when
    [audience] source is "subscribers" or "both"; suppressions win over both.
    Forgotten addresses are kept only as hashes keyed by DIGEST_SECRET: keep the
    secret (after a change, list the old one in DIGEST_SECRET_PREVIOUS), or a send
    cannot check them and stops rather than guess.
    """


@subscribers.command(name="list")
@click.option("--status", type=click.Choice(_STATUSES), help="Only readers of this status.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@config_option
def list_(status: str | None, as_json: bool, config_path: Path | None) -> int:
    """List subscribers: address, status, when and where they consented."""
    from digest import Subscribers

    settings = _settings(config_path)
    with _ledger(settings, must_exist=True) as ledger:
        n = 0
        for s in Subscribers(ledger).all(status):
            n += 1
            if as_json:
                click.echo(json.dumps(s.as_dict(), ensure_ascii=False))
            else:
                click.echo(f"{s.email}\t{s.status}\t{s.consent_at}\t{s.consent_source}")
        if not as_json:
            click.echo(plural(n, "subscriber") + (f" ({status})" if status else "."), err=True)
    return 0


@subscribers.command()
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@click.option("--name", default="", help="The reader's name (for one address).")
@click.option("--consent", help="What they agreed to; default: [subscribe] consent_text.")
@click.option("--source", default="cli", show_default=True, help="Where the consent came from.")
@config_option
def add(
    addresses: tuple[str, ...],
    name: str,
    consent: str | None,
    source: str,
    config_path: Path | None,
) -> int:
    """Add ADDRESS... as active subscribers (you vouch for their consent)."""
    from digest import add_subscribers

    settings = _settings(config_path)
    with _ledger(settings) as ledger:
        result = add_subscribers(
            ledger,
            addresses,
            name=name,
            consent_text=_consent(settings, consent),
            source=source,
            forgotten=_forgotten(settings, ledger),
        )
    return _report(result, "argument ")


@subscribers.command(name="import")
@click.argument("csv_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", help="Where the consent came from; default: import:<file name>.")
@click.option("--consent", help="What they agreed to; default: [subscribe] consent_text.")
@click.option(
    "--status",
    type=click.Choice(["active", "unsubscribed", "bounced", "complained"]),
    default="active",
    show_default=True,
    help="The status of rows the export does not mark otherwise (rows it marks "
    "unsubscribed, cleaned or complained keep that; never-confirmed rows are skipped).",
)
@config_option
def import_(
    csv_path: Path,
    source: str | None,
    consent: str | None,
    status: str,
    config_path: Path | None,
) -> int:
    """Import FILE, a CSV export (email column; name and other columns optional)."""
    from digest import import_subscribers
    from digest.sending.recipients import check_recipients

    settings = _settings(config_path)
    check_recipients(csv_path)
    with _ledger(settings) as ledger:
        result = import_subscribers(
            ledger,
            csv_path,
            consent_text=_consent(settings, consent),
            source=source,
            status=status,
            forgotten=_forgotten(settings, ledger),
        )
    return _report(result, f"{csv_path}:")


@subscribers.command()
@click.argument("address", required=False)
@click.option("--status", type=click.Choice(_STATUSES), help="Only readers of this status.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@config_option
def export(
    address: str | None, status: str | None, output: Path | None, config_path: Path | None
) -> int:
    """Export the list as CSV, or with ADDRESS everything stored about one person (JSON)."""
    from digest import InputError, export_person, export_subscribers
    from digest.files import create_owner_only

    settings = _settings(config_path)
    with _ledger(settings, must_exist=True) as ledger:
        out: TextIO
        if output:
            create_owner_only(output)  # it names every reader
            try:
                out = output.open("w", encoding="utf-8", newline="")
            except OSError as e:
                raise InputError(f"{output}: cannot write the export: {e.strerror}.") from None
        else:
            out = sys.stdout
        try:
            if address is not None:
                data = export_person(settings, ledger, address)
                out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
            else:
                n = export_subscribers(ledger, out, status)
                click.echo(f"{plural(n, 'subscriber')} exported.", err=True)
        finally:
            if output:
                out.close()
    return 0


@subscribers.command()
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
def forget(addresses: tuple[str, ...], yes: bool, config_path: Path | None) -> int:
    """Delete everything digest keeps about ADDRESS...; keep only a keyed hash so no send
    reaches them again."""
    from digest import forget as forget_person

    settings = _settings(config_path)
    if not yes:
        if not sys.stdin.isatty():  # cron or a pipe: end of input is no answer, nor a Ctrl-C
            raise click.UsageError(
                "forget asks before it deletes, and standard input is not a terminal that "
                "can answer: pass --yes to delete without asking."
            )
        click.confirm(
            f"Delete every record of {', '.join(addresses)} (cannot be undone)?", abort=True
        )
    with _ledger(settings) as ledger:
        for address in addresses:
            result = forget_person(settings, ledger, address)
            rows = ", ".join(f"{plural(n, 'row')} of {t}" for t, n in sorted(result.rows.items()))
            files = plural(len(result.files), "outbox file")
            click.echo(
                f"{address}: deleted {rows or 'no rows'}; {files}; "
                "kept a keyed hash on the suppression list."
            )
            if not result.wal_cleared:
                click.secho(
                    "warning: another process holds the ledger open, so its write-ahead log "
                    "could not be emptied; run forget again once it has stopped.",
                    fg="yellow",
                    err=True,
                )
    return 0


@subscribers.command()
@click.option("--weeks", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@config_option
def stats(weeks: int, as_json: bool, config_path: Path | None) -> int:
    """Growth per week: readers who joined (confirmed), who left, and the active count."""
    from digest import Subscribers

    settings = _settings(config_path)
    with _ledger(settings, must_exist=True) as ledger:
        store = Subscribers(ledger)
        counts = store.counts()
        rows = store.weekly(weeks)
    if as_json:
        data = {
            "counts": counts,
            "weeks": [
                {
                    "week": r.week,
                    "joined": r.joined,
                    "left": r.left,
                    "net": r.net,
                    "active": r.active,
                }
                for r in rows
            ],
        }
        click.echo(json.dumps(data))
        return 0
    click.echo("  ".join(f"{k} {v}" for k, v in counts.items()))
    click.echo(f"{'week':<10} {'joined':>7} {'left':>6} {'net':>6} {'active':>7}")
    for r in rows:
        click.echo(f"{r.week:<10} {r.joined:>7} {r.left:>6} {r.net:>+6} {r.active:>7}")
    return 0
