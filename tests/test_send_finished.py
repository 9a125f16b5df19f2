"""After a send finished: an edited issue, a no-op re-run and send-due say the same thing
(issue 12, points 7 and 12), through the real ``digest`` command."""

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
    write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org"])
    (tmp_path / "issues").mkdir()
    (tmp_path / "issues" / "issue-7.yaml").write_text(
        issue_yaml(send_at="2026-11-20T08:00:00+00:00"), encoding="utf-8"
    )
    return tmp_path


def _finished_at(folder: Path) -> str:
    db = sqlite3.connect(folder / "ledger.sqlite3")
    try:
        return str(db.execute("SELECT finished_at FROM issues").fetchone()[0])
    finally:
        db.close()


def test_editing_an_issue_after_its_send_finished_is_not_a_change_to_force(tmp_path):
    folder = _folder(tmp_path)
    assert run_digest("send", "issues/issue-7.yaml", cwd=folder).returncode == 0
    issue = folder / "issues" / "issue-7.yaml"
    issue.write_text(issue_yaml(send_at="2026-11-20T08:00:00+00:00", headline="Fixed typo"))
    again = run_digest("send", "issues/issue-7.yaml", "--log-format", "text", cwd=folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already finished; nothing to send" in again.stdout
    assert "nobody is left to send to" in again.stdout and "--force" not in again.stderr


def test_a_reader_added_after_an_edit_needs_force_and_is_counted(tmp_path):
    folder = _folder(tmp_path)
    assert run_digest("send", "issues/issue-7.yaml", cwd=folder).returncode == 0
    issue = folder / "issues" / "issue-7.yaml"
    issue.write_text(issue_yaml(send_at="2026-11-20T08:00:00+00:00", headline="Fixed typo"))
    write_csv(folder / "subs.csv", ["ann@example.org", "bob@example.org", "cy@example.org"])
    refused = run_digest("send", "issues/issue-7.yaml", cwd=folder)
    assert refused.returncode == 5
    assert "1 recipient added to the list (or chosen to go again) since" in refused.stderr
    forced = run_digest("send", "issues/issue-7.yaml", "--force", cwd=folder)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert len(list((folder / "outbox").rglob("*.eml"))) == 3


def test_a_no_op_rerun_keeps_the_finished_time(tmp_path):
    folder = _folder(tmp_path)
    assert run_digest("send", "issues/issue-7.yaml", cwd=folder).returncode == 0
    first = _finished_at(folder)
    assert run_digest("send", "issues/issue-7.yaml", cwd=folder).returncode == 0
    assert _finished_at(folder) == first
