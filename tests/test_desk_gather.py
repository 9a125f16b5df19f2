"""``import-feed --issue``: a served feed's items into an existing issue, comments kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner
from tests.servers.kit import LoopbackServer
from tests.test_import_feed import FeedSite, _rss

from digest.cli import cli
from digest.config import load_settings
from digest.desk.gather import import_feed_into
from digest.errors import InputError
from digest.sources import load_issue

pytest_plugins = ["tests.servers.kit"]

Start = Callable[[Any], LoopbackServer]
TODAY = datetime.now(UTC).date()

PREVIOUS = f"number: 6\ndate: {TODAY - timedelta(days=7)}\n"
CURRENT = f"""\
# This week's issue — my notes stay.
number: 7
date: {TODAY}
articles:
  - headline: Already Picked
    summary: We have this one.   # keep
    url: https://news.test/already?utm_source=feed

# end of file
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "digest.toml").write_text('[issues]\ndir = "issues"\n', encoding="utf-8")
    (tmp_path / "issues").mkdir()
    (tmp_path / "issues" / "a-006.yaml").write_text(PREVIOUS, encoding="utf-8")
    (tmp_path / "issues" / "b-007.yaml").write_text(CURRENT, encoding="utf-8")
    return tmp_path


@pytest.fixture
def feed_site(loopback: Start) -> LoopbackServer:
    now = datetime.now(UTC)
    return loopback(
        FeedSite(
            _rss(
                [
                    ("Already Picked", "https://news.test/already", now - timedelta(days=1)),
                    ("New This Week", "https://news.test/new", now - timedelta(days=2)),
                    ("Last Month", "https://news.test/old", now - timedelta(days=30)),
                ]
            )
        )
    )


def test_feed_items_are_added_to_the_issue_skipping_links_already_there(
    folder: Path, feed_site: LoopbackServer
) -> None:
    settings = load_settings(folder / "digest.toml", environ={})
    path = folder / "issues" / "b-007.yaml"
    result = import_feed_into(settings, path, feed_site.url + "/feed.xml", since="last")
    assert [a["headline"] for a in result.added] == ["New This Week"]
    assert result.skipped == ["https://news.test/already"]
    text = path.read_text(encoding="utf-8")
    for line in CURRENT.splitlines():
        assert line in text
    assert [a.headline for a in load_issue(path).articles] == ["Already Picked", "New This Week"]


def test_since_last_needs_an_earlier_issue(folder: Path, feed_site: LoopbackServer) -> None:
    (folder / "issues" / "a-006.yaml").unlink()
    settings = load_settings(folder / "digest.toml", environ={})
    with pytest.raises(InputError, match="no earlier issue"):
        import_feed_into(
            settings, folder / "issues" / "b-007.yaml", feed_site.url + "/feed.xml", since="last"
        )


def test_cli_import_feed_into_the_newest_issue_by_number(
    folder: Path, feed_site: LoopbackServer
) -> None:
    args = ["import-feed", feed_site.url + "/feed.xml", "--issue", "7", "--days", "60"]
    result = CliRunner().invoke(cli, [*args, "--config", str(folder / "digest.toml")])
    assert result.exit_code == 0, result.output
    assert "Added 2 items" in result.output and "Skipped https://news.test/already" in result.output
    issue = load_issue(folder / "issues" / "b-007.yaml")
    assert len(issue.articles) == 3 and issue.date == date.fromisoformat(str(TODAY))
    bad = CliRunner().invoke(cli, [*args, "--number", "3"])
    assert bad.exit_code == 2


def test_since_last_passes_over_an_earlier_issue_whose_date_is_not_a_date(
    folder: Path, feed_site: LoopbackServer
) -> None:
    """The folder scan once handed ``date: 1 Nov 2026`` on, and ``--since last`` crashed."""
    (folder / "issues" / "a-006.yaml").write_text("number: 6\ndate: 1 Nov 2026\n", encoding="utf-8")
    settings = load_settings(folder / "digest.toml", environ={})
    with pytest.raises(InputError, match="no earlier issue with a date"):
        import_feed_into(
            settings, folder / "issues" / "b-007.yaml", feed_site.url + "/feed.xml", since="last"
        )


def test_feed_items_added_to_a_flow_list_keep_the_articles_already_there(
    folder: Path, feed_site: LoopbackServer
) -> None:
    """`import-feed --issue` shares `digest add`'s edit, which replaced a flow list."""
    path = folder / "issues" / "b-007.yaml"
    flow = (
        f"number: 7\ndate: {TODAY}\narticles: [\n"
        "  {headline: Picked One, url: 'https://news.test/one'},  # keep\n"
        "  {headline: Picked Two, url: 'https://news.test/two'},\n"
        "]\n"
    )
    path.write_text(flow, encoding="utf-8")
    settings = load_settings(folder / "digest.toml", environ={})
    import_feed_into(settings, path, feed_site.url + "/feed.xml", since="last")
    assert [a.headline for a in load_issue(path).articles] == [
        "Picked One", "Picked Two", "Already Picked", "New This Week"
    ]
    assert path.read_text(encoding="utf-8").startswith(flow.removesuffix("]\n"))


def _feed(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of (title, link, description) items, all published yesterday."""
    when = format_datetime(datetime.now(UTC) - timedelta(days=1))
    body = "".join(
        f"<item><title>{t}</title><link>{escape(link)}</link>"
        f"<description>{escape(d)}</description><pubDate>{when}</pubDate></item>"
        for t, link, d in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://example.org/</link><description>d</description>{body}</channel></rss>"
    ).encode()


def _import_into_7(folder: Path, site: LoopbackServer) -> Any:
    args = ["import-feed", site.url + "/feed.xml", "--issue", "7", "--days", "60"]
    return CliRunner().invoke(cli, [*args, "--config", str(folder / "digest.toml")])


def test_a_feed_item_that_cannot_make_an_article_is_skipped_naming_the_item_not_a_line(
    folder: Path, loopback: Start
) -> None:
    """It was written unchecked, and the save refused the whole import naming a line of the
    edited text that was not in the file."""
    site = loopback(FeedSite(_feed([
        ("Good Story", "https://news.test/good", "Fine."),
        ("Script Summary", "https://news.test/script", "See [this](javascript:alert(1)) now."),
    ])))
    result = _import_into_7(folder, site)
    assert result.exit_code == 0, result.output
    assert "item 2 ('Script Summary'): skipped: summary: links must start with" in result.output
    assert "b-007.yaml:" not in result.output
    path = folder / "issues" / "b-007.yaml"
    assert [a.headline for a in load_issue(path).articles] == ["Already Picked", "Good Story"]
    assert "javascript" not in path.read_text(encoding="utf-8")


def test_a_feed_item_whose_link_carries_a_password_is_skipped_without_showing_it(
    folder: Path, loopback: Start
) -> None:
    """Its link was written into the issue with the password, as ``digest add`` refuses to."""
    site = loopback(FeedSite(_feed([
        ("Good Story", "https://news.test/good", "Fine."),
        ("Locked Story", "https://bob:hunter2@news.test/locked", "Members only."),
    ])))
    result = _import_into_7(folder, site)
    assert result.exit_code == 0, result.output
    assert (
        "item 2 ('Locked Story'): skipped: https://bob:***@news.test/locked carries login details"
        in result.output
    )
    path = folder / "issues" / "b-007.yaml"
    assert "hunter2" not in result.output and "hunter2" not in path.read_text(encoding="utf-8")
    assert [a.headline for a in load_issue(path).articles] == ["Already Picked", "Good Story"]
