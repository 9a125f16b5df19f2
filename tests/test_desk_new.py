"""``digest new`` and ``digest init``: the next issue, a new newsletter folder, no overwrites."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import load_settings
from digest.desk.new import init_newsletter, new_issue
from digest.errors import InputError
from digest.sources import load_issue

PREVIOUS = """\
# yaml-language-server: $schema=../issue.schema.json
newsletter: The Weekly
number: 12
date: 2026-11-27
send_at: 2026-11-27T08:00:00-05:00
lang: de
articles:
  - headline: One
    summary: S.
    url: https://news.test/1
    section: World
  - headline: Two
    summary: S.
    url: https://news.test/2
    section: Home
"""


def _folder(tmp_path: Path, *files: tuple[str, str]) -> Path:
    (tmp_path / "digest.toml").write_text('[issues]\ndir = "issues"\n', encoding="utf-8")
    (tmp_path / "issues").mkdir()
    for name, text in files:
        (tmp_path / "issues" / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_new_follows_the_newest_issue_one_week_later(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path, ("issue-12.yaml", PREVIOUS), ("old.yaml", "number: 3\ndate: 2020-01-01\n")
    )
    path = new_issue(load_settings(folder / "digest.toml", environ={}))
    assert path == folder / "issues" / "2026-12-04-013.yaml"
    issue = load_issue(path)
    assert (issue.number, issue.date) == (13, date(2026, 12, 4))
    assert issue.send_at is not None and issue.send_at.isoformat() == "2026-12-04T08:00:00-05:00"
    assert issue.newsletter == "The Weekly" and issue.lang == "de"
    assert issue.sections == ["World", "Home"]
    assert issue.articles == [] and issue.intro is None and issue.is_draft
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../issue.schema.json\n")


def test_new_copies_the_sections_list_and_takes_a_date_and_a_cadence(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path, ("a.yaml", PREVIOUS.replace("lang: de\n", "sections: [Home, World]\n"))
    )
    (folder / "digest.toml").write_text('[issues]\ndir = "issues"\ncadence_days = 14\n', "utf-8")
    settings = load_settings(folder / "digest.toml", environ={})
    first = load_issue(new_issue(settings))
    assert first.date == date(2026, 12, 11) and first.sections == ["Home", "World"]
    second = new_issue(settings, when=date(2026, 12, 20))
    assert second.name == "2026-12-20-014.yaml"


def test_new_with_no_earlier_issue_is_number_one_today(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    path = new_issue(load_settings(folder / "digest.toml", environ={}), today=date(2026, 12, 1))
    assert path.name == "2026-12-01-001.yaml"
    assert load_issue(path).number == 1


def test_new_never_overwrites(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("issue-12.yaml", PREVIOUS))
    settings = load_settings(folder / "digest.toml", environ={})
    target = folder / "issues" / "2026-12-04-013.yaml"
    # an older-looking file in the way of the name new would write
    target.write_text("# mine\nnumber: 2\ndate: 2001-01-01\n", encoding="utf-8")
    with pytest.raises(InputError, match="never overwrites"):
        new_issue(settings)
    assert target.read_text(encoding="utf-8") == "# mine\nnumber: 2\ndate: 2001-01-01\n"


def test_new_from_the_command_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("issue-12.yaml", PREVIOUS))
    result = CliRunner().invoke(cli, ["new", "--config", str(folder / "digest.toml")])
    assert result.exit_code == 0, result.output
    assert "2026-12-04-013.yaml" in result.output


def test_cli_init_names_what_it_wrote(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "w"), "--name", "The Weekly"])
    assert result.exit_code == 0, result.output
    assert f"Wrote {tmp_path / 'w' / 'digest.toml'}" in result.output
    again = CliRunner().invoke(cli, ["init", str(tmp_path / "w")])
    assert "Kept" in again.output and "Wrote" not in again.output


def test_cli_init_and_new_name_every_file_relative_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`init weekly` printed `Wrote weekly/digest.toml` but the draft as an absolute path."""
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    made = CliRunner().invoke(cli, ["init", "weekly", "--name", "The Weekly"])
    assert made.exit_code == 0, made.output
    wrote = made.output.splitlines()
    assert wrote[0] == "Wrote weekly/digest.toml"
    assert re.fullmatch(r"Wrote weekly/issues/\d{4}-\d\d-\d\d-001\.yaml", wrote[1]), wrote
    again = CliRunner().invoke(cli, ["init", str(tmp_path / "weekly")])  # given absolute
    assert again.output.splitlines() == [
        "Kept weekly/digest.toml (already there)",
        "Kept weekly/issues (already there)",
    ]
    monkeypatch.chdir(tmp_path / "weekly")
    nxt = CliRunner().invoke(cli, ["new"])
    assert nxt.exit_code == 0, nxt.output
    assert re.fullmatch(r"Wrote issues/\d{4}-\d\d-\d\d-002\.yaml\n", nxt.output), nxt.output


def test_init_sets_up_a_folder_that_builds_and_keeps_what_exists(tmp_path: Path) -> None:
    folder = tmp_path / "letter"
    result = init_newsletter(folder, name='The "Quoted" Weekly')
    config = folder / "digest.toml"
    assert config in result.created and len(result.created) == 2
    settings = load_settings(config, environ={})
    assert settings.newsletter.name == 'The "Quoted" Weekly'
    assert settings.issues_dir == folder / "issues"
    text = config.read_text(encoding="utf-8")
    assert text.count("\n#") > 5  # it explains itself
    draft = result.created[1]
    assert load_issue(draft).number == 1
    config.write_text(text + "# my edit\n", encoding="utf-8")
    again = init_newsletter(folder, name="Other")
    assert again.created == [] and config in again.kept
    assert config.read_text(encoding="utf-8").endswith("# my edit\n")
    built = subprocess.run(
        [sys.executable, "-m", "digest", "build", str(draft), "--out", str(tmp_path / "o")],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "DIGEST_CONFIG": ""},
    )
    assert built.returncode == 0, built.stderr
    assert "Draft: it has no articles yet" in built.stderr
