"""Failures a person chooses to send again, and suppressions undone (issue 12, point 4),
through the real ``digest`` command."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.send_support import issue_yaml, run_digest, write_config, write_csv


def _folder(tmp_path: Path) -> Path:
    write_config(
        tmp_path,
        sending={"ledger": "ledger.sqlite3", "issues_dir": "issues"},
        audience={"recipients": "subs.csv"},
    )
    write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org", "cy@example.org"])
    (tmp_path / "issues").mkdir()
    (tmp_path / "issues" / "2026-11-20-007.yaml").write_text(issue_yaml(), encoding="utf-8")
    return tmp_path


def _break_outbox(folder: Path, *emails: str) -> list[Path]:
    """A folder where a message file should go: writing it fails for good (EISDIR)."""
    blocks = []
    for email in emails:
        block = folder / "outbox" / "issue-7" / f"{email}.eml"
        (block / "x").mkdir(parents=True)
        blocks.append(block)
    return blocks


def _unblock(blocks: list[Path]) -> None:
    for block in blocks:
        (block / "x").rmdir()
        block.rmdir()


def test_a_local_permanent_failure_goes_again_with_retry_failed(tmp_path):
    folder = _folder(tmp_path)
    blocks = _break_outbox(folder, "ann@example.org", "bob@example.org")
    first = run_digest("send", "issue-7", cwd=folder)
    assert first.returncode == 1, first.stdout + first.stderr
    _unblock(blocks)
    plain = run_digest("retry", "issue-7", cwd=folder)
    assert plain.returncode == 1  # a permanent failure is not retried by default
    again = run_digest("retry", "7", "--failed", "--log-format", "text", cwd=folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 failed recipients chosen to go again" in again.stdout
    assert (folder / "outbox" / "issue-7" / "ann@example.org.eml").is_file()
    db = sqlite3.connect(folder / "ledger.sqlite3")
    states = dict(db.execute("SELECT email, state FROM recipients"))
    assert set(states.values()) == {"sent"}
    history = db.execute("SELECT email_key, error FROM requeues ORDER BY email_key").fetchall()
    assert [k for k, _ in history] == ["ann@example.org", "bob@example.org"]
    assert all("cannot write" in e for _, e in history)


def test_retry_by_address_sends_only_that_one(tmp_path):
    folder = _folder(tmp_path)
    blocks = _break_outbox(folder, "ann@example.org", "bob@example.org")
    run_digest("send", "issue-7", cwd=folder)
    _unblock(blocks)
    one = run_digest("retry", "issue-7", "--address", "Ann@Example.org", cwd=folder)
    assert one.returncode == 1, one.stdout + one.stderr  # bob still failed
    db = sqlite3.connect(folder / "ledger.sqlite3")
    states = dict(db.execute("SELECT email, state FROM recipients"))
    assert states == {
        "ann@example.org": "sent",
        "bob@example.org": "failed",
        "cy@example.org": "sent",
    }


def test_retry_of_an_address_that_did_not_fail_changes_nothing(tmp_path):
    folder = _folder(tmp_path)
    run_digest("send", "issue-7", cwd=folder)
    done = run_digest("retry", "issue-7", "--address", "cy@example.org", cwd=folder)
    assert done.returncode == 3
    assert "cy@example.org (sent)" in done.stderr and "Nothing was changed" in done.stderr


def test_suppress_remove_undoes_a_mistake_and_the_next_send_reaches_them(tmp_path):
    folder = _folder(tmp_path)
    added = run_digest("suppress", "bob@example.org", cwd=folder)
    assert "now holds 1 address." in added.stdout
    removed = run_digest("suppress", "--remove", "BOB@example.org", "zed@example.org", cwd=folder)
    assert removed.returncode == 0, removed.stderr
    assert "Removed BOB@example.org from the suppression list" in removed.stdout
    assert "zed@example.org was not on the suppression list" in removed.stdout
    assert "now holds 0 addresses." in removed.stdout
    assert run_digest("send", "issue-7", cwd=folder).returncode == 0
    assert (folder / "outbox" / "issue-7" / "bob@example.org.eml").is_file()


def test_the_send_summary_of_a_local_permanent_failure_names_retry_failed(tmp_path):
    folder = _folder(tmp_path)
    _break_outbox(folder, "ann@example.org")
    first = run_digest("send", "issue-7", "--log-format", "text", cwd=folder)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "refused by the provider" not in first.stdout  # the outbox refused it, not a provider
    assert "`digest retry " in first.stdout and " --failed`" in first.stdout, first.stdout


def test_retry_failed_counts_the_chosen_recipients_once(tmp_path):
    folder = _folder(tmp_path)
    _break_outbox(folder, "bob@example.org")
    first = run_digest("send", "issue-7", cwd=folder)
    assert first.returncode == 1, first.stdout + first.stderr
    (folder / "outbox" / "issue-7" / "bob@example.org.eml" / "x").rmdir()
    (folder / "outbox" / "issue-7" / "bob@example.org.eml").rmdir()
    again = run_digest("retry", "7", "--failed", "--log-format", "text", cwd=folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 failed recipient chosen to go again" in again.stdout
    assert "retryable failure" not in again.stdout, again.stdout  # not counted a second time
