"""Finding an issue file from what a person types: a path, a slug or an issue number.

Every command that takes an issue goes through :func:`resolve_issue`, so ``digest send
issue-13``, ``digest retry 13`` and ``digest status issues/2026-12-04-013.yaml`` all name
the same file. Files in ``[sending] issues_dir`` may be named by date; only their ``slug``
(default ``issue-NUMBER``) and ``number`` count.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import InputError

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["ISSUE_SUFFIXES", "issue_files", "issue_slug", "resolve_issue"]

ISSUE_SUFFIXES = (".yaml", ".yml")


def issue_files(folder: Path) -> list[Path]:
    """The issue files of ``folder``, sorted by name (none if it is not a folder)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in ISSUE_SUFFIXES and p.is_file())


def _names(path: Path) -> tuple[str | None, int | None]:
    """The slug and number a file declares (without validating the rest of it)."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    number = data.get("number")
    number = number if isinstance(number, int) and not isinstance(number, bool) else None
    slug = data.get("slug")
    if not isinstance(slug, str) or not slug:
        slug = f"issue-{number}" if number is not None else None
    return slug, number


def resolve_issue(arg: str | Path, settings: Settings) -> Path:
    """The issue file ``arg`` names: an existing path, or that path plus ``.yaml``, else a
    slug (``issue-13``) or a number (``13``) looked up in ``[sending] issues_dir``.

    InputError (exit 3) when none or several files match, naming where it looked.
    """
    given = Path(arg)
    if given.is_file():
        return given
    text = str(arg).strip()
    for suffix in ISSUE_SUFFIXES:
        if given.suffix not in ISSUE_SUFFIXES and (here := Path(text + suffix)).is_file():
            return here
    folder = settings.path(settings.sending.issues_dir)
    number = int(text) if text.isdigit() else None
    matches, unread = [], []
    for path in issue_files(folder):
        slug, num = _names(path)
        if slug is None and num is None:
            unread.append(str(path))
        if slug == text or (number is not None and num == number) or path.stem == text:
            matches.append(path)
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
    broken = (
        f" These files in it have no readable number, so could not be checked: "
        f"{', '.join(unread)} (`digest build FILE` shows what is wrong)."
        if unread
        else ""
    )
    raise InputError(
        f"No issue {text!r}: no such file, and no issue file in {folder} "
        "([sending] issues_dir) has that slug or number. Give the issue file's path, "
        f"its slug (issue-13) or its number (13).{broken}"
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
