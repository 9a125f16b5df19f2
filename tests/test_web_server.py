"""`digest serve` under load and abuse, as the real process on 127.0.0.1.

What the public internet does to an unsubscribe endpoint: a send hour's burst of one-click
POSTs, big bodies from nobody, huge headers, bodies that stop short or come chunked,
connections that never speak, SIGTERM in the middle of a burst, a ledger that went
read-only. Every answer is HTTP (400/413/431/503), never a 500 or a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.serve_process import LIST_ID, SECRET, TOML, ServeProcess, serve_process

from digest.sending.ledger import Ledger
from digest.sending.tokens import make_token
from digest.web import PROVIDERS

FAST = """
[serve]
header_timeout = 1
body_timeout = 1
keep_alive = 1
"""
ONE_CLICK = b"List-Unsubscribe=One-Click"
WEBHOOK_ENV = {
    "DIGEST_WEBHOOK_USER": "hooks",
    "DIGEST_WEBHOOK_PASSWORD": "hook-password-42",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-signing-key",
    "RESEND_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"resend-key-0123456789").decode(),
    "SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode(),
    "DIGEST_SES_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:digest",
}
BASIC = "Basic " + base64.b64encode(b"hooks:hook-password-42").decode()
PROOF_HEADERS = {
    # Checked on the headers before the body is read; the proof itself after.
    "authorization": BASIC,
    "svix-id": "msg_1",
    "svix-timestamp": "1",
    "svix-signature": "v1,AAAA",
    "x-twilio-email-event-webhook-signature": "AAAA",
    "x-twilio-email-event-webhook-timestamp": "1",
}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """Default timeouts: a loaded machine may take a second to send a burst's requests."""
    with serve_process(tmp_path_factory.mktemp("serve"), TOML, env=WEBHOOK_ENV) as s:
        yield s
        assert "Traceback" not in s.log_text(), s.log_text()


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One-second deadlines, for the tests that wait for them."""
    with serve_process(tmp_path_factory.mktemp("fast"), TOML + FAST, env=WEBHOOK_ENV) as s:
        yield s
        assert "Traceback" not in s.log_text(), s.log_text()


def token(email: str) -> str:
    return make_token(email, SECRET, LIST_ID)


def suppressed(server: ServeProcess) -> set[str]:
    with Ledger(server.ledger_path) as ledger:
        rows = ledger.db.execute("SELECT email FROM suppressions").fetchall()
    return {r[0] for r in rows}


def exchange(server: ServeProcess, data: bytes, *, then: bytes = b"", timeout: float = 10) -> bytes:
    """Send raw bytes, then read the answer until the server closes or ``timeout``."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        if then:
            sock.sendall(then)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


async def post_all(url: str, paths: list[str]) -> list[int | BaseException]:
    """POST one-click to every path at once, on one connection each."""
    limits = httpx.Limits(max_connections=len(paths), max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(path: str) -> int:
            response = await client.post(url + path, content=ONE_CLICK, headers=FORM)
            return response.status_code

        return await asyncio.gather(*(one(p) for p in paths), return_exceptions=True)


# -- load ----------------------------------------------------------------------------------


def test_a_burst_of_200_one_click_posts_is_all_answered_2xx_and_all_suppressed(
    server: ServeProcess,
) -> None:
    emails = [f"burst-{i}@example.org" for i in range(200)]
    results = asyncio.run(post_all(server.url, [f"/unsubscribe/{token(e)}" for e in emails]))
    assert results == [200] * 200, [r for r in results if r != 200][:5]
    assert set(emails) <= suppressed(server)


def test_ten_concurrent_5mb_bodies_leave_peak_rss_under_150mb(server: ServeProcess) -> None:
    """Bad tokens are refused unread; good ones read at most max_unsubscribe_body bytes."""
    five_mb = b"x" * (5 * 1024 * 1024)
    answers: list[bytes | BaseException] = []

    def send(path: str, chunked: bool) -> None:
        head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
        head += (
            "Transfer-Encoding: chunked\r\n\r\n"
            if chunked
            else f"Content-Length: {len(five_mb)}\r\n\r\n"
        )
        body = (b"%x\r\n" % len(five_mb)) + five_mb + b"\r\n0\r\n\r\n" if chunked else five_mb
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
                sock.sendall(head.encode() + body)
                answers.append(sock.recv(200))
        except OSError as e:  # the server closed early: the rest of 5 MB had nowhere to go
            answers.append(e)

    paths = [
        *(f"/unsubscribe/forged-{i}.x" for i in range(4)),
        *(f"/unsubscribe/{token(f'big-{i}@example.org')}" for i in range(6)),
    ]
    threads = [threading.Thread(target=send, args=(p, i % 2 == 1)) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 10
    statuses = {status_of(a) for a in answers if isinstance(a, bytes) and a}
    assert statuses <= {400, 413}, statuses
    assert server.peak_rss_mb() < 150, server.peak_rss_mb()
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert not {f"big-{i}@example.org" for i in range(6)} & suppressed(server)


# -- limits --------------------------------------------------------------------------------


def test_a_declared_body_over_the_cap_gets_413_without_being_read(server: ServeProcess) -> None:
    head = (
        f"POST /unsubscribe/{token('ann@example.org')} HTTP/1.1\r\nHost: t\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000000\r\n\r\n"
    )
    assert status_of(exchange(server, head.encode())) == 413
    webhook = (
        "POST /webhooks/postmark HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n"
        f"Authorization: {BASIC}\r\n\r\n"
    )
    assert status_of(exchange(server, webhook.encode())) == 413


def test_a_complete_100kb_header_gets_431(server: ServeProcess) -> None:
    big = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    assert status_of(exchange(server, big)) == 431


def test_a_70kb_request_line_gets_431(server: ServeProcess) -> None:
    line = b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    assert status_of(exchange(server, line)) == 431


def test_a_big_header_arriving_in_pieces_gets_431(server: ServeProcess) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 10_000
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(first)
        time.sleep(0.2)  # the server sees an incomplete head first
        sock.sendall(b"a" * 20_000)
        answer = sock.recv(200)
    assert status_of(answer) == 431


def test_a_body_shorter_than_its_content_length_gets_400_within_the_deadline(
    fast_server: ServeProcess,
) -> None:
    head = (
        f"POST /unsubscribe/{token('short@example.org')} HTTP/1.1\r\nHost: t\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )
    # body_timeout is 1 s: the answer must come well before the socket's 5 s timeout.
    answer = exchange(fast_server, head.encode() + b"List-Unsub", timeout=5)
    assert status_of(answer) == 400
    assert b"did not arrive" in answer
    webhook = (
        "POST /webhooks/postmark HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n"
        f"Authorization: {BASIC}\r\n\r\n{{"
    )
    assert status_of(exchange(fast_server, webhook.encode(), timeout=5)) == 400
    assert "short@example.org" not in suppressed(fast_server)


def test_chunked_bodies_are_read(server: ServeProcess) -> None:
    head = (
        f"POST /unsubscribe/{token('chunked@example.org')} HTTP/1.1\r\nHost: t\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    body = b"10\r\nList-Unsubscribe\r\na\r\n=One-Click\r\n0\r\n\r\n"
    answer = exchange(server, head.encode() + body + b"", timeout=5)
    assert status_of(answer) == 200
    assert "chunked@example.org" in suppressed(server)


def test_a_chunked_body_over_the_cap_gets_413(server: ServeProcess) -> None:
    head = (
        f"POST /unsubscribe/{token('chunky@example.org')} HTTP/1.1\r\nHost: t\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n" % 5000 + b"x" * 5000 + b"\r\n"
    assert status_of(exchange(server, head.encode() + chunk, timeout=5)) == 413
    assert "chunky@example.org" not in suppressed(server)


def test_deeply_nested_json_gets_400_on_every_webhook_route(server: ServeProcess) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = b'{"a":' * 40 + b"1" + b"}" * 40
    for provider in PROVIDERS:
        for body in (deep, nested):
            response = httpx.post(
                f"{server.url}/webhooks/{provider}",
                content=body,
                headers={"content-type": "application/json", **PROOF_HEADERS},
            )
            assert response.status_code == 400, (provider, response.text)
            assert "nests too deep" in response.text


# -- connections ---------------------------------------------------------------------------


def test_idle_and_slow_connections_are_closed_without_a_traceback(
    fast_server: ServeProcess,
) -> None:
    with socket.create_connection(("127.0.0.1", fast_server.port), timeout=10) as idle:
        assert idle.recv(100) == b""  # header_timeout (1 s) closed it
    with socket.create_connection(("127.0.0.1", fast_server.port), timeout=10) as slow:
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 40:
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.1)
        if not closed:
            assert slow.recv(100) == b""
    with socket.create_connection(("127.0.0.1", fast_server.port), timeout=10) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = b""
        while chunk := kept.recv(1000):  # the answer may come in pieces; then the close
            answer += chunk
        assert status_of(answer) == 200
        assert answer.endswith(b"\r\n\r\nok\n")  # all of it, then keep_alive (1 s) closed it
    assert "Traceback" not in fast_server.log_text()


def test_tls_bytes_on_the_plain_port_get_400_without_a_traceback(server: ServeProcess) -> None:
    hello = bytes.fromhex("16030100c8010000c40303") + os.urandom(32) + b"\x00" * 40
    answer = exchange(server, hello, timeout=5)
    assert status_of(answer) == 400
    assert "Traceback" not in server.log_text()


def test_each_request_is_logged_once_without_token_or_address(server: ServeProcess) -> None:
    t = token("logged@example.org")
    httpx.post(f"{server.url}/unsubscribe/{t}", content=ONE_CLICK, headers=FORM)
    deadline = time.monotonic() + 5
    while "POST unsubscribe 200" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [x for x in server.log if "POST unsubscribe 200" in x]
    assert lines and lines[-1].rstrip().endswith("ms")
    assert t not in server.log_text() and "logged@example.org" not in server.log_text()


# -- stopping and failing ------------------------------------------------------------------


def test_sigterm_during_a_burst_loses_no_accepted_unsubscribe(tmp_path: Path) -> None:
    emails = [f"term-{i}@example.org" for i in range(300)]
    with serve_process(tmp_path, TOML) as server:

        async def burst() -> list[int | BaseException]:
            task = asyncio.ensure_future(
                post_all(server.url, [f"/unsubscribe/{token(e)}" for e in emails])
            )
            while not suppressed_count(server.ledger_path) >= 20:
                await asyncio.sleep(0.01)
            server.proc.send_signal(signal.SIGTERM)
            return await task

        results = asyncio.run(burst())
        assert server.proc.wait(timeout=30) == 0
        log = server.log_text()
    answered = [e for e, r in zip(emails, results, strict=True) if r == 200]
    assert answered, results[:5]
    assert all(r == 200 or isinstance(r, httpx.TransportError) for r in results), {
        r for r in results if r != 200
    }
    assert set(answered) <= suppressed_emails(server.ledger_path)
    assert "Traceback" not in log


def suppressed_count(path: Path) -> int:
    with Ledger(path) as ledger:
        return ledger.suppression_count()


def suppressed_emails(path: Path) -> set[str]:
    with Ledger(path) as ledger:
        return {r[0] for r in ledger.db.execute("SELECT email FROM suppressions")}


def test_a_read_only_ledger_gives_503_and_an_unhealthy_healthz(tmp_path: Path) -> None:
    """Checked at start: the server runs (a proxy sees 503, not a refused connection)."""
    Ledger(tmp_path / "ledger.sqlite3").close()
    (tmp_path / "digest.toml").write_text(TOML, encoding="utf-8")
    (tmp_path / "ledger.sqlite3").chmod(0o444)
    tmp_path.chmod(0o555)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root writes anything: drop the capability that lets it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file read-only")
        prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search")
    try:
        with serve_process(tmp_path, None, prefix=prefix) as server:
            health = httpx.get(server.url + "/healthz")
            response = httpx.post(
                f"{server.url}/unsubscribe/{token('ro@example.org')}",
                content=ONE_CLICK,
                headers=FORM,
            )
            page = httpx.get(f"{server.url}/unsubscribe/{token('ro@example.org')}")
            log = server.log_text()
    finally:
        tmp_path.chmod(0o755)
    assert health.status_code == 503 and "unhealthy" in health.text
    assert response.status_code == 503
    assert page.status_code == 200  # asking needs no write
    assert "the send ledger is unavailable" in log
    assert "Traceback" not in log
    assert suppressed_emails(tmp_path / "ledger.sqlite3") == set()


def test_two_workers_share_the_port_answer_a_burst_and_stop_cleanly(tmp_path: Path) -> None:
    emails = [f"workers-{i}@example.org" for i in range(60)]
    with serve_process(tmp_path, TOML, args=("--workers", "2")) as server:
        results = asyncio.run(post_all(server.url, [f"/unsubscribe/{token(e)}" for e in emails]))
        assert results == [200] * len(emails)
        assert server.stop() == 0
        log = server.log_text()
    assert log.count("Started server process") == 2, log
    assert set(emails) <= suppressed_emails(tmp_path / "ledger.sqlite3")
    assert "Traceback" not in log


def test_connections_over_max_connections_get_503_not_a_reset(tmp_path: Path) -> None:
    toml = TOML + "[serve]\nmax_connections = 3\nheader_timeout = 30\n"
    with serve_process(tmp_path, toml) as server:
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
        try:
            time.sleep(0.3)  # the server has accepted them
            answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", timeout=5)
            assert status_of(answer) == 503
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.3)
        assert httpx.get(server.url + "/healthz").status_code == 200
        assert "Traceback" not in server.log_text()
