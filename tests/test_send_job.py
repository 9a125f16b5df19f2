"""The send job end to end in one process, against the fake Resend and the file backend."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.send_support import SECRET, issue_yaml, settings_for, write_config, write_csv

from digest.errors import (
    EXIT_CHANGED,
    EXIT_PARTIAL,
    IssueChangedError,
    LedgerError,
    LockHeldError,
)
from digest.sending import (
    JobLock,
    Ledger,
    Reporter,
    ledger_path,
    lock_path,
    plan_send,
    prepare_issue,
    send_issue,
    send_test,
)
from digest.sending.tokens import verify
from servers.kit import LoopbackServer, loopback
from servers.resend import FakeResend

__all__ = ["loopback"]

API_KEY = "re_test_key"


class Collect(Reporter):
    """A reporter that keeps every event, to check what a person would be told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.progressed = 0

    def event(self, kind: str, message: str, **data: Any) -> None:
        self.events.append((kind, message, data))

    def progress(self, sent: int, failed: int) -> None:
        self.progressed += sent + failed

    def lines(self, kind: str) -> list[str]:
        return [m for k, m, _ in self.events if k == kind]


@pytest.fixture
def resend(loopback: Callable[[FakeResend], LoopbackServer]) -> tuple[FakeResend, LoopbackServer]:
    fake = FakeResend(api_key=API_KEY)
    return fake, loopback(fake)


def _resend_setup(tmp_path: Path, server: LoopbackServer, **delivery: Any):  # type: ignore[no-untyped-def]
    config = write_config(
        tmp_path,
        provider="resend",
        options={"base_url": server.url},
        delivery={"max_retries": 2, "backoff": 0.01, "timeout": 5, **delivery},
        sending={"ledger": "ledger.sqlite3"},
    )
    settings = settings_for(config, RESEND_API_KEY=API_KEY)
    issue = tmp_path / "issue-7.yaml"
    issue.write_text(issue_yaml(), encoding="utf-8")
    return settings, issue


def test_csv_with_bad_rows_case_duplicates_and_suppressed_addresses(tmp_path, resend):
    """Bad rows are named by line, case-duplicates get one message, suppressed ones none."""
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server)
    csv = tmp_path / "subs.csv"
    csv.write_text(
        "email,name\n"
        "ann@example.org,Ann\n"
        "ANN@Example.org,Ann again\n"
        "not an address,X\n"
        "bob@example.org,Bob\n"
        "carol@example.org,Carol\n"
        "@example.org,Y\n"
        "Dan@Example.org,Dan\n"
        "dan@example.org,Dan again\n",
        encoding="utf-8",
    )
    with Ledger(ledger_path(settings)) as ledger:
        ledger.suppress([("Carol@example.org", "unsubscribed"), ("bob@EXAMPLE.org", "bounced")])
    reporter = Collect()
    report = send_issue(settings, prepare_issue(settings, issue), recipients=csv, reporter=reporter)

    bad = [m for m in reporter.lines("warning") if "skipped" in m]
    assert len(bad) == 2
    assert f"{csv}:4:" in bad[0] and f"{csv}:7:" in bad[1]
    assert report.exit_code == 0 and report.duplicates == 2 and report.bad_rows == 2
    assert fake.deliveries("ann@example.org") == 1
    assert fake.deliveries("dan@example.org") == 1
    assert fake.deliveries("bob@example.org") == 0
    assert fake.deliveries("carol@example.org") == 0
    assert len(fake.sent) == 2
    assert report.counts["sent"] == 2 and report.counts["suppressed"] == 2


def test_each_message_is_personalised_from_one_render(tmp_path, resend):
    """Name and a verifiable per-recipient unsubscribe link reach body, text and headers."""
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server)
    csv = write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org"])
    send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    by_to = {s.to[0].rpartition("<")[2].rstrip(">"): s for s in fake.sent}
    for i, address in enumerate(["ann@example.org", "bob@example.org"]):
        sent = by_to[address]
        token = sent.headers["List-Unsubscribe"].split("/u/")[1].rstrip(">")
        assert verify(token, SECRET, settings.newsletter.list_id) == address
        assert f"https://example.org/u/{token}" in (sent.html or "")
        assert f"https://example.org/u/{token}" in (sent.text or "")
        assert f"Reader {i}" in (sent.text or "")


def test_a_second_job_while_one_holds_the_lock_exits_at_once(tmp_path, resend):
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server)
    csv = write_csv(tmp_path / "subs.csv", ["ann@example.org"])
    with JobLock(lock_path(settings)), pytest.raises(LockHeldError) as err:
        send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert err.value.exit_code == 4
    assert fake.sent == []


def test_resuming_an_edited_issue_is_refused_unless_forced(tmp_path, resend):
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server, max_retries=0)
    csv = write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org"])
    server.faults.fail(1, status=503)  # not sent (a 500 could have been taken)
    first = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert first.exit_code == EXIT_PARTIAL and first.counts["failed_retryable"] == 2

    issue.write_text(issue_yaml(headline="A corrected story"), encoding="utf-8")
    edited = prepare_issue(settings, issue)
    with pytest.raises(IssueChangedError) as err:
        send_issue(settings, edited, recipients=csv)
    assert err.value.exit_code == EXIT_CHANGED and "--force" in str(err.value)
    assert fake.sent == []

    forced = send_issue(settings, edited, recipients=csv, force=True)
    assert forced.exit_code == 0 and len(fake.sent) == 2
    assert all("A corrected story" in (s.text or "") for s in fake.sent)


def test_an_unchanged_rerun_after_success_sends_nothing(tmp_path, resend):
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server)
    csv = write_csv(tmp_path / "subs.csv", [f"r{i}@example.org" for i in range(150)])
    assert send_issue(settings, prepare_issue(settings, issue), recipients=csv).exit_code == 0
    again = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert again.already_finished and again.exit_code == 0
    assert len(fake.sent) == 150 and len(server.requests) == 2


def test_permanent_rejection_of_one_address_fails_only_that_recipient(tmp_path, resend):
    """Resend refuses a whole batch for one bad address: the job isolates it and goes on."""
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server)
    # valid for email-validator, refused by the fake's stricter (ASCII-domain) pattern
    csv = write_csv(tmp_path / "subs.csv", ["ann@example.org", "jo@exämple.org", "b@x.org"])
    report = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert report.exit_code == EXIT_PARTIAL
    with Ledger(ledger_path(settings)) as ledger:
        ((email_, error, retryable),) = ledger.failures("issue-7")
    assert email_ == "jo@exämple.org" and not retryable and error
    assert fake.deliveries("ann@example.org") == 1 and fake.deliveries("b@x.org") == 1


def test_retry_sends_only_the_retryable_failures(tmp_path, resend):
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server, max_retries=0)
    csv = write_csv(tmp_path / "subs.csv", [f"r{i}@example.org" for i in range(250)])
    server.faults.fail(1, status=503)
    first = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert first.counts["failed_retryable"] == 100 and first.counts["sent"] == 150

    csv.write_text("email\nlate@example.org\n", encoding="utf-8")
    again = send_issue(settings, prepare_issue(settings, issue), retry_only=True)
    assert again.exit_code == 0 and again.counts["sent"] == 250
    assert fake.deliveries("late@example.org") == 0
    assert all(fake.deliveries(f"r{i}@example.org") == 1 for i in range(250))


def test_dry_run_plans_batches_and_eta_and_sends_nothing(tmp_path, resend):
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server, rate=10)
    emails = [f"r{i}@example.org" for i in range(230)] + ["R1@example.org", "bad@"]
    csv = write_csv(tmp_path / "subs.csv", emails)
    with Ledger(ledger_path(settings)) as ledger:
        ledger.suppress([("r2@example.org", "complained")])
    plan = plan_send(settings, prepare_issue(settings, issue), recipients=csv)
    assert (plan.rows_read, plan.bad_rows, plan.duplicates, plan.suppressed) == (232, 1, 1, 1)
    # at 10 messages a second a call carries at most 10; 22 full batches wait 1 s each
    assert plan.to_send == 229 and plan.batch_size == 10 and plan.batches == 23
    assert plan.eta_seconds == pytest.approx(22.0)
    assert plan.idempotent and plan.duplicate_bound == 0
    # Resend forgets a key after 24 hours: a later resume can leave a call's batch unknown
    assert plan.idempotency_window == 23 * 3600
    assert plan.unknown_bound == plan.batch_size * plan.concurrency
    assert fake.sent == [] and server.requests == []
    with Ledger(ledger_path(settings)) as ledger:
        assert ledger.issue("issue-7") is None


def test_dry_run_warns_about_missing_unsubscribe_link_and_postal_address(tmp_path):
    config = write_config(tmp_path, unsubscribe=False)
    text = config.read_text().replace('postal_address = "1 Example Street, Springfield"\n', "")
    config.write_text(text)
    settings = settings_for(config)
    issue = tmp_path / "issue-7.yaml"
    issue.write_text(issue_yaml(), encoding="utf-8")
    csv = write_csv(tmp_path / "subs.csv", ["ann@example.org"])
    plan = plan_send(settings, prepare_issue(settings, issue), recipients=csv)
    assert any("unsubscribe" in w.lower() for w in plan.warnings)
    assert any("postal address" in w.lower() for w in plan.warnings)


def test_a_test_send_prefixes_the_subject_and_never_touches_the_ledger(tmp_path, resend):
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server)
    with Ledger(ledger_path(settings)) as ledger:
        ledger.suppress([("editor@example.org", "unsubscribed")])
    before = sqlite3.connect(ledger_path(settings)).execute(
        "SELECT COUNT(*) FROM recipients"
    ).fetchone()
    results = send_test(settings, prepare_issue(settings, issue), ["editor@example.org"])
    assert [r.ok for r in results] == [True]
    (sent,) = fake.sent
    assert sent.subject.startswith("[TEST] ")
    db = sqlite3.connect(ledger_path(settings))
    assert db.execute("SELECT COUNT(*) FROM recipients").fetchone() == before
    assert db.execute("SELECT COUNT(*) FROM issues").fetchone() == (0,)


def test_file_backend_writes_one_personalised_eml_per_recipient(tmp_path):
    config = write_config(tmp_path, sending={"ledger": "ledger.sqlite3"})
    settings = settings_for(config)
    issue = tmp_path / "issue-7.yaml"
    issue.write_text(issue_yaml(), encoding="utf-8")
    csv = write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org"])
    report = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert report.exit_code == 0
    files = sorted((tmp_path / "outbox").rglob("*.eml"))
    assert len(files) == 2
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "ann@example.org"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = str(msg["List-Unsubscribe"]).split("/u/")[1].rstrip(">")
    assert verify(token, SECRET, settings.newsletter.list_id) == "ann@example.org"
    body = msg.get_body(("plain",))
    assert body is not None and "Reader 0" in body.get_content()
    first_id = msg["Message-ID"]
    send_issue(settings, prepare_issue(settings, issue), recipients=csv, force=True)
    with Ledger(ledger_path(settings)) as ledger:
        ledger.db.execute("UPDATE recipients SET state = 'failed', retryable = 1")
        ledger.db.execute("UPDATE issues SET finished_at = NULL")
    send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    again = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert again["Message-ID"] == first_id, "the Message-ID is stable per issue and recipient"


def test_an_unsubscribe_after_a_retryable_failure_is_honoured_by_the_retry(tmp_path, resend):
    """A failed recipient who unsubscribes before the retry gets nothing and is suppressed."""
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server, max_retries=0)
    csv = write_csv(tmp_path / "subs.csv", [f"r{i}@example.org" for i in range(250)])
    server.faults.fail(1, status=503)
    first = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert first.counts["failed_retryable"] == 100
    with Ledger(ledger_path(settings)) as ledger:
        gone = ledger.failures("issue-7")[0][0]
        ledger.suppress([(gone, "unsubscribed")])

    again = send_issue(settings, prepare_issue(settings, issue), retry_only=True)
    assert fake.deliveries(gone) == 0
    assert again.exit_code == 0 and again.counts["suppressed"] == 1
    assert again.counts["sent"] == 249 and len(fake.sent) == 249


def test_a_forced_resume_never_reuses_an_idempotency_key_with_the_edited_body(tmp_path, resend):
    """A batch reopened for retry after --force goes under a key of the new content."""
    _, server = resend
    settings, issue = _resend_setup(tmp_path, server, max_retries=0)
    csv = write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org"])
    server.faults.fail(1, status=503)  # not sent (a 500 could have been taken)
    send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    issue.write_text(issue_yaml(headline="A corrected story"), encoding="utf-8")
    forced = send_issue(settings, prepare_issue(settings, issue), recipients=csv, force=True)
    assert forced.exit_code == 0
    first_key, second_key = (r.headers["idempotency-key"] for r in server.requests)
    assert first_key != second_key


def test_rows_added_to_the_list_after_a_finished_send_go_out_on_the_next_send(tmp_path, resend):
    """A subscriber appended while (or after) the list was sent is not skipped by a rerun."""
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server)
    csv = write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org"])
    assert send_issue(settings, prepare_issue(settings, issue), recipients=csv).finished
    with csv.open("a", encoding="utf-8") as f:
        f.write("late@example.org,Late\n")

    again = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert not again.already_finished and again.sent_now == 1 and again.exit_code == 0
    assert fake.deliveries("late@example.org") == 1 and len(fake.sent) == 3
    third = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert third.already_finished and len(fake.sent) == 3


def test_the_dry_run_counts_and_reports_the_audience_exactly_as_the_send_does(tmp_path, resend):
    """Both load the list through one path: same counts, same bad-row warnings."""
    fake, server = resend
    _, issue = _resend_setup(tmp_path, server)
    (tmp_path / "unsubs.csv").write_text("email\nbob@example.org\nnot-an-address\n")
    config = write_config(
        tmp_path,
        provider="resend",
        options={"base_url": server.url},
        sending={"ledger": "ledger.sqlite3"},
        audience={"suppressions": "unsubs.csv"},
    )
    settings = settings_for(config, RESEND_API_KEY=API_KEY)
    emails = ["ann@example.org", "ANN@example.org", "bob@example.org", "x@"]
    csv = write_csv(tmp_path / "subs.csv", emails)
    planned, sent = Collect(), Collect()
    plan = plan_send(settings, prepare_issue(settings, issue), recipients=csv, reporter=planned)
    report = send_issue(settings, prepare_issue(settings, issue), recipients=csv, reporter=sent)
    fields = ("rows_read", "added", "duplicates", "bad_rows", "suppressed")
    assert [getattr(plan, f) for f in fields] == [getattr(report, f) for f in fields]
    assert [getattr(plan, f) for f in fields] == [4, 2, 1, 1, 1]
    assert planned.lines("warning") == sent.lines("warning")
    assert any("unsubs.csv:3" in w for w in planned.lines("warning"))
    assert plan.to_send == report.sent_now == len(fake.sent) == 1


def test_a_ledger_that_cannot_be_written_mid_send_stops_with_a_message_and_resumes(tmp_path):
    """An SQLite failure while recording results (a full disk, say) is a LedgerError naming
    the ledger, not a traceback; the batch stays `sending` and the next run finishes the send
    (the file backend is idempotent, so it goes again with its key)."""
    config = write_config(tmp_path, sending={"ledger": "ledger.sqlite3"})
    settings = settings_for(config)
    issue = tmp_path / "issue-7.yaml"
    issue.write_text(issue_yaml(), encoding="utf-8")
    csv = write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org"])
    with Ledger(ledger_path(settings)) as ledger:
        ledger.db.execute(
            "CREATE TRIGGER full_disk BEFORE UPDATE OF state ON recipients "
            "WHEN NEW.state = 'sent' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    with pytest.raises(LedgerError) as err:
        send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert "ledger.sqlite3" in str(err.value) and "disk is full" in str(err.value)

    with Ledger(ledger_path(settings)) as ledger:
        ledger.db.execute("DROP TRIGGER full_disk")
        states = ledger.db.execute("SELECT state FROM batches").fetchall()
        assert states == [("sending",)]
    again = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert again.exit_code == 0 and again.counts["sent"] == 2
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 2


def _lost_to_the_end(tmp_path: Path, resend: Any, n: int) -> tuple[Any, Any, Any, list[str]]:
    """A first run at Resend whose first call is taken, then every answer lost (the call and
    its two repeats under the key): its members are unknown, the run exits 8."""
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server, max_retries=2)
    emails = [f"r{i}@example.org" for i in range(n)]
    csv = write_csv(tmp_path / "subs.csv", emails)
    server.faults.drop(3, process=True)
    first = send_issue(settings, prepare_issue(settings, issue), recipients=csv)
    assert first.exit_code == 8 and first.counts["unknown"] == min(n, 100)
    assert all(fake.deliveries(e) == 1 for e in emails), "taken once, answers lost"
    return fake, settings, issue, emails


def test_a_batch_whose_answers_were_all_lost_is_repeated_under_its_key_and_sent_once(
    tmp_path, resend
):
    """The next run settles the lost answers by repeating the call under the same key:
    Resend answers it without sending again."""
    fake, settings, issue, emails = _lost_to_the_end(tmp_path, resend, 40)
    reporter = Collect()
    again = send_issue(settings, prepare_issue(settings, issue), retry_only=True,
                       reporter=reporter)
    assert again.exit_code == 0 and again.counts["sent"] == 40
    assert any("same idempotency key" in m for m in reporter.lines("info"))
    assert all(fake.deliveries(e) == 1 for e in emails)


def test_a_lost_batch_is_not_repeated_after_its_key_expired(tmp_path, resend):
    """Resend keeps a key 24 hours: the next day's run must not repeat the call, which
    Resend would take as new."""
    from datetime import UTC, datetime, timedelta

    fake, settings, issue, emails = _lost_to_the_end(tmp_path, resend, 40)
    day_ago = (datetime.now(UTC) - timedelta(hours=24)).isoformat(timespec="milliseconds")
    with Ledger(ledger_path(settings)) as ledger:
        ledger.db.execute("UPDATE batches SET first_attempted_at = ?", (day_ago,))
    fake.forget_keys()
    again = send_issue(settings, prepare_issue(settings, issue), retry_only=True)
    assert again.exit_code == 8 and again.counts["unknown"] == 40
    assert all(fake.deliveries(e) == 1 for e in emails)


def test_a_lost_batch_with_a_member_unsubscribed_since_is_not_repeated(tmp_path, resend):
    """Repeating it would mail the reader who left (had Resend not taken the first call):
    the batch waits as unknown instead."""
    fake, settings, issue, emails = _lost_to_the_end(tmp_path, resend, 40)
    with Ledger(ledger_path(settings)) as ledger:
        ledger.suppress([(emails[0], "unsubscribed")])
    again = send_issue(settings, prepare_issue(settings, issue), retry_only=True)
    assert again.exit_code == 8 and again.counts["unknown"] == 40
    assert all(fake.deliveries(e) == 1 for e in emails)


def test_a_lost_batch_is_not_repeated_under_the_key_of_an_edited_issue(tmp_path, resend):
    """--force sends the edited issue to the rest; a batch whose answer was lost may have
    gone with the old version, and under a new key Resend would send it again: unknown."""
    fake, settings, issue, emails = _lost_to_the_end(tmp_path, resend, 40)
    issue.write_text(issue_yaml(headline="A corrected story"), encoding="utf-8")
    forced = send_issue(settings, prepare_issue(settings, issue), retry_only=True, force=True)
    assert forced.exit_code == 8 and forced.counts["unknown"] == 40
    assert all(fake.deliveries(e) == 1 for e in emails)
    assert not any("A corrected story" in (s.text or "") for s in fake.sent)


def _died_mid_call(
    settings: Any, prepared: Any, emails: list[str], *, plan_only: bool = False,
    reopened: bool = False,
) -> None:
    """The ledger a run left behind: the issue started, ``emails`` in one batch, and that
    batch's call to Resend begun when the run died (``plan_only``: planned, never called;
    ``reopened``: then reopened by the next run for a repeat under its key, which stopped
    before making it)."""
    with Ledger(ledger_path(settings)) as ledger:
        ledger.start_issue(prepared.issue_id, prepared.content_hash, prepared.content.subject)
        ledger.add_recipients(prepared.issue_id, [(e, "", {}, i) for i, e in enumerate(emails)])
        batch = ledger.plan_batch(prepared.issue_id, prepared.content_hash, 100)
        assert batch is not None
        if plan_only:
            return
        ledger.begin_attempt(batch, "resend")
        if reopened:
            ledger.settle_in_flight(
                prepared.issue_id, idempotent=True, window=3600, provider="resend"
            )


def test_a_repeat_that_fails_after_a_crash_mid_call_is_unknown_not_retryable(tmp_path, resend):
    """A call caught mid-call by a crash is repeated under its key; if the repeat fails
    (503), nobody can say whether the first call went: unknown, not a plain failure a
    later run would send under a key Resend may have forgotten by then."""
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server, max_retries=1)
    csv = write_csv(tmp_path / "subs.csv", [f"r{i}@example.org" for i in range(5)])
    prepared = prepare_issue(settings, issue)
    _died_mid_call(settings, prepared, [f"r{i}@example.org" for i in range(5)])
    server.faults.fail(2, status=503)
    again = send_issue(settings, prepared, recipients=csv)
    assert again.exit_code == 8 and again.counts["unknown"] == 5
    assert again.counts["failed_retryable"] == 0
    assert fake.sent == []


def test_retry_unknown_past_the_key_s_life_releases_a_batch_left_open_for_a_repeat(
    tmp_path, resend
):
    """A batch reopened for a repeat under its key but never called (the run stopped),
    then `retry --unknown` after the key's life: it is refused at the start of that run,
    so the release sends it (on request) in the same run."""
    from datetime import UTC, datetime, timedelta

    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server)
    prepared = prepare_issue(settings, issue)
    _died_mid_call(settings, prepared, [f"r{i}@example.org" for i in range(5)], reopened=True)
    day_ago = (datetime.now(UTC) - timedelta(hours=24)).isoformat(timespec="milliseconds")
    with Ledger(ledger_path(settings)) as ledger:
        ledger.db.execute("UPDATE batches SET first_attempted_at = ?", (day_ago,))
    again = send_issue(settings, prepared, retry_only=True, resend_unknown=True)
    assert again.exit_code == 0 and again.risked_now == 5
    assert again.counts["sent"] == 5 and len(fake.sent) == 5


def test_a_reader_who_unsubscribes_while_their_batch_waits_is_not_mailed(tmp_path, resend):
    """A batch planned by a run that stopped before its call waits, open, for the next run;
    a reader who unsubscribes meanwhile is suppressed at the call, not mailed."""
    fake, server = resend
    settings, issue = _resend_setup(tmp_path, server)
    prepared = prepare_issue(settings, issue)
    emails = [f"r{i}@example.org" for i in range(5)]
    csv = write_csv(tmp_path / "subs.csv", emails)
    _died_mid_call(settings, prepared, emails, plan_only=True)
    with Ledger(ledger_path(settings)) as ledger:
        ledger.suppress([(emails[2], "unsubscribed")])
    done = send_issue(settings, prepared, recipients=csv)
    assert done.exit_code == 0
    assert fake.deliveries(emails[2]) == 0 and len(fake.sent) == 4
    assert done.counts["suppressed"] == 1 and done.counts["sent"] == 4


def test_a_batch_left_for_a_repeat_at_resend_is_not_repeated_through_another_provider(
    tmp_path,
):
    """Switched to the file backend, the batch reopened to repeat a Resend call is refused
    at the start of the run (the file backend knows nothing of Resend's key), so it waits as
    unknown, and `retry --unknown` sends it there in the same run, on request."""
    config = write_config(tmp_path, sending={"ledger": "ledger.sqlite3"})
    settings = settings_for(config)
    issue = tmp_path / "issue-7.yaml"
    issue.write_text(issue_yaml(), encoding="utf-8")
    prepared = prepare_issue(settings, issue)
    _died_mid_call(settings, prepared, [f"r{i}@example.org" for i in range(3)], reopened=True)
    reporter = Collect()
    plain = send_issue(settings, prepared, retry_only=True, reporter=reporter)
    assert plain.exit_code == 8 and plain.unknown_now == 3
    assert any("cannot go that way any more" in m for m in reporter.lines("warning"))
    assert not (tmp_path / "outbox").exists()
    asked = send_issue(settings, prepared, retry_only=True, resend_unknown=True)
    assert asked.exit_code == 0 and asked.risked_now == 3
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 3
