"""``digest ledger``: look after the send ledger itself (``backup``)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import config_option


@click.group()
def ledger() -> None:
    """Look after the send ledger (back it up while sends may be running)."""


@ledger.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@config_option
def backup(target: Path, config_path: Path | None) -> int:
    """Copy the ledger to TARGET with SQLite's online backup API (safe during a send)."""
    from digest import ConfigError, Ledger, ledger_path, load_settings

    settings = load_settings(config_path)
    source = ledger_path(settings)
    if not source.exists():
        raise ConfigError(f"{source}: no send ledger yet; nothing to back up.")
    if target.resolve() == source.resolve():
        raise click.UsageError("TARGET must not be the ledger itself.")
    with Ledger(source, readonly=True) as db:
        written = db.backup(target)
    click.echo(f"Backed up {source} to {written}.")
    return 0
