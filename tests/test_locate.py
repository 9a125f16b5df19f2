"""An issue named by path, slug or number resolves to one file, or a clear error."""

from __future__ import annotations

import pytest
from tests.send_support import issue_yaml, write_config

from digest.config import load_settings
from digest.errors import InputError
from digest.sources.locate import resolve_issue


def _settings(tmp_path):
    config = write_config(tmp_path, sending={"issues_dir": "issues"})
    (tmp_path / "issues").mkdir()
    (tmp_path / "issues" / "2026-12-04-013.yaml").write_text(issue_yaml(number=13))
    (tmp_path / "issues" / "2026-12-11-014.yaml").write_text(issue_yaml(number=14))
    (tmp_path / "issues" / "broken.yaml").write_text("number: [\n")
    return load_settings(config, environ={})


@pytest.mark.parametrize("arg", ["issue-13", "13", "2026-12-04-013"])
def test_a_slug_a_number_or_a_stem_finds_a_dated_file(tmp_path, arg):
    found = resolve_issue(arg, _settings(tmp_path))
    assert found.name == "2026-12-04-013.yaml"


def test_an_existing_path_is_taken_as_it_is(tmp_path):
    settings = _settings(tmp_path)
    path = tmp_path / "issues" / "2026-12-11-014.yaml"
    assert resolve_issue(str(path), settings) == path


def test_two_files_with_one_number_are_named_both(tmp_path):
    settings = _settings(tmp_path)
    (tmp_path / "issues" / "copy.yaml").write_text(issue_yaml(number=13))
    with pytest.raises(InputError, match=r"matches 2 issue files.*2026-12-04-013.*copy"):
        resolve_issue("issue-13", settings)


def test_an_unknown_issue_says_where_it_looked(tmp_path):
    with pytest.raises(InputError, match=r"issues_dir"):
        resolve_issue("issue-99", _settings(tmp_path))


def test_every_issue_command_takes_a_slug_or_number_for_a_dated_file(tmp_path):
    from tests.send_support import run_digest, write_csv

    _settings(tmp_path)
    write_csv(tmp_path / "subs.csv", ["ann@example.org"])
    built = run_digest("build", "13", "--out", "out", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "out" / "issue-13.html").is_file()
    sent = run_digest("send", "issue-13", "--recipients", "subs.csv", cwd=tmp_path)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    retried = run_digest("retry", "issue-13", cwd=tmp_path)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    status = run_digest("status", "13", cwd=tmp_path)
    assert status.returncode == 0 and status.stdout.startswith("issue-13: finished")
    unknown = run_digest("retry", "issue-99", cwd=tmp_path)
    assert unknown.returncode == 3 and "issues_dir" in unknown.stderr


def test_a_number_whose_file_cannot_be_read_names_that_file(tmp_path):
    from tests.send_support import run_digest

    _settings(tmp_path)
    (tmp_path / "issues" / "2026-12-18-015.yaml").write_text("number: 15\n\tdate: x\n")
    built = run_digest("build", "15", cwd=tmp_path)
    assert built.returncode == 3
    blamed = built.stderr.split("could not be checked: ")[1]
    assert "2026-12-18-015.yaml" in blamed and "broken.yaml" in blamed
    assert "2026-12-04-013.yaml" not in blamed  # readable files are not blamed


def test_a_deeply_nested_file_is_unreadable_for_the_folder_commands_not_a_crash(tmp_path):
    """``digest check``, ``new`` and ``send-due`` scan the folder: one file nested past the
    stack once crashed all three with a RecursionError."""
    from tests.send_support import run_digest

    _settings(tmp_path)
    deep = "number: 16\ndate: 2026-12-25\nintro: " + "[" * 600 + "]" * 600 + "\n"
    (tmp_path / "issues" / "2026-12-25-016.yaml").write_text(deep)
    checked = run_digest("check", cwd=tmp_path)
    assert checked.stdout.startswith(f"{tmp_path / 'issues' / '2026-12-11-014.yaml'}: ")
    made = run_digest("new", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().endswith("015.yaml")  # numbered after the readable files
    due = run_digest("send-due", cwd=tmp_path)
    assert "2026-12-25-016.yaml:3: lists and mappings nested more than 32" in due.stdout
    unknown = run_digest("build", "16", cwd=tmp_path)
    assert unknown.returncode == 3
    assert "2026-12-25-016.yaml" in unknown.stderr.split("could not be checked: ")[1]
    for done in (checked, made, due, unknown):
        assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
