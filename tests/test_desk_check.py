"""``digest check``: each rule on an issue that breaks it, an issue that passes, links
checked online against a local server, and the gate ``send`` passes through."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.send_support import cli_env, run_digest, write_csv
from tests.servers.kit import LoopbackServer, Reply, Request

from digest.config import Settings, load_settings
from digest.desk.check import CheckReport, check_issue
from digest.desk.fetch import Fetcher
from digest.desk.rules import contrast_ratio

pytest_plugins = ["tests.servers.kit"]

SECRET = "a-test-secret-long-enough-to-sign-links-0123456789"

Start = Callable[[Any], LoopbackServer]

CONFIG = """\
[newsletter]
name = "The Weekly"
from = "The Weekly <weekly@weekly.news>"
postal_address = "1 Main Street, Springfield"
website = "https://weekly.news/"
[links]
unsubscribe_url = "https://weekly.news/u/{token}"
view_online_url = "https://weekly.news/issues/{slug}"
[delivery]
provider = "file"
"""

GOOD = """\
number: 9
date: 2026-12-04
subject: Dockers walk out; nurses win
preheader: A week of walkouts and wins, from the harbour to the hospital wards.
articles:
  - headline: Dockers Walk Out
    summary: Port workers stopped the cranes on Monday.
    url: https://harbour.news/dockers
    image: {src: "https://harbour.news/cranes.jpg", alt: Idle cranes at the terminal}
    lead: true
  - headline: Nurses Win Pay Deal
    summary: The union accepted an offer worth 9 per cent.
    url: https://health.news/nurses
"""


def _check(tmp_path: Path, issue: str = GOOD, config: str = CONFIG, **kw: Any) -> CheckReport:
    (tmp_path / "digest.toml").write_text(config, encoding="utf-8")
    path = tmp_path / "issue.yaml"
    path.write_text(issue, encoding="utf-8")
    settings = load_settings(tmp_path / "digest.toml", environ={"DIGEST_SECRET": SECRET})
    kw.setdefault("offline", True)
    return check_issue(settings, path, **kw)


def _codes(report: CheckReport, severity: str | None = None) -> list[str]:
    return [f.code for f in report.findings if severity in (None, f.severity)]


def test_a_good_issue_passes_with_no_findings(tmp_path: Path) -> None:
    report = _check(tmp_path)
    assert report.findings == [] and report.exit_code == 0
    assert "0 errors, 0 warnings: ready to send" in report.text()


def test_a_file_that_does_not_load_is_an_error_naming_its_line(tmp_path: Path) -> None:
    report = _check(tmp_path, GOOD.replace("number: 9", "number: nine"))
    assert _codes(report) == ["does-not-load"] and report.exit_code == 6
    assert report.findings[0].message.startswith(f"{tmp_path / 'issue.yaml'}:1: number: ")


def test_a_draft_without_articles_or_links_is_an_error(tmp_path: Path) -> None:
    assert _codes(_check(tmp_path, "number: 9\ndate: 2026-12-04\n"), "error") == ["no-articles"]
    report = _check(tmp_path, GOOD.replace("    url: https://health.news/nurses\n", ""))
    assert _codes(report, "error") == ["no-link"]
    assert report.findings[0].article == 2


def test_duplicate_links_are_an_error_under_a_unicode_host_or_with_a_fragment(
    tmp_path: Path,
) -> None:
    issue = GOOD.replace("https://harbour.news/dockers", "https://häfen.news/dockers").replace(
        "https://health.news/nurses", "https://xn--hfen-loa.news/dockers#strike"
    )
    report = _check(tmp_path, issue)
    assert _codes(report) == ["duplicate-link"]
    assert "article 1" in report.findings[0].message


def test_duplicate_links_are_an_error_even_with_tracking_parameters(tmp_path: Path) -> None:
    issue = GOOD.replace("https://health.news/nurses", "https://harbour.news/dockers?utm_source=x")
    report = _check(tmp_path, issue)
    assert _codes(report) == ["duplicate-link"]
    assert "article 1" in report.findings[0].message


def test_links_with_credentials_are_unsafe(tmp_path: Path) -> None:
    report = _check(tmp_path, GOOD.replace("https://health.news/", "https://me:pw@health.news/"))
    assert _codes(report) == ["unsafe-link"]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/a",
        "https://www.example.com/a",
        "https://news.example/a",
        "https://site.test/a",
        "https://broken.invalid/a",
        "http://localhost:8000/a",
        "http://127.0.0.1/a",
        "http://10.0.0.7/a",
        "http://[::1]/a",
    ],
)
def test_placeholder_links_are_errors(tmp_path: Path, url: str) -> None:
    report = _check(tmp_path, GOOD.replace("https://health.news/nurses", url))
    assert _codes(report) == ["placeholder-link"]
    assert report.findings[0].article == 2


def test_placeholder_links_in_text_and_settings_are_errors_too(tmp_path: Path) -> None:
    issue = GOOD.replace(
        "    summary: The union accepted",
        "    summary: '[More](https://example.net/x). The union accepted",
    ).replace("9 per cent.\n", "9 per cent.'\n")
    config = CONFIG.replace("weekly.news/u/", "example.org/u/")
    report = _check(tmp_path, issue, config)
    messages = " ".join(f.message for f in report.findings)
    assert _codes(report) == ["placeholder-link", "placeholder-link"]
    assert "https://example.net/x" in messages and "[links] unsubscribe_url" in messages


def test_compliance_unsubscribe_and_postal_address_are_errors_for_a_real_provider(
    tmp_path: Path,
) -> None:
    config = (
        CONFIG.replace('postal_address = "1 Main Street, Springfield"\n', "")
        .replace('unsubscribe_url = "https://weekly.news/u/{token}"\n', "")
        .replace('provider = "file"', 'provider = "postmark"')
    )
    report = _check(tmp_path, config=config)
    assert _codes(report, "error") == ["no-unsubscribe-url", "no-postal-address"]
    local = _check(tmp_path, config=config.replace("postmark", "file"))
    assert _codes(local, "warning") == ["no-unsubscribe-url", "no-postal-address"]
    assert local.exit_code == 0


def test_html_over_gmails_clipping_size_is_an_error_and_near_it_a_warning(tmp_path: Path) -> None:
    def issue_with(n: int) -> str:
        articles = "".join(
            f"  - headline: Story number {i} about the week\n"
            f"    summary: {'A long enough summary sentence. ' * 4}\n"
            f"    url: https://harbour.news/{i}\n"
            for i in range(n)
        )
        return GOOD.split("articles:\n")[0] + "articles:\n" + articles

    assert "html-clipped" in _codes(_check(tmp_path, issue_with(130)), "error")
    near = _check(tmp_path, issue_with(90))
    assert near.rendered is not None
    assert 80 * 1024 < len(near.rendered.html.encode()) <= 102 * 1024
    assert "html-large" in _codes(near, "warning")
    assert "html-clipped" not in _codes(near)


def test_long_subject_and_preheader_out_of_range_are_warnings(tmp_path: Path) -> None:
    issue = GOOD.replace(
        "subject: Dockers walk out; nurses win",
        "subject: Dockers walk out over automation while nurses win a pay deal at last",
    ).replace(
        "preheader: A week of walkouts and wins, from the harbour to the hospital wards.",
        "preheader: Short.",
    )
    report = _check(tmp_path, issue)
    assert _codes(report, "warning") == ["long-subject", "preheader-length"]
    assert report.exit_code == 0


def test_summary_over_the_configured_length_is_a_warning(tmp_path: Path) -> None:
    config = CONFIG + "[issues]\nsummary_max = 44\n"
    report = _check(tmp_path, config=config)
    assert _codes(report) == ["long-summary"]
    assert report.findings[0].article == 2


@pytest.mark.parametrize("alt", ["image", "Photo.", "cranes.jpg", "IMG_2041.JPG"])
def test_meaningless_image_alt_is_a_warning(tmp_path: Path, alt: str) -> None:
    report = _check(tmp_path, GOOD.replace("Idle cranes at the terminal", alt))
    assert _codes(report) == ["meaningless-alt"]


def test_brand_colours_under_4_5_to_1_are_warnings_in_light_and_dark(tmp_path: Path) -> None:
    assert round(contrast_ratio("#000000", "#ffffff"), 1) == 21.0
    config = CONFIG + '[brand]\nmuted = "#aaaaaa"\ndark_accent = "#444444"\n'
    report = _check(tmp_path, config=config)
    assert _codes(report) == ["low-contrast", "low-contrast"]
    text = report.text()
    assert "in light mode" in text and "in dark mode" in text


class LinkSite:
    def __call__(self, req: Request) -> Reply:
        if req.path == "/ok":
            return Reply(200, b"<html>ok</html>", {"Content-Type": "text/html"})
        if req.path == "/no-head":
            if req.method == "HEAD":
                return Reply(405, b"")
            return Reply(200, b"fine", {"Content-Type": "text/html"})
        if req.path == "/away":
            port = (req.header("host") or "").rpartition(":")[2]
            return Reply(301, b"", {"Location": f"http://localhost:{port}/ok"})
        if req.path == "/big.jpg":
            return Reply(200, b"x" * (1024 * 1024 + 10), {"Content-Type": "image/jpeg"})
        if req.path == "/gone":
            return Reply(410, b"gone")
        return Reply(404, b"no")


ONLINE_CONFIG = CONFIG.replace('website = "https://weekly.news/"\n', "")
"""No website link: the online tests fetch only what the local server answers."""


def _online_issue(base: str) -> str:
    return f"""\
number: 9
date: 2026-12-04
subject: Dockers walk out; nurses win
preheader: A week of walkouts and wins, from the harbour to the hospital wards.
articles:
  - headline: OK
    summary: Fine.
    url: {base}/ok
    image: {{src: "{base}/big.jpg", alt: A large photo of cranes}}
  - headline: No HEAD
    summary: Fine after GET.
    url: {base}/no-head
  - headline: Gone
    summary: Answers 410.
    url: {base}/gone
  - headline: Missing
    summary: Answers 404.
    url: {base}/missing
  - headline: Away
    summary: Redirects.
    url: {base}/away
  - headline: Closed
    summary: Nobody listens there.
    url: http://127.0.0.1:1/closed
"""


def test_online_check_finds_broken_links_redirects_and_big_images(
    tmp_path: Path, loopback: Start
) -> None:
    site = loopback(LinkSite())
    report = _check(
        tmp_path, _online_issue(site.url), ONLINE_CONFIG, offline=False, allow_private=True
    )
    by_article = {(f.article, f.code) for f in report.findings}
    assert (1, "large-image") in by_article
    assert (3, "broken-link") in by_article and (4, "broken-link") in by_article
    assert (5, "redirects-elsewhere") in by_article
    assert (6, "unreachable-link") in by_article
    assert (1, "insecure-image") in by_article
    assert not any(f.article in (2,) for f in report.findings)
    methods = [(r.method, r.path) for r in site.requests]
    assert ("HEAD", "/no-head") in methods and ("GET", "/no-head") in methods
    assert report.exit_code == 6
    agent = site.requests[0].header("user-agent") or ""
    assert agent.startswith("digest/")


def test_good_answers_are_cached_for_an_hour_and_failures_checked_again(
    tmp_path: Path, loopback: Start
) -> None:
    site = loopback(LinkSite())
    _check(tmp_path, _online_issue(site.url), ONLINE_CONFIG, offline=False, allow_private=True)
    first = len(site.requests)
    _check(tmp_path, _online_issue(site.url), ONLINE_CONFIG, offline=False, allow_private=True)
    again = [r.path for r in site.requests[first:]]
    assert "/ok" not in again and "/no-head" not in again
    assert "/gone" in again and "/missing" in again
    assert (tmp_path / ".digest-cache" / "links.json").is_file()


def test_at_most_two_requests_at_a_time_reach_one_host(tmp_path: Path, loopback: Start) -> None:
    import threading

    site = loopback(LinkSite())
    articles = "".join(
        f"  - headline: Story {i}\n    summary: S.\n    url: {site.url}/ok?n={i}\n"
        for i in range(6)
    )
    issue = GOOD.split("articles:\n")[0] + "articles:\n" + articles
    site.faults.hold()
    done: list[CheckReport] = []
    run = threading.Thread(
        target=lambda: done.append(
            _check(tmp_path, issue, ONLINE_CONFIG, offline=False, allow_private=True)
        )
    )
    run.start()
    try:
        assert site.faults.wait_held(2)
        assert not site.faults.wait_held(3, timeout=0.5)  # a third never arrives while held
    finally:
        site.faults.release()
        run.join(30)
    assert done and done[0].errors == []
    assert len([r for r in site.requests if r.method == "HEAD"]) == 6


def test_a_slow_link_is_a_timeout_error(tmp_path: Path, loopback: Start) -> None:
    site = loopback(LinkSite())
    site.faults.stall(1, seconds=2)
    issue = GOOD.replace("https://health.news/nurses", site.url + "/ok")
    with Fetcher(allow_private=True, timeout=0.3) as fetcher:
        report = _check(
            tmp_path, issue, offline=False, allow_private=True, fetcher=fetcher, use_cache=False
        )
    assert [(f.article, f.code) for f in report.errors if f.article == 2] == [
        (2, "unreachable-link")
    ]


@pytest.mark.parametrize("url", ["http://127.0.0.1:port/x", "http://xn--/x"])
def test_a_link_urllib_cannot_read_is_an_unreachable_link_not_a_crash(
    tmp_path: Path, url: str
) -> None:
    issue = f"number: 9\ndate: 2026-12-04\narticles:\n- {{headline: Odd, url: '{url}'}}\n"
    report = _check(
        tmp_path, issue, ONLINE_CONFIG, offline=False, allow_private=True, use_cache=False
    )
    found = [f for f in report.errors if f.article == 1]
    assert [f.code for f in found] == ["unreachable-link"]
    assert "not an address digest can read" in found[0].message


def test_cli_check_exit_status_and_json_lines(tmp_path: Path) -> None:
    (tmp_path / "digest.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "issues").mkdir()
    (tmp_path / "issues" / "a.yaml").write_text(GOOD, encoding="utf-8")
    ok = run_digest("check", "--offline", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ready to send" in ok.stdout
    (tmp_path / "issues" / "a.yaml").write_text(
        GOOD.replace("https://health.news/nurses", "https://example.org/n"), encoding="utf-8"
    )
    bad = run_digest("check", "9", "--offline", "--json", cwd=tmp_path)
    assert bad.returncode == 6, bad.stdout + bad.stderr
    lines = [json.loads(line) for line in bad.stdout.splitlines()]
    assert lines[0]["code"] == "placeholder-link" and lines[0]["headline"] == "Nurses Win Pay Deal"
    assert lines[-1] == {
        "event": "summary",
        "issue": str(tmp_path / "issues" / "a.yaml"),
        "errors": 1,
        "warnings": 0,
        "exit_code": 6,
    }
    text = run_digest("check", "issue-9", "--offline", cwd=tmp_path)
    assert text.returncode == 6 and "Article 2: Nurses Win Pay Deal" in text.stdout


# --- the gate a send passes through ------------------------------------------------------


def _send_folder(tmp_path: Path, issue: str, provider: str = "postmark") -> Path:
    config = CONFIG.replace('provider = "file"', f'provider = "{provider}"')
    config += '[providers.postmark]\nbase_url = "http://127.0.0.1:9"\n'
    config += f'[providers.file]\ndir = "{tmp_path / "outbox"}"\n'
    config += '[sending]\nledger = "ledger.sqlite3"\n'
    (tmp_path / "digest.toml").write_text(config, encoding="utf-8")
    (tmp_path / "issue.yaml").write_text(issue, encoding="utf-8")
    write_csv(tmp_path / "subs.csv", ["ann@weekly.news"])
    return tmp_path


def test_a_real_send_refuses_an_issue_that_fails_the_check(tmp_path: Path) -> None:
    folder = _send_folder(
        tmp_path, GOOD.replace("https://health.news/nurses", "https://example.org/n")
    )
    env = cli_env(POSTMARK_SERVER_TOKEN="t", DIGEST_SECRET=SECRET)
    done = run_digest("send", "issue.yaml", "--recipients", "subs.csv", cwd=folder, env=env)
    assert done.returncode == 6, done.stdout + done.stderr
    assert "placeholder-link" in done.stderr and "nothing was sent" in done.stderr
    assert not (folder / "ledger.sqlite3").exists()


def test_skip_check_skips_content_rules_but_never_drafts(tmp_path: Path) -> None:
    draft = GOOD.replace("    url: https://health.news/nurses\n", "")
    folder = _send_folder(tmp_path, draft)
    env = cli_env(POSTMARK_SERVER_TOKEN="t", DIGEST_SECRET=SECRET)
    done = run_digest(
        "send", "issue.yaml", "--skip-check", "--recipients", "subs.csv", cwd=folder, env=env
    )
    assert done.returncode == 6 and "no-link" in done.stderr


def test_the_file_backend_sends_with_the_errors_as_warnings(tmp_path: Path) -> None:
    folder = _send_folder(
        tmp_path, GOOD.replace("https://health.news/nurses", "https://example.org/n"), "file"
    )
    env = cli_env(DIGEST_SECRET=SECRET)
    done = run_digest("send", "issue.yaml", "--recipients", "subs.csv", cwd=folder, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning: placeholder-link" in done.stderr
    assert list((folder / "outbox").rglob("*.eml"))


def test_the_sample_issue_is_flagged_as_sample_data(sample_settings: Settings) -> None:
    """The repository's sample issue is flagged, as sample data should be."""
    from tests.paths import SAMPLE_ISSUE

    report = check_issue(sample_settings, SAMPLE_ISSUE, offline=True)
    assert "placeholder-link" in _codes(report, "error")


def test_the_preview_names_the_file_of_an_issue_that_does_not_load(tmp_path: Path) -> None:
    """The preview lists the errors alone, without the check's summary line: it showed
    `line 5: not valid YAML…` with no file, unlike every other error."""
    from digest.desk.preview import PreviewState

    (tmp_path / "digest.toml").write_text(CONFIG, encoding="utf-8")
    path = tmp_path / "issue.yaml"
    path.write_text(GOOD.replace("    url: https://health.news/nurses", "  url: [x"), "utf-8")
    state = PreviewState(path, tmp_path / "digest.toml")
    state.refresh()
    assert len(state.errors) == 1
    assert state.errors[0].startswith(f"{path}:13: not valid YAML: ")
