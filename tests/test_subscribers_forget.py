"""A person's data on request: ``export ADDRESS`` shows it all, ``forget`` leaves only a hash.

The ledger file, its write-ahead log and the outbox are read as bytes after ``forget``: the
address must not be anywhere in them, and a send from a CSV that still lists the person
must not mail them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.send_support import (
    SECRET,
    cli_env,
    issue_yaml,
    run_digest,
    settings_for,
    write_config,
    write_csv,
)

from digest.config import load_settings
from digest.errors import ConfigError
from digest.sending import (
    Ledger,
    Subscribers,
    export_person,
    forget,
    ledger_path,
    prepare_issue,
    send_issue,
)
from digest.sending.subscriber_io import add_subscribers

ANN = "Ann.Example@example.org"
OTHERS = ["joann.example@example.org", "bob@example.org"]


def _stored_bytes(folder: Path) -> bytes:
    """Every byte of the ledger (with its -wal and -shm) and of every file in the outbox."""
    files = [p for p in folder.glob("digest-ledger.sqlite3*")]
    files += [p for p in (folder / "outbox").rglob("*") if p.is_file()]
    return b"".join(p.read_bytes() for p in files)


def _mentions(blob: bytes, address: str) -> bool:
    """``address`` in ``blob`` as a whole address (Jo Ann's address contains Ann's)."""
    return re.search(rb"(?<![a-z0-9._+-])" + re.escape(address.lower().encode()), blob) is not None


@pytest.fixture
def sent(tmp_path: Path) -> Path:
    """Ann subscribed, was sent an issue from a CSV, bounced once; Jo Ann and Bob too."""
    config = write_config(
        tmp_path,
        audience={"source": "both", "recipients": str(tmp_path / "list.csv")},
    )
    write_csv(tmp_path / "list.csv", [ANN, *OTHERS])
    (tmp_path / "issue.yaml").write_text(issue_yaml(), encoding="utf-8")
    settings = settings_for(config)
    with Ledger(ledger_path(settings)) as ledger:
        add_subscribers(ledger, [ANN], name="Ann Example", consent_text="ok")
    report = send_issue(settings, prepare_issue(settings, tmp_path / "issue.yaml"))
    assert report.sent_now == 3
    with Ledger(ledger_path(settings)) as ledger:
        ledger.record_event("complained", email=ANN)
    return config


def test_export_of_one_person_shows_every_record_and_outbox_copy(sent: Path) -> None:
    settings = settings_for(sent)
    with Ledger(ledger_path(settings)) as ledger:
        data = export_person(settings, ledger, "ann.example@EXAMPLE.org")
    tables = data["tables"]
    assert tables["subscribers"][0]["email"] == ANN
    assert tables["subscribers"][0]["status"] == "complained"
    assert tables["recipients"][0]["state"] == "complained"
    assert tables["suppressions"][0]["reason"] == "complained"
    assert len(data["outbox_files"]) == 1
    assert all("joann" not in json.dumps(rows) for rows in tables.values()), (
        "another reader's rows leaked into the export"
    )


def test_forget_leaves_no_trace_but_the_hash_and_the_csv_no_longer_reaches_them(
    sent: Path,
) -> None:
    folder = sent.parent
    before = _stored_bytes(folder).lower()
    assert _mentions(before, ANN) and b"ann example" in before
    result = run_digest("subscribers", "forget", "--yes", ANN, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "1 row of subscribers" in result.stdout and "; 1 outbox file;" in result.stdout
    after = _stored_bytes(folder).lower()
    assert not _mentions(after, ANN)
    assert b"ann example" not in after
    assert b"joann.example@example.org" in after  # a longer address that contains hers stays
    settings = settings_for(sent)
    with Ledger(ledger_path(settings)) as ledger:
        assert ledger.db.execute("SELECT COUNT(*) FROM suppression_hashes").fetchone()[0] == 1
        assert Subscribers(ledger).get(ANN) is None
    (folder / "issue2.yaml").write_text(issue_yaml(number=8), encoding="utf-8")
    report = send_issue(settings, prepare_issue(settings, folder / "issue2.yaml"))
    assert report.sent_now == 2 and report.suppressed == 1
    assert not _mentions(_stored_bytes(folder).lower(), ANN)


def test_a_send_refuses_to_guess_when_the_hashes_cannot_be_checked(sent: Path) -> None:
    settings = settings_for(sent)
    with Ledger(ledger_path(settings)) as ledger:
        forget(settings, ledger, ANN)
    no_secret = load_settings(write_config(sent.parent, unsubscribe=False), environ={})
    no_secret = no_secret.model_copy(update={"audience": settings.audience})
    (sent.parent / "issue2.yaml").write_text(issue_yaml(number=8), encoding="utf-8")
    with pytest.raises(ConfigError, match="DIGEST_SECRET is not set"):
        send_issue(no_secret, prepare_issue(no_secret, sent.parent / "issue2.yaml"))


def test_forget_needs_the_secret_and_says_so(sent: Path) -> None:
    env = {k: v for k, v in cli_env().items() if k != "DIGEST_SECRET"}
    result = run_digest("subscribers", "forget", "--yes", ANN, cwd=sent.parent, env=env)
    assert result.returncode == 3
    assert "DIGEST_SECRET is not set" in result.stderr and "Traceback" not in result.stderr


def test_export_cli_prints_json_for_one_person_and_csv_for_the_list(sent: Path) -> None:
    one = run_digest("subscribers", "export", ANN, cwd=sent.parent)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["tables"]["subscribers"][0]["name"] == "Ann Example"
    everyone = run_digest("subscribers", "export", cwd=sent.parent)
    assert everyone.stdout.splitlines()[0].startswith("email,name,status,")
    assert ANN in everyone.stdout


def test_forgetting_a_pending_sign_up_drops_its_queued_mail_and_limits(sent: Path) -> None:
    from digest.sending.signup import sign_up
    from digest.sending.subscribers import Hasher

    settings = settings_for(sent)
    with Ledger(ledger_path(settings)) as ledger:
        result = sign_up(
            settings,
            ledger,
            Hasher(SECRET),
            email="pat@example.org",
            name="Pat",
            lang="en",
            client_ip="192.0.2.1",
            source="form:/subscribe",
            consent_text="Yes",
        )
        assert result.queued
        done = forget(settings, ledger, "pat@example.org")
        assert done.rows == {"subscriber_mails": 1, "subscribers": 1}
        left = ledger.db.execute(
            "SELECT COUNT(*) FROM subscriber_limits WHERE scope = 'address'"
        ).fetchone()[0]
        assert left == 0
    assert not _mentions(_stored_bytes(sent.parent).lower(), "pat@example.org")


def test_rows_tied_to_their_messages_by_id_alone_are_forgotten_too(sent: Path) -> None:
    """Provider events that keep only a message id (as an events table may) go with the
    person; another reader's stay. The table is made here, shaped like such a table."""
    settings = settings_for(sent)
    with Ledger(ledger_path(settings)) as ledger:
        ids = dict(ledger.db.execute("SELECT email_key, message_id FROM recipients").fetchall())
        ledger.db.execute(
            "CREATE TABLE engagement (id INTEGER PRIMARY KEY, message_id TEXT, kind TEXT)"
        )
        ledger.db.executemany(
            "INSERT INTO engagement (message_id, kind) VALUES (?, 'open')",
            [(ids[ANN.lower()],), (ids["bob@example.org"],)],
        )
        exported = export_person(settings, ledger, ANN)
        assert [r["message_id"] for r in exported["tables"]["engagement"]] == [ids[ANN.lower()]]
        result = forget(settings, ledger, ANN)
        assert result.rows["engagement"] == 1
        left = ledger.db.execute("SELECT message_id FROM engagement").fetchall()
    assert left == [(ids["bob@example.org"],)]


def test_importing_an_old_export_does_not_bring_a_forgotten_person_back(sent: Path) -> None:
    folder = sent.parent
    old = run_digest("subscribers", "export", "-o", "old-export.csv", cwd=folder)
    assert old.returncode == 0, old.stderr
    assert run_digest("subscribers", "forget", "--yes", ANN, cwd=folder).returncode == 0
    again = run_digest("subscribers", "import", "old-export.csv", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert "Skipped 1 who asked to be forgotten" in again.stdout
    added = run_digest("subscribers", "add", ANN.upper(), cwd=folder)
    assert "Skipped 1" in added.stdout
    (folder / "old-export.csv").unlink()
    assert not _mentions(_stored_bytes(folder).lower(), ANN)


def test_after_a_secret_rotation_the_old_hashes_still_hold_while_the_old_secret_is_listed(
    sent: Path,
) -> None:
    settings = settings_for(sent)
    with Ledger(ledger_path(settings)) as ledger:
        forget(settings, ledger, ANN)
    new_secret = "a-new-secret-Zq8vT3kLm9Xw2Rp5"
    rotated = settings_for(sent, DIGEST_SECRET=new_secret, DIGEST_SECRET_PREVIOUS=SECRET)
    (sent.parent / "issue2.yaml").write_text(issue_yaml(number=8), encoding="utf-8")
    report = send_issue(rotated, prepare_issue(rotated, sent.parent / "issue2.yaml"))
    assert report.sent_now == 2 and report.suppressed == 1
    forgot_old = settings_for(sent, DIGEST_SECRET=new_secret)
    (sent.parent / "issue3.yaml").write_text(issue_yaml(number=9), encoding="utf-8")
    with pytest.raises(ConfigError, match="hashed under a secret that is not set"):
        send_issue(forgot_old, prepare_issue(forgot_old, sent.parent / "issue3.yaml"))


@pytest.mark.parametrize("piped", ["", "y\n"], ids=["nothing", "a piped yes"])
def test_forget_without_yes_and_no_terminal_says_pass_yes_and_deletes_nothing(
    sent: Path, piped: str
) -> None:
    """Cron or a pipe cannot answer the question: a usage mistake (exit 2) naming --yes, not
    the "Aborted." and 130 the exit table keeps for a Ctrl-C."""
    result = run_digest("subscribers", "forget", ANN, cwd=sent.parent, stdin=piped)
    assert result.returncode == 2, result.stderr
    assert "pass --yes" in result.stderr
    assert "Aborted" not in result.stderr and "Traceback" not in result.stderr
    with Ledger(ledger_path(settings_for(sent))) as ledger:
        assert Subscribers(ledger).get(ANN) is not None
