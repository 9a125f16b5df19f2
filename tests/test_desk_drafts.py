"""Drafts, the sections list, the issues folder setting and the one issue resolver."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Settings, load_settings
from digest.errors import ConfigError, InputError
from digest.render import render_issue
from digest.sources import parse_issue
from digest.sources.locate import resolve_issue

DRAFT = """\
number: 4
date: 2026-12-04
sections: [Home, World]
articles:
  - headline: Unlinked so far
    summary: Still looking for the link.
    section: World
  - headline: Linked
    summary: Has one.
    url: https://news.test/linked
    section: World
  - headline: At home
    url: https://news.test/home
    section: Home
"""


def test_an_issue_with_no_articles_is_a_draft_that_renders() -> None:
    issue = parse_issue("number: 5\ndate: 2026-12-11\n")
    assert issue.is_draft and issue.draft_problems == ["it has no articles yet"]
    assert issue.lead is None
    rendered = render_issue(issue, Settings())
    assert rendered.subject == "(no articles yet)"
    assert "Draft: it has no articles yet." in rendered.warnings


def test_an_article_without_a_link_renders_its_headline_unlinked_and_warns() -> None:
    issue = parse_issue(DRAFT)
    assert issue.draft_problems == ["article 1 ('Unlinked so far') has no link"]
    rendered = render_issue(issue, Settings())
    assert "Draft: article 1 ('Unlinked so far') has no link." in rendered.warnings
    html = rendered.preview_html()
    assert "Unlinked so far" in html
    assert ">Unlinked so far</a>" not in html
    assert ">Linked</a>" in html
    assert "Unlinked so far" in rendered.preview_text()


def test_sections_list_orders_the_groups() -> None:
    issue = parse_issue(DRAFT.replace("[Home, World]", "[World, Home]"))
    assert [g.name for g in issue.groups] == ["World", "Home"]
    issue = parse_issue(DRAFT)
    # the lead is article 1; Home is listed first, so it comes first
    assert [g.name for g in issue.groups] == ["Home", "World"]


def test_a_section_listed_twice_is_an_error() -> None:
    from digest.errors import IssueFileError

    with pytest.raises(IssueFileError, match="'Home' is listed twice"):
        parse_issue(DRAFT.replace("[Home, World]", "[Home, Home]"))


def test_build_of_a_draft_warns_and_writes_files(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(DRAFT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["build", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning: Draft: article 1" in result.output
    assert (tmp_path / "out" / "issue-4.html").is_file()


def _config(tmp_path: Path, text: str) -> Settings:
    (tmp_path / "digest.toml").write_text(text, encoding="utf-8")
    return load_settings(tmp_path / "digest.toml", environ={})


def test_issues_dir_old_key_still_works_and_new_key_wins(tmp_path: Path) -> None:
    assert _config(tmp_path, '[sending]\nissues_dir = "old"\n').issues_dir == tmp_path / "old"
    assert _config(tmp_path, '[issues]\ndir = "new"\n').issues_dir == tmp_path / "new"
    assert _config(tmp_path, "").issues_dir == tmp_path / "issues"
    with pytest.raises(ConfigError, match="disagree"):
        _config(tmp_path, '[issues]\ndir = "a"\n[sending]\nissues_dir = "b"\n')


def _folder(tmp_path: Path) -> Settings:
    settings = _config(tmp_path, '[issues]\ndir = "issues"\n')
    issues = tmp_path / "issues"
    issues.mkdir()
    (issues / "2026-11-27-003.yaml").write_text("number: 3\ndate: 2026-11-27\n", "utf-8")
    (issues / "2026-12-04-004.yaml").write_text(
        "number: 4\ndate: 2026-12-04\nslug: advent\n", "utf-8"
    )
    (issues / "notes.txt").write_text("not an issue", "utf-8")
    return settings


def test_resolver_takes_a_path_a_slug_a_number_or_nothing(tmp_path: Path) -> None:
    settings = _folder(tmp_path)
    issues = tmp_path / "issues"
    assert resolve_issue(None, settings) == issues / "2026-12-04-004.yaml"
    assert resolve_issue("3", settings) == issues / "2026-11-27-003.yaml"
    assert resolve_issue("issue-3", settings) == issues / "2026-11-27-003.yaml"
    assert resolve_issue("advent", settings) == issues / "2026-12-04-004.yaml"
    assert resolve_issue("2026-11-27-003", settings) == issues / "2026-11-27-003.yaml"
    given = issues / "2026-11-27-003.yaml"
    assert resolve_issue(str(given), settings) == given


def test_resolver_names_what_the_folder_holds_when_nothing_matches(tmp_path: Path) -> None:
    settings = _folder(tmp_path)
    with pytest.raises(InputError, match=r"No issue .9.*files there: 2026-11-27-003.yaml"):
        resolve_issue("9", settings)
    with pytest.raises(InputError, match="no such issue file"):
        resolve_issue("missing.yaml", settings)


def test_resolver_with_an_empty_folder_says_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="digest new"):
        resolve_issue(None, _config(tmp_path, ""))
