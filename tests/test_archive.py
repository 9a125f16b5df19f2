"""The web archive folder: `digest build --web`, a send with [archive] dir, the index and the
Atom feed (read back with feedparser), and `digest serve` serving the folder."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import httpx
from click.testing import CliRunner
from tests.paths import ROOT, SAMPLE_ISSUE
from tests.send_support import issue_yaml, run_digest, write_config, write_csv
from tests.test_web_app import BASE_TOML, serve_site

from digest.archive import read_entries
from digest.build import build_issue
from digest.cli import cli
from digest.config import load_settings

TOML = (
    '[newsletter]\nname = "Test Weekly"\nfrom = "Test Weekly <weekly@example.org>"\n'
    'website = "https://example.org/"\n'
    '[links]\nview_online_url = "https://example.org/issues/{slug}"\n'
    '[archive]\nurl = "https://example.org/issues/"\n'
)


def write_issue(folder: Path, number: int, day: int, headline: str) -> Path:
    path = folder / f"issue-{number}.yaml"
    path.write_text(
        f"number: {number}\ndate: 2026-11-{day:02d}\n"
        f"subject: 'Test Weekly #{number}: {headline}'\n"
        f"preheader: Issue {number} in brief, with what happened and why it matters to you.\n"
        f"articles:\n- headline: {headline}\n  summary: Something happened.\n"
        "  url: https://example.org/a\n",
        encoding="utf-8",
    )
    return path


def publish_two(tmp_path: Path) -> Path:
    """Issues 3 (older) and 4 (newer) published, the newer one first."""
    (tmp_path / "digest.toml").write_text(TOML, encoding="utf-8")
    settings = load_settings(tmp_path / "digest.toml", environ={})
    web = tmp_path / "web"
    build_issue(
        write_issue(tmp_path, 4, 27, "Newer story"), tmp_path / "out", settings, web_dir=web
    )
    build_issue(
        write_issue(tmp_path, 3, 20, "Older story"), tmp_path / "out", settings, web_dir=web
    )
    return web


def test_build_web_writes_each_page_with_its_metadata(tmp_path: Path) -> None:
    web = publish_two(tmp_path)
    meta = json.loads((web / "issue-4.json").read_text(encoding="utf-8"))
    assert meta["slug"] == "issue-4" and meta["number"] == 4 and meta["date"] == "2026-11-27"
    assert meta["subject"] == "Test Weekly #4: Newer story"
    assert meta["url"] == "https://example.org/issues/issue-4"
    assert (web / "issue-4.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    assert "Newer story" in (web / "issue-4.html").read_text(encoding="utf-8")
    assert [e.slug for e in read_entries(web)] == ["issue-4", "issue-3"]


def test_the_index_lists_issues_newest_first_with_dates_and_subjects(tmp_path: Path) -> None:
    html = (publish_two(tmp_path) / "index.html").read_text(encoding="utf-8")
    newer, older = html.index("Test Weekly #4: Newer story"), html.index("Older story")
    assert newer < older
    assert '<time datetime="2026-11-27">27 November 2026</time>' in html
    assert 'href="https://example.org/issues/issue-4"' in html
    assert 'type="application/atom+xml"' in html and 'href="feed.xml"' in html


def test_the_atom_feed_parses_back_with_feedparser(tmp_path: Path) -> None:
    feed = feedparser.parse((publish_two(tmp_path) / "feed.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "Test Weekly"
    assert feed.feed.links[-1].href == "https://example.org/issues/feed.xml"
    titles = [e.title for e in feed.entries]
    assert titles == ["Test Weekly #4: Newer story", "Test Weekly #3: Older story"]
    first = feed.entries[0]
    assert first.link == "https://example.org/issues/issue-4"
    assert first.summary.startswith("Issue 4 in brief")
    assert first.id.startswith("urn:uuid:") and first.id != feed.entries[1].id
    assert first.published_parsed is not None and first.updated_parsed is not None


def test_republishing_keeps_one_entry_its_id_and_its_first_publication_time(
    tmp_path: Path,
) -> None:
    web = publish_two(tmp_path)
    before = feedparser.parse((web / "feed.xml").read_bytes()).entries
    settings = load_settings(tmp_path / "digest.toml", environ={})
    build_issue(tmp_path / "issue-4.yaml", tmp_path / "out", settings, web_dir=web)
    after = feedparser.parse((web / "feed.xml").read_bytes()).entries
    assert [e.id for e in after] == [e.id for e in before]
    assert after[0].published == before[0].published


def test_build_cli_publishes_with_web(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "build",
            str(SAMPLE_ISSUE),
            "--out",
            str(tmp_path / "out"),
            "--web",
            str(tmp_path / "web"),
            "--config",
            str(ROOT / "digest.toml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"Published to the web archive: {tmp_path / 'web' / 'issue-12.html'}" in result.output
    for name in ("issue-12.html", "issue-12.json", "index.html", "feed.xml"):
        assert (tmp_path / "web" / name).is_file(), name


def test_send_publishes_the_issue_to_the_archive_once_sent(tmp_path: Path) -> None:
    config = write_config(tmp_path, sending={"ledger": "ledger.sqlite3"})
    config.write_text(
        config.read_text(encoding="utf-8") + '[archive]\ndir = "site/issues"\n', encoding="utf-8"
    )
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    write_csv(tmp_path / "subs.csv", ["ann@example.org"])
    done = run_digest("send", "issue-7.yaml", "--recipients", "subs.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site" / "issues"
    assert (site / "issue-7.html").is_file()
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    sent_subject = json.loads((site / "issue-7.json").read_text(encoding="utf-8"))["subject"]
    assert "A story" in sent_subject
    assert [e.title for e in feed.entries] == [sent_subject]
    assert "@@digest." not in (site / "issue-7.html").read_text(encoding="utf-8")


def test_a_send_that_reached_nobody_publishes_nothing(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, sending={"ledger": "ledger.sqlite3"}, options={"dir": "/dev/null/nope"}
    )
    config.write_text(
        config.read_text(encoding="utf-8") + '[archive]\ndir = "site"\n', encoding="utf-8"
    )
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    write_csv(tmp_path / "subs.csv", ["ann@example.org"])
    done = run_digest("send", "issue-7.yaml", "--recipients", "subs.csv", cwd=tmp_path)
    assert done.returncode != 0
    assert not (tmp_path / "site" / "issue-7.html").exists()


def test_serve_answers_the_index_the_feed_and_the_pages_from_the_folder(tmp_path: Path) -> None:
    web = publish_two(tmp_path)
    (tmp_path / "out").mkdir(exist_ok=True)
    for f in web.iterdir():
        (tmp_path / "out" / f.name).write_bytes(f.read_bytes())
    with serve_site(tmp_path, BASE_TOML) as site:
        index = httpx.get(site.url + "/issues/")
        assert index.status_code == 200 and "Newer story" in index.text
        assert httpx.get(site.url + "/issues").status_code == 308
        feed = httpx.get(site.url + "/issues/feed.xml")
        assert feed.headers["content-type"].startswith("application/atom+xml")
        assert len(feedparser.parse(feed.content).entries) == 2
        assert "Newer story" in httpx.get(site.url + "/issues/issue-4").text
        assert "Newer story" in httpx.get(site.url + "/issues/issue-4.html").text
        assert httpx.post(site.url + "/issues/feed.xml").status_code == 405


def test_serve_says_at_start_when_its_archive_folder_has_nothing_to_serve(tmp_path: Path) -> None:
    from tests.serve_process import serve_process

    with serve_process(tmp_path, args=("--archive", "nope")) as server:
        assert httpx.get(server.url + "/issues/").status_code == 404
    assert "archive" in server.log_text() and "nope has no index.html yet" in server.log_text()


def test_serve_is_quiet_about_an_archive_folder_that_holds_an_index(tmp_path: Path) -> None:
    from tests.serve_process import serve_process

    web = publish_two(tmp_path)
    with serve_process(tmp_path, args=("--archive", str(web))) as server:
        assert httpx.get(server.url + "/issues/").status_code == 200
    assert "has no index.html" not in server.log_text()
