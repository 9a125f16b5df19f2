"""Finding an issue file from what a person types: a path, a slug or an issue number.

Every command that takes an issue (``add``, ``check``, ``preview``, ``send``, ``status``,
``retry``) goes through :func:`resolve_issue`, so ``digest check issue-13``, ``digest
retry 13`` and ``digest status issues/2026-12-04-013.yaml`` all name the same file. Given
nothing, it is the newest file in ``[issues] dir`` (by date, then number). Files may be
named by date; only their ``slug`` (default ``issue-NUMBER``), ``number`` and stem count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, IssueFileError
from .issue_file import read_issue_yaml

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "ISSUE_SUFFIXES",
    "IssueFileInfo",
    "issue_files",
    "issue_infos",
    "issue_slug",
    "newest_issue_file",
    "resolve_issue",
]

ISSUE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class IssueFileInfo:
    """What a quick read of an issue file says about it (nothing validated)."""

    path: Path
    number: int | None
    date: str | None
    slug: str | None

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.date or "", self.number or 0, self.path.name)


def _peek(path: Path) -> IssueFileInfo:
    """Number, date and slug if the file reads as issue YAML; None for what it does not say
    (a file that does not read, deep nesting and anchors included, is an unreadable one)."""
    data: Any
    try:
        _, data = read_issue_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, IssueFileError):
        data = None
    if not isinstance(data, dict):
        return IssueFileInfo(path, None, None, None)
    number = data.get("number")
    number = number if isinstance(number, int) and not isinstance(number, bool) else None
    try:  # text: the issue loader leaves dates for the model, which takes only ISO ones
        when_text: str | None = Date.fromisoformat(str(data.get("date"))[:10]).isoformat()
    except ValueError:
        when_text = None
    slug = data.get("slug")
    if not isinstance(slug, str) or not slug:
        slug = f"issue-{number}" if number is not None else None
    return IssueFileInfo(path, number, when_text, slug)


def issue_files(folder: Path) -> list[Path]:
    """The issue files of ``folder``, sorted by name (none if it is not a folder)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in ISSUE_SUFFIXES and p.is_file())


def issue_infos(folder: Path) -> list[IssueFileInfo]:
    """The issue files in ``folder``, oldest first (by date, then number, then name)."""
    return sorted((_peek(p) for p in issue_files(folder)), key=lambda info: info.sort_key)


def newest_issue_file(folder: Path) -> Path | None:
    infos = issue_infos(folder)
    return infos[-1].path if infos else None


def resolve_issue(arg: str | Path | None, settings: Settings) -> Path:
    """The issue file ``arg`` names: an existing path (or that path plus ``.yaml``), else a
    slug (``issue-13``), a number (``13``) or a file stem looked up in ``[issues] dir``;
    with nothing given, the newest file there. InputError (exit 3) when none or several
    files match, naming the folder."""
    folder = settings.issues_dir
    if arg is None or not str(arg).strip():
        newest = newest_issue_file(folder)
        if newest is None:
            raise InputError(
                f"{folder}: no issue files yet. Start one with `digest new`, or give a file."
            )
        return newest
    given = Path(arg)
    if given.is_file():
        return given
    text = str(arg).strip()
    for suffix in ISSUE_SUFFIXES:
        if given.suffix not in ISSUE_SUFFIXES and (here := Path(text + suffix)).is_file():
            return here
    number = int(text) if text.isdigit() else None
    infos = issue_infos(folder)
    matches = [
        info.path
        for info in infos
        if text in (info.slug, info.path.stem) or (number is not None and info.number == number)
    ]
    unread = [str(info.path) for info in infos if info.slug is None and info.number is None]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(str(p) for p in matches)
        raise InputError(
            f"{text!r} matches {len(matches)} issue files in {folder}: {listed}. "
            "Give the file's path, or give each issue its own number."
        )
    if given.suffix in ISSUE_SUFFIXES or "/" in text:
        raise InputError(f"{given}: no such issue file.")
    known = ", ".join(p.name for p in issue_files(folder)) or "none"
    broken = (
        f" These files there have no readable number, so could not be checked: "
        f"{', '.join(unread)} (`digest check FILE` shows what is wrong)."
        if unread
        else ""
    )
    raise InputError(
        f"No issue {text!r}: no such file, and no issue file in {folder} ([issues] dir, "
        f"formerly [sending] issues_dir) has that slug or number (files there: {known}). "
        f"Give the issue file's path, its slug (issue-13) or its number (13).{broken}"
    )


def issue_slug(arg: str | Path, settings: Settings) -> str:
    """The slug ``arg`` names, for commands that need only the ledger's record (``status``):
    the slug of the file it resolves to, else ``arg`` itself (``13`` read as ``issue-13``),
    so an issue whose file is gone can still be looked up."""
    try:
        path = resolve_issue(arg, settings)
    except InputError:
        text = str(arg).strip()
        return f"issue-{text}" if text.isdigit() else text
    from . import load_issue

    return load_issue(path).slug
