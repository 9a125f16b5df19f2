"""How a send job tells a person what it is doing: a progress bar, text lines or JSON lines.

The job calls a :class:`Reporter`; the CLI picks one: :class:`RichReporter` (a ``rich``
progress bar with messages, rate and ETA) when stdout is a terminal, :class:`TextReporter`
(one plain line per event) when it is not, :class:`JsonReporter` (one JSON object a line)
with ``--log-format json``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from ..text import plural

__all__ = ["JsonReporter", "Reporter", "RichReporter", "TextReporter", "make_reporter"]


class Reporter:
    """Receives the job's events; this base ignores them all."""

    def event(self, kind: str, message: str, **data: Any) -> None:
        """A log line: ``kind`` is info, warning or error."""

    def info(self, message: str, **data: Any) -> None:
        self.event("info", message, **data)

    def warning(self, message: str, **data: Any) -> None:
        self.event("warning", message, **data)

    def error(self, message: str, **data: Any) -> None:
        self.event("error", message, **data)

    def progress_start(self, issue_id: str, total: int) -> None:
        """Sending begins: ``total`` messages to go in this run."""

    def progress(self, sent: int, failed: int) -> None:
        """One batch came back: ``sent`` and ``failed`` more messages."""

    def progress_end(self) -> None:
        """Sending stopped (finished or interrupted)."""


class TextReporter(Reporter):
    """Plain lines, one per event, with a progress line every batch (for logs and cron)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.total = self.done = self.sent = self.failed = 0
        self.started = time.monotonic()

    def _line(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.stream.write(f"{stamp} {text}\n")
        self.stream.flush()

    def event(self, kind: str, message: str, **data: Any) -> None:
        self._line(message if kind == "info" else f"{kind}: {message}")

    def progress_start(self, issue_id: str, total: int) -> None:
        self._restart(total)
        self._line(f"sending {issue_id}: {plural(total, 'message')}")

    def progress(self, sent: int, failed: int) -> None:
        rate, eta = self._advance(sent, failed)
        self._line(
            f"progress {self.done}/{self.total} sent={self.sent} failed={self.failed} "
            f"rate={rate:.1f}/s eta={eta or 0.0:.0f}s"
        )

    def _restart(self, total: int) -> None:
        self.total, self.started = total, time.monotonic()
        self.done = self.sent = self.failed = 0

    def _advance(self, sent: int, failed: int) -> tuple[float, float | None]:
        """Count a batch's results; returns (messages a second so far, seconds left or None)."""
        self.sent += sent
        self.failed += failed
        self.done += sent + failed
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        return rate, ((self.total - self.done) / rate if rate else None)


class JsonReporter(TextReporter):
    """One JSON object per line: ``{"time", "level", "event", "message", ...}``."""

    def _emit(self, obj: dict[str, Any]) -> None:
        obj = {"time": datetime.now(UTC).isoformat(timespec="seconds"), **obj}
        self.stream.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        self.stream.flush()

    def event(self, kind: str, message: str, **data: Any) -> None:
        self._emit({"level": kind, "event": data.pop("event", "log"), "message": message, **data})

    def progress_start(self, issue_id: str, total: int) -> None:
        self._restart(total)
        self._emit({"level": "info", "event": "start", "issue": issue_id, "total": total})

    def progress(self, sent: int, failed: int) -> None:
        rate, eta = self._advance(sent, failed)
        self._emit(
            {
                "level": "info",
                "event": "progress",
                "done": self.done,
                "total": self.total,
                "sent": self.sent,
                "failed": self.failed,
                "rate": round(rate, 2),
                "eta_seconds": None if eta is None else round(eta, 1),
            }
        )


class RichReporter(Reporter):
    """A ``rich`` progress bar (messages, rate, ETA) with log lines printed above it."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console()
        self._progress: Any = None
        self._task: Any = None

    def event(self, kind: str, message: str, **data: Any) -> None:
        style = {"warning": "yellow", "error": "bold red"}.get(kind)
        prefix = "" if kind == "info" else f"{kind}: "
        self.console.print(f"{prefix}{message}", style=style, markup=False, highlight=False)

    def progress_start(self, issue_id: str, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("failed {task.fields[failed]}"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._progress.start()
        self._task = self._progress.add_task(issue_id, total=total, rate="", failed=0)
        self._started = time.monotonic()
        self._done = 0
        self._failed = 0

    def progress(self, sent: int, failed: int) -> None:
        if self._progress is None:
            return
        self._done += sent + failed
        self._failed += failed
        rate = self._done / max(time.monotonic() - self._started, 1e-6)
        self._progress.update(
            self._task, advance=sent + failed, rate=f"{rate:.1f} msg/s", failed=self._failed
        )

    def progress_end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def make_reporter(log_format: str = "auto", stream: TextIO | None = None) -> Reporter:
    """``auto``: a progress bar on a terminal, plain lines otherwise; or ``text`` / ``json``."""
    out = stream or sys.stdout
    if log_format == "json":
        return JsonReporter(out)
    if log_format == "auto" and out.isatty():
        return RichReporter()
    return TextReporter(out)
