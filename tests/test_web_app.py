"""digest serve: the archive, health check, errors and the command itself, over real HTTP.

Also the shared helpers of the web tests: :func:`serve_site` starts the real app on the
real threaded server on 127.0.0.1 with a real SQLite ledger in a temporary folder.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.routing import BaseRoute
from tests.paths import ROOT, SAMPLE_ISSUE

from digest.build import build_issue
from digest.config import Settings, load_settings
from digest.errors import ConfigError
from digest.sending.ledger import Ledger, Outcome
from digest.web import make_web_app
from digest.web.server import bind, server_config

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
SECRET = "test-secret-0123456789abcdef"
LIST_ID = "test-weekly.example.org"
"""The list id BASE_TOML gives the newsletter (its name, then its From domain)."""
BASE_TOML = """
[newsletter]
name = "Test Weekly"
from = "Test Weekly <weekly@example.org>"
[links]
unsubscribe_url = "https://example.org/unsubscribe/{token}"
[sending]
ledger = "ledger.sqlite3"
"""


@dataclass
class Site:
    url: str
    settings: Settings
    folder: Path

    @property
    def ledger_path(self) -> Path:
        return self.folder / "ledger.sqlite3"

    def ledger(self) -> Ledger:
        return Ledger(self.ledger_path)


def site_settings(
    folder: Path, toml: str = BASE_TOML, env: dict[str, str] | None = None
) -> Settings:
    config = folder / "digest.toml"
    config.write_text(toml, encoding="utf-8")
    return load_settings(config, environ={"DIGEST_SECRET": SECRET} if env is None else env)


@contextmanager
def serve_site(
    folder: Path,
    toml: str = BASE_TOML,
    env: dict[str, str] | None = None,
    routes: Sequence[BaseRoute] = (),
) -> Iterator[Site]:
    """The app on a real server on an ephemeral loopback port, for the length of the block.

    ``routes`` are added to the app the way other parts of digest add theirs.
    """
    settings = site_settings(folder, toml, env)
    app = make_web_app(settings, folder / "out")
    app.router.routes.extend(routes)
    sock = bind("127.0.0.1", 0, 128)
    server = uvicorn.Server(server_config(app, settings.serve))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "the server did not start"
        yield Site(f"http://127.0.0.1:{sock.getsockname()[1]}", settings, folder)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def seed_sent(site: Site, sent: dict[str, str], issue: str = "issue-12") -> None:
    """Record a finished send in the ledger: each address with its provider message id."""
    with site.ledger() as ledger:
        ledger.start_issue(issue, "hash", "subject")
        ledger.add_recipients(issue, [(email, "", {}, None) for email in sent])
        batch = ledger.plan_batch(issue, "hash", 1000)
        assert batch is not None
        members = ledger.members(batch)
        ledger.record_results(
            batch, [Outcome(m.id, True, sent[m.email], None, False) for m in members]
        )


def states(site: Site, issue: str = "issue-12") -> dict[str, str]:
    with site.ledger() as ledger:
        return {email: state for email, state, _ in ledger.recipient_states(issue)}


def logged(caplog: pytest.LogCaptureFixture, pattern: str) -> bool:
    """Wait for a log line: the server logs a request just after its answer has gone out."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(re.search(pattern, r.getMessage()) for r in caplog.records):
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with serve_site(tmp_path) as s:
        yield s


@pytest.fixture
def raw_get(site: Site) -> Callable[[str], tuple[int, bytes]]:
    """GET a path exactly as written (httpx would normalise dot segments away)."""

    def get(path: str) -> tuple[int, bytes]:
        port = int(site.url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    return get


# -- health and routing --------------------------------------------------------------------


def test_healthz_answers_ok(site: Site) -> None:
    response = httpx.get(site.url + "/healthz")
    assert response.status_code == 200
    assert response.text == "ok\n"


def test_head_healthz_sends_headers_without_a_body(site: Site) -> None:
    response = httpx.head(site.url + "/healthz")
    assert response.status_code == 200
    assert response.content == b""


def test_unknown_path_is_a_404_page(site: Site) -> None:
    response = httpx.get(site.url + "/nothing/here")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_wrong_method_is_405_with_allow(site: Site) -> None:
    response = httpx.post(site.url + "/healthz")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    response = httpx.get(site.url + "/webhooks/postmark")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# -- the archive ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_issue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample issue built once by `digest build`'s own code: out/issue-12.html."""
    out = tmp_path_factory.mktemp("built")
    build_issue(SAMPLE_ISSUE, out, load_settings(ROOT / "digest.toml", environ={}))
    return out / "issue-12.html"


def test_archive_serves_the_built_issue_byte_for_byte(site: Site, built_issue: Path) -> None:
    (site.folder / "out").mkdir()
    (site.folder / "out" / "issue-12.html").write_bytes(built_issue.read_bytes())
    response = httpx.get(site.url + "/issues/issue-12")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == built_issue.read_bytes()
    assert "@@digest." not in response.text


def test_archive_unknown_slug_is_404(site: Site) -> None:
    (site.folder / "out").mkdir()
    assert httpx.get(site.url + "/issues/issue-99").status_code == 404
    assert httpx.get(site.url + "/issues/").status_code == 404


def test_archive_refuses_path_traversal(
    site: Site, raw_get: Callable[[str], tuple[int, bytes]]
) -> None:
    (site.folder / "out").mkdir()
    (site.folder / "secret.html").write_text("SECRET PAGE", encoding="utf-8")
    (site.folder / "out" / "sub").mkdir()
    (site.folder / "out" / "sub" / "x.html").write_text("nested", encoding="utf-8")
    for path in (
        "/issues/../secret",
        "/issues/..%2Fsecret",
        "/issues/%2e%2e%2fsecret",
        "/issues/..",
        "/issues/sub%2Fx",
        "/issues/.hidden",
        "/issues/..%5Csecret",
    ):
        status, body = raw_get(path)
        assert status == 404, path
        assert b"SECRET PAGE" not in body and b"nested" not in body, path


def test_archive_path_follows_view_online_url(tmp_path: Path) -> None:
    toml = BASE_TOML.replace(
        "[links]\n", '[links]\nview_online_url = "https://example.org/archive/{number}/{slug}/"\n'
    )
    with serve_site(tmp_path, toml) as site:
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "issue-12.html").write_text("<p>twelve</p>", encoding="utf-8")
        assert httpx.get(site.url + "/archive/12/issue-12/").text == "<p>twelve</p>"
        assert httpx.get(site.url + "/issues/issue-12").status_code == 404


# -- failures ------------------------------------------------------------------------------


def test_a_vanished_ledger_is_503_and_logs_no_token_or_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from digest.sending.tokens import make_token

    with serve_site(tmp_path) as site:
        # The ledger file replaced by a folder while the app runs: opening it fails.
        for path in site.folder.glob("ledger.sqlite3*"):
            path.unlink()
        site.ledger_path.mkdir()
        token = make_token("ann@example.org", SECRET, LIST_ID)
        with caplog.at_level(logging.INFO, logger="digest.web"):
            response = httpx.post(
                f"{site.url}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
            )
            health = httpx.get(site.url + "/healthz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "120"
    assert "nothing has been changed" in response.text
    assert "Traceback" not in response.text and "sqlite" not in response.text.lower()
    assert health.status_code == 503 and "unhealthy" in health.text
    assert "the send ledger is unavailable" in caplog.text
    assert token not in caplog.text
    assert SECRET not in caplog.text
    assert "ann@example.org" not in caplog.text


def test_a_ledger_replaced_on_disk_gets_the_next_unsubscribe(tmp_path: Path) -> None:
    """A restored or moved ledger: the server must not keep writing to the old file."""
    from digest.sending.tokens import make_token

    with serve_site(tmp_path) as site:
        first = make_token("ann@example.org", SECRET, LIST_ID)
        assert httpx.post(f"{site.url}/unsubscribe/{first}", data=ONE_CLICK).status_code == 200
        for path in site.folder.glob("ledger.sqlite3*"):
            path.rename(path.with_name(path.name.replace("ledger", "old-ledger")))
        Ledger(site.ledger_path).close()
        second = make_token("bob@example.org", SECRET, LIST_ID)
        assert httpx.post(f"{site.url}/unsubscribe/{second}", data=ONE_CLICK).status_code == 200
        with site.ledger() as ledger:
            assert ledger.is_suppressed("bob@example.org") == "unsubscribed"
            assert ledger.is_suppressed("ann@example.org") is None


def test_a_failing_template_shows_the_plain_500_page_and_logs_the_route(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from digest.sending.tokens import make_token

    (tmp_path / "tpl" / "web").mkdir(parents=True)
    (tmp_path / "tpl" / "web" / "unsubscribe.html.j2").write_text("{{ 1 // 0 }}", "utf-8")
    toml = BASE_TOML + '[templates]\ndir = "tpl"\n'
    token = make_token("ann@example.org", SECRET, LIST_ID)
    with serve_site(tmp_path, toml) as site, caplog.at_level(logging.INFO, logger="digest.web"):
        response = httpx.get(f"{site.url}/unsubscribe/{token}")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "Traceback" not in response.text and "ZeroDivision" not in response.text
    assert "internal error answering GET unsubscribe" in caplog.text
    assert token not in caplog.text and "ann@example.org" not in caplog.text


def test_request_lines_are_logged_without_the_token(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    from digest.sending.tokens import make_token

    token = make_token("ann@example.org", SECRET, LIST_ID)
    with caplog.at_level(logging.INFO, logger="digest.web"):
        httpx.get(f"{site.url}/unsubscribe/{token}")
        assert logged(caplog, r"GET unsubscribe 200 \d+ms$"), caplog.text
    assert token not in caplog.text


def test_missing_secret_stops_the_app_before_it_serves(tmp_path: Path) -> None:
    settings = site_settings(tmp_path, env={})
    with pytest.raises(ConfigError, match="DIGEST_SECRET is not set"):
        make_web_app(settings)


def test_an_unusable_ledger_path_stops_the_app_before_it_serves(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    toml = BASE_TOML.replace('ledger = "ledger.sqlite3"', 'ledger = "a-file/ledger.sqlite3"')
    with pytest.raises(ConfigError):
        make_web_app(site_settings(tmp_path, toml))


def test_unsubscribe_url_without_token_is_a_config_error(tmp_path: Path) -> None:
    toml = BASE_TOML.replace("/unsubscribe/{token}", "/unsubscribe?e={email}")
    with pytest.raises(ConfigError, match=r"has no \{token\}"):
        make_web_app(site_settings(tmp_path, toml))


# -- the command ---------------------------------------------------------------------------


def test_digest_serve_command_serves_until_interrupted(tmp_path: Path) -> None:
    (tmp_path / "digest.toml").write_text(BASE_TOML, encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "issue-1.html").write_text("<p>one</p>", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if "WEBHOOK" not in k}
    env.update(DIGEST_SECRET=SECRET, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digest",
            "serve",
            "--port",
            "0",
            "--config",
            "digest.toml",
            "--archive",
            "out",
        ],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"Serving on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        url = match.group(1)
        ready = ""
        while "webhooks ready for:" not in ready:
            ready = proc.stderr.readline()
            assert ready, "the server stopped before it was ready"
        assert "mailgun" not in ready.split("ready for:")[1].split("(")[0], ready
        assert httpx.get(url + "/healthz").text == "ok\n"
        assert httpx.get(url + "/issues/issue-1").text == "<p>one</p>"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_digest_serve_without_secret_exits_3_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "digest.toml").write_text(BASE_TOML, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_SECRET"}
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, "-m", "digest", "serve", "--port", "0", "--config", "digest.toml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert "DIGEST_SECRET is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_paths_are_logged_by_their_first_segment_only(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="digest.web"):
        assert httpx.get(f"{site.url}/newsletter/unsubscribe/partial-token-abc").status_code == 404
        assert logged(caplog, r"GET /newsletter/… 404 \d+ms$"), caplog.text
    assert "partial-token-abc" not in caplog.text


def test_serve_on_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    (tmp_path / "digest.toml").write_text(BASE_TOML, encoding="utf-8")
    env = {**os.environ, "DIGEST_SECRET": SECRET, "PYTHONPATH": str(ROOT / "src")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "digest",
                "serve",
                "--port",
                str(port),
                "--config",
                "digest.toml",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
