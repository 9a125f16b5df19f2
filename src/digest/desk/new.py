"""``digest new`` and ``digest init``: the next issue file, and a new newsletter folder.

``new`` reads the newest issue in the issues folder and writes the one after it: number + 1,
date and ``send_at`` one cadence later (``[issues] cadence_days``, weekly by default), the
same newsletter, language and section order, an empty intro and no articles yet. Files are
named ``YYYY-MM-DD-NNN.yaml`` so they sort by date. Nothing is ever overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..errors import InputError
from ..sources.issue_file import load_issue, write_issue_file
from ..sources.locate import newest_issue_file

if TYPE_CHECKING:
    from ..config import Settings
    from ..model import Issue

__all__ = ["InitResult", "init_newsletter", "new_issue", "next_issue_text"]


def _scalar(value: str) -> str:
    """One YAML scalar on one line, quoted only when it must be."""
    dumped: str = yaml.safe_dump(value, allow_unicode=True, width=10_000)
    return dumped.removesuffix("\n...\n").strip()


def _section_order(issue: Issue) -> list[str]:
    if issue.sections is not None:
        return list(issue.sections)
    names: list[str] = []
    for a in issue.articles:
        if a.section and a.section not in names:
            names.append(a.section)
    return names


def next_issue_text(
    previous: Issue | None,
    *,
    cadence_days: int,
    when: Date | None = None,
    schema_line: str | None = None,
    today: Date | None = None,
) -> tuple[int, Date, str]:
    """Number, date and file text of the issue after ``previous`` (the first if None)."""
    lines: list[str] = []
    if schema_line:
        lines.append(schema_line)
    if previous is None:
        number, day = 1, when or today or Date.today()
        send_at: datetime | None = None
    else:
        number = previous.number + 1
        day = when or previous.date + timedelta(days=cadence_days)
        send_at = None
        if previous.send_at is not None:
            send_at = previous.send_at + (day - previous.date)
    lines += [
        f"# Issue {number}, started with `digest new`. Add articles with `digest add URL`,",
        "# watch it with `digest preview`, and run `digest check` before sending.",
    ]
    if previous is not None and previous.newsletter:
        lines.append(f"newsletter: {_scalar(previous.newsletter)}")
    lines += [f"number: {number}", f"date: {day.isoformat()}"]
    if send_at is not None:
        lines.append(f"send_at: {send_at.isoformat()}")
    if previous is not None:
        if previous.lang:
            lines.append(f"lang: {_scalar(previous.lang)}")
        if previous.dir:
            lines.append(f"dir: {previous.dir}")
        sections = _section_order(previous)
        if sections:
            lines.append("sections:")
            lines += [f"- {_scalar(name)}" for name in sections]
    lines += [
        "intro:  # your note to readers; light Markdown",
        "articles: []",
    ]
    return number, day, "\n".join(lines) + "\n"


def _schema_line(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline().rstrip("\n")
    except (OSError, UnicodeDecodeError):
        return None
    return first if first.startswith("# yaml-language-server:") else None


def new_issue(settings: Settings, *, when: Date | None = None, today: Date | None = None) -> Path:
    """Write the next issue file into the issues folder and return its path."""
    folder = settings.issues_dir
    newest = newest_issue_file(folder)
    previous = load_issue(newest) if newest is not None else None
    number, day, text = next_issue_text(
        previous,
        cadence_days=settings.issues.cadence_days,
        when=when,
        schema_line=_schema_line(newest) if newest is not None else None,
        today=today,
    )
    if previous is not None and day < previous.date:
        raise InputError(
            f"--date {day.isoformat()} is before the newest issue's date "
            f"({previous.date.isoformat()}, {newest})"
        )
    target = folder / f"{day.isoformat()}-{number:03d}.yaml"
    return write_issue_file(target, text, refusal="digest new never overwrites an issue file")


CONFIG_TEMPLATE = """\
# digest.toml: the settings of one newsletter. Every key is optional; `digest --help` and
# the README's configuration table list them all. Secrets (API keys, DIGEST_SECRET) never
# go here: they come from the environment.

[newsletter]
name = {name}
# the From address, "Name <address>"
from = {sender}
# reply_to = "editors@example.org"
# postal_address = "PO Box 1234, Springfield"   # required by CAN-SPAM; `digest check` asks
# website = "https://example.org/"
# logo = "https://example.org/logo.png"
lang = "en"

[issues]
dir = "issues"                       # where issue files live; `digest new` writes here
cadence_days = 7                     # weekly: `digest new` dates the next issue 7 days on
# summary_max = 400                  # `digest check` warns about longer summaries

[links]
# https, with {{token}}: required before a real send
# unsubscribe_url = "https://example.org/unsubscribe/{{token}}"
# view_online_url = "https://example.org/issues/{{slug}}"
# utm = {{ source = "newsletter", medium = "email", campaign = "{{slug}}" }}

[delivery]
provider = "file"                    # .eml files into outbox/; `digest providers` lists all

[audience]
# recipients = "subscribers.csv"     # email, optional name, any other column a merge field
"""


@dataclass(frozen=True)
class InitResult:
    created: list[Path]
    kept: list[Path]


def init_newsletter(
    folder: Path, *, name: str = "My Newsletter", sender: str | None = None
) -> InitResult:
    """A commented ``digest.toml``, the issues folder and a first draft; keeps what exists."""
    from ..config import load_settings

    created: list[Path] = []
    kept: list[Path] = []
    config = folder / "digest.toml"
    if config.exists():
        kept.append(config)
    else:
        text = CONFIG_TEMPLATE.format(
            name=_toml_string(name),
            sender=_toml_string(sender or f"{name} <newsletter@example.org>"),
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with config.open("x", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise InputError(f"{config}: cannot write it: {e.strerror or e}") from None
        created.append(config)
    settings = load_settings(config)
    issues = settings.issues_dir
    if newest_issue_file(issues) is None:
        created.append(new_issue(settings))
    else:
        kept.append(issues)
    return InitResult(created, kept)


def _toml_string(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
