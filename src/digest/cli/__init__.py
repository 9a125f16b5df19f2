"""The ``digest`` command: a thin click layer over the library.

Commands live one module each in this package and are imported only when run, so
``digest --help`` and every command start without loading what they do not use.
"""

from __future__ import annotations

import sqlite3
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

import click

from ..errors import EXIT_INTERRUPTED, EXIT_LEDGER, DigestError

# httpx imports its own command line, and with it rich and pygments, whenever they are
# installed: ~50 ms of every command that sends or fetches. This process never runs it, so
# that import fails the way httpx provides for (its ``main`` then says the CLI is missing).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

JSON_ERRORS = "digest.json_errors"
"""``ctx.meta`` key set by ``--log-format json``: errors are then written as JSON lines."""

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("digest.cli.desk", "Set up a newsletter folder: digest.toml, issues/, a draft."),
    "new": ("digest.cli.desk", "Start the next issue file from the newest one."),
    "add": ("digest.cli.desk", "Fetch web pages and add them to an issue as articles."),
    "check": ("digest.cli.desk", "The pre-send check: links, content, compliance (exit 6)."),
    "preview": ("digest.cli.desk", "Serve a live preview: desktop, phone, dark, plaintext."),
    "build": ("digest.cli.build", "Render an issue file into HTML, text and .eml files."),
    "import-text": ("digest.cli.build", "Turn a plain listing of articles into an issue file."),
    "import-feed": ("digest.cli.feed", "Turn a feed's recent items into an issue file."),
    "schema": ("digest.cli.build", "Print the JSON Schema of issue files."),
    "providers": ("digest.cli.providers", "List delivery providers and what each needs."),
    "send": ("digest.cli.send", "Send an issue: to the list, or a test to --to addresses."),
    "send-due": ("digest.cli.send", "Send every issue whose send_at has passed (for cron)."),
    "status": (
        "digest.cli.send",
        "Show where a send stands: counts by state, failures, a job running.",
    ),
    "retry": ("digest.cli.send", "Send again to failed recipients (retryable, or chosen)."),
    "suppress": ("digest.cli.send", "Add addresses to the suppression list, or remove them."),
    "ledger": ("digest.cli.ledger", "Back up the send ledger (SQLite's online backup)."),
    "subscribers": (
        "digest.cli.subscribers",
        "Readers who joined: list, add, import, export, forget, stats.",
    ),
    "serve": ("digest.cli.serve", "Serve unsubscribe links, provider webhooks and the archive."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = import_module(COMMANDS[cmd_name][0])
        command: click.Command = getattr(module, cmd_name.replace("-", "_"))
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Turn a DigestError into its message and exit status: no traceback for user mistakes.

        With ``--log-format json`` the error is one more JSON line on standard output, where
        the run's other lines go, so a cron log stays one JSON object a line.
        """
        try:
            return super().invoke(ctx)
        except DigestError as e:
            if ctx.meta.get(JSON_ERRORS):
                _json_error(str(e), e.exit_code)
            else:
                click.echo(f"error: {e}", err=True)
            ctx.exit(e.exit_code)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _json_error(message: str, exit_code: int) -> None:
    import json
    from datetime import UTC, datetime

    line = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "level": "error",
        "event": "error",
        "message": message,
        "exit_status": exit_code,
    }
    click.echo(json.dumps(line, ensure_ascii=False))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="digest")
def cli() -> None:
    """digest: turn an editor's pick of articles into a weekly newsletter, and send it."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: a DigestError becomes its message and exit status, never a traceback.

    A command may return an int: that is the exit status (the send job's partial-failure
    code, for one).
    """
    try:
        rv: Any = cli.main(args=argv, prog_name="digest", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except DigestError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except sqlite3.Error as e:  # a ledger failure the ledger's own mapping did not see
        from ..sending.ledger import ledger_error

        click.echo(f"error: {ledger_error(Path('[sending] ledger'), e)}", err=True)
        sys.exit(EXIT_LEDGER)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(rv if isinstance(rv, int) else 0)
