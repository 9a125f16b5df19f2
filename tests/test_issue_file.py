"""Issue files: validation, grouping, and errors that name the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Settings
from digest.desk.check import check_issue
from digest.errors import InputError, IssueFileError
from digest.model import Issue
from digest.sources import issue_schema, load_issue, parse_issue, write_issue_file

GOOD = """\
number: 3
date: 2026-11-27
send_at: 2026-11-27T08:00:00+01:00
articles:
  - headline: First
    summary: One.
    url: https://example.org/1
    section: World
  - headline: Second
    summary: Two.
    url: https://example.org/2
    section: Home
  - headline: Third
    summary: Three.
    url: https://example.org/3
    section: World
    lead: true
  - headline: Fourth
    summary: Four.
    url: https://example.org/4
    section: World
"""


def test_sections_follow_first_appearance_and_keep_editor_order() -> None:
    issue = parse_issue(GOOD)
    assert issue.lead.headline == "Third"
    assert [(s.name, [a.headline for a in s.articles]) for s in issue.groups] == [
        ("World", ["First", "Fourth"]),
        ("Home", ["Second"]),
    ]


def test_default_subject_is_the_lead_headline_and_a_template_can_change_it() -> None:
    issue = parse_issue(GOOD)
    assert issue.subject_for("The Weekly") == "Third"
    template = "{newsletter} #{number}: {headline}"
    assert issue.subject_for("The Weekly", template) == "The Weekly #3: Third"


def test_send_at_without_time_zone_is_an_error_on_its_line() -> None:
    text = GOOD.replace("2026-11-27T08:00:00+01:00", "2026-11-27 08:00:00")
    with pytest.raises(IssueFileError) as e:
        parse_issue(text, "week.yaml")
    assert e.value.problems[0][:2] == (3, "send_at")
    assert "week.yaml:3: send_at: needs a time zone" in str(e.value)


def test_errors_name_file_line_and_field_for_every_mistake() -> None:
    text = GOOD.replace("url: https://example.org/2", "url: javascript:alert(1)").replace(
        "  - headline: Fourth\n    summary: Four.\n", "  - summary: Four.\n"
    )
    with pytest.raises(IssueFileError) as e:
        parse_issue(text, "week.yaml")
    message = str(e.value)
    assert "week.yaml:11: article 2 → url: links must start with http:, https:, mailto:" in message
    assert "week.yaml:18: article 4 → headline: is required" in message
    assert "Traceback" not in message


def test_two_leads_are_refused() -> None:
    text = GOOD.replace("    section: Home\n", "    section: Home\n    lead: true\n")
    with pytest.raises(IssueFileError, match="only one article may be the lead; articles 2, 3"):
        parse_issue(text, "x.yaml")


def test_unknown_field_is_named_with_its_line() -> None:
    text = GOOD.replace("    section: Home\n", "    sectoin: Home\n")
    with pytest.raises(IssueFileError, match=r"x.yaml:12: article 2 → sectoin: is not a field"):
        parse_issue(text, "x.yaml")


def test_broken_yaml_names_the_line() -> None:
    text = "number: 1\ndate: 2026-01-01\narticles:\n  - headline: a\n   summary: b\n"
    with pytest.raises(IssueFileError, match=r"x.yaml:5: not valid YAML"):
        parse_issue(text, "x.yaml")


def test_headline_with_a_line_break_is_refused() -> None:
    text = GOOD.replace("headline: First", 'headline: "Fir\\nst"')
    with pytest.raises(IssueFileError, match="article 1 → headline: must be on one line"):
        parse_issue(text, "x.yaml")


def test_missing_issue_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IssueFileError, match="no such file"):
        load_issue(tmp_path / "nope.yaml")


def test_build_reports_a_bad_file_without_a_traceback(write) -> None:  # type: ignore[no-untyped-def]
    path = write("bad.yaml", GOOD.replace("number: 3", "number: three"))
    result = CliRunner().invoke(cli, ["build", str(path), "--out", str(path.parent / "o")])
    assert result.exit_code == 3
    assert f"{path}:1: number: Input should be a valid integer" in result.output
    assert "Traceback" not in result.output


def test_schema_is_json_schema_generated_from_the_model() -> None:
    schema = json.loads(issue_schema())
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["required"]) == {"number", "date"}
    articles = schema["properties"]["articles"]["anyOf"]
    assert articles[0]["items"]["$ref"].endswith("/Article") and articles[1] == {"type": "null"}
    assert set(schema["properties"]) == set(Issue.model_fields)


def test_published_schema_file_matches_the_model() -> None:
    from tests.paths import ROOT

    assert (ROOT / "issue.schema.json").read_text(encoding="utf-8") == issue_schema()


def test_impossible_date_is_an_error_on_its_line_not_a_crash() -> None:
    text = GOOD.replace("date: 2026-11-27", "date: 2026-02-30")
    with pytest.raises(IssueFileError, match=r"x.yaml:2: date: .*day value is outside"):
        parse_issue(text, "x.yaml")
    text = GOOD.replace("+01:00", "+25:00")
    with pytest.raises(IssueFileError, match=r"x.yaml:3: send_at: "):
        parse_issue(text, "x.yaml")


def test_a_key_given_twice_is_an_error_not_silently_the_last() -> None:
    text = GOOD.replace(
        "    url: https://example.org/2\n",
        "    url: https://example.org/2\n    url: https://example.org/other\n",
    )
    with pytest.raises(IssueFileError, match=r"x.yaml:12: article 2 → url: is given twice"):
        parse_issue(text, "x.yaml")


def test_quoted_number_still_gives_the_default_slug() -> None:
    issue = parse_issue(GOOD.replace("number: 3", 'number: "3"'))
    assert issue.number == 3 and issue.slug == "issue-3"


@pytest.mark.parametrize("target", ["javascript:alert(1)", "/relative", "ftp://x.org/f"])
def test_markdown_link_with_a_refused_target_is_an_error(target: str) -> None:
    text = GOOD.replace("summary: Two.", f"summary: 'See [this]({target}).'")
    with pytest.raises(IssueFileError, match=r"x.yaml:10: article 2 → summary: links must start"):
        parse_issue(text, "x.yaml")
    intro = GOOD.replace("number: 3\n", f"number: 3\nintro: 'Hi.\n\n  Read [this]({target}).'\n")
    with pytest.raises(IssueFileError, match=r"intro: links must start"):
        parse_issue(intro, "x.yaml")


DEEP = "number: 3\ndate: 2026-11-27\nintro: " + "[" * 600 + "]" * 600 + "\narticles: []\n"


def test_deep_nesting_is_an_error_naming_the_file_and_line_not_a_recursion_error() -> None:
    with pytest.raises(IssueFileError) as caught:
        parse_issue(DEEP, "deep.yaml")
    assert str(caught.value) == (
        "deep.yaml:3: lists and mappings nested more than 32 levels deep; "
        "an issue file needs only a few"
    )


def test_build_reports_deep_nesting_without_a_traceback(write) -> None:  # type: ignore[no-untyped-def]
    path = write("deep.yaml", DEEP)
    result = CliRunner().invoke(cli, ["build", str(path), "--out", str(path.parent / "o")])
    assert result.exit_code == 3, result.output
    assert f"{path}:3: lists and mappings nested more than 32 levels deep" in result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output


def _alias_bomb(levels: int) -> str:
    """"Billion laughs": each level a list of nine aliases of the one before."""
    lines = ["number: 3", "date: 2026-11-27", "l0: &l0 [lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join([*lines, "articles: []"]) + "\n"


@pytest.mark.timeout(20)
def test_an_alias_bomb_is_refused_at_its_first_anchor_at_once() -> None:
    """Eight levels once never finished: the walks over the tree expanded every alias."""
    with pytest.raises(IssueFileError) as caught:
        parse_issue(_alias_bomb(8), "bomb.yaml")
    assert str(caught.value) == (
        "bomb.yaml:3: issue files don't support YAML anchors/aliases (&name, *name) or merge "
        "keys (<<); write the value out"
    )


@pytest.mark.parametrize(
    ("yaml_text", "line"),
    [
        ("number: 3\ndate: 2026-11-27\nintro: &note Hello\nsubject: *note\narticles: []\n", 3),
        ("number: 3\ndate: &d 2026-11-27\narticles: []\n", 2),
        (GOOD.replace("  - headline: Second\n", "  - <<: {kicker: 2}\n    headline: Second\n"), 9),
    ],
    ids=["anchor-and-alias", "anchor-alone", "merge-key"],
)
def test_anchors_aliases_and_merge_keys_are_refused_naming_the_line(
    yaml_text: str, line: int
) -> None:
    with pytest.raises(IssueFileError, match=rf"^x\.yaml:{line}: issue files don't support YAML"):
        parse_issue(yaml_text, "x.yaml")


@pytest.mark.timeout(60)
def test_an_alias_bomb_in_the_issues_folder_is_an_unreadable_file_for_send_due(
    tmp_path: Path,
) -> None:
    from tests.send_support import issue_yaml, run_digest, write_config

    write_config(tmp_path, sending={"issues_dir": "issues"})
    (tmp_path / "issues").mkdir()
    (tmp_path / "issues" / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    (tmp_path / "issues" / "bomb.yaml").write_text(_alias_bomb(8), encoding="utf-8")
    due = run_digest("send-due", cwd=tmp_path)
    assert "bomb.yaml:3: issue files don't support YAML anchors/aliases" in due.stdout
    assert "issue-7.yaml: issue-7 has no send_at" in due.stdout
    assert "Traceback" not in due.stderr


def test_a_file_saved_between_the_look_and_the_write_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The editor's save lands after any look for the file and before the write (here, as
    the folder is made, which a look for the file always precedes): the write must refuse
    rather than replace it."""
    target = tmp_path / "issues" / "2026-12-04-013.yaml"
    mine = "# curated by hand\nnumber: 13\ndate: 2026-12-04\n"
    real_mkdir = Path.mkdir

    def saved_while_the_folder_is_made(self: Path, *args: Any, **kwargs: Any) -> None:
        real_mkdir(self, *args, **kwargs)
        if self == target.parent:
            target.write_text(mine, encoding="utf-8")

    monkeypatch.setattr(Path, "mkdir", saved_while_the_folder_is_made)
    with pytest.raises(InputError, match="already exists"):
        write_issue_file(target, "number: 13\ndate: 2026-12-04\n")
    assert target.read_text(encoding="utf-8") == mine


def test_a_dangling_symlink_in_the_way_is_refused_not_written_through(tmp_path: Path) -> None:
    """Looked at, it "does not exist"; written, it created a file wherever it pointed."""
    target = tmp_path / "issue-4.yaml"
    elsewhere = tmp_path / "elsewhere.yaml"
    target.symlink_to(elsewhere)
    with pytest.raises(InputError, match="already exists; choose another name or pass --force"):
        write_issue_file(target, "number: 4\ndate: 2026-12-04\n")
    assert not elsewhere.exists()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://[::1/", "has a [ or ] that does not pair up"),
        ("https://news.test]/a", "has a [ or ] that does not pair up"),
        ("https://[abc]/a", "has a host digest cannot read: 'abc' does not appear to be an"),
    ],
)
def test_a_link_python_cannot_split_is_named_in_words_on_its_line(url: str, said: str) -> None:
    """It said the raw `Invalid IPv6 URL`, naming neither the link nor what to change."""
    text = f"number: 1\ndate: 2026-12-04\narticles:\n  - headline: A\n    url: '{url}'\n"
    with pytest.raises(IssueFileError) as e:
        parse_issue(text, "issues/1.yaml")
    assert str(e.value).startswith(f"issues/1.yaml:5: article 1 → url: {url!r} {said}")
    assert "Invalid IPv6 URL" not in str(e.value)


def test_a_misspelt_key_is_given_the_field_it_probably_meant_at_every_level() -> None:
    text = (
        "number: 1\ndate: 2026-12-04\nsubjet: Hello\narticles:\n  - headline: A\n"
        "    sumary: One.\n    image: {src: 'https://img.test/a.png', alt: A, widht: 300}\n"
    )
    with pytest.raises(IssueFileError) as e:
        parse_issue(text, "issues/1.yaml")
    lines = str(e.value).splitlines()
    assert "issues/1.yaml:3: subjet: is not a field digest knows; did you mean 'subject'?" in lines
    assert (
        "issues/1.yaml:6: article 1 → sumary: is not a field digest knows; did you mean 'summary'?"
        in lines
    )
    assert (
        "issues/1.yaml:7: article 1 → image → widht: is not a field digest knows; "
        "did you mean 'width'?" in lines
    )


def test_a_key_like_no_field_lists_the_fields_known_there() -> None:
    with pytest.raises(IssueFileError) as e:
        parse_issue("number: 1\ndate: 2026-12-04\nzzz: 1\n", "issues/1.yaml")
    assert str(e.value).startswith(
        "issues/1.yaml:3: zzz: is not a field digest knows; known: newsletter, number, date"
    )


@pytest.mark.parametrize("number", ["99999999999999999999999999", "1000001", "0"])
def test_an_issue_number_out_of_range_says_the_range(number: str) -> None:
    with pytest.raises(IssueFileError) as e:
        parse_issue(f"number: {number}\ndate: 2026-12-04\n", "issues/1.yaml")
    assert str(e.value) == "issues/1.yaml:1: number: must be a whole number from 1 to 1,000,000"


def test_the_largest_issue_number_loads() -> None:
    assert parse_issue("number: 1000000\ndate: 2026-12-04\n").number == 1_000_000


def test_articles_left_empty_means_no_articles_yet_and_check_says_so(tmp_path: Path) -> None:
    """`articles:` with nothing after it was "Input should be a valid list", though an empty
    `intro:` was fine and the desk's edits already read it as no articles."""
    assert parse_issue("number: 1\ndate: 2026-12-04\nintro:\narticles:\n").articles == []
    issue = tmp_path / "1.yaml"
    issue.write_text("number: 1\ndate: 2026-12-04\narticles:   # none yet\n", encoding="utf-8")
    report = check_issue(Settings(), issue, offline=True)
    assert [f.code for f in report.errors] == ["no-articles"]
    assert report.errors[0].message == "The issue has no articles yet."
