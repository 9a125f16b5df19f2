"""The send commands as a user runs them: exit statuses, plans, status, suppress, send-due."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.send_support import (
    SECRET,
    cli_env,
    issue_yaml,
    run_digest,
    start_digest,
    write_config,
    write_csv,
)

from digest.config import load_settings
from digest.errors import EXIT_LEDGER
from digest.sending import send_due
from digest.sending.due import due_exit_code
from servers.kit import loopback
from servers.resend import FakeResend

__all__ = ["loopback"]


def _folder(tmp_path: Path, **sending: object) -> Path:
    write_config(
        tmp_path,
        sending={"ledger": "ledger.sqlite3", **sending},
        audience={"recipients": "subs.csv"},
    )
    write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org", "Ann@Example.org"])
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    return tmp_path


def _resend_folder(folder: Path, loopback: Any) -> Any:
    """A folder sending through a fake Resend on loopback (the server is returned)."""
    server = loopback(FakeResend(api_key="re_test_key"))
    write_config(
        folder,
        provider="resend",
        options={"base_url": server.url},
        sending={"ledger": "ledger.sqlite3"},
        audience={"recipients": "subs.csv"},
    )
    return server


def test_send_then_status_shows_counts_by_state(tmp_path):
    folder = _folder(tmp_path)
    sent = run_digest("send", "issue-7.yaml", "--log-format", "text", cwd=folder)
    assert sent.returncode == 0, sent.stderr
    assert "3 rows: 2 new addresses (2 to send, 0 suppressed), 1 duplicate, 0 bad rows." in (
        sent.stdout
    )
    assert "earlier run" not in sent.stdout
    status = run_digest("status", "issue-7", cwd=folder)
    assert status.returncode == 0
    assert "sent        2" in status.stdout and "finished" in status.stdout
    by_file = run_digest("status", "issue-7.yaml", "--json", cwd=folder)
    assert json.loads(by_file.stdout)["counts"]["sent"] == 2


def test_json_log_lines_are_one_object_each(tmp_path):
    folder = _folder(tmp_path)
    sent = run_digest("send", "issue-7.yaml", "--log-format", "json", cwd=folder)
    events = [json.loads(line) for line in sent.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "loaded" and "progress" in kinds and kinds[-1] == "summary"
    assert events[-1]["exit_code"] == 0


def test_missing_recipients_is_a_config_error_with_exit_3(tmp_path):
    write_config(tmp_path, sending={"ledger": "ledger.sqlite3"})
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    done = run_digest("send", "issue-7.yaml", cwd=tmp_path)
    assert done.returncode == 3
    assert "--recipients" in done.stderr and "Traceback" not in done.stderr


def test_missing_secret_for_tokens_is_a_config_error_with_exit_3(tmp_path):
    folder = _folder(tmp_path)
    env = cli_env()
    del env["DIGEST_SECRET"]
    done = run_digest("send", "issue-7.yaml", cwd=folder, env=env)
    assert done.returncode == 3 and "DIGEST_SECRET" in done.stderr
    assert not (folder / "outbox").exists()


def test_secret_never_reaches_output_or_ledger(tmp_path):
    folder = _folder(tmp_path)
    done = run_digest("send", "issue-7.yaml", "--log-format", "json", cwd=folder)
    assert SECRET not in done.stdout + done.stderr
    assert SECRET.encode() not in (folder / "ledger.sqlite3").read_bytes()


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    folder = _folder(tmp_path)
    done = run_digest("send", "issue-7.yaml", "--dry-run", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "to send          2" in done.stdout and "duplicates       1" in done.stdout
    assert "1 batch of up to 1000" in done.stdout
    assert not (folder / "outbox").exists() and not (folder / "ledger.sqlite3").exists()


def test_test_send_goes_only_to_the_given_addresses(tmp_path):
    folder = _folder(tmp_path)
    done = run_digest("send", "issue-7.yaml", "--to", "editor@example.org", cwd=folder)
    assert done.returncode == 0, done.stderr
    (eml,) = (folder / "outbox").rglob("*.eml")
    assert "editor" in eml.name and "Subject: [TEST] " in eml.read_text()
    assert not (folder / "ledger.sqlite3").exists()


def test_test_send_to_a_bad_address_says_why_in_one_clean_sentence(tmp_path):
    folder = _folder(tmp_path)
    done = run_digest("send", "issue-7.yaml", "--to", "editor.example.org", cwd=folder)
    assert done.returncode == 3
    assert "--to 'editor.example.org' is not a valid address: " in done.stderr, done.stderr
    assert ".." not in done.stderr
    assert not (folder / "outbox").exists()


def test_test_send_never_replaces_a_real_recipients_message(tmp_path):
    folder = _folder(tmp_path)
    assert run_digest("send", "issue-7.yaml", cwd=folder).returncode == 0
    real = {p: p.read_bytes() for p in (folder / "outbox").rglob("*.eml")}
    address = sorted(real)[0].stem
    done = run_digest("send", "issue-7.yaml", "--to", address, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert all(p.read_bytes() == data for p, data in real.items())
    tests = [p for p in (folder / "outbox").rglob("*.eml") if p not in real]
    assert len(tests) == 1 and "Subject: [TEST] " in tests[0].read_text()


def test_suppress_adds_addresses_and_reports_bad_ones(tmp_path):
    folder = _folder(tmp_path)
    (folder / "unsubs.csv").write_text(
        "email,reason\nann@example.org,bounced\nnope,\n", encoding="utf-8"
    )
    done = run_digest(
        "suppress", "BOB@example.org", "x@", "--from-csv", "unsubs.csv", cwd=folder
    )
    assert done.returncode == 3
    assert "argument 2" in done.stderr and "unsubs.csv:3" in done.stderr
    db = sqlite3.connect(folder / "ledger.sqlite3")
    rows = sorted(db.execute("SELECT email_key, reason FROM suppressions"))
    assert rows == [("ann@example.org", "bounced"), ("bob@example.org", "unsubscribed")]
    sent = run_digest("send", "issue-7.yaml", cwd=folder)
    assert sent.returncode == 0 and not list((folder / "outbox").rglob("*.eml"))


@pytest.mark.parametrize("reason", ["bounced", "unsubscribed"])
def test_suppress_remove_with_a_reason_is_refused_and_removes_nothing(tmp_path, reason):
    """``--reason`` was silently ignored with ``--remove``, which took off every entry it
    may whatever the reason named: the combination is now a usage mistake."""
    folder = _folder(tmp_path)
    added = run_digest("suppress", "bob@example.org", "--reason", "bounced", cwd=folder)
    assert added.returncode == 0, added.stderr
    done = run_digest("suppress", "--remove", "bob@example.org", "--reason", reason, cwd=folder)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--reason is for adding" in done.stderr and "Drop --reason." in done.stderr
    db = sqlite3.connect(folder / "ledger.sqlite3")
    assert db.execute("SELECT email_key, reason FROM suppressions").fetchall() == [
        ("bob@example.org", "bounced")
    ]


@pytest.mark.parametrize(
    "command",
    [
        ("send", "issue-7.yaml", "--recipients", "twice.csv"),
        ("suppress", "--from-csv", "twice.csv"),
        ("subscribers", "import", "twice.csv"),
    ],
    ids=["send", "suppress", "subscribers-import"],
)
def test_every_reader_of_a_list_refuses_a_header_naming_the_address_twice_before_any_ledger(
    tmp_path, command
):
    """``email,email`` once suppressed the last column's address and mailed nothing else;
    ``suppress`` and ``subscribers import`` then refused it but left an empty new ledger."""
    folder = _folder(tmp_path)
    (folder / "twice.csv").write_text(
        "email,email\nkeep@real-mail.org,gone@real-mail.org\n", encoding="utf-8"
    )
    done = run_digest(*command, cwd=folder)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "twice.csv:1: the header row names the column 'email' twice" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list((folder / "outbox").rglob("*.eml"))
    assert not list(folder.glob("ledger.sqlite3*"))


@pytest.mark.parametrize(
    "command",
    [("suppress", "--from-csv", "gone.csv"), ("subscribers", "import", "gone.csv")],
    ids=["suppress", "subscribers-import"],
)
def test_a_list_that_is_not_there_is_refused_before_any_ledger(tmp_path, command):
    folder = _folder(tmp_path)
    done = run_digest(*command, cwd=folder)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "gone.csv: no such recipients file." in done.stderr
    assert not list(folder.glob("ledger.sqlite3*"))


def test_status_of_an_unknown_issue_names_the_known_ones(tmp_path):
    folder = _folder(tmp_path)
    run_digest("send", "issue-7.yaml", cwd=folder)
    done = run_digest("status", "issue-99", cwd=folder)
    assert done.returncode == 3 and "issue-7" in done.stderr


def test_status_with_a_negative_failures_count_is_a_usage_error(tmp_path):
    folder = _folder(tmp_path)
    done = run_digest("status", "issue-7", "--failures", "-1", cwd=folder)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--failures" in done.stderr


def _due_folder(tmp_path: Path, send_ats: dict[str, str | None]) -> Path:
    folder = _folder(tmp_path, issues_dir="issues", max_overdue_hours=24)
    (folder / "issues").mkdir()
    for i, (name, when) in enumerate(send_ats.items(), start=1):
        (folder / "issues" / f"{name}.yaml").write_text(
            issue_yaml(number=i, send_at=when), encoding="utf-8"
        )
    return folder


def test_send_due_sends_only_due_issues_and_skips_stale_ones_with_a_warning(tmp_path):
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    folder = _due_folder(
        tmp_path,
        {
            "due": (now - timedelta(hours=2)).isoformat(),
            "stale": (now - timedelta(hours=30)).isoformat(),
            "later": (now + timedelta(hours=2)).isoformat(),
            "unscheduled": None,
        },
    )
    (folder / "sample_issues").mkdir()
    (folder / "sample_issues" / "x.yaml").write_text(
        issue_yaml(number=9, send_at=(now - timedelta(hours=1)).isoformat()), encoding="utf-8"
    )
    settings = load_settings(folder / "digest.toml", environ={"DIGEST_SECRET": SECRET})
    results = {r.path.stem: r for r in send_due(settings, now=now)}
    assert {k: r.action for k, r in results.items()} == {
        "due": "sent",
        "stale": "overdue",
        "later": "not-yet",
        "unscheduled": "unscheduled",
    }
    assert "more than 24 hours" in results["stale"].message
    assert due_exit_code(list(results.values())) == 0
    assert sorted(p.parent.name for p in (folder / "outbox").rglob("*.eml")) == ["issue-1"] * 2

    again = {r.path.stem: r.action for r in send_due(settings, now=now)}
    assert again["due"] == "finished"


def test_send_due_reports_a_broken_issue_file_and_goes_on(tmp_path):
    now = datetime.now(UTC)
    folder = _due_folder(tmp_path, {"b-good": (now - timedelta(hours=1)).isoformat()})
    (folder / "issues" / "a-broken.yaml").write_text("number: [\n", encoding="utf-8")
    done = run_digest("send-due", "--log-format", "text", cwd=folder)
    assert done.returncode == 3
    assert "a-broken.yaml" in done.stdout
    assert len(list((folder / "outbox").rglob("*.eml"))) == 2


def test_retry_before_any_send_is_refused_and_send_due_still_sends_the_issue(tmp_path):
    """A retry of an issue never sent must not mark it finished (send-due would skip it)."""
    now = datetime.now(UTC)
    folder = _due_folder(tmp_path, {"weekly": (now - timedelta(hours=1)).isoformat()})
    done = run_digest("retry", "issues/weekly.yaml", cwd=folder)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "digest send" in done.stderr and "Traceback" not in done.stderr
    due = run_digest("send-due", cwd=folder)
    assert due.returncode == 0, due.stdout + due.stderr
    assert len(list((folder / "outbox").rglob("*.eml"))) == 2


def test_a_ledger_folder_that_cannot_be_made_is_an_error_not_a_traceback(tmp_path):
    folder = _folder(tmp_path, ledger="taken/ledger.sqlite3")
    (folder / "taken").write_text("a file where the ledger's folder should be\n")
    for args in (("suppress", "ann@example.org"), ("send", "issue-7.yaml")):
        done = run_digest(*args, cwd=folder)
        assert done.returncode == 3, done.stderr
        assert "taken" in done.stderr and "Traceback" not in done.stderr


def test_a_ledger_file_that_is_not_a_database_is_an_error_not_a_traceback(tmp_path):
    folder = _folder(tmp_path)
    (folder / "ledger.sqlite3").write_text("not a database\n")
    for args in (("status", "issue-7"), ("send", "issue-7.yaml"), ("suppress", "a@b.org")):
        done = run_digest(*args, cwd=folder)
        assert done.returncode == EXIT_LEDGER, done.stderr
        assert "ledger.sqlite3" in done.stderr and "damaged" in done.stderr
        assert "Traceback" not in done.stderr


def test_only_permanent_failures_say_retry_will_not_help(tmp_path, loopback):
    """The closing hint must not send a person to `digest retry` when nothing is retryable."""
    _resend_folder(tmp_path, loopback)
    # valid for email-validator, refused for good by the fake (ASCII domains only)
    write_csv(tmp_path / "subs.csv", ["ann@example.org", "jo@exämple.org"])
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    env = cli_env(RESEND_API_KEY="re_test_key")
    done = run_digest("send", "issue-7.yaml", "--skip-check", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed for good" in done.stdout and "digest status issue-7" in done.stdout
    # no plain retry (it would skip them); only --failed, for a cause the sender fixed
    assert "`digest retry issue-7.yaml`" not in done.stdout
    assert "`digest retry issue-7.yaml --failed`" in done.stdout


def test_sigterm_while_the_list_is_read_stops_cleanly_before_sending(tmp_path):
    """A timer's SIGTERM during a long CSV load ends with the documented status, not a kill."""
    folder = _folder(tmp_path)
    live = folder / "live.csv"
    os.mkfifo(live)
    proc = start_digest(
        "send", "issue-7.yaml", "--recipients", "live.csv", "--log-format", "text", cwd=folder
    )
    with live.open("w", encoding="utf-8") as list_writer:  # opens once digest reads the list
        list_writer.write("email,name\nann@example.org,Ann\n")
        list_writer.flush()
        proc.send_signal(signal.SIGTERM)
        list_writer.write("bob@example.org,Bob\n")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert "SIGTERM" in out and "Traceback" not in err
    assert not list(folder.rglob("*.eml")), "nothing is sent after the stop"

    rerun = run_digest("send", "issue-7.yaml", "--recipients", "subs.csv", cwd=folder)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert len(list((folder / "outbox").rglob("*.eml"))) == 2


def test_a_stop_that_lands_when_nothing_is_left_to_send_still_exits_0(tmp_path):
    """Status 0 means everything was sent: a SIGTERM after the last batch does not change it."""
    folder = _folder(tmp_path)
    assert run_digest("send", "issue-7.yaml", cwd=folder).returncode == 0
    (folder / "subs.csv").rename(folder / "sent.csv")
    os.mkfifo(folder / "subs.csv")
    proc = start_digest("send", "issue-7.yaml", "--log-format", "text", cwd=folder)
    with (folder / "subs.csv").open("w", encoding="utf-8") as list_writer:
        list_writer.write((folder / "sent.csv").read_text(encoding="utf-8"))
        list_writer.flush()
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "Interrupted" not in out and len(list(folder.rglob("*.eml"))) == 2


def test_a_list_with_no_valid_recipient_does_not_finish_the_issue(tmp_path):
    """An all-bad list sends nothing: not a success, and the timer sends once it is fixed."""
    now = datetime.now(UTC)
    folder = _due_folder(tmp_path, {"weekly": (now - timedelta(hours=1)).isoformat()})
    (folder / "subs.csv").write_text("email,name\nann@,Ann\nbob at example.org,Bob\n")
    done = run_digest("send-due", "--log-format", "text", cwd=folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no valid recipients" in done.stdout.lower()

    write_csv(folder / "subs.csv", ["ann@example.org", "bob@example.org"])
    fixed = run_digest("send-due", cwd=folder)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert len(list((folder / "outbox").rglob("*.eml"))) == 2


def test_send_due_refuses_a_new_issue_reusing_a_sent_issues_slug(tmp_path):
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    folder = _due_folder(tmp_path, {"first": (now - timedelta(hours=2)).isoformat()})
    settings = load_settings(folder / "digest.toml", environ={"DIGEST_SECRET": SECRET})
    assert [r.action for r in send_due(settings, now=now)] == ["sent"]
    (folder / "issues" / "first.yaml").unlink()
    (folder / "issues" / "second.yaml").write_text(
        issue_yaml(number=1, send_at=(now - timedelta(hours=1)).isoformat(), headline="Other"),
        encoding="utf-8",
    )
    results = {r.path.stem: r for r in send_due(settings, now=now)}
    assert results["second"].action == "error" and results["second"].exit_code == 3
    assert "was already sent" in results["second"].message
    assert len(list((folder / "outbox").rglob("*.eml"))) == 2


def test_send_due_refuses_two_files_with_one_slug_before_sending_either(tmp_path):
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    folder = _due_folder(tmp_path, {"a": (now - timedelta(hours=2)).isoformat()})
    (folder / "issues" / "b.yaml").write_text(
        issue_yaml(number=1, send_at=(now - timedelta(hours=1)).isoformat(), headline="B"),
        encoding="utf-8",
    )
    settings = load_settings(folder / "digest.toml", environ={"DIGEST_SECRET": SECRET})
    results = {r.path.stem: r for r in send_due(settings, now=now)}
    assert results["a"].action == "error" and "b.yaml" in results["a"].message
    assert results["b"].action == "error" and "a.yaml" in results["b"].message
    assert not (folder / "outbox").exists() and not (folder / "ledger.sqlite3").exists()


def test_with_json_logs_an_error_is_one_more_json_line_on_stdout(tmp_path: Path) -> None:
    """A cron job reading JSON lines gets the error as JSON too, not a plain text line."""
    done = run_digest("send", "99", "--log-format", "json", cwd=tmp_path)
    assert done.returncode == 3
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["level"] == "error" and line["exit_status"] == 3
    assert "No issue '99'" in line["message"]
    assert "error:" not in done.stderr
    plain = run_digest("send", "99", cwd=tmp_path)
    assert plain.returncode == 3 and plain.stderr.startswith("error: No issue '99'")


def _counting_compiles(monkeypatch, folder: Path) -> tuple[list[int], Any]:
    """The CLI in this process, in ``folder``, counting MJML compiles (one per rendering of
    an issue) while still compiling for real."""
    from click.testing import CliRunner

    from digest import render as render_pkg

    calls: list[int] = []
    real = render_pkg.compile_mjml

    def counting(source: str) -> str:
        calls.append(1)
        return real(source)

    monkeypatch.setattr(render_pkg, "compile_mjml", counting)
    monkeypatch.chdir(folder)
    return calls, CliRunner(env={"DIGEST_SECRET": SECRET})


def test_send_renders_the_issue_once_for_the_check_and_the_send(tmp_path, monkeypatch):
    from digest.cli import cli

    folder = _folder(tmp_path)
    calls, runner = _counting_compiles(monkeypatch, folder)
    planned = runner.invoke(cli, ["send", "issue-7.yaml", "--dry-run"])
    assert planned.exit_code == 0, planned.output
    assert len(calls) == 1
    sent = runner.invoke(cli, ["send", "issue-7.yaml", "--log-format", "text"])
    assert sent.exit_code == 0, sent.output
    assert len(calls) == 2
    assert len(list((folder / "outbox").rglob("*.eml"))) == 2


def test_send_due_renders_each_due_issue_once(tmp_path, monkeypatch):
    from digest.cli import cli

    now = datetime.now(UTC)
    folder = _due_folder(tmp_path, {"due": (now - timedelta(hours=1)).isoformat()})
    calls, runner = _counting_compiles(monkeypatch, folder)
    done = runner.invoke(cli, ["send-due", "--log-format", "text"])
    assert done.exit_code == 0, done.output
    assert len(calls) == 1
    assert len(list((folder / "outbox").rglob("*.eml"))) == 2


def test_send_of_an_issue_that_does_not_load_still_names_its_line(tmp_path):
    folder = _folder(tmp_path)
    (folder / "issue-7.yaml").write_text(
        issue_yaml().replace("  url: https://example.org/a", "  url: [1, 2]"), encoding="utf-8"
    )
    for args in (("--dry-run",), ()):
        done = run_digest("send", "issue-7.yaml", *args, cwd=folder)
        assert done.returncode != 0
        assert done.stderr.count("issue-7.yaml:6: article 1 → url:") == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert not (folder / "outbox").exists()


def test_a_send_loads_httpx_but_not_its_command_line(tmp_path, loopback):
    """httpx's own CLI (with rich and pygments) is ~50 ms of every send's start-up and is
    never run; the HTTP client itself still works (the send reaches the provider)."""
    server = _resend_folder(tmp_path, loopback)
    write_csv(tmp_path / "subs.csv", ["ann@example.org"])
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    probe = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('MODULES', *sorted({m.split('.')[0] for m in sys.modules"
        " if m.split('.')[0] in ('httpx', 'rich', 'pygments')}), file=sys.stderr))\n"
        "sys.argv = ['digest', *sys.argv[1:]]\n"
        "runpy.run_module('digest', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "send", "issue-7.yaml", "--skip-check"],
        cwd=tmp_path,
        env=cli_env(RESEND_API_KEY="re_test_key"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MODULES httpx\n" in done.stderr, done.stderr
    assert server.app.deliveries("ann@example.org") == 1
