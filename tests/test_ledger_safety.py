"""A ledger that cannot silently reset: empty, read-only, full, copied without its -wal,
replaced by a new one, backed up and restored. Real SQLite files, the real CLI."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.send_support import (
    cli_env,
    issue_yaml,
    run_digest,
    settings_for,
    start_digest,
    write_config,
    write_csv,
)

from digest.errors import EXIT_CONFIG, EXIT_LEDGER, LedgerError
from digest.sending import Ledger, prepare_issue, suppress_addresses
from digest.sending.job import ledger_path
from servers.kit import loopback
from servers.postmark import TOKEN as POSTMARK_TOKEN
from servers.postmark import FakePostmark

__all__ = ["loopback"]


def _file_folder(tmp_path: Path, n: int = 5) -> tuple[Path, list[str]]:
    emails = [f"reader{i}@example.org" for i in range(n)]
    write_csv(tmp_path / "subs.csv", emails)
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    write_config(
        tmp_path,
        sending={"ledger": "ledger.sqlite3"},
        audience={"recipients": "subs.csv"},
    )
    return tmp_path, emails


def _postmark_folder(tmp_path: Path, url: str, n: int, **delivery: object) -> list[str]:
    emails = [f"reader{i}@example.org" for i in range(n)]
    write_csv(tmp_path / "subs.csv", emails)
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    write_config(
        tmp_path,
        provider="postmark",
        options={"base_url": url},
        delivery={"concurrency": 1, "max_retries": 2, "backoff": 0.01, "timeout": 5,
                  "reconcile_delay": 0.1, **delivery},
        sending={"ledger": "ledger.sqlite3"},
        audience={"recipients": "subs.csv"},
    )
    return emails


COMMANDS = (
    ("send", "issue-7.yaml"),
    ("retry", "issue-7.yaml"),
    ("status", "issue-7"),
    ("suppress", "someone@example.org"),
    ("ledger", "backup", "copy.sqlite3"),
)


def test_a_zero_byte_ledger_is_refused_by_every_command_and_nothing_is_sent(tmp_path):
    folder, _ = _file_folder(tmp_path)
    (folder / "ledger.sqlite3").write_bytes(b"")
    for args in COMMANDS:
        done = run_digest(*args, cwd=folder)
        assert done.returncode == EXIT_LEDGER, (args, done.stdout + done.stderr)
        assert "empty (0 bytes)" in done.stderr and "Traceback" not in done.stderr
    assert not (folder / "outbox").exists(), "nobody was mailed again"
    assert (folder / "ledger.sqlite3").stat().st_size == 0, "the evidence is kept"


def _as_non_root() -> tuple[str, ...]:
    """A prefix that makes root obey file permissions (it drops the override capability)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file read-only")
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search")


def test_a_read_only_ledger_is_one_clear_message_in_every_command(tmp_path):
    folder, emails = _file_folder(tmp_path)
    first = run_digest("send", "issue-7.yaml", cwd=folder)
    assert first.returncode == 0, first.stderr
    (folder / "subs.csv").write_text(
        "email\n" + "".join(f"{e}\n" for e in [*emails, "late@example.org"]), encoding="utf-8"
    )
    (folder / "ledger.sqlite3").chmod(0o444)
    folder.chmod(0o555)
    prefix = _as_non_root()
    try:
        results = {
            args[0]: subprocess.run(
                [*prefix, sys.executable, "-m", "digest", *args],
                cwd=folder, env=cli_env(), capture_output=True, text=True, timeout=60,
            )
            for args in COMMANDS
            if args[0] != "ledger"
        }
    finally:
        folder.chmod(0o755)
        (folder / "ledger.sqlite3").chmod(0o644)
    for name in ("send", "retry", "suppress"):
        done = results[name]
        assert done.returncode == EXIT_LEDGER, (name, done.stdout + done.stderr)
        assert "read-only" in done.stderr and "Traceback" not in done.stderr
    status = results["status"]
    assert status.returncode == 0, status.stderr
    assert "sent        5" in status.stdout
    assert not (folder / "outbox" / "issue-7" / "late@example.org.eml").exists()


def test_a_full_disk_is_a_ledger_error_not_a_traceback(tmp_path):
    """``PRAGMA max_page_count`` caps the file where it is: SQLite answers SQLITE_FULL."""
    folder, _ = _file_folder(tmp_path)
    write_csv(folder / "big.csv", [f"r{i}@example.org" for i in range(3000)])
    settings = settings_for(folder / "digest.toml")
    prepared = prepare_issue(settings, folder / "issue-7.yaml")
    with Ledger(ledger_path(settings)) as ledger:
        pages = ledger.db.execute("PRAGMA page_count").fetchone()[0]
        ledger.db.execute(f"PRAGMA max_page_count = {pages}").fetchone()
        from digest.delivery.base import get_provider
        from digest.sending.job import run_send

        with get_provider(settings) as provider, pytest.raises(LedgerError) as err:
            run_send(settings, prepared, ledger, provider, recipients=folder / "big.csv")
        assert "disk is full" in str(err.value) and "ledger.sqlite3" in str(err.value)
        with pytest.raises(LedgerError, match="disk is full"):
            suppress_addresses(ledger, [f"s{i}@example.org" for i in range(3000)])
    assert not list((folder / "outbox").rglob("*.eml")), "nothing sent without a record"


def test_a_ledger_copied_without_its_wal_after_a_kill_sends_nobody_twice(tmp_path, loopback):
    """Every batch is checkpointed into the main file before its call (with the results of
    the batches before it), so the file alone (its -wal lost, as a naive copy loses it) still
    knows every batch that may have gone."""
    fake = FakePostmark()
    server = fake.server = loopback(fake)
    emails = _postmark_folder(tmp_path, server.url, 200, batch_size=40)
    server.faults.passthrough(3)  # the new-ledger check, then two batches
    server.faults.hold()
    env = cli_env(POSTMARK_SERVER_TOKEN=POSTMARK_TOKEN)
    proc = start_digest("send", "issue-7.yaml", "--skip-check", cwd=tmp_path, env=env)
    assert server.faults.wait_held(1, timeout=60), "the third batch never reached Postmark"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    server.faults.release()
    assert len(fake.mailbox) == 120
    for leftover in ("ledger.sqlite3-wal", "ledger.sqlite3-shm"):
        (tmp_path / leftover).unlink(missing_ok=True)

    again = run_digest("send", "issue-7.yaml", "--skip-check", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {e: fake.count(e) for e in emails} == dict.fromkeys(emails, 1)
    assert "40 were accepted" in again.stdout


def test_a_finished_send_is_in_the_main_file_even_while_another_process_reads_it(tmp_path):
    """The job checkpoints when it ends: with a reader holding the ledger open (as
    ``digest serve`` does), closing the send's connection copies nothing back, yet the file
    alone, without its -wal, has every result, the last batch's too."""
    folder, emails = _file_folder(tmp_path, n=30)
    with Ledger(folder / "ledger.sqlite3"):
        pass
    reader = sqlite3.connect(folder / "ledger.sqlite3")
    try:
        reader.execute("SELECT COUNT(*) FROM recipients").fetchone()
        sent = run_digest("send", "issue-7.yaml", cwd=folder)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert (folder / "ledger.sqlite3-wal").exists(), "the reader should keep the -wal"
        alone = tmp_path / "alone"
        alone.mkdir()
        shutil.copy(folder / "ledger.sqlite3", alone / "ledger.sqlite3")
    finally:
        reader.close()
    copy = sqlite3.connect(alone / "ledger.sqlite3")
    try:
        states = copy.execute("SELECT state, COUNT(*) FROM recipients GROUP BY state").fetchall()
    finally:
        copy.close()
    assert states == [("sent", len(emails))]


def test_a_new_ledger_for_an_issue_the_outbox_already_holds_is_refused(tmp_path):
    folder, emails = _file_folder(tmp_path)
    assert run_digest("send", "issue-7.yaml", cwd=folder).returncode == 0
    for name in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"):
        (folder / name).unlink(missing_ok=True)
    refused = run_digest("send", "issue-7.yaml", cwd=folder)
    assert refused.returncode == EXIT_LEDGER, refused.stdout + refused.stderr
    assert "already holds 5 message(s)" in refused.stderr and "--new-ledger" in refused.stderr
    forced = run_digest("send", "issue-7.yaml", "--new-ledger", cwd=folder)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert len(list((folder / "outbox").rglob("*.eml"))) == len(emails)


def test_a_new_ledger_for_an_issue_postmark_already_sent_is_refused(tmp_path, loopback):
    fake = FakePostmark()
    server = fake.server = loopback(fake)
    emails = _postmark_folder(tmp_path, server.url, 12)
    env = cli_env(POSTMARK_SERVER_TOKEN=POSTMARK_TOKEN)
    assert run_digest("send", "issue-7.yaml", "--skip-check", cwd=tmp_path, env=env).returncode == 0
    (tmp_path / "ledger.sqlite3").rename(tmp_path / "lost.sqlite3")
    refused = run_digest("send", "issue-7.yaml", "--skip-check", cwd=tmp_path, env=env)
    assert refused.returncode == EXIT_LEDGER, refused.stdout + refused.stderr
    assert "postmark already holds 12 message(s)" in refused.stderr
    assert {e: fake.count(e) for e in emails} == dict.fromkeys(emails, 1)


def test_a_refused_token_stops_the_run_and_leaves_everyone_pending(tmp_path, loopback):
    fake = FakePostmark()
    server = fake.server = loopback(fake)
    emails = _postmark_folder(tmp_path, server.url, 30, batch_size=10)
    bad = run_digest("send", "issue-7.yaml", "--skip-check", "--new-ledger", cwd=tmp_path,
                     env=cli_env(POSTMARK_SERVER_TOKEN="wrong-token"))
    assert bad.returncode == EXIT_CONFIG, bad.stdout + bad.stderr
    assert "POSTMARK_SERVER_TOKEN" in bad.stderr and "wrong-token" not in bad.stderr
    assert len([q for q in server.requests if q.method == "POST"]) == 1, "the run stopped"
    env = cli_env(POSTMARK_SERVER_TOKEN=POSTMARK_TOKEN)
    status = run_digest("status", "issue-7", "--json", cwd=tmp_path, env=env)
    assert '"pending": 30' in status.stdout and '"failed": 0' in status.stdout
    good = run_digest("send", "issue-7.yaml", "--skip-check", cwd=tmp_path, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert {e: fake.count(e) for e in emails} == dict.fromkeys(emails, 1)


def test_an_ambiguous_batch_shrinks_the_batches_after_it(tmp_path, loopback):
    fake = FakePostmark()
    server = fake.server = loopback(fake)
    emails = _postmark_folder(tmp_path, server.url, 200, batch_size=80)
    server.faults.passthrough(1)
    server.faults.fail(1, status=500)  # maybe processed: nothing is sent again blindly
    done = run_digest("send", "issue-7.yaml", "--skip-check", cwd=tmp_path,
                      env=cli_env(POSTMARK_SERVER_TOKEN=POSTMARK_TOKEN))
    assert done.returncode == 0, done.stdout + done.stderr
    sizes = [len(q.json) for q in server.requests if q.method == "POST"]
    assert sizes[:3] == [80, 40, 40], sizes
    assert "Batches shrink to 40" in done.stdout
    assert {e: fake.count(e) for e in emails} == dict.fromkeys(emails, 1)


def test_backup_restores_a_working_ledger(tmp_path):
    folder, emails = _file_folder(tmp_path)
    assert run_digest("send", "issue-7.yaml", cwd=folder).returncode == 0
    backed = run_digest("ledger", "backup", "safe/backup.sqlite3", cwd=folder)
    assert backed.returncode == 0 and "Backed up" in backed.stdout, backed.stderr
    copy = folder / "safe" / "backup.sqlite3"
    assert sqlite3.connect(copy).execute("PRAGMA integrity_check").fetchone() == ("ok",)

    (folder / "ledger.sqlite3").write_bytes(b"")  # the ledger is lost
    assert run_digest("status", "issue-7", cwd=folder).returncode == EXIT_LEDGER
    shutil.copyfile(copy, folder / "ledger.sqlite3")
    status = run_digest("status", "issue-7", cwd=folder)
    assert status.returncode == 0 and "sent        5" in status.stdout
    again = run_digest("send", "issue-7.yaml", cwd=folder)
    assert again.returncode == 0 and "already finished" in again.stdout
    assert len(list((folder / "outbox").rglob("*.eml"))) == len(emails)


def test_backup_of_a_missing_ledger_says_so(tmp_path):
    folder, _ = _file_folder(tmp_path)
    done = run_digest("ledger", "backup", "b.sqlite3", cwd=folder)
    assert done.returncode == EXIT_CONFIG and "no send ledger yet" in done.stderr


def test_a_damaged_ledger_is_caught_by_the_check_on_open(tmp_path):
    """``quick_check`` finds broken pages that a plain open would not notice."""
    folder, _ = _file_folder(tmp_path)
    path = folder / "ledger.sqlite3"
    db = sqlite3.connect(path)  # not through Ledger: this process's check cache stays clean
    db.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY, text TEXT)")
    db.executemany("INSERT INTO filler VALUES (?, ?)", ((i, "x" * 100) for i in range(5000)))
    db.commit()
    db.close()
    data = bytearray(path.read_bytes())
    for page in range(10, len(data) // 4096 - 1, 7):
        data[page * 4096 : page * 4096 + 8] = b"\x55" * 8
    path.write_bytes(bytes(data))
    for args in (("status", "issue-7"), ("send", "issue-7.yaml")):
        done = run_digest(*args, cwd=folder)
        assert done.returncode == EXIT_LEDGER, done.stdout + done.stderr
        assert "damaged" in done.stderr and "backup" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (folder / "outbox").exists()


def test_a_ledger_locked_by_another_program_is_one_clear_message(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program holding the write lock
    try:
        with pytest.raises(LedgerError) as err, Ledger(path, timeout=0.2) as ledger:
            suppress_addresses(ledger, ["a@example.org"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked by another program" in str(err.value) and str(path) in str(err.value)
    with Ledger(path) as ledger:
        suppress_addresses(ledger, ["a@example.org"])
        assert ledger.is_suppressed("a@example.org")


def test_a_python_with_an_sqlite_too_old_for_the_ledger_is_told_so_before_anything_opens(
    tmp_path, monkeypatch
):
    """No old SQLite can run here, so the module is told it has one: opening a ledger names
    both versions and creates nothing; the real version opens it."""
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    with pytest.raises(LedgerError, match=r"SQLite is 3\.31\.1; the send ledger needs SQLite "
                       r"3\.35\.0 or newer"):
        Ledger(tmp_path / "ledger.sqlite3")
    assert not (tmp_path / "ledger.sqlite3").exists()
    monkeypatch.undo()
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        assert ledger.schema_version > 0


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_ledger_and_its_wal_and_shm_are_owner_only(tmp_path, umask_022):
    """They hold every reader's address; SQLite made them 0644."""
    folder, _ = _file_folder(tmp_path)
    assert run_digest("send", "issue-7.yaml", cwd=folder).returncode == 0
    path = folder / "ledger.sqlite3"
    assert _mode(path) == 0o600
    fresh = folder / "fresh" / "ledger.sqlite3"
    with Ledger(fresh) as ledger:
        suppress_addresses(ledger, ["ann@example.org"])
        sidecars = [fresh.with_name(fresh.name + end) for end in ("-wal", "-shm")]
        assert [(p.name, _mode(p)) for p in [fresh, *sidecars]] == [
            (p.name, 0o600) for p in [fresh, *sidecars]
        ]


def test_an_existing_ledger_keeps_the_mode_its_owner_gave_it(tmp_path, umask_022):
    folder, _ = _file_folder(tmp_path)
    path = folder / "ledger.sqlite3"
    with Ledger(path):
        pass
    path.chmod(0o640)
    assert run_digest("send", "issue-7.yaml", cwd=folder).returncode == 0
    assert _mode(path) == 0o640


def test_a_new_backup_is_owner_only_and_a_replaced_one_keeps_its_mode(tmp_path, umask_022):
    folder, _ = _file_folder(tmp_path)
    assert run_digest("send", "issue-7.yaml", cwd=folder).returncode == 0
    assert run_digest("ledger", "backup", "new.sqlite3", cwd=folder).returncode == 0
    assert _mode(folder / "new.sqlite3") == 0o600
    (folder / "old.sqlite3").write_bytes(b"an older backup")
    (folder / "old.sqlite3").chmod(0o640)
    assert run_digest("ledger", "backup", "old.sqlite3", cwd=folder).returncode == 0
    assert _mode(folder / "old.sqlite3") == 0o640
    assert sqlite3.connect(folder / "old.sqlite3").execute("PRAGMA quick_check").fetchone() == (
        "ok",
    )
