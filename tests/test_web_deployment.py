"""What the README's deployment section promises: the systemd unit and the proxy snippets fit
digest serve's options and limits, forwarded headers are believed only from trusted
proxies, and other parts can add routes to the app."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.paths import ROOT
from tests.test_web_app import BASE_TOML, logged, serve_site

from digest.cli.serve import serve
from digest.config import ServeSettings

README = (ROOT / "README.md").read_text(encoding="utf-8")
DEFAULTS = ServeSettings()


def block(language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", README, re.S)
    assert match, f"no {language} block in the README"
    return match.group(1)


def test_the_systemd_unit_runs_digest_serve_with_valid_options_and_time_to_finish() -> None:
    unit = dict(line.split("=", 1) for line in block("ini").splitlines() if "=" in line)
    command = unit["ExecStart"].split()
    assert command[:2] == ["/usr/local/bin/digest", "serve"]
    context = serve.make_context("serve", command[2:])
    assert context.params["workers"] == 2
    assert unit["KillSignal"] == "SIGTERM"
    assert float(unit["TimeoutStopSec"]) > DEFAULTS.graceful_timeout


def test_the_nginx_snippet_passes_headers_and_bodies_digest_serve_needs() -> None:
    nginx = block("nginx")
    assert f"proxy_pass http://127.0.0.1:{DEFAULTS.port};" in nginx
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx
    size = re.search(r"client_max_body_size (\d+)m;", nginx)
    assert size and int(size.group(1)) * 1024 * 1024 >= DEFAULTS.max_webhook_body
    location = re.search(r"location ~ (\S+) \{", nginx)
    assert location
    routes = ("/unsubscribe/t", "/webhooks/postmark", "/issues/", "/issues/feed.xml", "/healthz")
    for path in routes:
        assert re.match(location.group(1), path), path
    assert not re.match(location.group(1), "/admin")


def test_the_caddy_snippet_allows_webhook_bodies_and_reaches_the_port() -> None:
    caddy = block("caddy")
    assert f"reverse_proxy @digest 127.0.0.1:{DEFAULTS.port}" in caddy
    size = re.search(r"max_size (\d+)MB", caddy)
    assert size and int(size.group(1)) * 1000 * 1000 >= DEFAULTS.max_webhook_body


def scheme(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.url.scheme)


@pytest.mark.parametrize("trusted", [True, False])
def test_forwarded_headers_are_believed_only_from_trusted_proxies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, trusted: bool
) -> None:
    toml = BASE_TOML + ("" if trusted else "[serve]\ntrusted_proxies = []\n")
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with (
        serve_site(tmp_path, toml, routes=[Route("/scheme", scheme)]) as site,
        caplog.at_level(logging.INFO, logger="digest.web"),
    ):
        assert httpx.get(site.url + "/scheme", headers=forwarded).text == (
            "https" if trusted else "http"
        )
        client = "203.0.113.9" if trusted else "127.0.0.1"
        assert logged(caplog, rf"^{re.escape(client)} GET /scheme 200 \d+ms$"), caplog.text


def test_the_app_works_on_an_asgi_server_that_sends_no_lifespan_events(tmp_path: Path) -> None:
    import threading
    import time

    import uvicorn
    from tests.test_web_app import LIST_ID, SECRET, site_settings

    from digest.sending.ledger import Ledger
    from digest.sending.tokens import make_token
    from digest.web import make_web_app
    from digest.web.server import bind

    app = make_web_app(site_settings(tmp_path), tmp_path / "out")
    sock = bind("127.0.0.1", 0, 64)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        token = make_token("ann@example.org", SECRET, LIST_ID)
        response = httpx.post(f"{url}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        assert httpx.get(url + "/healthz").text == "ok\n"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        assert ledger.is_suppressed("ann@example.org") == "unsubscribed"


@pytest.mark.parametrize(
    "forwarded",
    [
        "\x1b[31mRED\x1b[0m",
        "evil INFO 10.0.0.1 POST unsubscribe 200 1ms",
        "fe80::1%eth0 evil INFO 10.0.0.1",
        "proxy.example.org",
        "203.0.113.9, not-an-address",
    ],
    ids=["terminal-escapes", "forged-log-line", "ipv6-zone-text", "host-name", "last-hop-junk"],
)
def test_a_forwarded_client_that_is_not_an_ip_address_is_not_believed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, forwarded: str
) -> None:
    """From a trusted proxy, uvicorn took whatever text the header held as the client."""
    import socket

    with serve_site(tmp_path) as site, caplog.at_level(logging.INFO, logger="digest.web"):
        port = int(site.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"X-Forwarded-For: " + forwarded.encode("latin-1") + b"\r\n\r\n"
            )
            assert conn.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert logged(caplog, r"^127\.0\.0\.1 GET healthz 200 \d+ms$"), caplog.text
    assert not any(forwarded in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [("203.0.113.9:5123", "203.0.113.9"), ("[2001:db8::7]:443", "2001:db8::7")],
)
def test_a_forwarded_ip_address_with_a_port_is_still_the_client(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, forwarded: str, client: str
) -> None:
    with serve_site(tmp_path) as site, caplog.at_level(logging.INFO, logger="digest.web"):
        answer = httpx.get(site.url + "/healthz", headers={"X-Forwarded-For": forwarded})
        assert answer.status_code == 200
        assert logged(caplog, rf"^{re.escape(client)} GET healthz 200 \d+ms$"), caplog.text
