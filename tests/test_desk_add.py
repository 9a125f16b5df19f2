"""``digest add``: real-looking pages served on 127.0.0.1, the issue file edited in place."""

# ruff: noqa: E501  (test pages are long lines of HTML, as real pages are)

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.servers.kit import LoopbackServer, Reply, Request

from digest.cli import cli
from digest.config import Settings, load_settings
from digest.desk.add import add_articles
from digest.desk.fetch import Fetcher, FetchError
from digest.desk.urls import canonical_url
from digest.errors import InputError
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


class NewsSite:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    def __call__(self, req: Request) -> Reply:
        path = req.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if path.startswith("/news/dockers-walk-out") or path == "/og":
            return Reply(200, OG_PAGE.encode(), HTML)
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
