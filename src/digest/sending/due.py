"""``digest send-due``: send every scheduled issue whose time has come, for cron and timers.

Looks at every ``*.yaml`` / ``*.yml`` file in ``[sending] issues_dir`` (default ``issues/``;
never ``sample_issues/``). An issue is due when its ``send_at`` has passed and its send is
not finished (nothing pending, no retryable failure, at least one recipient). An issue
overdue by more than ``[sending] max_overdue_hours`` (default 24) is skipped with a warning
instead of mailing a stale issue; send it by hand with ``digest send`` if it should still go.

The whole run holds the job lock, so a second ``send-due`` that starts while the first is
still sending exits at once with status 4 and sends nothing; the next timer tick picks up
whatever is left. Each message therefore goes out once, however the runs overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EXIT_PARTIAL, DigestError, InputError
from .job import SendReport, ledger_path, prepare_loaded, recipients_path, run_send
from .ledger import Ledger
from .lock import JobLock, lock_path
from .report import Reporter

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["DueResult", "due_exit_code", "due_files", "send_due"]


@dataclass
class DueResult:
    """What ``send-due`` did with one issue file."""

    path: Path
    action: str
    """sent, partial, unscheduled, not-yet, finished, overdue or error."""
    issue_id: str = ""
    message: str = ""
    report: SendReport | None = None
    exit_code: int = 0


def due_files(settings: Settings) -> list[Path]:
    folder = settings.path(settings.sending.issues_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def send_due(
    settings: Settings,
    *,
    recipients: Path | str | None = None,
    now: datetime | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
) -> list[DueResult]:
    """Send each due issue in turn under one lock; returns one result per issue file."""
    from ..delivery.base import get_provider
    from ..sources import load_issue

    rep = reporter or Reporter()
    moment = now or datetime.now(UTC)
    limit = timedelta(hours=settings.sending.max_overdue_hours)
    results: list[DueResult] = []
    files = due_files(settings)
    folder = settings.path(settings.sending.issues_dir)
    if not files:
        rep.info(f"{folder}: no issue files; nothing to do.", event="due_none")
        return results
    with JobLock(lock_path(settings)), Ledger(ledger_path(settings)) as ledger:
        provider = None
        seen: dict[str, Path] = {}
        try:
            for path in files:
                result = DueResult(path, "error")
                results.append(result)
                try:
                    issue = load_issue(path)
                    result.issue_id = issue.slug
                    if issue.send_at is None:
                        result.action = "unscheduled"
                        continue
                    if issue.send_at > moment:
                        result.action = "not-yet"
                        continue
                    if issue.slug in seen:
                        raise InputError(
                            f"{path}: its slug {issue.slug!r} is also {seen[issue.slug]}'s; "
                            "give each issue its own number (or slug)."
                        )
                    seen[issue.slug] = path
                    row = ledger.issue(issue.slug)
                    if row is not None and row.finished_at is not None:
                        subject = issue.subject_for(
                            issue.newsletter or settings.newsletter.name,
                            settings.newsletter.subject,
                        )
                        if row.subject != subject:
                            raise InputError(
                                f"{path}: an issue with the slug {issue.slug!r} was already sent "
                                f"(subject {row.subject!r}); this one is another issue. Give it "
                                "its own number (or slug)."
                            )
                        result.action = "finished"
                        continue
                    if moment - issue.send_at > limit:
                        result.action = "overdue"
                        started = "" if row is None else " (its send had started)"
                        result.message = (
                            f"{path}: {issue.slug} was due at {issue.send_at.isoformat()}, more "
                            f"than {settings.sending.max_overdue_hours:g} hours ago{started}; "
                            "skipped rather than mailing a stale issue. Send it with "
                            "`digest send` if it should still go."
                        )
                        rep.warning(result.message, event="overdue", issue=issue.slug)
                        continue
                    prepared = prepare_loaded(settings, issue)
                    if provider is None:
                        provider = get_provider(settings)
                    rep.info(f"{path}: {issue.slug} is due; sending.", event="due")
                    report = run_send(
                        settings,
                        prepared,
                        ledger,
                        provider,
                        recipients=recipients_path(settings, recipients),
                        force=force,
                        reporter=rep,
                    )
                    result.report = report
                    result.exit_code = report.exit_code
                    result.action = "sent" if report.exit_code == 0 else "partial"
                    if report.interrupted:
                        break
                except DigestError as e:
                    result.action = "error"
                    result.message = str(e)
                    result.exit_code = e.exit_code
                    rep.error(f"{path}: {e}", event="issue_error")
        finally:
            if provider is not None:
                provider.close()
    return results


def due_exit_code(results: list[DueResult]) -> int:
    """The worst status of the run: config/input (3) or changed (5) over partial (1)."""
    codes = [r.exit_code for r in results if r.exit_code]
    if not codes:
        return 0
    non_partial = [c for c in codes if c != EXIT_PARTIAL]
    return max(non_partial) if non_partial else EXIT_PARTIAL
