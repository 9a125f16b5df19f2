"""Importing a plain listing: the seed articles, exact text, kickers, and bad listings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.paths import SAMPLE_ISSUE, SEED_LISTING

from digest.cli import cli
from digest.errors import ListingError
from digest.sources import listing_to_yaml, parse_issue, parse_listing, read_listing


def _seed_blocks() -> list[list[str]]:
    """The seed listing's paragraphs, read independently of the importer."""
    text = SEED_LISTING.read_text(encoding="utf-8")
    return [b.strip().split("\n") for b in re.split(r"\n\s*\n", text.strip())]


def test_seed_listing_gives_twelve_articles_with_three_kickers() -> None:
    articles = read_listing(SEED_LISTING)
    assert len(articles) == 12
    kickers = {a.kicker: a.headline for a in articles if a.kicker}
    assert kickers == {
        "Paris Commune": "The Paris Commune: Triumph, Tragedy, and Lessons for Today",
        "Mumia Abu Jamal": "Free Mumia Abu-Jamal!",
        "Meghan Markle and Prince Harry": (
            "Scandal at the Palace: British Monarchy Rocked by Revelations in Television Interview"
        ),
    }


def test_seed_text_is_kept_exactly_accents_quotes_and_dashes() -> None:
    articles = read_listing(SEED_LISTING)
    blocks = _seed_blocks()
    headlines = [b[-1] for b in blocks[::2]]
    summaries = [" ".join(b) for b in blocks[1::2]]
    assert [a.headline for a in articles] == headlines
    assert [a.summary for a in articles] == summaries
    joined = " ".join(headlines + summaries)
    for exact in (
        "Öfinger",
        "Workers’ Fightback",
        "June 1955 – March 2021",
        "Everard—Killed",
        "“Protects”",
    ):
        assert exact in joined


def test_import_text_writes_an_issue_file_that_validates(tmp_path: Path) -> None:
    out = tmp_path / "issue.yaml"
    result = CliRunner().invoke(
        cli,
        ["import-text", str(SEED_LISTING), "-o", str(out), "--number", "7", "--date", "2021-03-26"],
    )
    assert result.exit_code == 0, result.output
    issue = parse_issue(out.read_text(encoding="utf-8"), str(out))
    assert issue.number == 7 and issue.date.isoformat() == "2021-03-26"
    assert [a.headline for a in issue.articles] == [a.headline for a in read_listing(SEED_LISTING)]
    assert [a.kicker for a in issue.articles if a.kicker] == [
        "Paris Commune",
        "Mumia Abu Jamal",
        "Meghan Markle and Prince Harry",
    ]
    # the seed listing has no links: none is invented, the articles are drafts
    assert all(a.url is None for a in issue.articles) and issue.is_draft
    assert "example.org" not in out.read_text(encoding="utf-8")


def test_url_lines_after_the_headline_or_ending_the_summary_are_the_links() -> None:
    text = (
        "Labour\nDockers Walk Out\nhttps://news.test/dockers\n\nThe cranes stopped.\n\n"
        "Nurses Win\n\nA deal at last,\nworth 9 per cent.\nhttps://news.test/nurses?id=2\n\n"
        "No Link Yet\n\nStill looking.\n"
    )
    listed = parse_listing(text, "l.txt")
    assert [(a.kicker, a.headline, a.url) for a in listed] == [
        ("Labour", "Dockers Walk Out", "https://news.test/dockers"),
        (None, "Nurses Win", "https://news.test/nurses?id=2"),
        (None, "No Link Yet", None),
    ]
    assert listed[1].summary == "A deal at last, worth 9 per cent."
    issue = parse_issue(listing_to_yaml(listed, number=2))
    assert [a.url for a in issue.articles] == [
        "https://news.test/dockers",
        "https://news.test/nurses?id=2",
        None,
    ]
    assert issue.draft_problems == ["article 3 ('No Link Yet') has no link"]


def test_import_text_prints_to_stdout_by_default() -> None:
    result = CliRunner().invoke(cli, ["import-text", str(SEED_LISTING), "--number", "4"])
    assert result.exit_code == 0
    assert "Free Mumia Abu-Jamal!" in result.stdout
    assert "kicker: Mumia Abu Jamal" in result.stdout


def test_sample_issue_holds_all_twelve_seed_articles_verbatim() -> None:
    issue = parse_issue(SAMPLE_ISSUE.read_text(encoding="utf-8"))
    listed = read_listing(SEED_LISTING)
    assert sorted(a.headline for a in issue.articles) == sorted(a.headline for a in listed)
    by_headline = {a.headline: a for a in issue.articles}
    for a in listed:
        assert by_headline[a.headline].summary == a.summary
        assert by_headline[a.headline].kicker == a.kicker


def test_headline_without_summary_names_the_line() -> None:
    with pytest.raises(ListingError, match=r"listing.txt:6: the headline 'Orphan' has no summary"):
        parse_listing("One\n\nSummary one.\n\n  \nOrphan\n", "listing.txt")


def test_three_line_headline_block_is_refused_with_its_line() -> None:
    with pytest.raises(ListingError, match=r"x.txt:1: expected a headline"):
        parse_listing("A\nB\nC\n\nSummary\n", "x.txt")


def test_missing_listing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["import-text", str(tmp_path / "nope.txt"), "--number", "4"])
    assert result.exit_code != 0


def test_output_into_a_new_folder_is_created_and_an_existing_file_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "issues" / "issue-4.yaml"
    args = ["import-text", str(SEED_LISTING), "--number", "4", "-o", str(out)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    out.write_text("# curated by hand\n", encoding="utf-8")
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 3
    assert "already exists" in again.output and "--force" in again.output
    assert out.read_text(encoding="utf-8") == "# curated by hand\n"
    assert CliRunner().invoke(cli, [*args, "--force"]).exit_code == 0
    assert "Free Mumia Abu-Jamal!" in out.read_text(encoding="utf-8")


def test_number_is_required_because_it_names_the_issue() -> None:
    result = CliRunner().invoke(cli, ["import-text", str(SEED_LISTING)])
    assert result.exit_code == 2
    assert "--number" in result.output
