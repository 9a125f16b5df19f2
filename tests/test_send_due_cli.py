"""``digest send-due`` as cron runs it: it says when an issue is due, and reads the whole
folder before sending anything (issue 12, point 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.send_support import issue_yaml, run_digest, write_config, write_csv


def _folder(tmp_path: Path, issues: dict[str, tuple[int, datetime]]) -> Path:
    write_config(
        tmp_path,
        sending={"ledger": "ledger.sqlite3", "issues_dir": "issues"},
        audience={"recipients": "subs.csv"},
    )
    write_csv(tmp_path / "subs.csv", ["ann@example.org"])
    (tmp_path / "issues").mkdir()
    for name, (number, when) in issues.items():
        (tmp_path / "issues" / f"{name}.yaml").write_text(
            issue_yaml(number=number, send_at=when.isoformat(), headline=name), encoding="utf-8"
        )
    return tmp_path


def test_an_issue_not_yet_due_says_when_it_is(tmp_path):
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2, hours=3, minutes=30)
    folder = _folder(tmp_path, {"2026-12-04-015": (15, later)})
    done = run_digest("send-due", "--log-format", "text", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert f"issue-15: not yet due: due at {later.isoformat()} (in 2 days 3 hours)" in done.stdout
    assert not (folder / "ledger.sqlite3").exists()


def test_two_files_with_one_number_are_reported_before_either_is_sent(tmp_path):
    past = datetime.now(UTC) - timedelta(hours=1)
    folder = _folder(tmp_path, {"a-first": (15, past), "b-second": (15, past)})
    done = run_digest("send-due", "--log-format", "text", cwd=folder)
    assert done.returncode == 3
    assert "a-first.yaml" in done.stdout and "b-second.yaml" in done.stdout
    assert not (folder / "outbox").exists()


def test_a_due_issue_that_fails_its_checks_leaves_no_ledger(tmp_path):
    from tests.send_support import cli_env

    past = datetime.now(UTC) - timedelta(hours=1)
    folder = _folder(tmp_path, {"due": (15, past)})
    env = cli_env()
    del env["DIGEST_SECRET"]
    done = run_digest("send-due", "--log-format", "text", cwd=folder, env=env)
    assert done.returncode == 3 and "DIGEST_SECRET" in done.stdout
    assert not (folder / "ledger.sqlite3").exists()


def test_a_due_issue_that_sends_cleanly_logs_no_error_line(tmp_path):
    past = datetime.now(UTC) - timedelta(hours=1)
    folder = _folder(tmp_path, {"due": (15, past)})
    done = run_digest("send-due", "--log-format", "json", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"event": "due"' in done.stdout
    assert '"level": "error"' not in done.stdout, done.stdout
