"""Importing a feed: RSS 2.0, Atom and RSS 1.0 files, a real HTTP server, and the CLI end to end."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from tests.paths import ROOT
from tests.servers.kit import LoopbackServer, Reply, Request

from digest.cli import cli
from digest.errors import InputError
from digest.model import forbidden_character
from digest.render.markdown import md_html
from digest.sources import parse_issue
from digest.sources.feed import (
    SUMMARY_MAX,
    clean_text,
    feed_since,
    feed_to_yaml,
    html_to_text,
    import_feed,
    parse_feed,
    read_feed,
    select_items,
    shorten,
)

pytest_plugins = ["tests.servers.kit"]

FEEDS = Path(__file__).resolve().parent / "fixtures" / "feeds"
RSS2 = FEEDS / "rss2.xml"
ATOM = FEEDS / "atom.xml"
RSS1 = FEEDS / "rss1.xml"

Start = Callable[[Any], LoopbackServer]


def _by_headline(source: Path) -> dict[str, Any]:
    return {i.headline: i for i in read_feed(str(source)).items}


# --- files ------------------------------------------------------------------------------------


def test_rss2_item_text_is_plain_and_kept_exactly() -> None:
    """Tags and scripts go, entities are decoded, and the characters an editor typed stay."""
    items = _by_headline(RSS2)
    italy = items["Italy Amazon Strike Shows Potential for Workers’ Fightback"]
    assert italy.summary == (
        "IMT comrades in Italy send us this report & analysis of the first nationwide strike "
        "at Amazon’s depots – “a turning point”. Read it now."
    )
    assert italy.url == "https://example.org/articles/italy-amazon-strike"
    assert italy.author == "Jane Doe"
    assert italy.category == "Labour struggles"
    assert italy.published == datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    assert "Tom & Jerry Reunited at the Öfinger Hall" in items
    for item in items.values():
        for text in (item.headline, item.summary):
            assert "<" not in text and "&amp;" not in text and "alert" not in text
            assert "color: red" not in text


def test_rss2_author_email_is_dropped_for_the_name() -> None:
    """An RSS <author> is 'email (Name)': the newsletter shows the name, not the address."""
    hall = _by_headline(RSS2)["Tom & Jerry Reunited at the Öfinger Hall"]
    assert hall.author == "Ana Öfinger"


def test_rss2_skips_javascript_link_untitled_and_linkless_items_naming_positions() -> None:
    feed = read_feed(str(RSS2))
    positions = [i.position for i in feed.items]
    assert positions == [1, 4, 5, 7, 8]
    joined = "\n".join(feed.warnings)
    assert "item 2 ('Click Me'): skipped" in joined and "javascript:" in joined
    assert "item 3: skipped: it has no title" in joined
    assert "item 6 ('No Link Here'): skipped: it has no link" in joined
    assert all("javascript" not in i.url for i in feed.items)


def test_rss2_images_from_thumbnail_enclosure_and_media_content() -> None:
    """alt is the feed's media:description when it gives one, else the headline."""
    items = _by_headline(RSS2)
    italy = items["Italy Amazon Strike Shows Potential for Workers’ Fightback"].image
    assert italy is not None and italy.src == "https://example.org/img/italy.jpg"
    assert italy.alt == "Italy Amazon Strike Shows Potential for Workers’ Fightback"
    hall = items["Tom & Jerry Reunited at the Öfinger Hall"].image
    assert hall is not None and hall.src == "https://example.org/img/hall.jpg"
    commune = items["The Paris Commune: Triumph, Tragedy, and Lessons for Today"].image
    assert commune is not None and commune.src == "https://example.org/img/commune.jpg"
    assert commune.alt == "A barricade on the Rue de Belleville, 1871"


def test_rss2_data_uri_image_is_dropped_but_the_item_kept() -> None:
    feed = read_feed(str(RSS2))
    no = next(i for i in feed.items if i.headline == "No")
    assert no.image is None
    assert any("item 7: image skipped" in w and "data:" in w for w in feed.warnings)


def test_long_description_is_cut_at_a_sentence_end() -> None:
    hall = _by_headline(RSS2)["Tom & Jerry Reunited at the Öfinger Hall"]
    assert len(hall.summary) <= SUMMARY_MAX
    assert hall.summary.startswith("The first sentence of a long description")
    assert hall.summary.endswith("the main event of the evening.")
    assert "third sentence" not in hall.summary


def test_atom_rtl_text_xml_base_and_xhtml_content() -> None:
    feed = read_feed(str(ATOM))
    assert feed.language == "ar"
    items = {i.headline: i for i in feed.items}
    strike = items["إضراب عمال أمازون في إيطاليا"]
    assert strike.summary == "أضرب العمال في جميع المستودعات\u00a0— «خطوة تاريخية»."
    assert strike.author == "ليلى حسن"
    assert strike.category == "نضالات العمال"
    assert strike.published == datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
    fish = items["Fish & Chips Strike"]
    assert fish.url == "https://example.org/ar/fish-and-chips"
    assert fish.summary == "Only content, no summary. Second paragraph."


def test_atom_issue_file_says_rtl_and_keeps_arabic_verbatim() -> None:
    result = import_feed(str(ATOM), date=datetime(2026, 11, 27).date())
    doc = yaml.safe_load(result.text)
    assert doc["lang"] == "ar" and doc["dir"] == "rtl"
    issue = parse_issue(result.text)
    assert issue.dir == "rtl"
    assert "إضراب عمال أمازون في إيطاليا" in [a.headline for a in issue.articles]
    assert "إضراب عمال أمازون في إيطاليا" in result.text


def test_rss1_hebrew_items_with_dc_dates_and_an_untitled_item() -> None:
    feed = read_feed(str(RSS1))
    assert feed.language == "he"
    first = feed.items[0]
    assert first.headline == "שביתה כללית בנמל חיפה"
    assert first.summary == "העובדים & האיגוד הודיעו על שביתה."
    assert first.author == "דנה לוי"
    assert first.published == datetime(2026, 11, 19, 5, 30, tzinfo=UTC)
    assert [w for w in feed.warnings if "item 2: skipped: it has no title" in w]
    assert [i.headline for i in feed.items] == ["שביתה כללית בנמל חיפה", "Undated Notes"]


def test_date_filter_leaves_out_undated_items_with_a_warning() -> None:
    feed = read_feed(str(RSS1))
    chosen, warnings = select_items(feed, since=feed_since("2026-11-01"))
    assert [i.headline for i in chosen] == ["שביתה כללית בנמל חיפה"]
    assert any("item 3 left out" in w for w in warnings)
    everything, none = select_items(feed)
    assert len(everything) == 2 and none == []


def test_items_come_newest_first_and_limit_keeps_the_newest() -> None:
    feed = read_feed(str(RSS2))
    chosen, _ = select_items(feed)
    dates = [i.published for i in chosen]
    assert dates == sorted(dates, key=lambda d: d or datetime.min.replace(tzinfo=UTC),
                           reverse=True)
    assert chosen[0].headline == "Tom & Jerry Reunited at the Öfinger Hall"
    two, _ = select_items(feed, limit=2)
    assert [i.position for i in two] == [4, 1]


def test_since_and_days_cut_older_items() -> None:
    feed = read_feed(str(RSS2))
    since, _ = select_items(feed, since=feed_since("2026-11-17"))
    assert {i.headline for i in since} == {
        "Tom & Jerry Reunited at the Öfinger Hall",
        "Italy Amazon Strike Shows Potential for Workers’ Fightback",
    }
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    recent, _ = select_items(feed, since=feed_since(days=3, now=now))
    assert [i.position for i in recent] == [4]
    timed = feed_since("2026-11-17T10:00:00+01:00")
    assert timed == datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    assert [i.position for i in select_items(feed, since=timed)[0]] == [4, 1]


@pytest.mark.parametrize(
    ("since", "days", "message"),
    [
        ("last tuesday", None, "--since 'last tuesday' is not a date"),
        ("2026-13-01", None, "is not a date"),
        ("2026-11-01", 3, "not both"),
        (None, 0, "--days must be 1 or more"),
    ],
)
def test_bad_date_arguments_are_input_errors(since: str | None, days: int | None,
                                             message: str) -> None:
    with pytest.raises(InputError, match=message):
        feed_since(since, days)


def test_no_items_after_the_filter_is_an_input_error_not_an_empty_issue() -> None:
    with pytest.raises(InputError, match="no usable items published since 2030-01-01"):
        import_feed(str(RSS2), since="2030-01-01")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_feed(str(tmp_path / "feed.xml"))


def test_issue_file_round_trips_yaml_traps_and_sections() -> None:
    """A headline 'No' must stay a string; sections come from categories only when asked."""
    result = import_feed(str(RSS2), number=13, date=datetime(2026, 11, 27).date())
    issue = parse_issue(result.text)
    assert issue.number == 13 and issue.date.isoformat() == "2026-11-27"
    assert [a.headline for a in issue.articles] == [i.headline for i in result.items]
    assert "No" in [a.headline for a in issue.articles]
    assert all(a.section is None for a in issue.articles)
    assert result.text.startswith("# Made by `digest import-feed`")
    sectioned = parse_issue(feed_to_yaml(result.items, section_from_category=True))
    by = {a.headline: a.section for a in sectioned.articles}
    assert by["Italy Amazon Strike Shows Potential for Workers’ Fightback"] == "Labour struggles"
    assert by["The Paris Commune: Triumph, Tragedy, and Lessons for Today"] == "History"
    assert by["No"] is None


def test_summary_that_looks_like_a_list_stays_a_paragraph() -> None:
    """Feed text is plain: a summary opening "1984. " or "- " must not become a Markdown list."""
    data = (
        b"<rss version='2.0'><channel><title>x</title>"
        b"<item><title>A</title><link>https://example.org/a</link>"
        b"<description>1984. The year it began.</description></item>"
        b"<item><title>B</title><link>https://example.org/b</link>"
        b"<description>- dash first, *then* stars</description></item></channel></rss>"
    )
    feed = parse_feed(data)
    assert [i.summary for i in feed.items] == [
        "1984. The year it began.",
        "- dash first, *then* stars",
    ]
    issue = parse_issue(feed_to_yaml(feed.items))
    first, second = (md_html(a.summary) for a in issue.articles)
    assert first == "<p>1984. The year it began.</p>\n"
    assert second == "<p>- dash first, <em>then</em> stars</p>\n"


def test_local_file_over_the_size_cap_is_refused() -> None:
    with pytest.raises(InputError, match="larger than 1 KB"):
        read_feed(str(RSS2), max_bytes=1024)


def test_not_a_feed_file_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><html><body><p>Hello</p></body></html>", encoding="utf-8")
    with pytest.raises(InputError, match="not an RSS or Atom feed"):
        read_feed(str(page))


def test_charset_from_the_http_header_is_honoured() -> None:
    """A Latin-1 feed with no encoding in its XML declaration is read by its Content-Type."""
    data = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>"
        "<item><title>Café Öfinger</title><link>https://example.org/c</link>"
        "<description>Crème brûlée</description></item></channel></rss>"
    ).encode("iso-8859-1")
    feed = parse_feed(data, "latin1", headers={"content-type": "text/xml; charset=iso-8859-1"})
    assert [(i.headline, i.summary) for i in feed.items] == [("Café Öfinger", "Crème brûlée")]


# --- text helpers -----------------------------------------------------------------------------


def test_html_to_text_drops_hidden_parts_and_separates_blocks() -> None:
    html = (
        "<div>One&nbsp;two<br>three</div><script>var x = '<p>no</p>';</script>"
        "<p>Caf&eacute; &lt;b&gt; &#x201C;q&#x201D;</p><style>.a{}</style><li>end"
    )
    assert html_to_text(html) == "One\u00a0two three Café <b> “q” end"
    assert html_to_text("x < y and y > z") == "x < y and y > z"
    assert html_to_text("  \n\t ") == ""


@given(
    st.text(
        st.one_of(
            st.characters(max_codepoint=0xA0),
            st.sampled_from(["\ud800", "\udfff", "\ufffe", "\uffff", "\u2028", "\u00a0"]),
            st.characters(),
        )
    )
)
def test_cleaned_text_is_one_line_the_issue_model_accepts(text: str) -> None:
    """Feed and page text alike go through it: C0 and C1 controls, lone surrogates and
    noncharacters out, any run of spaces or line breaks one space."""
    cleaned = clean_text(text)
    assert forbidden_character(cleaned) is None
    assert not any(c in cleaned for c in "\n\r\x85\u2028\u2029") and "  " not in cleaned
    assert cleaned == cleaned.strip(" ")


def test_shorten_cuts_at_a_word_with_an_ellipsis_when_no_sentence_ends() -> None:
    words = " ".join(f"word{n}" for n in range(200))
    cut = shorten(words)
    assert cut.endswith("…") and len(cut) <= SUMMARY_MAX
    assert words.startswith(cut[:-1])
    assert cut[:-1].split(" ")[-1] in words.split(" ")
    assert shorten("Short.") == "Short."


def test_shorten_never_splits_a_combining_mark_from_its_letter() -> None:
    text = "e\u0301" * 400
    cut = shorten(text)
    assert cut.endswith("…")
    assert cut[:-1].endswith("e\u0301")


# --- HTTP -------------------------------------------------------------------------------------


def _rss(items: list[tuple[str, str, datetime]]) -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>About {t}.</description>"
        f"<category>News</category><pubDate>{format_datetime(when)}</pubDate></item>"
        for t, link, when in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Loopback</title><link>https://example.org/</link><description>d</description>"
        f"{body}</channel></rss>"
    ).encode()


class FeedSite:
    """A small website: a feed behind a redirect, a 404, an HTML page and an oversized body."""

    def __init__(self, feed: bytes) -> None:
        self.feed = feed

    def __call__(self, req: Request) -> Reply:
        rss = {"Content-Type": "application/rss+xml; charset=utf-8"}
        if req.path == "/old-feed":
            return Reply(301, b"", {"Location": "/feed.xml"})
        if req.path == "/feed.xml":
            return Reply(200, self.feed, rss)
        if req.path == "/blog":
            return Reply(200, b"<!doctype html><html><body><h1>Blog</h1></body></html>",
                         {"Content-Type": "text/html; charset=utf-8"})
        if req.path == "/huge.xml":
            return Reply(200, self.feed + b" " * 300_000, rss)
        if req.path == "/bomb.xml":
            packed = gzip.compress(self.feed + b" " * 300_000)
            return Reply(200, packed, {**rss, "Content-Encoding": "gzip"})
        if req.path == "/loop":
            return Reply(302, b"", {"Location": "/loop"})
        return Reply(404, "not here")


@pytest.fixture
def site(loopback: Start) -> LoopbackServer:
    now = datetime.now(UTC)
    feed = _rss(
        [
            ("Relative Link Story", "/articles/relative", now - timedelta(days=1)),
            ("Fresh Story", "https://example.org/articles/fresh", now - timedelta(hours=2)),
            ("Stale Story", "https://example.org/articles/stale", now - timedelta(days=40)),
        ]
    )
    return loopback(FeedSite(feed))


def test_feed_over_http_follows_the_redirect_and_resolves_links_against_it(
    site: LoopbackServer,
) -> None:
    feed = read_feed(site.url + "/old-feed")
    assert [r.path for r in site.requests] == ["/old-feed", "/feed.xml"]
    by = {i.headline: i.url for i in feed.items}
    assert by["Relative Link Story"] == site.url + "/articles/relative"
    agent = site.requests[-1].header("user-agent") or ""
    assert agent.startswith("digest/") and "feed" in agent
    assert "application/rss+xml" in (site.requests[-1].header("accept") or "")


def test_http_404_is_an_input_error_naming_the_status(site: LoopbackServer) -> None:
    with pytest.raises(InputError, match=r"/missing.xml: the server answered 404 Not Found"):
        read_feed(site.url + "/missing.xml")


def test_html_page_is_not_a_feed(site: LoopbackServer) -> None:
    with pytest.raises(InputError, match=r"not an RSS or Atom feed \(it was served as text/html\)"):
        read_feed(site.url + "/blog")


def test_too_large_body_is_refused_by_its_declared_length(site: LoopbackServer) -> None:
    with pytest.raises(InputError, match="larger than 200 KB"):
        read_feed(site.url + "/huge.xml", max_bytes=200 * 1024)
    assert read_feed(site.url + "/huge.xml", max_bytes=400 * 1024).items


def test_too_large_body_is_refused_as_it_unpacks(site: LoopbackServer) -> None:
    """A small gzip body that unpacks past the cap is stopped while reading, not after."""
    with pytest.raises(InputError, match="larger than 200 KB"):
        read_feed(site.url + "/bomb.xml", max_bytes=200 * 1024)


def test_redirect_loop_is_an_input_error(site: LoopbackServer) -> None:
    with pytest.raises(InputError, match="more than 5 redirects"):
        read_feed(site.url + "/loop")


def test_stalled_server_times_out_as_an_input_error(site: LoopbackServer) -> None:
    site.faults.stall(1, seconds=5)
    with pytest.raises(InputError, match=r"no answer within 0\.3 s"):
        read_feed(site.url + "/feed.xml", timeout=0.3)


def test_unreachable_host_is_an_input_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match="cannot reach it"):
        read_feed(f"http://127.0.0.1:{port}/feed.xml")


def test_password_and_query_never_reach_messages_or_the_issue_file(site: LoopbackServer) -> None:
    base = site.url.replace("http://", "http://reader:hunter2secret@")
    with pytest.raises(InputError) as info:
        read_feed(base + "/missing.xml?token=t0ps3cret")
    assert "hunter2secret" not in str(info.value) and "t0ps3cret" not in str(info.value)
    result = import_feed(base + "/feed.xml?token=t0ps3cret")
    assert "hunter2secret" not in result.text and "t0ps3cret" not in result.text
    assert site.requests[-1].query == {"token": ["t0ps3cret"]}


def test_a_file_holding_a_url_is_read_as_data_never_fetched(
    site: LoopbackServer, tmp_path: Path
) -> None:
    """feedparser gets bytes only: a file whose text is a URL must not make it fetch that URL."""
    decoy = tmp_path / "decoy.xml"
    decoy.write_text(site.url + "/feed.xml", encoding="utf-8")
    with pytest.raises(InputError, match="not an RSS or Atom feed"):
        read_feed(str(decoy))
    assert site.requests == []


def test_only_http_and_https_sources_are_fetched() -> None:
    with pytest.raises(InputError, match="only http:// and https://"):
        read_feed("ftp://127.0.0.1/feed.xml")


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("http://user:pw@127.0.0.1:port/feed.xml", "Port could not be cast"),
        ("https://user:pw@[broken/feed.xml", "Invalid IPv6 URL"),
        ("http://xn--/feed.xml", "not an address digest can read"),
    ],
)
def test_a_feed_address_urllib_cannot_read_is_an_input_error_hiding_its_password(
    source: str, reason: str
) -> None:
    with pytest.raises(InputError, match=reason) as e:
        read_feed(source)
    assert "pw" not in str(e.value)


# --- CLI --------------------------------------------------------------------------------------


def test_cli_imports_a_served_feed_and_digest_build_renders_it(
    site: LoopbackServer, tmp_path: Path
) -> None:
    out = tmp_path / "issue-13.yaml"
    result = CliRunner().invoke(
        cli,
        [
            "import-feed", site.url + "/old-feed", "-o", str(out), "--days", "7",
            "--number", "13", "--date", "2026-11-27", "--section-from-category",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}: 2 items" in result.stderr
    issue = parse_issue(out.read_text(encoding="utf-8"), str(out))
    assert [a.headline for a in issue.articles] == ["Fresh Story", "Relative Link Story"]
    assert {a.section for a in issue.articles} == {"News"}
    built = CliRunner().invoke(
        cli,
        ["build", str(out), "--out", str(tmp_path / "out"), "--config", str(ROOT / "digest.toml")],
    )
    assert built.exit_code == 0, built.output
    html = (tmp_path / "out" / "issue-13.html").read_text(encoding="utf-8")
    text = (tmp_path / "out" / "issue-13.txt").read_text(encoding="utf-8")
    assert "Fresh Story" in html and "Relative Link Story" in text
    assert "Stale Story" not in html


def test_cli_prints_to_stdout_with_warnings_on_stderr() -> None:
    result = CliRunner().invoke(cli, ["import-feed", str(RSS2), "--number", "5", "--limit", "3"])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.stdout)
    assert len(doc["articles"]) == 3
    assert "warning:" not in result.stdout
    assert "item 2 ('Click Me'): skipped" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "'yesterday' is not a date"),
        (["--since", "2026-11-01", "--days", "2"], "not both"),
        (["--limit", "0"], "0 is not in the range x>=1"),
        (["--days", "-1"], "-1 is not in the range x>=1"),
    ],
)
def test_cli_bad_option_values_are_usage_errors_exit_2_like_click_s_own(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, ["import-feed", str(RSS2), "--number", "5", *args])
    assert result.exit_code == 2
    assert "Error: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.output
    not_a_number = CliRunner().invoke(cli, ["import-feed", str(RSS2), "--number", "x"])
    assert not_a_number.exit_code == result.exit_code


def test_cli_a_feed_with_nothing_recent_is_an_input_error_exit_3() -> None:
    result = CliRunner().invoke(
        cli, ["import-feed", str(RSS2), "--number", "5", "--since", "2031-01-01"]
    )
    assert result.exit_code == 3
    assert "error: " in result.stderr and "no usable items" in result.stderr


def test_cli_unreachable_feed_exits_3(site: LoopbackServer) -> None:
    result = CliRunner().invoke(cli, ["import-feed", site.url + "/gone.xml", "--number", "5"])
    assert result.exit_code == 3
    assert "answered 404" in result.stderr


def test_when_no_item_is_usable_the_error_says_why_each_was_skipped(tmp_path: Path) -> None:
    feed = tmp_path / "only-bad.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>Bad link</title><link>javascript:alert(1)</link></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as e:
        import_feed(str(feed), number=1)
    assert "no usable items" in str(e.value)
    assert "javascript:" in str(e.value) or "Bad link" in str(e.value)


def test_an_item_that_cannot_make_an_article_is_skipped_and_the_rest_imported(
    tmp_path: Path,
) -> None:
    """A summary the issue file refuses failed the whole import with a line of text that
    was never shown; a link or image with a password was written as it was."""
    feed = tmp_path / "mixed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
        "<channel><title>T</title>"
        "<item><title>Kept</title><link>https://news.test/kept</link>"
        "<description>Fine.</description>"
        '<media:thumbnail url="https://cdn:s3cret@img.test/a.jpg"/></item>'
        "<item><title>Script</title><link>https://news.test/script</link>"
        "<description>[Go](javascript:alert(1))</description></item>"
        "<item><title>Locked</title><link>https://bob:s3cret@news.test/locked</link>"
        "<description>Members.</description></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    result = import_feed(str(feed), number=1)
    assert [i.headline for i in result.items] == ["Kept"]
    assert result.items[0].image is None
    joined = "\n".join(result.warnings)
    assert "item 1: image skipped: https://cdn:***@img.test/a.jpg carries login details" in joined
    assert "item 2 ('Script'): skipped: summary: links must start with" in joined
    assert "item 3 ('Locked'): skipped: https://bob:***@news.test/locked" in joined
    assert "s3cret" not in joined and "s3cret" not in result.text
