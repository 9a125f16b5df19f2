"""``--dry-run``: the send plan, computed exactly as a send would, and nothing sent.

The recipients go through the same streaming, validation and SQLite deduplication, in a
scratch ledger in a temporary folder; the real ledger is only read (its suppression list
and what this issue already sent). Then: batches by the provider's limit, the ETA at the
configured rate, and compliance warnings.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..message import PLACEHOLDER_RE
from .audience import AudienceCounts, load_audience
from .compliance import compliance_findings
from .job import Prepared, ledger_path
from .ledger import Ledger
from .pace import eta_seconds, paced_batch_size
from .report import Reporter

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["SendPlan", "compliance_warnings", "plan_send"]

_CHUNK = 5000


@dataclass
class SendPlan(AudienceCounts):
    """What a send would do now; the audience counted as :func:`load_audience` counts it."""

    issue_id: str
    subject: str
    provider: str
    idempotent: bool
    idempotency_window: float | None = None
    """Seconds a resumed call may still repeat its key (None: no limit)."""
    reconciles: bool = False
    already_done: int = 0
    to_send: int = 0
    batch_size: int = 1
    batches: int = 0
    rate: float = 0.0
    concurrency: int = 1
    eta_seconds: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def duplicate_bound(self) -> int:
        """Most messages a crash or a lost answer could duplicate without you choosing it: 0
        (an idempotency key repeats the call safely; a look-up settles a lost answer;
        elsewhere a lost answer is left unknown, never resent on its own)."""
        return 0

    @property
    def unknown_bound(self) -> int:
        """Most recipients one crash can leave unknown (to settle with ``retry --unknown``)
        at a provider that can neither repeat a call safely nor be asked: with keys the
        provider forgets, a resume after ``idempotency_window`` seconds can too."""
        safe = self.idempotent and self.idempotency_window is None
        return 0 if safe or self.reconciles else self.batch_size * self.concurrency


def compliance_warnings(
    settings: Settings, provider: str, content_text: str, headers: set[str]
) -> list[str]:
    """What bulk-sender rules (RFC 8058, Gmail/Yahoo 2024, CAN-SPAM) would flag: the
    settings through :func:`compliance_findings`, then the rendered issue itself."""
    out: list[str] = []
    for f in compliance_findings(settings, provider):
        refuse = " A real send refuses to go until this is fixed." if f.severity == "error" else ""
        out.append(f"{f}{refuse}")
    if settings.links.unsubscribe_url:
        names = {m.group(1) for m in PLACEHOLDER_RE.finditer(content_text)}
        if "unsubscribe_url" not in names:
            out.append("The rendered issue has no per-recipient unsubscribe link in its body.")
        if "list-unsubscribe" not in headers:
            out.append("The rendered issue has no List-Unsubscribe header.")
        elif "list-unsubscribe-post" not in headers:
            out.append("No List-Unsubscribe-Post header: one-click unsubscribe needs it.")
    return out


def _copy_live(scratch: Ledger, live: Ledger, issue_id: str) -> int:
    """Copy the live ledger's suppressions into ``scratch``; return how many of this issue's
    recipients the live ledger already finished with (sent, failed for good, …)."""
    tables = {r[0] for r in live.db.execute("SELECT name FROM sqlite_master")}
    if "suppressions" in tables:
        cur = live.db.execute("SELECT email, reason FROM suppressions")
        while rows := cur.fetchmany(_CHUNK):
            scratch.suppress([(e, r) for e, r in rows], source="ledger")
    if "recipients" not in tables:
        return 0
    scratch.db.execute("CREATE TEMP TABLE done (email_key TEXT PRIMARY KEY)")
    cur = live.db.execute(
        "SELECT email_key FROM recipients WHERE issue_id = ? AND state != 'pending' "
        "AND NOT (state = 'failed' AND retryable = 1)",
        (issue_id,),
    )
    while rows := cur.fetchmany(_CHUNK):
        scratch.db.executemany("INSERT OR IGNORE INTO done VALUES (?)", rows)
    return 1


_SEND_INDEXES = ("recipients_state", "recipients_batch", "recipients_message",
                 "recipients_email")
"""Indexes a send reads by; a plan's scratch ledger is only counted, once."""


def _drop_send_indexes(scratch: Ledger) -> None:
    """Load the list into the scratch ledger without indexes only a send needs: each costs
    an insert per row (a quarter of a 100k list's load), and the plan only counts rows.
    Nor is it ever synced to disk: it is deleted when the plan is made."""
    for name in _SEND_INDEXES:
        scratch.db.execute(f"DROP INDEX IF EXISTS {name}")
    scratch.db.execute("PRAGMA synchronous=OFF")


def plan_send(
    settings: Settings,
    prepared: Prepared,
    *,
    recipients: Path | None,
    reporter: Reporter | None = None,
) -> SendPlan:
    """The plan for sending ``prepared`` to ``recipients`` now; nothing is sent or written."""
    from ..delivery.base import load_provider_class

    rep = reporter or Reporter()
    provider_cls = load_provider_class(settings.delivery.provider)
    content = prepared.content
    text = "\n".join((content.html, content.text, *content.headers.values()))
    headers = {k.lower() for k in content.headers}
    warnings = compliance_warnings(settings, provider_cls.name, text, headers)
    size = provider_cls.max_batch
    try:
        with provider_cls(settings) as provider:
            size = provider.batch_size()
    except ConfigError as e:
        warnings.append(f"The provider is not ready to send: {e}")
    size = paced_batch_size(size, settings.delivery.rate, per_message=provider_cls.per_message)
    plan = SendPlan(
        issue_id=prepared.issue_id,
        subject=content.subject,
        provider=provider_cls.name,
        idempotent=provider_cls.idempotent,
        idempotency_window=provider_cls.idempotency_window if provider_cls.idempotent else None,
        reconciles=provider_cls.reconciles,
        batch_size=max(1, size),
        rate=settings.delivery.rate,
        concurrency=settings.delivery.concurrency,
        warnings=warnings,
    )
    with (
        tempfile.TemporaryDirectory(prefix="digest-plan-") as tmp,
        Ledger(Path(tmp) / "plan.sqlite3") as scratch,
    ):
        _drop_send_indexes(scratch)
        live_path = ledger_path(settings)
        live = Ledger(live_path, readonly=True) if live_path.exists() else None
        try:
            have_done = _copy_live(scratch, live, prepared.issue_id) if live is not None else 0

            def already_done() -> int:
                """Loaded, not suppressed, and finished with in the live ledger."""
                if have_done:
                    plan.already_done = scratch.db.execute(
                        "SELECT COUNT(*) FROM recipients WHERE issue_id = ? AND state = 'pending' "
                        "AND email_key IN (SELECT email_key FROM temp.done)",
                        (prepared.issue_id,),
                    ).fetchone()[0]
                return plan.already_done

            load_audience(
                settings, scratch, prepared.issue_id, recipients, rep, plan, dry_run=True,
                live=live, already_done=already_done,
            )
        finally:
            if live is not None:
                live.close()
        plan.to_send = scratch.pending_unbatched(prepared.issue_id) - plan.already_done
    plan.batches = math.ceil(plan.to_send / plan.batch_size)
    plan.eta_seconds = eta_seconds(plan.to_send, plan.batch_size, plan.rate)
    return plan
