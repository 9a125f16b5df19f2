"""Finding an issue file: a path, a slug or an issue number, else the newest in the folder.

Every command that takes ``--issue FILE`` (``add``, ``check``, ``preview``, ``send``,
``status``, ``retry``) resolves it here, so they all accept the same three forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import InputError

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["IssueFileInfo", "issue_files", "newest_issue_file", "resolve_issue"]

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class IssueFileInfo:
    """What a quick read of an issue file says about it (no validation)."""

    path: Path
    number: int | None
    date: str | None
    slug: str | None

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.date or "", self.number or 0, self.path.name)


def _peek(path: Path) -> IssueFileInfo:
    """Number, date and slug if the file reads as YAML; None for what it does not say."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    if not isinstance(data, dict):
        return IssueFileInfo(path, None, None, None)
    number = data.get("number")
    number = number if isinstance(number, int) and not isinstance(number, bool) else None
    when = data.get("date")
    when_text = when.isoformat() if isinstance(when, Date) else str(when) if when else None
    slug = data.get("slug")
    if not isinstance(slug, str) or not slug:
        slug = f"issue-{number}" if number is not None else None
    return IssueFileInfo(path, number, when_text, slug)


def issue_files(folder: Path) -> list[IssueFileInfo]:
    """The issue files in ``folder``, oldest first (by date, then number, then name)."""
    if not folder.is_dir():
        return []
    found = [_peek(p) for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()]
    return sorted(found, key=lambda info: info.sort_key)


def newest_issue_file(folder: Path) -> Path | None:
    files = issue_files(folder)
    return files[-1].path if files else None


def resolve_issue(settings: Settings, given: str | Path | None) -> Path:
    """The issue file ``given`` names: a path, a slug (``issue-13``) or a number (``13``).

    With nothing given, the newest file in ``[issues] dir``. An InputError says what the
    folder holds when nothing matches.
    """
    folder = settings.issues_dir
    if given is None or str(given) == "":
        newest = newest_issue_file(folder)
        if newest is None:
            raise InputError(
                f"{folder}: no issue files yet. Start one with `digest new`, or name a file."
            )
        return newest
    text = str(given)
    path = Path(text)
    if path.is_file():
        return path
    if path.suffix in SUFFIXES or "/" in text:
        raise InputError(f"{path}: no such issue file")
    files = issue_files(folder)
    if text.isdigit():
        matches = [f.path for f in files if f.number == int(text)]
        what = f"issue number {text}"
    else:
        matches = [f.path for f in files if text in (f.slug, f.path.stem)]
        what = f"an issue {text!r}"
    if len(matches) > 1:
        names = ", ".join(str(m) for m in matches)
        raise InputError(f"{folder}: {what} is in more than one file ({names}); name the file.")
    if not matches:
        known = ", ".join(f.path.name for f in files) or "no issue files"
        raise InputError(f"{folder}: no file for {what} (the folder has {known}).")
    return matches[0]
