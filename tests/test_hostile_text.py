"""Control characters are refused once, at the boundary, naming file, line and field; the
MJML compiler never sees one (it used to fail with "unable to parse next template in root
template" and no hint of where)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Settings, load_settings
from digest.errors import IssueFileError, ListingError, TemplateError
from digest.model import Issue
from digest.render import render_issue
from digest.sources import parse_issue
from digest.sources.listing import parse_listing

ISSUE = (
    "number: 1\n"
    "date: 2026-01-01\n"
    "intro: |\n"
    "  Hello there.\n"
    "articles:\n"
    "  - headline: {headline}\n"
    "    summary: A summary.\n"
    "    url: https://example.org/a\n"
    "    kicker: Labour\n"
)


@pytest.mark.parametrize(
    ("typed", "label"),
    [
        ('"Strike\\x1b[31m news"', "U+001B (ESC)"),
        ('"Strike\\0 news"', "U+0000 (NUL)"),
        ('"Strike\\x85 news"', "U+0085"),
        ('"Strike\\u009b news"', "U+009B"),
        ('"Strike\\x7f news"', "U+007F"),
        ('"Strike\\ud800 news"', "unable to parse raw data as a unicode string"),
    ],
    ids=["esc", "nul", "nel", "csi", "del", "surrogate"],
)
def test_escaped_control_character_is_refused_with_line_and_field(typed: str, label: str) -> None:
    with pytest.raises(IssueFileError) as e:
        parse_issue(ISSUE.format(headline=typed), "issues/x.yaml")
    assert str(e.value).startswith("issues/x.yaml:6: article 1 → headline: ")
    assert label in str(e.value)


@pytest.mark.parametrize("char", ["\x1b", "\x00", "\x08", "\x85", "\x9b", "\x7f"])
def test_raw_control_character_is_refused_with_line_column_and_field(char: str) -> None:
    """PyYAML refuses most raw ones with an offset only; digest names the line and field."""
    text = ISSUE.format(headline="Strike news").replace("Hello there.", f"Hello{char} there.")
    with pytest.raises(IssueFileError) as e:
        parse_issue(text, "x.yaml")
    want = f"x.yaml:4: intro: contains the invisible character U+{ord(char):04X}"
    assert str(e.value).startswith(want)
    assert "at column 8" in str(e.value)


def test_tab_newline_bidi_marks_emoji_and_combining_marks_are_kept() -> None:
    headline = '"Stri\\tke \\u200fשלום\\u200e 🚀 e\\u0301"'
    issue = parse_issue(ISSUE.format(headline=headline), "x.yaml")
    assert issue.articles[0].headline == "Stri\tke \u200fשלום\u200e 🚀 e\u0301"


LISTING = "Labour\nStrike news\n\nA summary of it.\n\nSecond\n\nAnother summary.\n"


@pytest.mark.parametrize(
    ("where", "line", "field"),
    [("Labour", 1, "kicker"), ("Strike news", 2, "headline"), ("Another summary", 8, "summary")],
)
def test_listing_control_character_is_refused_with_line_and_field(
    where: str, line: int, field: str
) -> None:
    text = LISTING.replace(where, where[:3] + "\x1b" + where[3:])
    with pytest.raises(ListingError) as e:
        parse_listing(text, "listing.txt")
    n = 2 if field == "summary" else 1
    assert str(e.value) == (
        f"listing.txt:{line}: article {n} → {field}: contains the invisible character U+001B "
        "(ESC) at character 4: remove it (only tab and line breaks are allowed among control "
        "characters)"
    )


def test_listing_line_numbers_count_only_real_line_breaks() -> None:
    """A U+2028 inside a summary is text, not a line break: the lines after keep their number."""
    text = "Head\n\nSum\u2028mary\n\nHead two\x1b\n\nSum two\n"
    with pytest.raises(ListingError, match=r"^listing.txt:5: article 2 → headline"):
        parse_listing(text, "listing.txt")


def test_import_text_refuses_a_hostile_listing_with_exit_3(tmp_path: Path) -> None:
    listing = tmp_path / "listing.txt"
    listing.write_text(LISTING.replace("summary of", "summary\x00 of"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["import-text", str(listing), "--number", "3"])
    assert result.exit_code == 3
    assert f"{listing}:4: article 1 → summary: contains the invisible character U+0000" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_text_from_elsewhere_never_reaches_the_mjml_compiler(
    tmp_path: Path, sample_settings: Settings
) -> None:
    """digest.toml is another way in: the render guard names the character and its place."""
    config = tmp_path / "digest.toml"
    config.write_text('[newsletter]\npostal_address = "PO Box \\u001b[2J 12"\n', encoding="utf-8")
    settings = load_settings(config, environ={})
    issue = Issue.model_validate(
        {"number": 1, "date": "2026-01-01", "articles": [
            {"headline": "H", "summary": "S", "url": "https://example.org/"}]}
    )
    with pytest.raises(TemplateError) as e:
        render_issue(issue, settings)
    assert "U+001B (ESC)" in str(e.value) and "PO Box" in str(e.value)
    assert "did not compile" not in str(e.value)
