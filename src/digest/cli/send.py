"""Commands that send: ``send``, ``send-due``, ``status``, ``retry``, ``suppress``.

They parse arguments, call :mod:`digest.sending` and print; each returns its exit status
from the one table in :mod:`digest.errors` (documented in the README): 7 when the ledger
cannot be used, 8 while some outcomes are unknown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..text import plural, shown
from .options import config_option, issue_argument

if TYPE_CHECKING:
    from digest import Reporter, SendPlan, SendReport, Settings

def _note_json(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Tell the group to write a stopping error as a JSON line too (``ctx.meta`` is shared)."""
    from . import JSON_ERRORS

    ctx.meta[JSON_ERRORS] = value == "json"
    return value


log_format_option = click.option(
    "--log-format",
    type=click.Choice(["auto", "text", "json"]),
    default="auto",
    show_default=True,
    callback=_note_json,
    help="auto: a progress bar in a terminal, plain lines otherwise; json: JSON lines.",
)
skip_check_option = click.option(
    "--skip-check",
    is_flag=True,
    help="Skip the pre-send check's content rules (never compliance, never drafts).",
)
recipients_option = click.option(
    "--recipients",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Recipients CSV (email, optional name, merge-field columns); "
    "default: [audience] recipients.",
)


def _settings(config_path: Path | None) -> Settings:
    from digest import load_settings

    return load_settings(config_path)


def _duration(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s" if m else f"{s}s"


def _summary(report: SendReport, reporter: Reporter, source: Path) -> None:
    c = report.counts
    text = (
        f"{report.issue_id}: sent {report.sent_now} and failed {report.failed_now} this run; "
        f"in all {c.get('sent', 0)} sent, {c.get('failed', 0)} failed "
        f"({c.get('failed_permanent', 0)} permanent, {c.get('failed_retryable', 0)} will "
        f"retry), {c.get('unknown', 0)} unknown, {c.get('pending', 0)} pending, "
        f"{c.get('suppressed', 0)} suppressed."
    )
    settled = c.get("found", 0) + c.get("resent", 0) + c.get("risked", 0)
    if settled or report.unknown_now:
        text += (
            f" Lost answers: {report.unknown_now} this run; reconciled in all "
            f"{c.get('found', 0)} found at the provider, {c.get('resent', 0)} resent "
            f"(not accepted), {c.get('risked', 0)} resent on request."
        )
    text += f" Duplicate exposure: {c.get('exposure', 0)}."
    data: dict[str, Any] = {"event": "summary", "issue": report.issue_id, "counts": c}
    data.update(exit_code=report.exit_code, interrupted=report.interrupted)
    if report.exit_code:
        reporter.warning(text, **data)
        reporter.warning(_hint(report, source), event="hint")
    else:
        reporter.info(text, **data)


def _hint(report: SendReport, source: Path) -> str:
    """What to do next, saying only what will help (a plain retry skips permanent failures)."""
    if report.interrupted:
        return "Interrupted: run the same command again to resume."
    c, issue = report.counts, report.issue_id
    retryable = c.get("failed_retryable", 0)
    permanent = c.get("failed", 0) - retryable
    parts = []
    if c.get("unknown", 0):
        parts.append(_unknown_hint(c["unknown"], source))
    if retryable:
        parts.append(f"{retryable} failed for now: `digest retry {source}` sends them again.")
    if permanent:
        parts.append(
            f"{permanent} failed for good; a plain retry will not send them again: "
            f"see `digest status {issue}` for the reasons, and if the cause was yours to fix "
            f"(an outbox folder, a provider setting), `digest retry {source} --failed` does."
        )
    if not parts and not any(c.get(state, 0) for state in ("pending", "sent", "suppressed")):
        parts.append(
            "No valid recipients in the list: nothing was sent. Fix the list (the "
            "warnings above name each bad row) and run again."
        )
    return " ".join(parts) or (
        f"Not finished: {c.get('pending', 0)} still pending; run the same command again "
        f"(`digest status {issue}` shows where it stands)."
    )


def _unknown_hint(unknown: int, source: Path | str) -> str:
    return (
        f"{plural(unknown, 'outcome')} {'is' if unknown == 1 else 'are'} unknown (the "
        "provider's answer was lost and it cannot be asked, or has not said yet): they are not "
        "sent again on their own. A later run asks "
        "again where the provider can say, and repeats the call under the same idempotency "
        "key where the provider still keeps it (Resend, Brevo: run the same command again "
        f"soon); `digest retry {source} --unknown` sends them again, and any whose first "
        "message did arrive then gets a second copy."
    )


def _print_plan(plan: SendPlan, as_json: bool) -> None:
    if as_json:
        data = dict(plan.__dict__)
        data["duplicate_bound"] = plan.duplicate_bound
        data["unknown_bound"] = plan.unknown_bound
        click.echo(json.dumps({"event": "plan", **data}, ensure_ascii=False))
        return
    eta = (
        _duration(plan.eta_seconds)
        if plan.eta_seconds is not None
        else "no rate limit set ([delivery] rate = 0): as fast as the provider takes them"
    )
    click.echo(f"Send plan for {plan.issue_id} (dry run: nothing sent)")
    click.echo(f"  subject          {shown(plan.subject)}")
    click.echo(f"  rows read        {plan.rows_read} ({plan.bad_rows} bad)")
    click.echo(f"  duplicates       {plan.duplicates}")
    click.echo(f"  suppressed       {plan.suppressed}")
    if plan.already_done:
        click.echo(f"  already done     {plan.already_done} (in the ledger)")
    click.echo(f"  to send          {plan.to_send}")
    click.echo(
        f"  provider         {plan.provider}: {plural(plan.batches, 'batch')} of up to "
        f"{plan.batch_size}, {plan.concurrency} at a time"
    )
    rate = f"{plan.rate:g} messages/s" if plan.rate else "no limit"
    click.echo(f"  rate             {rate}")
    click.echo(f"  ETA              {eta}")
    if plan.idempotent and plan.idempotency_window is not None:
        hours = plan.idempotency_window / 3600
        within = f"{hours:g} hours" if hours >= 2 else f"{plan.idempotency_window / 60:g} minutes"
        click.echo(
            f"  crash safety     idempotency keys: a send resumed within {within} duplicates "
            f"nothing; later, a crash mid-call leaves up to "
            f"{plural(plan.unknown_bound, 'recipient')} unknown (never resent on their own)"
        )
    elif plan.idempotent:
        click.echo("  crash safety     idempotency keys: a resumed send duplicates nothing")
    elif plan.reconciles:
        click.echo(
            "  crash safety     lost answers are looked up at the provider: only those it did "
            "not accept go again"
        )
    else:
        click.echo(
            f"  crash safety     lost answers cannot be looked up: a crash mid-call leaves up "
            f"to {plural(plan.unknown_bound, 'recipient')} unknown (never resent on their own; "
            "`digest retry --unknown` may send them a second copy)"
        )
    for w in plan.warnings:
        click.secho(f"warning: {w}", fg="yellow")


@click.command()
@issue_argument
@recipients_option
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="ADDRESS",
    help="Test send to ADDRESS only (repeatable): subject prefixed [TEST], no ledger.",
)
@click.option("--dry-run", is_flag=True, help="Print the send plan and send nothing.")
@click.option("--force", is_flag=True, help="Resume even though the issue changed.")
@skip_check_option
@click.option(
    "--new-ledger",
    is_flag=True,
    help="Send although the ledger has no record of ISSUE and the provider (or outbox) "
    "already holds messages of it (only if you mean to send it all again).",
)
@config_option
@log_format_option
def send(
    issue: str,
    recipients: Path | None,
    to: tuple[str, ...],
    dry_run: bool,
    force: bool,
    skip_check: bool,
    new_ledger: bool,
    config_path: Path | None,
    log_format: str,
) -> int:
    """Send ISSUE (a file, slug or number) to the list (resumable), or a test to --to.

    A real send runs the offline pre-send check first (`digest check --offline`) and
    refuses on errors (exit 6); the file and console backends show them as warnings."""
    from digest import (
        EXIT_PARTIAL,
        Prepared,
        gate_report,
        make_reporter,
        plan_send,
        prepare_issue,
        resolve_issue,
        send_issue,
        send_test,
    )

    settings = _settings(config_path)
    path = resolve_issue(issue, settings)
    checked = gate_report(settings, path, skip_content=skip_check, refuse=not (to or dry_run))
    # rendered once: by the check, unless the issue failed to load or render there; then
    # prepare_issue raises that error for the user, said once (not also as a warning)
    if checked.rendered is None:
        prepared = prepare_issue(settings, path)
    else:
        prepared = Prepared.of(checked.rendered)
    for f in checked.findings:
        click.secho(f"warning: {f.code}: {f.message}", fg="yellow", err=True)
    if to:
        if dry_run:
            raise click.UsageError("--dry-run and --to do not go together.")
        results = send_test(settings, prepared, list(to))
        failed = 0
        for r in results:
            if r.ok:
                click.echo(f"[TEST] sent to {r.email} (id {r.message_id or '-'})")
            else:
                failed += 1
                click.secho(f"[TEST] failed for {r.email}: {r.error}", fg="red", err=True)
        return EXIT_PARTIAL if failed else 0
    reporter = make_reporter(log_format)
    if dry_run:
        from digest import recipients_path

        plan = plan_send(
            settings,
            prepared,
            recipients=recipients_path(settings, recipients),
            reporter=reporter,
        )
        _print_plan(plan, log_format == "json")
        return 0
    report = send_issue(
        settings,
        prepared,
        recipients=recipients,
        force=force,
        new_ledger=new_ledger,
        reporter=reporter,
    )
    _summary(report, reporter, path)
    return report.exit_code


@click.command(name="send-due")
@recipients_option
@click.option("--force", is_flag=True, help="Resume issues even though they changed.")
@skip_check_option
@config_option
@log_format_option
def send_due(
    recipients: Path | None,
    force: bool,
    skip_check: bool,
    config_path: Path | None,
    log_format: str,
) -> int:
    """Send every issue in [issues] dir whose send_at has passed (for cron); each runs the
    offline pre-send check first and is refused on errors (exit 6)."""
    from digest import Rendered, due_exit_code, gate_report, make_reporter
    from digest import send_due as run_due

    settings = _settings(config_path)
    reporter = make_reporter(log_format)

    def gate(path: Path) -> Rendered | None:
        checked = gate_report(settings, path, skip_content=skip_check)
        for f in checked.findings:
            reporter.warning(f"{path}: {f.code}: {f.message}", event="check", code=f.code)
        return checked.rendered

    results = run_due(settings, recipients=recipients, reporter=reporter, force=force, gate=gate)
    for r in results:
        if r.report is not None:
            _summary(r.report, reporter, r.path)
        elif r.action in ("not-yet", "unscheduled", "finished"):
            reporter.info(r.message, event="due_result", action=r.action, issue=r.issue_id)
    return due_exit_code(results)


@click.command()
@click.argument("issue_id", metavar="ISSUE")
@click.option(
    "--failures",
    "limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Failures to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@config_option
def status(issue_id: str, limit: int, as_json: bool, config_path: Path | None) -> int:
    """Show where the send of ISSUE (a file, slug or number) stands: counts by state,
    failures with reasons, and whether a send is running now."""
    from digest import ConfigError, Ledger, issue_slug, ledger_path, lock_holder, lock_path
    from digest.sending.event_log import event_reach

    settings = _settings(config_path)
    issue_id = issue_slug(issue_id, settings)
    holder = lock_holder(lock_path(settings))
    path = ledger_path(settings)
    if not path.exists():
        raise ConfigError(f"{path}: no send ledger yet; nothing has been sent.")
    with Ledger(path, readonly=True) as ledger:
        row = ledger.issue(issue_id)
        if row is None:
            known = ", ".join(r.issue_id for r in ledger.issues()) or "none"
            raise ConfigError(f"No send of {issue_id!r} in {path}. Issues in it: {known}.")
        counts = ledger.counts(issue_id)
        failures = ledger.failures(issue_id, limit)
        open_batches = len(ledger.open_batches(issue_id))
        in_flight = ledger.in_flight(issue_id)
        sending = ledger.sending_batches(issue_id)
        reach = event_reach(ledger, issue_id)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "issue": issue_id,
                    "finished": row.finished_at is not None,
                    "started": row.created_at,
                    "finished_at": row.finished_at,
                    "counts": counts,
                    "open_batches": open_batches,
                    "in_flight": in_flight,
                    "sending_batches": sending,
                    "running": holder is not None,
                    "events": {k: {"recipients": r, "events": n} for k, (r, n) in reach.items()},
                    "failures": [
                        {"email": e, "error": err, "retryable": r} for e, err, r in failures
                    ],
                },
                ensure_ascii=False,
            )
        )
        return 0
    state = f"finished {row.finished_at}" if row.finished_at else "not finished"
    if holder is not None and not row.finished_at:
        state = f"a send job is running now (process {holder or '?'})"
    click.echo(f"{issue_id}: {state} (started {row.created_at})")
    notes = {
        "failed": f" ({counts['failed_permanent']} permanent, {counts['failed_retryable']} "
        "will retry)",
        "unknown": " (answer lost: not sent again until the provider says, or --unknown)",
    }
    for name in ("sent", "pending", "failed", "unknown", "suppressed", "bounced", "complained"):
        click.echo(f"  {name:<11} {counts[name]}{notes.get(name, '')}")
    click.echo(
        f"  reconciled  {counts['found'] + counts['resent'] + counts['risked']} "
        f"({counts['found']} found at the provider, {counts['resent']} resent as not "
        f"accepted, {counts['risked']} resent on request)"
    )
    click.echo(
        f"  duplicate exposure {counts['exposure']} (recipients who could get a second copy: "
        "the unknown ones if resent, and batches caught mid-call by a crash)"
    )
    if sending and holder is not None:
        click.echo(f"  {plural(sending, 'batch')} in flight now.")
    elif sending:
        click.echo(
            f"  {plural(sending, 'batch')} {'was' if sending == 1 else 'were'} in flight when a "
            f"run stopped ({plural(in_flight, 'recipient')}): the next run settles them (asks "
            "the provider, repeats the call under its key, or marks them unknown)."
        )
    elif holder is None and (open_batches or (counts["pending"] and not row.finished_at)):
        flight = (
            f"{plural(open_batches, 'batch')} {'was' if open_batches == 1 else 'were'} "
            "planned but not sent when a run stopped; "
            if open_batches
            else "a run stopped with recipients pending; "
        )
        click.echo(f"  {flight}run the same send command again to resume.")
    _events(reach, counts["sent"] + counts["bounced"] + counts["complained"])
    if counts["unknown"]:
        click.echo(_unknown_hint(counts["unknown"], issue_id))
    if failures:
        click.echo("Failures:")
        for email, err, retryable in failures:
            tag = "retryable" if retryable else "permanent"
            click.echo(f"  {email}  [{tag}] {err}")
        if counts["failed"] > len(failures):
            click.echo(f"  … {counts['failed'] - len(failures)} more (--failures N)")
    return 0


_EVENT_LINES = (
    ("delivered", "delivered"),
    ("open", "opened"),
    ("click", "clicked"),
    ("soft_bounce", "soft bounce"),
    ("hard_bounce", "hard bounce"),
    ("complaint", "complained"),
    ("unsubscribe", "unsubscribed"),
    ("rejected", "rejected"),
    ("deferred", "deferred"),
)


def _events(reach: dict[str, tuple[int, int]], sent: int) -> None:
    """What the provider's webhooks reported for the issue, in recipients (a share of those
    sent) and events; nothing to show says where events come from."""
    shown = [(label, reach[kind]) for kind, label in _EVENT_LINES if kind in reach]
    if not shown:
        click.echo("  events      none recorded (they come from the provider's webhooks: see "
                   "docs/events.md)")
        return
    click.echo("  events      recipients (share of those sent), and events, from the "
               "provider's webhooks:")
    for label, (people, n) in shown:
        share = f" ({people / sent:.1%})" if 0 < people <= sent else ""
        click.echo(f"    {label:<13} {people}{share}, {plural(n, 'event')}")
    if "open" in reach:
        click.echo("    (opens include mail apps that fetch images for privacy, such as Apple "
                   "Mail's: read them as an upper bound)")


@click.command()
@issue_argument
@click.option(
    "--failed",
    "all_failed",
    is_flag=True,
    help="Also send again to recipients that failed for good (after fixing the cause).",
)
@click.option(
    "--address",
    "addresses",
    multiple=True,
    metavar="ADDRESS",
    help="Send again only to this failed recipient, whatever the failure (repeatable).",
)
@click.option("--force", is_flag=True, help="Retry even though the issue changed.")
@click.option(
    "--unknown",
    is_flag=True,
    help="Also send again those whose outcome is unknown (a lost answer the provider cannot "
    "settle): any whose first message did arrive gets a second copy.",
)
@config_option
@log_format_option
def retry(
    issue: str,
    all_failed: bool,
    addresses: tuple[str, ...],
    force: bool,
    unknown: bool,
    config_path: Path | None,
    log_format: str,
) -> int:
    """Send ISSUE (a file, slug or number) again to recipients whose send failed.

    By default only the failures worth retrying (timeouts, outages); --failed requeues
    every failure and --address the ones named. Their earlier errors stay in the ledger.
    --unknown also sends again those whose outcome is unknown (a lost answer).
    """
    from digest import make_reporter, prepare_issue, resolve_issue, send_issue

    if all_failed and addresses:
        raise click.UsageError("Give --failed or --address, not both.")
    settings = _settings(config_path)
    path = resolve_issue(issue, settings)
    prepared = prepare_issue(settings, path)
    reporter = make_reporter(log_format)
    requeue: tuple[str, ...] | None = addresses if addresses else (() if all_failed else None)
    report = send_issue(
        settings,
        prepared,
        retry_only=True,
        requeue=requeue,
        resend_unknown=unknown,
        force=force,
        reporter=reporter,
    )
    _summary(report, reporter, path)
    return report.exit_code


def _kept_message(email: str, reason: str, source: str, lifted: tuple[str, ...]) -> str:
    """Why ``--remove`` left an address on the list, and the reader's ways back."""
    sign_up = "signing up again and confirming, where you run the sign-up form"
    if reason == "complained":
        did, ways = "reported mail as spam", f"by {sign_up}"
    else:
        did, ways = "unsubscribed", f"with Undo on the unsubscribe page, or by {sign_up}"
    text = (
        f"{email} stays on the suppression list: the reader {did} ({source}). Only they can "
        f"undo that: {ways}."
    )
    if lifted:
        text += f" Its {' and '.join(lifted)} entry was removed."
    return text


@click.command()
@click.argument("addresses", nargs=-1, metavar="ADDRESS...")
@click.option(
    "--from-csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Add every address of a CSV (email column; optional reason column).",
)
@click.option(
    "--reason",
    type=click.Choice(["unsubscribed", "bounced", "complained", "manual"]),
    default="unsubscribed",
    show_default=True,
    help="Why the addresses are added (a CSV's reason column wins); not with --remove.",
)
@click.option(
    "--remove",
    is_flag=True,
    help="Take the ADDRESSes off the list instead (for mistakes, or a bounce that is fixed); "
    "a reader's own unsubscribe or spam report stays.",
)
@config_option
def suppress(
    addresses: tuple[str, ...],
    csv_path: Path | None,
    reason: str,
    remove: bool,
    config_path: Path | None,
) -> int:
    """Add addresses to the suppression list (no send will reach them), or --remove them."""
    from digest import (
        EXIT_CONFIG,
        Ledger,
        import_suppressions,
        ledger_path,
        suppress_addresses,
        unsuppress_addresses,
    )
    from digest.sending.recipients import check_recipients

    if not addresses and csv_path is None:
        raise click.UsageError("Give addresses, or --from-csv FILE.")
    if remove and csv_path is not None:
        raise click.UsageError("--remove takes addresses, not --from-csv.")
    given = click.get_current_context().get_parameter_source("reason")
    if remove and given is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError(
            "--reason is for adding: --remove takes off every entry it may (bounces, manual "
            "entries, what was typed on `digest suppress`) and never a reader's own "
            "unsubscribe or spam report, whatever the reason named. Drop --reason."
        )
    settings = _settings(config_path)
    if csv_path is not None:
        check_recipients(csv_path)
    bad = 0
    with Ledger(ledger_path(settings)) as ledger:
        if remove:
            removed = unsuppress_addresses(ledger, addresses)
            for row in removed.bad:
                bad += 1
                click.secho(f"skipped argument {row.line} ({row.value!r}): {row.reason}", err=True)
            for email in removed.removed:
                click.echo(f"Removed {email} from the suppression list.")
            for email in removed.absent:
                click.echo(f"{email} was not on the suppression list.")
            for email, opt_out, lifted in removed.kept:
                bad += 1
                click.secho(_kept_message(email, opt_out.reason, opt_out.source, lifted), err=True)
        results = []
        if addresses and not remove:
            results.append((suppress_addresses(ledger, addresses, reason=reason), "argument "))
        if csv_path is not None:
            results.append((import_suppressions(ledger, csv_path, reason=reason), f"{csv_path}:"))
        for result, where in results:
            for row in result.bad:
                bad += 1
                click.secho(
                    f"skipped {where}{row.line} ({row.value!r}): {row.reason}",
                    fg="yellow",
                    err=True,
                )
            click.echo(f"Suppressed {result.added} new, {result.already} already on the list.")
        count = ledger.suppression_count()
        click.echo(f"The suppression list now holds {plural(count, 'address')}.")
    return EXIT_CONFIG if bad else 0
