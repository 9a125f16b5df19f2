"""The send job: recipients → ledger → suppression → recorded batches → provider → ledger.

One run of :func:`send_issue`:

1. takes the job lock (a second job exits at once with status 4);
2. records the issue and its content hash in the ledger; if an earlier run of the same issue
   sent anything with another hash, it stops (status 5) unless ``force``;
3. streams the recipients CSV into the ledger (duplicates merged by SQLite) and marks the
   suppressed; this happens on every run, so rows added to the CSV since an earlier run
   (even one that finished) go out now and nobody is skipped;
4. puts failed-but-retryable recipients of earlier runs back in line;
5. settles what an earlier run left uncertain: batches still ``sending`` (a crash mid-call)
   go again with their key at an idempotent provider, else their members become
   ``unknown``; unknown members are looked up at a provider that can say what it accepted
   (after ``delivery.reconcile_delay``, for its search lag): those found are sent, the
   rest go out again. Elsewhere they stay unknown until ``retry --unknown``;
6. sends: first the batches recorded but never sent, then new batches of
   ``provider.batch_size()``, each recorded and checkpointed before it goes;
   ``delivery.concurrency`` worker threads, ``delivery.rate`` messages a second. A lost
   answer (an ambiguous failure) is never sent again blindly: its members become
   ``unknown`` and the batch size halves, to bound what the next lost answer leaves open;
7. writes each batch's results in one transaction, then settles this run's unknowns as in 5.

A refused key or account (401/403) stops the run with everyone not yet sent pending.
SIGINT or SIGTERM (from the list load on) stops planning new batches; the batches in flight
finish and are recorded, and the next run picks up the rest.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..errors import (
    EXIT_PARTIAL,
    EXIT_UNKNOWN,
    AccountDeliveryError,
    ConfigError,
    DeliveryError,
    DigestError,
    IssueChangedError,
    LedgerError,
    SendError,
)
from ..message import Batch, Content
from ..text import plural
from .audience import AudienceCounts, load_audience
from .ledger import BatchRow, Ledger, MemberRow, Outcome, ledger_error
from .lock import JobLock, lock_path
from .pace import paced_batch_size
from .personalise import Personaliser
from .report import Reporter

if TYPE_CHECKING:
    from ..config import Settings
    from ..delivery.base import Provider, RecipientResult
    from ..model import Issue
    from ..render import Rendered

__all__ = [
    "Prepared",
    "RateLimiter",
    "SendReport",
    "ledger_path",
    "prepare_issue",
    "recipients_path",
    "send_issue",
]


@dataclass(frozen=True)
class Prepared:
    """An issue rendered once: its slug, the content with placeholders, and its hash."""

    issue_id: str
    content: Content
    content_hash: str
    rendered: Rendered | None = field(default=None, compare=False, repr=False)
    """The whole rendering, for publishing to the web archive once sent."""

    @classmethod
    def of(cls, rendered: Rendered) -> Prepared:
        """An issue already rendered (by the pre-send check): the send does not render it
        again."""
        return cls(rendered.slug, rendered.content, rendered.content_hash, rendered)


def prepare_issue(settings: Settings, path: Path | str) -> Prepared:
    """Load and render the issue file at ``path`` (once; never per recipient)."""
    from ..sources import load_issue

    return prepare_loaded(settings, load_issue(Path(path)))


def prepare_loaded(settings: Settings, issue: Issue) -> Prepared:
    """Render an issue already loaded (``send-due`` reads ``send_at`` before rendering)."""
    from ..render import render_issue

    return Prepared.of(render_issue(issue, settings))


def ledger_path(settings: Settings) -> Path:
    return settings.path(settings.sending.ledger)


def recipients_path(settings: Settings, given: Path | str | None) -> Path | None:
    """``--recipients`` if given, else ``[audience] recipients``; a ConfigError if neither.

    None when the audience is the ledger's subscribers alone (``[audience] source``).
    """
    if settings.audience.source == "subscribers":
        if given is not None:
            raise ConfigError(
                '--recipients is not used when [audience] source = "subscribers"; set '
                'source = "both" to send to the subscribers and a CSV.'
            )
        return None
    if given is not None:
        return Path(given)
    if settings.audience.recipients is not None:
        return settings.path(settings.audience.recipients)
    raise ConfigError(
        "No recipients: pass --recipients FILE.csv or set [audience] recipients in digest.toml."
    )


@dataclass
class SendReport(AudienceCounts):
    """What one run did, and where the issue stands afterwards."""

    issue_id: str
    counts: dict[str, int] = field(default_factory=dict)
    requeued: int = 0
    sent_now: int = 0
    failed_now: int = 0
    unknown_now: int = 0
    """Recipients whose answer was lost in this run (or in a run that crashed before it)."""
    found_now: int = 0
    """Unknown outcomes settled in this run as accepted by the provider."""
    resent_now: int = 0
    """Unknown outcomes the provider had not accepted, queued to go again."""
    risked_now: int = 0
    """Unknown outcomes sent again on request (``retry --unknown``)."""
    interrupted: bool = False
    already_finished: bool = False
    finished: bool = False

    @property
    def exit_code(self) -> int:
        """8 while some outcome is unknown; else 0 when nothing is left to send and nothing
        failed (even if a signal came after the last batch); else 1 (partial)."""
        if self.counts.get("unknown", 0):
            return EXIT_UNKNOWN
        if not self.finished or self.counts.get("failed", 0):
            return EXIT_PARTIAL
        return 0


class RateLimiter:
    """At most ``rate`` messages a second over all worker threads (0: no limit).

    Each batch reserves its slot in time; waiting ends early (returning False) when
    ``stop`` is set, so an interrupted job does not sit out the wait.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._next = clock()

    def wait(self, n: int, stop: threading.Event) -> bool:
        if self.rate <= 0:
            return not stop.is_set()
        with self._lock:
            now = self._clock()
            start = max(self._next, now)
            self._next = start + n / self.rate
        delay = start - now
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()


class _Signals:
    """SIGINT/SIGTERM set ``stop``; a second SIGINT raises KeyboardInterrupt.

    The handler only records the signal: printing from a handler could interrupt a write
    already under way on the same stream. The send loop reports it.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.name: str | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.name = signal.Signals(signum).name
        self.stop.set()

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _outcomes(members: list[MemberRow], results: list[RecipientResult]) -> list[Outcome]:
    """Match results to members: by position when the addresses agree, else by address."""
    out: list[Outcome] = []
    by_email: dict[str, RecipientResult] | None = None
    for i, m in enumerate(members):
        r = results[i] if i < len(results) else None
        if r is None or r.email.lower() != m.email.lower():
            if by_email is None:
                by_email = {x.email.lower(): x for x in results}
            r = by_email.get(m.email.lower())
        if r is None:
            out.append(Outcome(m.id, False, None, "the provider returned no result", True))
        else:
            out.append(Outcome(m.id, r.ok, r.message_id, r.error, r.retryable, r.unknown))
    return out


def _repeat_refused(n: int, report: SendReport, rep: Reporter) -> None:
    """Say that ``n`` recipients of batches reopened to repeat an earlier call under its
    key were not sent (see ``Ledger.repeat_check``), and count them as unknown."""
    if not n:
        return
    report.unknown_now += n
    rep.warning(
        f"{plural(n, 'recipient')} in batches reopened to repeat an earlier call under its "
        "idempotency key cannot go that way any more (the provider no longer keeps the key, "
        "or the provider, the issue or a reader of the batch changed since): their outcome "
        "is unknown, so they are not sent again blindly.",
        event="repeat_refused",
        unknown=n,
    )


def _maybe_taken(o: Outcome) -> Outcome:
    error = f"{o.error or 'failed'} (an earlier call of this batch may have been taken)"
    return Outcome(o.id, False, None, error, False, unknown=True)


class _Run:
    """One run of the job against an open ledger and provider."""

    def __init__(
        self,
        settings: Settings,
        prepared: Prepared,
        ledger: Ledger,
        provider: Provider,
        reporter: Reporter,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.prepared = prepared
        self.ledger = ledger
        self.provider = provider
        self.reporter = reporter
        self.stop = stop
        self.issue_id = prepared.issue_id
        self.personaliser = Personaliser(settings, prepared.issue_id, prepared.content.sender.email)
        self.size = paced_batch_size(
            provider.batch_size(), settings.delivery.rate, per_message=provider.per_message
        )
        self.floor = min(self.size, _SMALLEST_AFTER_LOSS)
        self.repeats: set[int] = set()
        """Batches this run calls again under the key of an earlier call that may have gone."""
        self.refused = 0
        """Recipients of such batches the run did not call again (see ``Ledger.repeat_check``)."""

    def batch_for(self, row: BatchRow, members: Sequence[MemberRow]) -> Batch:
        """The batch to send: each member personalised (in the worker, off the ledger's
        thread, so the ledger's next writes overlap it)."""
        person = self.personaliser.recipient
        recipients = [person(m.email, m.name, m.fields) for m in members]
        return Batch(self.prepared.content, recipients, row.key)

    def batches(self, include_new: bool) -> Iterator[BatchRow]:
        yield from self.ledger.open_batches(self.issue_id)
        while include_new:
            row = self.ledger.plan_batch(self.issue_id, self.prepared.content_hash, self.size)
            if row is None:
                return
            yield row

    def send(self, report: SendReport, include_new: bool, signals: _Signals | None = None) -> None:
        """Keep ``concurrency`` batches in flight until none is left or ``stop`` is set."""
        total = self.ledger.pending_in_open_batches(self.issue_id)
        if include_new:
            total += self.ledger.pending_unbatched(self.issue_id)
        if total == 0:
            return
        limiter = RateLimiter(self.settings.delivery.rate)
        concurrency = self.settings.delivery.concurrency
        provider, stop = self.provider, self.stop

        def work(row: BatchRow, members: list[MemberRow]) -> list[RecipientResult] | None:
            if not limiter.wait(len(members), stop):
                return None
            return provider.deliver(self.batch_for(row, members))

        in_flight: dict[Future[list[RecipientResult] | None], tuple[BatchRow, list[MemberRow]]]
        in_flight = {}
        failure: BaseException | None = None
        planned = self.batches(include_new)
        announced = False
        self.reporter.progress_start(self.issue_id, total)
        try:
            with ThreadPoolExecutor(concurrency, thread_name_prefix="digest-send") as pool:
                while True:
                    if stop.is_set() and not announced and signals and signals.name:
                        announced = True
                        flight = plural(len(in_flight), "batch")
                        self.reporter.warning(
                            f"{signals.name}: stopping; {flight} in flight finish first. "
                            "Run the same command again to resume.",
                            event="stopping",
                        )
                    while not stop.is_set() and len(in_flight) < concurrency:
                        started = self._start_next(planned, pool, work)
                        if started is None:
                            break
                        fut, entry = started
                        in_flight[fut] = entry
                    if not in_flight:
                        break
                    done, _ = wait(list(in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
                    for fut in done:
                        error = self._record(fut, *in_flight.pop(fut), report)
                        if error is not None:  # a bug or an unmapped error: stop, keep open
                            failure = failure or error
                            stop.set()
        finally:
            self.reporter.progress_end()
            with suppress(LedgerError):  # the error that stopped the run says more
                self.ledger.checkpoint()
        if failure is not None:
            if isinstance(failure, DigestError):
                raise failure
            raise SendError(
                f"Sending stopped on an unexpected error: {type(failure).__name__}: {failure}. "
                "The batches in flight stay open and go again, with the same keys, next run."
            ) from failure

    def _start_next(
        self,
        planned: Iterator[BatchRow],
        pool: ThreadPoolExecutor,
        work: Callable[[BatchRow, list[MemberRow]], list[RecipientResult] | None],
    ) -> tuple[Future[list[RecipientResult] | None], tuple[BatchRow, list[MemberRow]]] | None:
        """Count an attempt for the next batch and hand it to a worker; None when none is left."""
        for row in planned:
            members = self.ledger.members(row)
            if not members:  # every member was settled in the meantime (a requeue, a race)
                self.ledger.record_results(row, [])
                continue
            check = self.ledger.repeat_check(
                row, self.provider.name, self.provider.idempotency_window
            )
            if check == "refused":
                self.refused += len(members)
                continue
            if check == "repeat":
                self.repeats.add(row.number)
            elif self.ledger.drop_suppressed(row):  # unsubscribed while the batch waited
                members = self.ledger.members(row)
                if not members:
                    self.ledger.record_results(row, [])
                    continue
            self.ledger.begin_attempt(row, self.provider.name)
            return pool.submit(work, row, members), (row, members)
        return None

    def _record(
        self,
        fut: Future[list[RecipientResult] | None],
        row: BatchRow,
        members: list[MemberRow],
        report: SendReport,
    ) -> Exception | None:
        """Write a finished batch's results in one transaction; return what it raised, if so.

        A refused key or account reopens the batch (nothing was sent); any other error
        leaves it ``sending``, to be settled as a lost answer next run.
        """
        try:
            results = fut.result()
        except AccountDeliveryError as e:
            self.ledger.undo_attempt(row)
            return e
        except Exception as e:
            return e
        if results is None:  # stopped before the call: the batch is open again
            self.ledger.undo_attempt(row)
            return None
        outcomes = _outcomes(members, results)
        if row.number in self.repeats:
            # an earlier call of this batch may have gone: a failure now does not say that
            # nobody got it, so it is not retried as if nothing was sent
            outcomes = [o if o.ok else _maybe_taken(o) for o in outcomes]
        self.ledger.record_results(row, outcomes)
        ok = sum(1 for o in outcomes if o.ok)
        lost = sum(1 for o in outcomes if o.unknown and not o.ok)
        report.sent_now += ok
        report.failed_now += len(outcomes) - ok - lost
        report.unknown_now += lost
        self.reporter.progress(ok, len(outcomes) - ok)
        if lost:
            smaller = max(self.floor, self.size // 2)
            self.reporter.warning(
                f"batch {row.number}: the answer for {plural(lost, 'message')} was lost; they "
                f"are not sent again until the outcome is known. Batches shrink to {smaller}.",
                event="answer_lost",
                batch=row.number,
                unknown=lost,
            )
            self.size = smaller
        return None

    def reconcile(self, report: SendReport) -> None:
        """Settle unknown outcomes where the provider can say what it accepted.

        Waits until ``delivery.reconcile_delay`` has passed since the newest of those calls
        (interruptible), then asks once for all of them: those found are sent, the rest go
        out again in new batches. Batches sent through another provider are left unknown.
        """
        provider = self.provider
        if not provider.reconciles:
            return
        batches = [
            b
            for b in self.ledger.unknown_batches(self.issue_id)
            if b.provider in (None, provider.name)
        ]
        if not batches:
            return
        ready = max(b.attempted_at for b in batches) + self.settings.delivery.reconcile_delay
        wait = ready - time.time()
        if wait > 0:
            self.reporter.info(
                f"waiting {wait:.0f}s before asking {provider.name} what it accepted "
                "(its search lags behind its sends)",
                event="reconcile_wait",
            )
            if self.stop.wait(wait):
                return
        members = [m for b in batches for m in b.members]
        recipients = [self.personaliser.recipient(m.email, m.name, m.fields) for m in members]
        since = datetime.fromtimestamp(min(b.attempted_at for b in batches) - 300, UTC)
        try:
            accepted = provider.accepted(self.prepared.content, recipients, since)
        except AccountDeliveryError:
            raise
        except DeliveryError as e:
            self.reporter.warning(
                f"could not ask {provider.name} what it accepted ({provider.scrub(str(e))}); "
                f"{plural(len(members), 'outcome')} left unknown, to be asked about next run.",
                event="reconcile_failed",
            )
            return
        found: dict[int, str | None] = {}
        missing: list[int] = []
        for m, r in zip(members, recipients, strict=True):
            if r.digest_id in accepted:
                found[m.id] = accepted[r.digest_id]
            else:
                missing.append(m.id)
        self.ledger.settle_unknown(
            self.issue_id, self.prepared.content_hash, self.size, found, missing
        )
        report.found_now += len(found)
        report.resent_now += len(missing)
        self.reporter.info(
            f"asked {provider.name} about {plural(len(members), 'lost answer')}: "
            f"{plural(len(found), 'was')} accepted (not sent again), "
            f"{plural(len(missing), 'was')} not and {'goes' if len(missing) == 1 else 'go'} "
            "out again.",
            event="reconciled",
            found=len(found),
            resent=len(missing),
        )


_SMALLEST_AFTER_LOSS = 10
"""Batch size never shrinks below this after lost answers (or the provider's own size)."""

_RECONCILE_ROUNDS = 3
"""Most look-up-and-resend rounds in one run; what is left waits for the next run."""


def _check_hash(ledger: Ledger, prepared: Prepared, force: bool, reporter: Reporter) -> bool:
    """Record the issue; refuse an edited issue that has started sending. True if finished.

    An issue edited after its send finished is left as it is (finished, old hash): the run
    goes on to load the list, and :func:`_changed_after_finish` decides what to say.
    """
    row = ledger.start_issue(prepared.issue_id, prepared.content_hash, prepared.content.subject)
    if row.content_hash != prepared.content_hash and row.finished_at is not None and not force:
        return True
    if row.content_hash != prepared.content_hash:
        counts = ledger.counts(prepared.issue_id)
        started = bool(ledger.open_batches(prepared.issue_id)) or any(
            counts[s] for s in ("sent", "failed", "bounced", "complained")
        )
        if started and not force:
            raise IssueChangedError(
                f"Issue {prepared.issue_id!r} changed since its send started (the rendered "
                "content differs). Recipients already sent got the old version. To send the "
                "new version to the rest, run again with --force."
            )
        if started:
            reporter.warning(
                f"Issue {prepared.issue_id!r} changed since its send started; continuing "
                "with the new version (--force)."
            )
        ledger.replace_hash(prepared.issue_id, prepared.content_hash, prepared.content.subject)
        ledger.set_finished(prepared.issue_id, False)
        return False
    return row.finished_at is not None


def _changed_after_finish(ledger: Ledger, prepared: Prepared) -> None:
    """An issue edited after its send finished: fine while nobody is left to send to (the
    run ends as "already finished", as ``send-due`` says); refused (exit 5) when recipients
    added to the list since would get the edited version."""
    row = ledger.issue(prepared.issue_id)
    if row is None or row.content_hash == prepared.content_hash:
        return
    waiting = ledger.counts(prepared.issue_id)["pending"]
    if waiting:
        ledger.set_finished(prepared.issue_id, False)
        raise IssueChangedError(
            f"Issue {prepared.issue_id!r} changed after its send finished, and "
            f"{plural(waiting, 'recipient')} added to the list (or chosen to go again) since "
            "would get the edited version while everyone else got the old one. To send it "
            "to them, run again with --force."
        )


@contextmanager
def _ledger_errors(ledger: Ledger) -> Iterator[None]:
    """An SQLite failure mid-send (a full disk, a damaged file) as a message, not a traceback.

    Batches whose results could not be written stay ``sending``: the next run settles them
    as lost answers (never sends them again blindly).
    """
    try:
        yield
    except sqlite3.Error as e:
        raise ledger_error(ledger.path, e) from None


def _guard_new_ledger(
    ledger: Ledger, prepared: Prepared, provider: Provider, reporter: Reporter
) -> None:
    """Refuse to start an issue this ledger has never seen when the provider (or outbox)
    already holds messages of it: the ledger was lost, reset or replaced."""
    try:
        held = provider.issue_messages(prepared.content)
    except AccountDeliveryError:
        raise
    except DeliveryError as e:
        reporter.warning(
            f"could not ask {provider.name} whether {prepared.issue_id!r} was sent before "
            f"({provider.scrub(str(e))}); going on.",
            event="new_ledger_unchecked",
        )
        return
    if held:
        raise LedgerError(
            f"{ledger.path} has no record of {prepared.issue_id!r}, but {provider.name} "
            f"already holds {held} message(s) of it: this ledger is not the one that sent "
            "it (lost, reset or replaced?). Sending now would mail those readers again. "
            "Restore the ledger from a backup (`digest ledger backup FILE` makes one), or, "
            "if you really mean to send the issue again from scratch, add --new-ledger."
        )


def run_send(
    settings: Settings,
    prepared: Prepared,
    ledger: Ledger,
    provider: Provider,
    *,
    recipients: Path | None,
    force: bool = False,
    retry_only: bool = False,
    resend_unknown: bool = False,
    new_ledger: bool = False,
    requeue: Sequence[str] | None = None,
    reporter: Reporter | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    """The job body, with the lock already held and the ledger and provider open.

    ``requeue``: failures to send again whatever their kind, all of them when empty
    (``digest retry --failed`` / ``--address``).
    """
    with _ledger_errors(ledger):
        rep = reporter or Reporter()
        report = SendReport(prepared.issue_id)
        if retry_only and ledger.issue(prepared.issue_id) is None:
            raise ConfigError(
                f"Nothing to retry: {prepared.issue_id!r} has no send in {ledger.path}. "
                "Send it first with `digest send`."
            )
        if not new_ledger and ledger.issue(prepared.issue_id) is None:
            _guard_new_ledger(ledger, prepared, provider, rep)
        was_finished = _check_hash(ledger, prepared, force, rep)
        stopper = stop or threading.Event()
        run = _Run(settings, prepared, ledger, provider, rep, stopper)
        # from here on a signal only sets ``stopper``: a list load runs to its end and
        # the run ends with the documented status instead of being killed mid-way
        with _Signals(stopper) as signals:
            if not retry_only:
                load_audience(settings, ledger, prepared.issue_id, recipients, rep, report)
            chosen = 0
            if requeue is not None:
                chosen = ledger.make_retryable(prepared.issue_id, requeue)
                rep.info(f"{plural(chosen, 'failed recipient')} chosen to go again.")
            lost = ledger.settle_in_flight(
                prepared.issue_id,
                idempotent=provider.idempotent,
                window=provider.idempotency_window,
                provider=provider.name,
            )
            if lost:
                report.unknown_now += lost
                rep.warning(
                    f"{plural(lost, 'recipient')} {'was' if lost == 1 else 'were'} in batches "
                    "being sent when an earlier run stopped: their outcome is unknown, so they "
                    "are not sent again blindly.",
                    event="in_flight_unknown",
                    unknown=lost,
                )
            run.reconcile(report)
            if provider.idempotent:
                again = ledger.reopen_lost(
                    prepared.issue_id,
                    prepared.content_hash,
                    provider.name,
                    provider.idempotency_window,
                )
                if again:
                    rep.info(
                        f"{plural(again, 'recipient')} whose answers were lost go again under "
                        "the same idempotency key: the provider answers a repeat without "
                        "sending twice.",
                        event="lost_repeated",
                        recipients=again,
                    )
            # batches reopened for a repeat under their key that no longer may go (whatever
            # the provider now: another one is refused too), before --unknown releases
            refused = ledger.refuse_unrepeatable(
                prepared.issue_id,
                prepared.content_hash,
                provider.name,
                provider.idempotency_window,
            )
            _repeat_refused(refused, report, rep)
            if resend_unknown:
                report.risked_now = ledger.release_unknown(
                    prepared.issue_id, prepared.content_hash, run.size
                )
                if report.risked_now:
                    rep.warning(
                        f"{plural(report.risked_now, 'recipient')} whose outcome is unknown "
                        f"{'is' if report.risked_now == 1 else 'are'} sent again (--unknown): "
                        "any of them whose first message did arrive gets a second copy.",
                        event="unknown_resent",
                    )
            report.requeued = ledger.requeue_retryable(
                prepared.issue_id, prepared.content_hash, run.size
            )
            # the ones chosen above were just made retryable: count only the others here
            if report.requeued > chosen:
                rep.info(
                    f"{plural(report.requeued - chosen, 'earlier retryable failure')} "
                    "queued again.",
                    event="requeued",
                )
            _changed_after_finish(ledger, prepared)
            if was_finished and not report.added and not report.requeued:
                report.already_finished = True
                edited = ledger.issue(prepared.issue_id)
                since = (
                    " (the issue was edited after its send finished; nobody is left to send to)"
                    if edited is not None and edited.content_hash != prepared.content_hash
                    else ""
                )
                rep.info(
                    f"{prepared.issue_id}: already finished; nothing to send{since}.",
                    event="finished",
                )
            run.send(report, include_new=not retry_only, signals=signals)
            for _ in range(_RECONCILE_ROUNDS):
                if stopper.is_set() or not provider.reconciles or not ledger.counts(
                    prepared.issue_id
                )["unknown"]:
                    break
                run.reconcile(report)
                run.send(report, include_new=not retry_only, signals=signals)
            _repeat_refused(run.refused, report, rep)
        report.interrupted = stopper.is_set()
        report.finished = ledger.is_finished(prepared.issue_id)
        ledger.set_finished(prepared.issue_id, report.finished)
        report.counts = ledger.counts(prepared.issue_id)
        if report.finished and report.counts.get("sent") and settings.archive.dir is not None:
            _publish(settings, prepared, rep)
        return report


def _publish(settings: Settings, prepared: Prepared, rep: Reporter) -> None:
    """Put the sent issue into ``[archive] dir``; a failure there never fails the send."""
    from ..archive import publish

    if prepared.rendered is None or settings.archive.dir is None:
        return
    folder = settings.path(settings.archive.dir)
    try:
        publish(prepared.rendered, folder, settings)
    except DigestError as e:
        rep.warning(f"The issue was sent but not published to the archive: {e}", event="archive")
        return
    rep.info(f"{prepared.issue_id}: published to {folder}.", event="archive")


def send_issue(
    settings: Settings,
    prepared: Prepared,
    *,
    recipients: Path | str | None = None,
    force: bool = False,
    retry_only: bool = False,
    resend_unknown: bool = False,
    new_ledger: bool = False,
    requeue: Sequence[str] | None = None,
    reporter: Reporter | None = None,
    provider: Provider | None = None,
    lock: bool = True,
) -> SendReport:
    """Send ``prepared`` to its list (or, with ``retry_only``, to retryable failures only).

    Everything is checked (:func:`~digest.sending.preflight.preflight`, the provider's
    credentials) before the lock or the ledger is touched. Takes the job lock unless
    ``lock`` is False (the caller holds it). Raises CheckFailedError, LockHeldError,
    IssueChangedError, ConfigError, RecipientsError, LedgerError (also when the ledger does
    not know the issue but the provider holds messages of it, unless ``new_ledger``) or
    AccountDeliveryError; a partial send is a report, not an exception. ``resend_unknown``
    sends again those whose outcome is unknown (``retry --unknown``).
    """
    from .preflight import preflight

    csv_path = None if retry_only else recipients_path(settings, recipients)
    name = provider.name if provider is not None else settings.delivery.provider
    warnings = preflight(settings, prepared, name, csv_path)
    own_provider = provider is None
    if provider is None:
        from ..delivery.base import get_provider

        provider = get_provider(settings)
    for finding in warnings:
        (reporter or Reporter()).warning(str(finding), event="compliance", code=finding.code)
    job_lock = JobLock(lock_path(settings))
    try:
        if lock:
            job_lock.acquire()
        try:
            with Ledger(ledger_path(settings)) as ledger:
                return run_send(
                    settings,
                    prepared,
                    ledger,
                    provider,
                    recipients=csv_path,
                    force=force,
                    retry_only=retry_only,
                    resend_unknown=resend_unknown,
                    new_ledger=new_ledger,
                    requeue=requeue,
                    reporter=reporter,
                )
        finally:
            job_lock.release()
    finally:
        if own_provider:
            provider.close()
