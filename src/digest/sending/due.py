"""``digest send-due``: send every scheduled issue whose time has come, for cron and timers.

Looks at every ``*.yaml`` / ``*.yml`` file in ``[issues] dir`` (default ``issues/``;
never ``sample_issues/``). An issue is due when its ``send_at`` has passed and its send is
not finished (nothing pending, no retryable failure, at least one recipient). An issue
overdue by more than ``[sending] max_overdue_hours`` (default 24) is skipped with a warning
instead of mailing a stale issue; send it by hand with ``digest send`` if it should still go.

The whole run holds the job lock, so a second ``send-due`` that starts while the first is
still sending exits at once with status 4 and sends nothing; the next timer tick picks up
whatever is left. Each message therefore goes out once, however the runs overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EXIT_PARTIAL, DigestError, InputError
from ..sources.locate import issue_files
from ..text import plural, shown
from .job import Prepared, SendReport, ledger_path, prepare_loaded, recipients_path, run_send
from .ledger import Ledger
from .lock import JobLock, lock_path
from .report import Reporter

if TYPE_CHECKING:
    from ..config import Settings
    from ..model import Issue
    from ..render import Rendered

__all__ = ["DueResult", "due_exit_code", "due_files", "send_due"]


@dataclass
class DueResult:
    """What ``send-due`` did with one issue file."""

    path: Path
    action: str
    """sent, partial, unscheduled, not-yet, finished, overdue, error, or due (not yet sent)."""
    issue_id: str = ""
    message: str = ""
    report: SendReport | None = None
    exit_code: int = 0


def due_files(settings: Settings) -> list[Path]:
    return issue_files(settings.issues_dir)


def _when(moment: datetime, now: datetime) -> str:
    """``send_at`` as the person wrote it, and how far off it is ("in 2 days 3 hours")."""
    left = int((moment - now).total_seconds())
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = max(1, rest // 60) if not (days or hours) else rest // 60
    parts = [plural(days, "day") if days else "", plural(hours, "hour") if hours else ""]
    if not days:
        parts.append(plural(minutes, "minute") if minutes else "")
    return f"{moment.isoformat()} (in {' '.join(p for p in parts if p)})"


def _scan(
    settings: Settings, files: list[Path], moment: datetime, results: list[DueResult]
) -> list[tuple[DueResult, Issue]]:
    """Read every issue file first; return the scheduled ones whose time has come.

    Two files with one slug are both refused before anything is sent: which one the
    editor meant is theirs to say.
    """
    from ..sources import load_issue

    loaded: list[tuple[DueResult, Issue]] = []
    by_slug: dict[str, list[Path]] = {}
    for path in files:
        result = DueResult(path, "error")
        results.append(result)
        try:
            issue = load_issue(path)
        except DigestError as e:
            result.message, result.exit_code = str(e), e.exit_code
            continue
        result.issue_id = issue.slug
        by_slug.setdefault(issue.slug, []).append(path)
        loaded.append((result, issue))
    due: list[tuple[DueResult, Issue]] = []
    for result, issue in loaded:
        clash = by_slug[issue.slug]
        if len(clash) > 1:
            others = ", ".join(str(p) for p in clash if p != result.path)
            result.message = (
                f"{result.path}: its slug {issue.slug!r} is also that of {others}; nothing "
                "of either was sent. Give each issue its own number (or slug)."
            )
            result.exit_code = InputError.exit_code
        elif issue.send_at is None:
            result.action = "unscheduled"
            result.message = f"{result.path}: {issue.slug} has no send_at; send it by hand."
        elif issue.send_at > moment:
            result.action = "not-yet"
            result.message = f"{issue.slug}: not yet due: due at {_when(issue.send_at, moment)}."
        else:
            result.action = "due"
            due.append((result, issue))
    return due


def send_due(
    settings: Settings,
    *,
    recipients: Path | str | None = None,
    now: datetime | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    gate: Callable[[Path], Rendered | None] | None = None,
) -> list[DueResult]:
    """Send each due issue in turn under one lock; returns one result per issue file.

    The whole folder is read and checked first; the ledger is opened only when an issue
    is due and its send passed the same checks as ``digest send``.

    ``gate`` (the pre-send check) runs on each due issue before it is sent; a DigestError
    it raises marks that issue an error and the run goes on to the next. When it returns
    the rendering it checked, of the same issue, the send uses it instead of rendering
    again.
    """
    from ..delivery.base import get_provider
    from ..render import Rendered as _Rendered
    from .preflight import preflight

    rep = reporter or Reporter()
    moment = now or datetime.now(UTC)
    limit = timedelta(hours=settings.sending.max_overdue_hours)
    results: list[DueResult] = []
    files = due_files(settings)
    folder = settings.issues_dir
    if not files:
        rep.info(f"{folder}: no issue files; nothing to do.", event="due_none")
        return results
    due = _scan(settings, files, moment, results)
    for result in results:
        if result.action == "error":
            rep.error(result.message, event="issue_error")
    if not due:
        return results
    ledger_file = ledger_path(settings)
    with JobLock(lock_path(settings)):
        provider = None
        try:
            for result, issue in due:
                path = result.path
                try:
                    row = None
                    if ledger_file.exists():
                        with Ledger(ledger_file) as ledger:
                            row = ledger.issue(issue.slug)
                    if row is not None and row.finished_at is not None:
                        subject = issue.subject_for(
                            issue.newsletter or settings.newsletter.name,
                            settings.newsletter.subject,
                        )
                        if row.subject != subject:
                            raise InputError(
                                f"{path}: an issue with the slug {issue.slug!r} was already sent "
                                f"(subject '{shown(row.subject)}'); this one is another issue. "
                                "Give it its own number (or slug)."
                            )
                        result.action = "finished"
                        result.message = f"{issue.slug}: finished; nothing left to send."
                        continue
                    assert issue.send_at is not None
                    if moment - issue.send_at > limit:
                        result.action = "overdue"
                        started = "" if row is None else " (its send had started)"
                        result.message = (
                            f"{path}: {issue.slug} was due at {issue.send_at}, more "
                            f"than {settings.sending.max_overdue_hours:g} hours ago{started}; "
                            "skipped rather than mailing a stale issue. Send it with "
                            "`digest send` if it should still go."
                        )
                        rep.warning(result.message, event="overdue", issue=issue.slug)
                        continue
                    checked = gate(path) if gate is not None else None
                    if isinstance(checked, _Rendered) and checked.issue == issue:
                        prepared = Prepared.of(checked)
                    else:
                        prepared = prepare_loaded(settings, issue)
                    csv_path = recipients_path(settings, recipients)
                    for finding in preflight(
                        settings, prepared, settings.delivery.provider, csv_path
                    ):
                        rep.warning(str(finding), event="compliance", code=finding.code)
                    if provider is None:
                        provider = get_provider(settings)
                    rep.info(f"{path}: {issue.slug} is due; sending.", event="due")
                    with Ledger(ledger_file) as ledger:
                        report = run_send(
                            settings,
                            prepared,
                            ledger,
                            provider,
                            recipients=csv_path,
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
