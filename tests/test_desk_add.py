"""``digest add``: real-looking pages served on 127.0.0.1, the issue file edited in place."""

# ruff: noqa: E501  (test pages are long lines of HTML, as real pages are)

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from tests.paths import ROOT
from tests.servers.kit import LoopbackServer, Reply, Request

from digest.cli import cli
from digest.config import Settings, load_settings
from digest.desk.add import add_articles
from digest.desk.extract import extract_meta
from digest.desk.fetch import Fetcher, FetchError
from digest.desk.urls import canonical_url, page_key
from digest.errors import InputError
from digest.render.markdown import md_plain, md_text
from digest.sources import load_issue

pytest_plugins = ["tests.servers.kit"]

Start = Callable[[Any], LoopbackServer]
HTML = {"Content-Type": "text/html; charset=utf-8"}

OG_PAGE = """<!doctype html><html lang="en"><head>
<meta charset="utf-8"><title>Dockers Walk Out | Harbour News</title>
<meta property="og:title" content="Dockers Walk Out Over Automation Plans">
<meta property="og:description" content="Port workers stopped the cranes on Monday &amp; said they would not return until the plan was withdrawn.">
<meta property="og:image" content="/img/cranes.jpg">
<meta property="og:image:alt" content="Idle cranes at the container terminal">
<meta property="og:site_name" content="Harbour News">
<link rel="canonical" href="/news/dockers-walk-out?utm_source=rss&amp;ref=7">
</head><body><nav><p>Home</p></nav><article><h1>Dockers Walk Out</h1><p>Short.</p></article></body></html>"""

LD = {
    "@context": "https://schema.org",
    "@graph": [
        {"@type": "WebSite", "name": "Ignore me"},
        {
            "@type": ["NewsArticle"],
            "headline": "Nurses Win Pay Deal After Three-Week Strike",
            "description": "The union accepted an offer worth 9 per cent over two years.",
            "image": {
                "@type": "ImageObject",
                "url": "https://cdn.test/nurses.jpg",
                "caption": "Nurses on a picket line",
            },
            "author": [
                {"@type": "Person", "name": "Ana Ruiz"},
                {"@type": "Person", "name": "Bo Li"},
            ],
            "publisher": {"@type": "Organization", "name": "Health Wire"},
        },
    ],
}
LD_PAGE = (
    "<html><head><title>x</title><script type='application/ld+json'>"
    + json.dumps(LD)
    + "</script></head><body><p>body</p></body></html>"
)
BARE_PAGE = """<html><head><title>Rent Strike Spreads | Tenants Today</title></head><body>
<header><p>A very long header paragraph that should never be taken as the summary of the page at all.</p></header>
<main><p>Tiny.</p><p>Tenants in four more buildings joined the rent strike this week, demanding repairs that the landlord promised two years ago.</p></main>
</body></html>"""
LATIN1_PAGE = (
    "<html><head><title>Café workers “organise”</title></head><body>"
    "<p>Baristas at the Café Müller chain voted to form a union – the first in the "
    "city’s coffee trade, after months of organising.</p></body></html>"
)
"""Text with windows-1252's curly quotes and dashes: served as cp1252 bytes."""


TWITTER_PAGE = """<html><head><title>ignored</title>
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="Bus Drivers Vote to Strike">
<meta name="twitter:description" content="Ninety per cent voted yes on a turnout of 70 per cent.">
<meta name="twitter:image" content="https://cdn.test/buses.jpg">
<meta name="twitter:image:alt" content="Buses parked at the depot">
<meta name="author" content="Kim Park">
</head><body></body></html>"""

SYNDICATED_PAGE = """<html><head><title>Ferry Crews Join the Strike</title>
<link rel="canonical" href="https://origin.test/ferry-crews">
<meta property="og:url" content="https://origin.test/ferry-crews">
</head><body><p>Crews on the island ferries walked off on Tuesday in support of the dockers.</p></body></html>"""
"""A copy of a story published elsewhere: its canonical address is on the original's host."""
OG_URL_PAGE = """<html><head><title>Bakers Vote</title>
<meta property="og:url" content="/news/bakers-vote?utm_campaign=x">
</head><body><p>Bakers at the city's three largest bakeries voted to strike from Friday.</p></body></html>"""


class NewsSite:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    def __call__(self, req: Request) -> Reply:
        path = req.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if path.startswith("/news/dockers-walk-out") or path == "/og":
            return Reply(200, OG_PAGE.encode(), HTML)
        if path == "/syndicated":
            return Reply(200, SYNDICATED_PAGE.encode(), HTML)
        if path == "/moved":
            return Reply(301, b"", {"Location": "/syndicated?utm_source=feed"})
        if path == "/og-url-only":
            return Reply(200, OG_URL_PAGE.encode(), HTML)
        if path == "/ld":
            return Reply(200, LD_PAGE.encode(), HTML)
        if path == "/twitter":
            return Reply(200, TWITTER_PAGE.encode(), HTML)
        if path == "/bare":
            return Reply(200, BARE_PAGE.encode(), HTML)
        if path == "/latin1":
            return Reply(
                200, LATIN1_PAGE.encode("cp1252"), {"Content-Type": "text/html; charset=iso-8859-1"}
            )
        if path == "/cp1252-meta":
            body = LATIN1_PAGE.replace("<head>", '<head><meta charset="windows-1252">')
            return Reply(200, body.encode("cp1252"), {"Content-Type": "text/html"})
        if path == "/huge":
            head = OG_PAGE.split("<body>")[0].encode()
            return Reply(200, head + b"<body>" + b"<p>padding</p>" * 400_000, HTML)
        if path.startswith("/hop"):
            n = int(path.removeprefix("/hop"))
            return Reply(301, b"", {"Location": f"/hop{n - 1}" if n > 1 else "/og"})
        if path == "/loop":
            return Reply(302, b"", {"Location": "/loop2"})
        if path == "/loop2":
            return Reply(302, b"", {"Location": "/loop"})
        if path == "/report.pdf":
            return Reply(200, b"%PDF-1.7", {"Content-Type": "application/pdf"})
        return Reply(404, "not here")


ISSUE = """\
# yaml-language-server: $schema=../issue.schema.json
# Our issue — comments here must survive.
number: 7
date: 2026-12-04
subject: "Quoted subject: keep the quotes"
intro: |
  Dear readers,

  a week of walkouts.

articles:
  # the lead so far
  - headline: 'Single-quoted headline'
    summary: A plain summary that an editor wrapped by hand
      across two lines, kept as written.
    url: https://news.test/first   # where it lives
    lead: true

  - headline: Second   # trailing comment
    summary: Two.
    url: https://news.test/second?id=2
# the end
"""


@pytest.fixture
def site(loopback: Start) -> LoopbackServer:
    return loopback(NewsSite())


@pytest.fixture
def issue(tmp_path: Path) -> Path:
    path = tmp_path / "issues" / "2026-12-04-007.yaml"
    path.parent.mkdir()
    path.write_text(ISSUE, encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "digest.toml").write_text('[issues]\ndir = "issues"\n', encoding="utf-8")
    return load_settings(tmp_path / "digest.toml", environ={})


def _add(settings: Settings, issue: Path, *urls: str, **kw: Any) -> Any:
    kw.setdefault("allow_private", True)
    return add_articles(settings, issue, list(urls), **kw)


def _kept(original: str, now: str, *, except_lines: tuple[str, ...] = ()) -> None:
    """Every line of the editor's file is still there, in order."""
    lines = [line for line in original.splitlines() if line not in except_lines]
    at = 0
    new_lines = now.splitlines()
    for line in lines:
        at = new_lines.index(line, at) + 1


def test_open_graph_page_fills_the_article_and_comments_survive(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    result = _add(settings, issue, site.url + "/og?utm_source=x&fbclid=abc&page=2")
    text = issue.read_text(encoding="utf-8")
    _kept(ISSUE, text)
    new = load_issue(issue).articles[-1]
    assert new.headline == "Dockers Walk Out Over Automation Plans"
    assert new.summary is not None and new.summary.startswith(
        "Port workers stopped the cranes on Monday & said"
    )
    assert new.image is not None
    assert new.image.src == site.url + "/img/cranes.jpg"
    assert new.image.alt == "Idle cranes at the container terminal"
    assert new.site == "Harbour News"
    # the page's canonical address on its own host, without tracking parameters
    assert new.url == site.url + "/news/dockers-walk-out?ref=7"
    assert result.warnings == []
    assert text.index("- headline: Dockers Walk Out") < text.index("# the end")
    agent = site.requests[0].header("user-agent") or ""
    assert agent.startswith("digest/")


def test_a_canonical_address_on_another_host_is_ignored_as_the_readme_says(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    """The README said the stored link is the page's canonical address; the code takes it
    only on the page's own host, else stores where the redirects ended."""
    _add(settings, issue, site.url + "/moved")
    assert load_issue(issue).articles[-1].url == site.url + "/syndicated"
    _add(settings, issue, site.url + "/og-url-only")
    assert load_issue(issue).articles[-1].url == site.url + "/news/bakers-vote"
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert (
        "The link stored is the page's canonical address (its `<link rel=\"canonical\">`, else "
        "`og:url`) when that is on the same host as the address its redirects ended at, else "
        "that address: a canonical address on another host"
    ) in readme


def test_json_ld_page_gives_headline_authors_image_caption_and_publisher(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    _add(settings, issue, site.url + "/ld")
    new = load_issue(issue).articles[-1]
    assert new.headline == "Nurses Win Pay Deal After Three-Week Strike"
    assert new.summary == "The union accepted an offer worth 9 per cent over two years."
    assert new.author == "Ana Ruiz, Bo Li"
    assert new.site == "Health Wire"
    assert new.image is not None and new.image.src == "https://cdn.test/nurses.jpg"
    assert new.image.alt == "Nurses on a picket line"


def test_twitter_card_and_meta_author_fill_the_article(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    _add(settings, issue, site.url + "/twitter")
    new = load_issue(issue).articles[-1]
    assert new.headline == "Bus Drivers Vote to Strike"
    assert new.summary == "Ninety per cent voted yes on a turnout of 70 per cent."
    assert new.image is not None and new.image.alt == "Buses parked at the depot"
    assert new.author == "Kim Park"


def test_bare_html_falls_back_to_title_and_first_substantial_paragraph(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    _add(settings, issue, site.url + "/bare")
    new = load_issue(issue).articles[-1]
    assert new.headline == "Rent Strike Spreads | Tenants Today"
    assert new.summary is not None and new.summary.startswith("Tenants in four more buildings")
    assert new.image is None


@pytest.mark.parametrize("path", ["/latin1", "/cp1252-meta"])
def test_latin1_and_windows_1252_pages_come_out_right(
    site: LoopbackServer, settings: Settings, issue: Path, path: str
) -> None:
    _add(settings, issue, site.url + path)
    new = load_issue(issue).articles[-1]
    assert new.headline == "Café workers “organise”"
    assert new.summary is not None
    assert "Café Müller chain voted to form a union – the first in the city’s coffee" in new.summary


def test_a_huge_page_is_read_up_to_the_cap_and_its_head_used(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    fetcher = Fetcher(allow_private=True, max_bytes=256 * 1024)
    result = _add(settings, issue, site.url + "/huge", fetcher=fetcher)
    fetcher.close()
    assert load_issue(issue).articles[-1].headline == "Dockers Walk Out Over Automation Plans"
    assert any("larger than the size cap" in w for w in result.warnings)


def test_a_redirect_chain_of_five_is_followed(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    _add(settings, issue, site.url + "/hop4")
    assert load_issue(issue).articles[-1].headline.startswith("Dockers Walk Out")
    assert [r.path for r in site.requests][:5] == ["/hop4", "/hop3", "/hop2", "/hop1", "/og"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/hop7", "more than 5 redirects"),
        ("/loop", "redirect loop"),
        ("/missing", "the server answered 404 Not Found"),
        ("/report.pdf", "not a web page but application/pdf"),
    ],
)
def test_a_page_that_cannot_be_used_leaves_the_file_untouched(
    site: LoopbackServer, settings: Settings, issue: Path, path: str, reason: str
) -> None:
    with pytest.raises(FetchError, match=reason):
        _add(settings, issue, site.url + "/og", site.url + path)
    assert issue.read_text(encoding="utf-8") == ISSUE


def test_a_slow_answer_times_out_with_a_clear_error(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    site.faults.stall(1, seconds=3)
    with (
        Fetcher(allow_private=True, timeout=0.5) as fetcher,
        pytest.raises(FetchError, match=r"no answer within 0\.5 s"),
    ):
        _add(settings, issue, site.url + "/og", fetcher=fetcher)
    assert issue.read_text(encoding="utf-8") == ISSUE


def test_loopback_is_refused_without_allow_private(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    with pytest.raises(FetchError, match="private or loopback address"):
        _add(settings, issue, site.url + "/og", allow_private=False)
    assert site.requests == []
    with pytest.raises(FetchError, match="only http:// and https://"):
        _add(settings, issue, "file:///etc/passwd")


def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_before_any_request(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    """DNS rebinding: the first answer (the check's) is public, the next one loopback. The
    connection is opened only to an address that was itself checked, so the loopback server
    never sees the request."""
    import socket

    port = int(site.url.rsplit(":", 1)[1])
    answers = ["93.184.216.34", "127.0.0.1"]
    asked: list[str] = []

    def rebinding(host: str, port_: object, *args: object, **kw: object) -> list[tuple[object, ...]]:
        asked.append(host)
        address = answers[min(len(asked), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    with (
        Fetcher(resolve=rebinding) as fetcher,
        pytest.raises(FetchError, match=r"rebind\.test is a private or loopback address \(127"),
    ):
        _add(settings, issue, f"http://rebind.test:{port}/og", fetcher=fetcher, allow_private=False)
    assert asked == ["rebind.test", "rebind.test"]
    assert site.requests == []
    assert issue.read_text(encoding="utf-8") == ISSUE


def _resolving_to(*addresses: str) -> Callable[..., list[tuple[object, ...]]]:
    import socket

    def resolve(host: str, port: object, *args: object, **kw: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
                for a in addresses]

    return resolve


def test_the_guarded_connection_goes_to_the_checked_address_and_on_to_the_next_one(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    """The socket opens to the resolved address by number (the first refuses, the next is
    tried), while the request still names the host. Loopback stands in for a public address
    here (``public`` is the test's), so the fetch through the guard itself is exercised."""
    port = int(site.url.rsplit(":", 1)[1])
    with Fetcher(resolve=_resolving_to("127.0.0.2", "127.0.0.1"), public=lambda a: True) as f:
        _add(settings, issue, f"http://pages.test:{port}/og", fetcher=f, allow_private=False)
    assert load_issue(issue).articles[-1].headline == "Dockers Walk Out Over Automation Plans"
    assert site.requests[0].headers["host"] == f"pages.test:{port}"


def test_behind_a_proxy_from_the_environment_pages_are_fetched_through_it(
    site: LoopbackServer, settings: Settings, issue: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is honoured (the proxy resolves the name; the check before the request
    still refuses a private address)."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", site.url)
    with Fetcher(resolve=_resolving_to("93.184.216.34")) as fetcher:
        _add(settings, issue, "http://news.example/og", fetcher=fetcher, allow_private=False)
    assert site.requests[0].headers["host"] == "news.example"
    assert load_issue(issue).articles[-1].headline == "Dockers Walk Out Over Automation Plans"
    with (
        Fetcher(resolve=_resolving_to("10.0.0.7")) as fetcher,
        pytest.raises(FetchError, match="private or loopback address"),
    ):
        _add(settings, issue, "http://intranet.example/og", fetcher=fetcher, allow_private=False)
    assert len(site.requests) == 1


def test_a_link_already_in_the_issue_is_refused(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    with pytest.raises(InputError, match="already in"):
        _add(settings, issue, "https://news.test/second?id=2&utm_medium=email")
    _add(settings, issue, site.url + "/og")
    with pytest.raises(InputError, match="already in"):
        _add(settings, issue, site.url + "/hop1")  # redirects to the same page
    assert len(load_issue(issue).articles) == 3


def test_lead_moves_the_mark_and_section_is_set(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    _add(settings, issue, site.url + "/ld", lead=True, section="Health")
    loaded = load_issue(issue)
    assert loaded.lead is not None and loaded.lead.headline.startswith("Nurses")
    assert loaded.lead.section == "Health"
    assert sum(a.lead for a in loaded.articles) == 1
    _kept(ISSUE, issue.read_text(encoding="utf-8"), except_lines=("    lead: true",))


def test_canonical_url_drops_tracking_parameters_only() -> None:
    url = "HTTPS://News.Test/a?utm_source=n&id=3&fbclid=x&gclid=y&mc_cid=1&mc_eid=2&q=ok#part"
    assert canonical_url(url) == "https://news.test/a?id=3&q=ok#part"


def test_cli_add_resolves_the_newest_issue_and_reports(
    site: LoopbackServer, tmp_path: Path, issue: Path, settings: Settings
) -> None:
    config = str(tmp_path / "digest.toml")
    result = CliRunner().invoke(
        cli, ["add", site.url + "/og", "--allow-private", "--config", config]
    )
    assert result.exit_code == 0, result.output
    assert "Added 'Dockers Walk Out Over Automation Plans'" in result.output
    failed = CliRunner().invoke(
        cli, ["add", site.url + "/missing", "--issue", "7", "--allow-private", "--config", config]
    )
    assert failed.exit_code == 3
    assert "404" in failed.output and "Traceback" not in failed.output


# --- text, addresses and metadata a page should not be able to break ---------------------------

CONTROL_PAGE = (
    "<html><head><title>Ctrl\x1b[31m red\x07</title>"
    '<meta name="description" content="Bell\x07 and \x9bCSI\x9b and a DEL\x7f here.">'
    '<meta property="og:image" content="/pic.jpg">'
    '<meta property="og:image:alt" content="Alt\x01 text\x1b">'
    '<meta name="author" content="Ana\x0c Ruiz">'
    '<meta property="og:site_name" content="Wire\x08">'
    "</head><body></body></html>"
)
SURROGATE_LD = (
    "<html><head><script type='application/ld+json'>"
    '{"@type": "NewsArticle", "headline": "Lone \\ud800surrogate", "description": "x\\u0000y"}'
    "</script></head><body></body></html>"
)
DEEP_NAME = "[" * 600 + '{"name": "Deep"}' + "]" * 600
UNUSABLE_LD = {
    "unclosed-arrays": "[" * 100_000,
    "nested-author": '{"@type": "Article", "author": ' + DEEP_NAME + "}",
    "nested-image": '{"@type": "Article", "image": ' + DEEP_NAME + "}",
    "nested-graph": '{"@graph": ' * 600 + "{}" + "}" * 600,
    "numeric-type": '{"@type": 5, "headline": "Not an article"}',
}
UNREADABLE_URLS_PAGE = (
    "<html><head><base href='http://[broken/'><title>Harbour Notes</title>"
    '<meta property="og:image" content="http://[::1/cranes.jpg">'
    '<link rel="canonical" href="http://127.0.0.1:notaport/harbour">'
    '<meta name="author" content="http://[oops">'
    "</head><body></body></html>"
)


class OddSite:
    """Pages whose text and metadata are hostile or broken, as found on the web."""

    def __call__(self, req: Request) -> Reply:
        if req.path == "/control":
            return Reply(200, CONTROL_PAGE.encode(), HTML)
        if req.path == "/surrogate":
            return Reply(200, SURROGATE_LD.encode(), HTML)
        if req.path.startswith("/ld/"):
            script = UNUSABLE_LD[req.path.removeprefix("/ld/")]
            body = (
                "<html><head><title>Fallback | Site</title>"
                '<meta property="og:title" content="Tags Still Work">'
                f"<script type='application/ld+json'>{script}</script>"
                "</head><body></body></html>"
            )
            return Reply(200, body.encode(), HTML)
        if req.path == "/urls":
            return Reply(200, UNREADABLE_URLS_PAGE.encode(), HTML)
        if req.path == "/bad-redirect":
            return Reply(302, b"", {"Location": "http://[broken/next"})
        if req.path == "/described":
            body = (
                "<html><head><title>Described</title><meta name='description' content='"
                f"{html.escape(req.query['d'][0])}'></head><body></body></html>"
            )
            return Reply(200, body.encode(), HTML)
        if req.path == "/js-summary":
            body = (
                "<html><head><title>Click</title><meta name='description' "
                "content='[Read it](javascript:alert(1)) now'></head><body></body></html>"
            )
            return Reply(200, body.encode(), HTML)
        return Reply(404, "not here")


@pytest.fixture
def odd(loopback: Start) -> LoopbackServer:
    return loopback(OddSite())


def test_control_characters_in_a_page_s_text_are_dropped_and_the_article_added(
    odd: LoopbackServer, settings: Settings, issue: Path
) -> None:
    """The trial's `<title>Ctrl\\x1b[31m red\\x07</title>`: it failed with an error naming a
    line and an article that were not in the file."""
    _add(settings, issue, odd.url + "/control")
    new = load_issue(issue).articles[-1]
    assert new.headline == "Ctrl[31m red"
    assert new.summary == "Bell and CSI and a DEL here."
    assert new.image is not None and new.image.alt == "Alt text"
    assert (new.author, new.site) == ("Ana Ruiz", "Wire")


def test_lone_surrogates_and_nul_escaped_in_json_ld_are_dropped(
    odd: LoopbackServer, settings: Settings, issue: Path
) -> None:
    _add(settings, issue, odd.url + "/surrogate")
    new = load_issue(issue).articles[-1]
    assert (new.headline, new.summary) == ("Lone surrogate", "xy")


@pytest.mark.parametrize("case", sorted(UNUSABLE_LD))
def test_unusable_json_ld_is_ignored_and_the_page_added_from_its_tags(
    odd: LoopbackServer, settings: Settings, issue: Path, case: str
) -> None:
    """JSON-LD nested past the parser's stack (or just past the extractor's) or of an odd
    type used to crash `digest add` with a traceback."""
    _add(settings, issue, odd.url + "/ld/" + case)
    new = load_issue(issue).articles[-1]
    assert new.headline == "Tags Still Work"
    assert new.author is None and new.image is None


def test_addresses_in_a_page_that_urllib_cannot_read_are_ignored(
    odd: LoopbackServer, settings: Settings, issue: Path
) -> None:
    _add(settings, issue, odd.url + "/urls")
    new = load_issue(issue).articles[-1]
    assert new.headline == "Harbour Notes"
    assert new.url == odd.url + "/urls"
    assert new.image is None and new.author == "http://[oops"


def test_a_redirect_to_an_address_that_cannot_be_read_is_a_clear_error(
    odd: LoopbackServer, settings: Settings, issue: Path
) -> None:
    with pytest.raises(FetchError, match=r"redirected to an address that cannot be read"):
        _add(settings, issue, odd.url + "/bad-redirect")
    assert issue.read_text(encoding="utf-8") == ISSUE


def test_a_page_that_cannot_make_a_valid_article_is_named_not_a_line_of_the_file(
    odd: LoopbackServer, settings: Settings, issue: Path
) -> None:
    url = odd.url + "/js-summary"
    with pytest.raises(InputError) as e:
        _add(settings, issue, url)
    assert str(e.value).startswith(f"{url}: the page does not make a valid article (summary: ")
    assert "javascript:" in str(e.value) and str(issue) not in str(e.value)
    assert issue.read_text(encoding="utf-8") == ISSUE


def test_add_to_an_issue_whose_articles_are_left_empty(
    site: LoopbackServer, settings: Settings, tmp_path: Path
) -> None:
    """`articles:` with nothing after it failed to load ("should be a valid list"), so add
    refused a file its own edit knew how to fill."""
    path = tmp_path / "issues" / "2026-12-11-008.yaml"
    path.parent.mkdir()
    path.write_text("number: 8\ndate: 2026-12-11\narticles:   # picks go here\n", "utf-8")
    _add(settings, path, site.url + "/og")
    assert [a.headline for a in load_issue(path).articles] == [
        "Dockers Walk Out Over Automation Plans"
    ]
    assert "articles:  # picks go here\n" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "description",
    ["1. First, the union voted.", "2026. A year of strikes.", "- Bullet lead.", "> Quoted."],
)
def test_a_description_starting_like_a_list_or_quote_reaches_readers_as_written(
    odd: LoopbackServer, settings: Settings, issue: Path, description: str
) -> None:
    """The summary is read as Markdown: unescaped, "1. " became a list and the preheader
    and plain-text part lost the marker, as import-feed's summaries no longer do."""
    _add(settings, issue, odd.url + "/described?" + urlencode({"d": description}))
    summary = load_issue(issue).articles[-1].summary
    assert summary is not None
    assert md_plain(summary) == description
    assert md_text(summary, lambda url: 1) == description


@pytest.mark.parametrize(
    ("login", "shown"),
    [("user:pw", "user:***@"), ("tokenpw", "***@"), ("user:p%40ss:pw", "user:***@")],
)
def test_an_address_with_login_details_is_refused_without_showing_the_password(
    site: LoopbackServer, tmp_path: Path, issue: Path, settings: Settings, login: str, shown: str
) -> None:
    """It was fetched, printed and stored with the password, and got past the duplicate
    check for a page already in the issue."""
    _add(settings, issue, site.url + "/og")
    before = issue.read_text(encoding="utf-8")
    asked = site.url.replace("://", f"://{login}@") + "/news/dockers-walk-out?ref=7"
    result = CliRunner().invoke(
        cli,
        ["add", asked, "--issue", str(issue), "--allow-private",
         "--config", str(tmp_path / "digest.toml")],
    )
    assert result.exit_code == 3
    assert shown + site.url.split("://")[1] in result.output
    assert "pw" not in result.output and "Traceback" not in result.output
    assert issue.read_text(encoding="utf-8") == before
    assert len(site.requests) == 1


@pytest.mark.parametrize("address", ["http://[broken/x", "http://127.0.0.1:99999/x",
                                     "http://127.0.0.1:port/x", "http://xn--/x"])
def test_an_address_that_cannot_be_read_is_a_clear_error_on_the_command_line(
    tmp_path: Path, issue: Path, settings: Settings, address: str
) -> None:
    result = CliRunner().invoke(
        cli, ["add", address, "--issue", str(issue), "--allow-private",
              "--config", str(tmp_path / "digest.toml")]
    )
    assert result.exit_code == 3, result.output
    assert result.output.startswith(f"error: {address}: ")
    assert "Traceback" not in result.output
    assert issue.read_text(encoding="utf-8") == ISSUE


def test_canonical_url_drops_login_details_and_default_ports_for_any_host_case() -> None:
    assert canonical_url("https://u:pw@News.Test:443/a?utm_source=x") == "https://news.test/a"
    assert canonical_url("http://NEWS.test:80/a") == "http://news.test/a"
    assert canonical_url("http://news.test:8080/a") == "http://news.test:8080/a"
    assert canonical_url("http://[::1]:80/a") == "http://[::1]/a"


def test_the_same_page_given_with_its_default_port_is_refused_as_already_there(
    settings: Settings, issue: Path
) -> None:
    with pytest.raises(InputError, match="already in"):
        _add(settings, issue, "https://NEWS.test:443/second?id=2")


def test_page_key_is_one_for_a_place_on_the_page_and_for_either_form_of_a_unicode_host() -> None:
    same = {
        page_key("https://Bücher.example/a?id=1#top"),
        page_key("https://xn--bcher-kva.example/a?id=1&utm_source=x"),
        page_key("https://bücher.example:443/a?id=1#reviews"),
    }
    assert same == {"https://xn--bcher-kva.example/a?id=1"}
    assert page_key("https://news.test/a?id=1") != page_key("https://news.test/a?id=2")
    assert page_key("http://[::1]:8080/a#b") == "http://[::1]:8080/a"
    # what is stored keeps the place on the page the editor gave
    assert canonical_url("https://news.test/a#part") == "https://news.test/a#part"


def test_the_same_page_given_with_a_fragment_is_refused_as_already_there(
    settings: Settings, issue: Path
) -> None:
    with pytest.raises(InputError, match="already in"):
        _add(settings, issue, "https://news.test/second?id=2#comments")


# --- the file is the editor's: never written over what they saved meanwhile --------------------


def test_an_issue_saved_by_the_editor_while_pages_were_fetched_is_not_written_over(
    loopback: Start, settings: Settings, issue: Path
) -> None:
    """Fetching takes seconds; the editor's save in that time used to be overwritten with
    the text read before it, plus the new article."""
    edited = ISSUE.replace("a week of walkouts.", "a week of walkouts, and one win.")

    def editor_saves_meanwhile(req: Request) -> Reply:
        issue.write_text(edited, encoding="utf-8")
        return Reply(200, OG_PAGE.encode(), HTML)

    server = loopback(editor_saves_meanwhile)
    with pytest.raises(InputError, match=r"changed while digest was working on it; nothing written"):
        _add(settings, issue, server.url + "/og")
    assert issue.read_text(encoding="utf-8") == edited


def test_a_symlinked_issue_file_stays_a_link_and_its_target_gets_the_article(
    site: LoopbackServer, settings: Settings, issue: Path
) -> None:
    link = issue.with_name("current.yaml")
    link.symlink_to(issue.name)
    _add(settings, link, site.url + "/og")
    assert link.is_symlink()
    assert load_issue(issue).articles[-1].headline == "Dockers Walk Out Over Automation Plans"


def test_a_page_of_deeply_nested_paragraphs_gives_the_paragraph_outside_the_header() -> None:
    """12,000 nested <div>s: the walk down the tree (one look at each node, instead of a
    look up through every paragraph's ancestors, ten seconds here before) still skips the
    header's paragraph and finds the deep one. Its speed is not a pass/fail matter."""
    html = (
        "<html><body><header><p>" + "Site header text that is long enough to be taken. " * 2
        + "</p></header>" + "<div><p>x</p>" * 12_000
        + "<p>" + "The paragraph that summarises the page, deep in it. " * 2 + "</p></body></html>"
    )
    meta = extract_meta(html, "https://nested.test/")
    assert meta.summary is not None and meta.summary.startswith("The paragraph that summarises")
