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
        assert re.search("^" + re.escape(article.url) + r"(\?\S*)?$", sample_rendered.text, re.M)


def test_no_html_tags_or_entities_in_text(sample_rendered: Rendered) -> None:
    text = sample_rendered.text
    assert not re.search(r"</?[a-zA-Z][^>]*>", text)
    assert not re.search(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", text, re.I)


def test_markdown_links_become_numbered_references(sample_rendered: Rendered) -> None:
    text = sample_rendered.text
    assert "tell us what you think [1]" in text
    assert re.search(r"^\[1\] mailto:editors@example.org$", text, re.M)


def test_kickers_appear_above_their_headlines(sample_rendered: Rendered) -> None:
    text = sample_rendered.text
    assert "MUMIA ABU JAMAL\nFree Mumia Abu-Jamal!" in text
    assert "PARIS COMMUNE\nThe Paris Commune: Triumph, Tragedy, and Lessons for Today" in text


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
