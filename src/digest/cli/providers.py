"""``digest providers``: every delivery backend, its options and the environment it needs.

The data comes from ``digest.describe_providers``; this module only formats it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..text import plural
from .options import config_option

if TYPE_CHECKING:
    from digest.delivery.catalog import ProviderRow


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:g} hours" if seconds >= 7200 else f"{seconds / 60:g} minutes"


def _text(rows: list[ProviderRow]) -> str:
    out: list[str] = []
    for row in rows:
        head = row.name + ("  (in use)" if row.in_use else "")
        out.append(click.style(head, bold=True))
        if row.description:
            out.append(f"  {row.description}")
        if row.loaded:
            if row.idempotent and row.idempotency_window is not None:
                idem = (
                    f"yes, for a resume within {_duration(row.idempotency_window)} (later, a "
                    "batch caught mid-call is not repeated: its recipients become unknown)"
                )
            elif row.idempotent:
                idem = "yes"
            elif row.reconciles:
                idem = "no (a lost answer is looked up at the provider, never resent blindly)"
            else:
                idem = "no (a lost answer leaves its recipients unknown until retry --unknown)"
            assert row.max_batch is not None  # set for every class that loads
            most = plural(row.max_batch, "recipient")
            out.append(f"  batch: up to {most} a call; idempotent: {idem}")
            msgid = "digest's stable one" if row.keeps_message_id else "the provider's own"
            bad = (
                "refuses the whole call (digest isolates the address)"
                if row.rejects_whole_batch
                else "fails only that recipient"
            )
            out.append(f"  Message-ID: {msgid}; one bad address: {bad}")
            if row.options:
                out.append(f"  options [providers.{row.name}]:")
                for o in row.options:
                    if o.required:
                        value = "(required)"
                    elif o.default is None:
                        value = "(not set)"
                    else:
                        value = f"= {json.dumps(o.default)}"
                    line = f"    {o.name} {value}  [{o.type}]"
                    if o.is_configured:
                        line += f"  configured: {json.dumps(o.configured)}"
                    if o.description:
                        line += f"  {o.description}"
                    out.append(line)
            else:
                out.append("  options: none")
            if row.env:
                out.append("  environment:")
                for var, is_set in row.env.items():
                    out.append(f"    {var}  {'set' if is_set else 'not set'}")
            else:
                out.append("  environment: none")
        for note in row.notes:
            out.append(f"  note: {note}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def providers(config_path: Path | None, as_json: bool) -> int:
    """List delivery providers: options, batch limits, and the environment each needs."""
    from digest import EXIT_CONFIG, describe_providers, load_settings

    settings = load_settings(config_path)
    rows = describe_providers(settings)
    if as_json:
        data = [r.to_json() for r in rows]
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(_text(rows), nl=False)
    if not any(r.in_use for r in rows):
        click.secho(
            f"error: [delivery] provider = {settings.delivery.provider!r} is none of these",
            fg="red",
            err=True,
        )
        return EXIT_CONFIG
    return 0
