"""The plaintext part: its own template, wrapped, with links, and no markup."""

from __future__ import annotations

import re

from digest.config import Settings
from digest.message import Recipient
from digest.model import Issue
from digest.render import Rendered, render_issue

URL_LINE = re.compile(r"^(\[\d+\] )?(https?|mailto):\S+$")


def test_every_headline_and_summary_is_in_the_text(sample_rendered: Rendered) -> None:
    flat = " ".join(sample_rendered.text.split())
    for article in sample_rendered.issue.articles:
        assert " ".join(article.headline.split()) in flat
        assert article.summary in flat
        assert article.url in sample_rendered.text


def test_lines_are_at_most_78_characters_except_a_lone_url(sample_rendered: Rendered) -> None:
    token = "k" * 90
    text = sample_rendered.content.text_for(
        Recipient("a@example.net", fields={"unsubscribe_url": f"https://example.org/u/{token}"})
    )
    assert token in text
    for line in text.splitlines():
        assert len(line) <= 78 or URL_LINE.match(line), line


def test_urls_are_never_broken_across_lines(sample_rendered: Rendered) -> None:
    for url in re.findall(r"https?://\S+", sample_rendered.text):
        assert url.startswith(("https://example.org/", "http://example.org/")), url
    for article in sample_rendered.issue.articles:
        pattern = r"^\[\d+\] " + re.escape(article.url) + r"(\?\S*)?$"
        assert re.search(pattern, sample_rendered.text, re.M)


def test_article_links_are_numbered_references_listed_once_at_the_end(
    sample_rendered: Rendered,
) -> None:
    """Tracked URLs run 100+ characters: inline they wrap in terminals, so each headline
    carries [n] and the URL is listed under Links, as Markdown links already were."""
    text = sample_rendered.text
    body, _, links = text.partition("\nLinks\n-----\n")
    listed = dict(re.findall(r"^\[(\d+)\] (\S+)$", links, re.M))
    assert "https://" not in body.split("View in your browser:\n", 1)[1].split("\n", 1)[1]
    for article in sample_rendered.issue.articles:
        m = re.search(re.escape(article.headline.split()[-1]) + r" \[(\d+)\]$", body, re.M)
        assert m, article.headline
        assert listed[m.group(1)].startswith(article.url + "?utm_source=newsletter")
    numbers = [int(n) for n in re.findall(r"^\[(\d+)\] ", links, re.M)]
    assert numbers == list(range(1, len(numbers) + 1))


def test_footer_starts_with_the_standard_signature_separator(sample_rendered: Rendered) -> None:
    lines = sample_rendered.preview_text().splitlines()
    assert lines.count("-- ") == 1
    assert lines[lines.index("-- ") + 1].startswith("You are receiving")


def test_list_items_are_single_spaced_and_set_off_from_paragraphs(
    sample_settings: Settings,
) -> None:
    issue = Issue.model_validate(
        {
            "number": 2,
            "date": "2026-11-27",
            "intro": "This week:\n\n- one\n- two *big*\n- three\n\n1. first\n2. second\n\nBye.",
            "articles": [{"headline": "H", "summary": "S", "url": "https://example.org/x"}],
        }
    )
    text = render_issue(issue, sample_settings).text
    assert "This week:\n\n- one\n- two _big_\n- three\n\n1. first\n2. second\n\nBye." in text


def test_no_html_tags_or_entities_in_text(sample_rendered: Rendered) -> None:
    text = sample_rendered.text
    assert not re.search(r"</?[a-zA-Z][^>]*>", text)
    assert not re.search(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", text, re.I)


def test_markdown_links_become_numbered_references(sample_rendered: Rendered) -> None:
    text = sample_rendered.text
    assert "tell us what you think [1]" in text
    assert re.search(r"^\[1\] mailto:editors@example.org$", text, re.M)


def test_kickers_appear_above_their_headlines_unlike_section_headings(
    sample_rendered: Rendered,
) -> None:
    """A section heading is upper case and underlined; a kicker is a "» " label in its own
    case, so one right under a heading does not read as a second heading."""
    text = sample_rendered.text
    assert "» Mumia Abu Jamal\nFree Mumia Abu-Jamal! [" in text
    assert (
        "HISTORY AND THEORY\n------------------\n\n» Paris Commune\n"
        "The Paris Commune: Triumph, Tragedy, and Lessons for Today [" in text
    )
    for line in text.splitlines():
        if line.startswith("» "):
            assert line != line.upper(), line


def test_footer_has_unsubscribe_and_postal_address(sample_rendered: Rendered) -> None:
    assert "Unsubscribe:\n@@digest.unsubscribe_url|" in sample_rendered.text
    preview = sample_rendered.preview_text()
    assert "Unsubscribe:\nmailto:unsubscribe@example.org?subject=unsubscribe\n" in preview
    assert "PO Box 1234" in preview


def test_editor_markup_is_kept_as_text_not_escaped(sample_settings: Settings) -> None:
    issue = Issue.model_validate(
        {
            "number": 2,
            "date": "2026-11-27",
            "articles": [
                {
                    "headline": "Tom & Jerry <3",
                    "summary": "Use <b>this</b> & that.",
                    "url": "https://example.org/x",
                }
            ],
        }
    )
    text = render_issue(issue, sample_settings).text
    assert "Tom & Jerry <3" in text
    assert "Use <b>this</b> & that." in text
