"""Crash, overlap and outage scenarios: `digest` in subprocesses against real fake providers.

Each scenario runs the real CLI (``python -m digest``) against a fake provider on
127.0.0.1 whose answers the test controls: held back (so a SIGKILL lands between the server
accepting a batch and the client hearing it), or failing with 503 for a stretch.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.send_support import cli_env, issue_yaml, run_digest, start_digest, write_config

from digest.errors import EXIT_LOCKED, EXIT_PARTIAL
from servers.kit import Reply, Request, loopback
from servers.postmark import TOKEN as POSTMARK_TOKEN
from servers.postmark import FakePostmark
from servers.resend import FakeResend

__all__ = ["loopback"]

RESEND_KEY = "re_test_key"


class Gate:
    """Wraps a fake: from the ``hold_from``-th request on, the fake accepts the request
    (it is sent) but the answer waits until :meth:`release`. Failing requests
    (``fail_from`` … ``fail_from + fail_count - 1``) get a 503 without reaching the fake."""

    def __init__(
        self,
        app: Callable[[Request], Reply],
        *,
        hold_from: int | None = None,
        fail_from: int | None = None,
        fail_count: int = 0,
    ) -> None:
        self.app = app
        self.hold_from = hold_from
        self.fail_from = fail_from
        self.fail_count = fail_count
        self.seen = 0
        self.held = threading.Event()
        self.released = threading.Event()
        self.held_bodies: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        with self._lock:
            self.seen += 1
            n = self.seen
        if self.fail_from is not None and self.fail_from <= n < self.fail_from + self.fail_count:
            return Reply(503, {"message": "Service Unavailable"})
        reply = self.app(req)
        if self.hold_from is not None and n >= self.hold_from and not self.released.is_set():
            self.held_bodies.append(req.json)
            self.held.set()
            self.released.wait(60)
        return reply

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def gates() -> Any:
    made: list[Gate] = []
    yield made
    for gate in made:
        gate.release()


def _audience(folder: Path, n: int) -> tuple[Path, list[str]]:
    """n valid readers plus a bad row, a case-duplicate and a suppressed address."""
    emails = [f"reader{i}@example.org" for i in range(n)]
    rows = ["email,name", *(f"{e},Reader {i}" for i, e in enumerate(emails))]
    rows.insert(5, "not-an-address,Broken")
    rows.append("READER3@example.org,Duplicate")
    rows.append("gone@example.org,Suppressed")
    path = folder / "subs.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path, emails


def _setup(
    folder: Path, provider: str, url: str, *, n: int, **delivery: Any
) -> tuple[Path, list[str], dict[str, str]]:
    options = {"base_url": url}
    csv, emails = _audience(folder, n)
    write_config(
        folder,
        provider=provider,
        options=options,
        delivery={"max_retries": 5, "backoff": 0.01, "max_backoff": 0.05, "timeout": 30,
                  "concurrency": 1, "reconcile_delay": 0.2, **delivery},
        sending={"ledger": "ledger.sqlite3", "issues_dir": "issues"},
        audience={"recipients": "subs.csv"},
    )
    (folder / "issues").mkdir()
    (folder / "issues" / "issue-7.yaml").write_text(
        issue_yaml(send_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat()), encoding="utf-8"
    )
    (folder / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    env = cli_env(RESEND_API_KEY=RESEND_KEY, POSTMARK_SERVER_TOKEN=POSTMARK_TOKEN)
    done = run_digest("suppress", "gone@example.org", cwd=folder, env=env)
    assert done.returncode == 0, done.stderr
    assert csv.exists()
    return folder / "issue-7.yaml", emails, env


def _ledger_rows(folder: Path) -> dict[str, tuple[str, str | None]]:
    db = sqlite3.connect(folder / "ledger.sqlite3")
    return {e: (s, m) for e, s, m in db.execute("SELECT email, state, message_id FROM recipients")}


def _kill_when_held(proc: subprocess.Popen[str], gate: Gate) -> None:
    assert gate.held.wait(60), "the send never reached the held batch"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def test_sigkill_mid_send_then_resume_idempotent_provider_sends_each_once(
    tmp_path, loopback, gates
):
    fake = FakeResend(api_key=RESEND_KEY)
    gate = Gate(fake, hold_from=3)
    gates.append(gate)
    server = loopback(gate)
    issue, emails, env = _setup(tmp_path, "resend", server.url, n=450)

    proc = start_digest(
        "send", issue, "--skip-check", "--log-format", "json", cwd=tmp_path, env=env
    )
    _kill_when_held(proc, gate)
    received = len(fake.sent)
    assert 0 < received < len(emails)
    assert proc.returncode == -signal.SIGKILL
    gate.release()

    rerun = run_digest("send", issue, "--skip-check", "--log-format", "json", cwd=tmp_path, env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    counts = Counter(s.to[0].rpartition("<")[2].rstrip(">") for s in fake.sent)
    assert {e: counts[e] for e in emails} == dict.fromkeys(emails, 1)
    assert counts["gone@example.org"] == 0 and len(fake.sent) == len(emails)
    rows = _ledger_rows(tmp_path)
    assert all(rows[e][0] == "sent" for e in emails)
    ids = {s.id: s.to[0].rpartition("<")[2].rstrip(">") for s in fake.sent}
    assert all(ids[rows[e][1] or ""] == e for e in emails), "ledger ids match the server's"


def test_a_resume_after_the_idempotency_key_expired_leaves_the_batch_unknown_not_sent_twice(
    tmp_path, loopback, gates
):
    """The next day's cron resumes a send killed mid-call at Resend, which has forgotten the
    batch's key by then: repeating the call would send it again, so its members become
    unknown (exit 8) and everyone else is sent, each once."""
    fake = FakeResend(api_key=RESEND_KEY)
    gate = Gate(fake, hold_from=3)
    gates.append(gate)
    server = loopback(gate)
    issue, emails, env = _setup(tmp_path, "resend", server.url, n=450)
    proc = start_digest("send", issue, "--skip-check", cwd=tmp_path, env=env)
    _kill_when_held(proc, gate)
    gate.release()
    held = {s.to[0].rpartition("<")[2].rstrip(">") for s in fake.sent[200:]}
    assert len(held) == 100  # the third call, taken by Resend, its answer never heard
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    with db:  # a day passes: the call was made 24 hours ago, and Resend forgot its key
        db.execute(
            "UPDATE batches SET first_attempted_at = ?1, attempted_at = ?1 "
            "WHERE state = 'sending'",
            ((datetime.now(UTC) - timedelta(hours=24)).isoformat(timespec="milliseconds"),),
        )
    db.close()
    fake.forget_keys()

    rerun = run_digest("send", issue, "--skip-check", "--log-format", "text", cwd=tmp_path,
                       env=env)
    assert rerun.returncode == 8, rerun.stdout + rerun.stderr
    assert "100 recipients were in batches being sent" in rerun.stdout + rerun.stderr
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    errors = {e for (e,) in db.execute("SELECT error FROM recipients WHERE state = 'unknown'")}
    db.close()
    assert len(errors) == 1 and "no longer keeps it" in errors.pop()
    counts = Counter(s.to[0].rpartition("<")[2].rstrip(">") for s in fake.sent)
    assert {e: counts[e] for e in emails} == dict.fromkeys(emails, 1)
    rows = _ledger_rows(tmp_path)
    assert {e for e in emails if rows[e][0] == "unknown"} == held
    assert all(rows[e][0] == "sent" for e in emails if e not in held)


def test_sigkill_mid_send_at_postmark_is_reconciled_and_sends_each_once(
    tmp_path, loopback, gates
):
    """No idempotency key at Postmark: the batch in flight at the kill is looked up in its
    outbound search on the rerun, and only the members it had not accepted go again."""
    fake = FakePostmark()
    gate = Gate(fake, hold_from=2)
    gates.append(gate)
    server = loopback(gate)
    issue, emails, env = _setup(tmp_path, "postmark", server.url, n=1200)

    proc = start_digest(
        "send", issue, "--skip-check", "--log-format", "json", cwd=tmp_path, env=env
    )
    _kill_when_held(proc, gate)
    received = len(fake.mailbox)
    assert 0 < received < len(emails)
    (in_flight,) = gate.held_bodies
    in_flight_to = {m["To"].rpartition("<")[2].rstrip(">").lower() for m in in_flight}
    gate.release()

    rerun = run_digest("send", issue, "--skip-check", cwd=tmp_path, env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "500 were accepted" in rerun.stdout, rerun.stdout
    assert {e: fake.count(e) for e in emails} == dict.fromkeys(emails, 1)
    assert len(in_flight_to) == 500 and fake.count("gone@example.org") == 0
    rows = _ledger_rows(tmp_path)
    assert all(rows[e] == ("sent", fake.mailbox.to(e)[0].message_id) for e in emails)


def test_two_overlapping_send_due_runs_deliver_each_message_once(tmp_path, loopback, gates):
    fake = FakePostmark()
    gate = Gate(fake, hold_from=1)
    gates.append(gate)
    server = loopback(gate)
    _, emails, env = _setup(tmp_path, "postmark", server.url, n=40)

    first = start_digest("send-due", "--skip-check", "--log-format", "json", cwd=tmp_path, env=env)
    assert gate.held.wait(60), "the first run never reached the provider"
    second = run_digest("send-due", "--skip-check", "--log-format", "json", cwd=tmp_path, env=env)
    assert first.poll() is None, "the runs really overlapped"
    assert second.returncode == EXIT_LOCKED
    assert "holds the lock" in second.stdout  # --log-format json: the error is a JSON line
    gate.release()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert {e: fake.count(e) for e in emails} == dict.fromkeys(emails, 1)

    third = run_digest("send-due", "--skip-check", "--log-format", "json", cwd=tmp_path, env=env)
    assert third.returncode == 0
    assert len(fake.mailbox) == len(emails), "a finished issue is not sent again"


def test_provider_outage_mid_list_is_retried_and_ledger_agrees_with_server(tmp_path, loopback):
    fake = FakeResend(api_key=RESEND_KEY)
    server = loopback(Gate(fake, fail_from=2, fail_count=3))
    issue, emails, env = _setup(tmp_path, "resend", server.url, n=350)

    done = run_digest("send", issue, "--skip-check", "--log-format", "json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    statuses = [r.status for r in server.requests]
    assert statuses.count(503) == 3 and statuses[-1] == 200
    rows = _ledger_rows(tmp_path)
    server_ids = {s.to[0].rpartition("<")[2].rstrip(">"): s.id for s in fake.sent}
    assert set(server_ids) == set(emails)
    for e in emails:
        assert rows[e] == ("sent", server_ids[e])
    summary = [json.loads(line) for line in done.stdout.splitlines()][-1]
    assert summary["counts"]["sent"] == len(emails)


def test_outage_longer_than_the_retries_leaves_retryable_failures_for_the_next_run(
    tmp_path, loopback
):
    fake = FakeResend(api_key=RESEND_KEY)
    server = loopback(Gate(fake, fail_from=2, fail_count=50))
    issue, emails, env = _setup(tmp_path, "resend", server.url, n=350, max_retries=1)

    first = run_digest("send", issue, "--skip-check", cwd=tmp_path, env=env)
    assert first.returncode == EXIT_PARTIAL
    status = run_digest("status", "issue-7", "--json", cwd=tmp_path, env=env)
    counts = json.loads(status.stdout)["counts"]
    assert counts["sent"] == 100 and counts["failed_retryable"] == 250

    server.app = fake  # the outage ends
    second = run_digest("retry", issue, cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    rows = _ledger_rows(tmp_path)
    server_ids = {s.to[0].rpartition("<")[2].rstrip(">"): s.id for s in fake.sent}
    assert len(fake.sent) == len(emails)
    assert all(rows[e] == ("sent", server_ids[e]) for e in emails)


def test_sigterm_stops_after_the_batch_in_flight_and_a_rerun_finishes(tmp_path, loopback, gates):
    fake = FakeResend(api_key=RESEND_KEY)
    gate = Gate(fake, hold_from=2)
    gates.append(gate)
    server = loopback(gate)
    issue, emails, env = _setup(tmp_path, "resend", server.url, n=450)

    proc = start_digest(
        "send", issue, "--skip-check", "--log-format", "json", cwd=tmp_path, env=env
    )
    assert gate.held.wait(60)
    proc.send_signal(signal.SIGTERM)
    gate.release()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_PARTIAL, out + err
    assert "SIGTERM" in out
    assert len(fake.sent) == 200, "the batch in flight finished; no new batch started"
    states = Counter(s for s, _ in _ledger_rows(tmp_path).values())
    assert states["sent"] == 200 and states["pending"] == 250

    rerun = run_digest("send", issue, "--skip-check", cwd=tmp_path, env=env)
    assert rerun.returncode == 0
    assert sorted(s.to[0].rpartition("<")[2].rstrip(">") for s in fake.sent) == sorted(emails)
