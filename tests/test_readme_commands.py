"""The README's claims about the commands match the real ``digest`` (issue 12): every row of
its command table is a command whose ``--help`` works and knows each option the row names,
every command ``digest --help`` lists has a row, and the exit-status table is the one in
``digest.errors``."""

from __future__ import annotations

import re
import sqlite3

import pytest
from tests.paths import ROOT
from tests.send_support import issue_yaml, run_digest, write_config, write_csv

from digest import errors

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _table(header: str) -> list[list[str]]:
    start = README.index(header)
    rows = []
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
        rows.append([c.strip() for c in cells])
    return rows


COMMAND_ROWS = {
    re.match(r"`([a-z-]+)", row[0]).group(1): row[0]  # type: ignore[union-attr]
    for row in _table("| command | what it does |")
}


def test_the_table_lists_every_command_digest_has(tmp_path):
    listed = run_digest("--help", cwd=tmp_path).stdout
    commands = set(re.findall(r"^  ([a-z][a-z-]+)  ", listed.split("Commands:")[1], re.M))
    assert commands == set(COMMAND_ROWS)


@pytest.mark.parametrize("name", sorted(COMMAND_ROWS))
def test_each_command_s_help_knows_the_options_its_row_names(tmp_path, name):
    done = run_digest(name, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: digest {name}")
    for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", COMMAND_ROWS[name]):
        assert re.search(rf"(?<![\w-]){re.escape(option)}\b", done.stdout), (name, option)


def test_the_exit_status_table_is_the_one_in_digest_errors():
    documented = {int(row[0]) for row in _table("| exit status | meaning |")}
    defined = {0} | {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert documented == defined


def test_a_ledger_from_a_newer_digest_exits_7(tmp_path):
    write_config(tmp_path, sending={"ledger": "ledger.sqlite3"}, audience={"recipients": "s.csv"})
    write_csv(tmp_path / "s.csv", ["ann@example.org"])
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    assert run_digest("send", "issue-7", cwd=tmp_path).returncode == 0
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    db.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ('9999-future', 'x')")
    db.commit()
    db.close()
    done = run_digest("send", "issue-7", cwd=tmp_path)
    assert done.returncode == 7, done.stdout + done.stderr
    assert "newer digest" in done.stderr and "Traceback" not in done.stderr
