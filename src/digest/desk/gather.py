"""A feed's recent items into an issue that already exists (``import-feed --issue``).

Links already in the issue (compared without tracking parameters) are skipped, the rest
appended the way ``digest add`` appends: the editor's file is otherwise left as written.
Each item was checked as an article when the feed was read, so a bad one is skipped with a
warning naming it in the feed, never reported as a line of the edited file.
``--since last`` means "since the previous issue's date".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..sources.feed import feed_article, feed_since, read_feed, select_items
from ..sources.locate import issue_infos
from .issuefile import read_issue_text
from .urls import page_key

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["FeedIntoIssue", "import_feed_into", "previous_issue_date", "since_cutoff"]


@dataclass
class FeedIntoIssue:
    path: Path
    added: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def previous_issue_date(settings: Settings, current: Path | None) -> datetime:
    """Midnight UTC of the issue before ``current`` in the issues folder (else the newest)."""
    files = issue_infos(settings.issues_dir)
    if current is not None:
        here = current.resolve()
        at = next((i for i, f in enumerate(files) if f.path.resolve() == here), len(files))
        files = files[:at]
    dated = [f for f in files if f.date]
    if not dated:
        raise InputError(
            f"--since last: no earlier issue with a date in {settings.issues_dir}; "
            "give --since DATE or --days N"
        )
    day = datetime.fromisoformat(str(dated[-1].date)[:10])
    return day.replace(tzinfo=UTC)


def since_cutoff(
    settings: Settings, since: str | None, days: int | None, current: Path | None
) -> datetime | None:
    if since is not None and since.strip().lower() == "last":
        if days is not None:
            raise InputError("give --since or --days, not both")
        return previous_issue_date(settings, current)
    return feed_since(since, days)


def import_feed_into(
    settings: Settings,
    issue_path: Path,
    source: str,
    *,
    since: str | None = None,
    days: int | None = None,
    limit: int = 12,
    section_from_category: bool = False,
) -> FeedIntoIssue:
    """Append the feed's recent items to the issue file, skipping links already there."""
    doc = read_issue_text(issue_path)
    have = {page_key(u) for u in doc.urls()}
    cutoff = since_cutoff(settings, since, days, issue_path)
    feed = read_feed(source)
    chosen, dropped = select_items(feed, since=cutoff, limit=limit)
    result = FeedIntoIssue(issue_path, warnings=[*feed.warnings, *dropped])
    for item in chosen:
        key = page_key(item.url)
        if key in have:
            result.skipped.append(item.url)
            continue
        have.add(key)
        result.added.append(feed_article(item, section_from_category))
    if result.added:
        doc.append_articles(result.added)
        doc.save()
    return result
