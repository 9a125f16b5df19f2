"""Options several commands share, defined once so they read and behave the same."""

from __future__ import annotations

from pathlib import Path

import click

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: $DIGEST_CONFIG, else ./digest.toml if present, else defaults).",
)

output_option = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the issue file here (default: standard output).",
)

number_option = click.option(
    "--number",
    type=click.IntRange(min=1),
    required=True,
    help="Issue number (it names the issue: issue-NUMBER).",
)

force_option = click.option("--force", is_flag=True, help="Replace the output file if it exists.")

date_option = click.option(
    "--date",
    "issue_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Issue date, YYYY-MM-DD (default: today).",
)

issue_argument = click.argument("issue", metavar="ISSUE")
"""An issue: its file's path, its slug (issue-13) or its number (13), looked up in
[sending] issues_dir (``digest.resolve_issue``)."""
