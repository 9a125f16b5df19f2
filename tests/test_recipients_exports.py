"""Subscriber exports from the tools people leave, read as they come (issue 12, point 11):
each source's columns and dialect, names mapped, its unsubscribed/cleaned rows recorded as
suppressed, through a real ``digest send`` to the file backend. The fixtures are the
examples in docs/subscriber-csv.md."""

from __future__ import annotations

import email
import email.policy
import shutil
import sqlite3
from pathlib import Path

import pytest
from tests.paths import ROOT
from tests.send_support import issue_yaml, run_digest, write_config

EXPORTS = ROOT / "tests" / "fixtures" / "exports"


def _send(tmp_path: Path, name: str, **audience: str):
    write_config(tmp_path, sending={"ledger": "ledger.sqlite3"}, audience=audience)
    shutil.copy(EXPORTS / name, tmp_path / name)
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    done = run_digest("send", "issue-7", "--recipients", name, "--log-format", "text", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    outbox = tmp_path / "outbox" / "issue-7"
    sent = {}
    for path in sorted(outbox.glob("*.eml")) if outbox.is_dir() else []:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        sent[msg["To"].addresses[0].addr_spec] = msg["To"].addresses[0].display_name
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    suppressed = dict(db.execute("SELECT email_key, reason FROM suppressions"))
    db.close()
    return done.stdout, sent, suppressed


@pytest.mark.parametrize(
    ("name", "source", "sent", "suppressed"),
    [
        (
            "mailchimp-subscribed.csv",
            "Mailchimp",
            {"ann@example.org": "Ann Lee", "bob@example.org": "Bob"},
            {},
        ),
        (
            "substack.csv",
            "Substack",
            {"ann@example.org": "", "bob@example.org": ""},
            {"cy@example.org": "unsubscribed"},
        ),
        (
            "buttondown.csv",
            "Buttondown",
            {"ann@example.org": "", "bob@example.org": ""},
            {"cy@example.org": "unsubscribed"},
        ),
        (
            "ghost.csv",
            "Ghost",
            {"ann@example.org": "Ann Lee", "bob@example.org": "Bob"},
            {"cy@example.org": "unsubscribed"},
        ),
        (
            "kit.csv",
            "Kit",
            {"ann@example.org": "Ann", "bob@example.org": "Bob"},
            {
                "cy@example.org": "unsubscribed",
                "dee@example.org": "bounced",
                "eve@example.org": "complained",
            },
        ),
        (
            "listmonk.csv",
            "listmonk",
            {"ann@example.org": "Ann Lee", "bob@example.org": "Bob"},
            {"cy@example.org": "unsubscribed"},
        ),
        (
            "spreadsheet-semicolon.csv",
            "digest",
            {"ann@example.org": "Ann Lee", "bob@example.org": "Bob"},
            {},
        ),
        (
            "excel-unicode.txt",
            "digest",
            {"ann@example.org": "Ann Lee", "bob@example.org": "Bob"},
            {},
        ),
    ],
)
def test_an_export_is_read_as_it_comes(tmp_path, name, source, sent, suppressed):
    out, got, supp = _send(tmp_path, name)
    assert got == sent
    assert supp == suppressed
    if source != "digest":
        assert f"read as a {source} export" in out
    if suppressed:
        assert f"{len(suppressed)} marked unsubscribed or cleaned by the exporter" in out


def test_merge_fields_keep_quoted_cells_whatever_the_delimiter(tmp_path):
    _send(tmp_path, "spreadsheet-semicolon.csv")
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    fields = dict(db.execute("SELECT email, fields FROM recipients"))
    assert (
        fields["ann@example.org"] == '{"vorname":"Ann","nachname":"Lee","stadt":"Köln; Altstadt"}'
    )


def test_never_confirmed_rows_are_skipped_not_suppressed(tmp_path):
    out, got, supp = _send(tmp_path, "buttondown.csv")
    assert "dee@example.org" not in got and "dee@example.org" not in supp
    assert "1 never confirmed (skipped)" in out


def test_mailchimps_unsubscribed_and_cleaned_files_suppress_with_their_reasons(tmp_path):
    shutil.copy(EXPORTS / "mailchimp-unsubscribed.csv", tmp_path / "unsubscribed.csv")
    shutil.copy(EXPORTS / "mailchimp-cleaned.csv", tmp_path / "cleaned.csv")
    _, got, supp = _send(tmp_path, "mailchimp-subscribed.csv", suppressions="unsubscribed.csv")
    assert set(got) == {"ann@example.org", "bob@example.org"}
    assert supp == {"cy@example.org": "unsubscribed"}
    done = run_digest("suppress", "--from-csv", "cleaned.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert dict(db.execute("SELECT email_key, reason FROM suppressions")) == {
        "cy@example.org": "unsubscribed",
        "dee@example.org": "bounced",
    }


def test_the_docs_page_shows_each_fixture_as_it_is():
    page = (ROOT / "docs" / "subscriber-csv.md").read_text(encoding="utf-8")
    for path in sorted(EXPORTS.glob("*.csv")):
        text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
        assert f"```csv\n{text}```" in page, path.name
