"""The shared HTTP provider base and the loopback server kit, with a minimal adapter."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, ClassVar

import httpx
import pytest
from tests.servers.kit import LoopbackServer, Reply, Request
from tests.servers.support import Sleeps, make_batch, make_content, make_settings, recipients

from digest.delivery._http import (
    EncodedText,
    HTTPOptions,
    HTTPProvider,
    HTTPRequest,
    MergeTokens,
    RawJSON,
    chunk_by_size,
    json_bytes,
    parse_retry_after,
    read_rate_limit,
)
from digest.delivery.base import Options, RecipientResult, load_provider_class
from digest.errors import AccountDeliveryError, ConfigError
from digest.message import Batch, Recipient

pytest_plugins = ["tests.servers.kit"]

TOKEN = "echo-token-5e5e5e"


class EchoOptions(HTTPOptions):
    base_url: str = "https://echo.invalid"


class EchoProvider(HTTPProvider):
    """The smallest adapter: POST /send with the addresses, answer {"ids": [...]}."""

    name = "echo"
    options_model: ClassVar[type[Options]] = EchoOptions
    env_vars = ("ECHO_TOKEN",)
    max_batch = 10

    def auth_headers(self) -> dict[str, str]:
        return {"X-Token": self.secret("ECHO_TOKEN")}

    def build_request(self, batch: Batch) -> HTTPRequest:
        return HTTPRequest("POST", "/send", json={"to": [r.email for r in batch.recipients],
                                                   "key": batch.key})

    def parse_response(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        ids = response.json()["ids"]
        return [RecipientResult(r.email, True, message_id=i)
                for r, i in zip(batch.recipients, ids, strict=False)]


class EchoApp:
    """A server for EchoProvider: checks the token, answers ids, can answer too few."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.short = False
        self.lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        if req.header("X-Token") != TOKEN:
            return Reply(401, {"message": "bad token"})
        to = req.json["to"]
        with self.lock:
            self.sent.extend(to)
        ids = [f"id-{a}" for a in to]
        return Reply(200, {"ids": ids[:-1] if self.short else ids})


@pytest.fixture
def echo(loopback: Callable[[Any], LoopbackServer]) -> tuple[EchoApp, LoopbackServer]:
    app = EchoApp()
    return app, loopback(app)


def make(server: LoopbackServer | str, sleeps: Sleeps | None = None, **delivery: Any
         ) -> EchoProvider:
    url = server if isinstance(server, str) else server.url
    settings = make_settings("echo", {"base_url": url}, {"ECHO_TOKEN": TOKEN}, **delivery)
    return EchoProvider(settings, sleep=sleeps if sleeps is not None else Sleeps())


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = time.time()
    when = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert 89.0 <= (parse_retry_after(when, now=now) or 0) <= 90.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_rate_limit_headers_are_read_in_every_family_providers_use() -> None:
    now = 1_700_000_000.0

    def read(**h: str) -> tuple[float | None, float | None] | None:
        found = read_rate_limit(httpx.Headers({k.replace("_", "-"): v for k, v in h.items()}),
                                now=now)
        return None if found is None else (found.remaining, found.reset)

    assert read(x_ratelimit_remaining="0", x_ratelimit_reset=str(int(now) + 30)) == (0, 30)
    assert read(ratelimit_limit="2", ratelimit_remaining="0", ratelimit_reset="1") == (0, 1)
    assert read(x_sib_ratelimit_remaining="0", x_sib_ratelimit_reset="12") == (0, 12)
    assert read(ratelimit='"default";r=0;t=7', ratelimit_policy='"default";q=10;w=60') == (0, 7)
    assert read(x_ratelimit_remaining="5", ratelimit_remaining="0", ratelimit_reset="4") == (0, 4)
    assert read(x_ratelimit_remaining="lots") is None
    assert read(content_type="application/json") is None


def test_a_body_encoded_once_fills_to_the_same_bytes_as_encoding_it_per_recipient() -> None:
    """The shared body is JSON-encoded once; only the values are encoded per recipient."""
    content = make_content(
        html='<p title="q">Hi @@digest.name|"you"@@ \\ caf\u00e9 \u2028 \x01</p>@@digest.code@@',
        text="Tab\there, @@digest.name|you@@\n@@digest.code@@ \U0001f600",
    )
    people = [
        Recipient("a@example.org", 'Ann "A" <&> \\ \u2029', {"code": "x\ny\x7f"}),
        Recipient("b@example.org"),
    ]
    html = EncodedText(content.html, escape=True)
    text = EncodedText(content.text, escape=False)
    assert html.varies and not EncodedText("plain", escape=True).varies
    for r in people:
        filled = html.fill(r.values())
        assert filled.data == json_bytes(content.html_for(r))
        assert html.size(r.values()) == len(filled.data)
        assert text.fill(r.values()).data == json_bytes(content.text_for(r))
    nested = {"a": [RawJSON(b'"x"'), {"b": RawJSON(b"[1,2]")}], "c": "\u0000 kept"}
    assert json_bytes(nested) == b'{"a":["x",{"b":[1,2]}],"c":"\\u0000 kept"}'


def test_chunks_keep_within_bytes_and_count_and_an_oversize_item_goes_alone() -> None:
    groups = chunk_by_size([3, 3, 3, 9, 1, 1, 1, 1], lambda n: n, max_bytes=7, max_items=3,
                           overhead=1)
    assert groups == [[3, 3], [3], [9], [1, 1, 1], [1]]
    assert chunk_by_size([], len, max_bytes=5) == []


def test_merge_tokens_give_html_and_text_their_own_keys_and_defaults() -> None:
    t = MergeTokens(lambda k: f"%{k}%")
    html = t.rewrite("<p>@@digest.name|friend@@ @@digest.name@@</p>", escape=True)
    text = t.rewrite("@@digest.name|friend@@", escape=False)
    assert html == "<p>%h_name% %h_name_2%</p>" and text == "%t_name%"
    r = Recipient(email="a@example.org", name="<A&B>")
    assert t.values(r) == {"h_name": "&lt;A&amp;B&gt;", "h_name_2": "&lt;A&amp;B&gt;",
                           "t_name": "<A&B>"}
    assert t.values(Recipient(email="b@example.org")) == {
        "h_name": "friend", "h_name_2": "", "t_name": "friend"}


def test_a_success_with_no_quota_left_makes_the_next_call_wait(
    echo: tuple[EchoApp, LoopbackServer],
) -> None:
    _app, server = echo
    sleeps = Sleeps()
    p = make(server, sleeps)
    original = server.app

    def limited(req: Request) -> Reply:
        reply = original(req)
        return Reply(reply.status, reply.body, {"X-RateLimit-Remaining": "0",
                                                "X-RateLimit-Reset": "8"})

    server.app = limited
    p.deliver(make_batch(recipients(1)))
    assert sleeps == []
    p.deliver(make_batch(recipients(1, start=1)))
    assert len(sleeps) == 1 and 7.0 <= sleeps[0] <= 8.0
    p.close()


def test_a_429_without_retry_after_uses_the_rate_limit_reset(
    echo: tuple[EchoApp, LoopbackServer],
) -> None:
    _app, server = echo
    sleeps = Sleeps()
    server.faults.throttle(1, retry_after=None, headers={"X-RateLimit-Remaining": "0",
                                                         "X-RateLimit-Reset": "6"})
    assert all(r.ok for r in make(server, sleeps).deliver(make_batch(recipients(2))))
    assert sleeps == [6.0]


def test_a_429_with_no_hint_backs_off_exponentially(echo: tuple[EchoApp, LoopbackServer]) -> None:
    _app, server = echo
    sleeps = Sleeps()
    server.faults.throttle(3, retry_after=None)
    make(server, sleeps, backoff=2.0).deliver(make_batch(recipients(1)))
    assert len(sleeps) == 3
    for n, s in enumerate(sleeps):
        assert 2.0 * 2**n * 0.5 <= s <= 2.0 * 2**n


def test_408_is_retried_and_other_4xx_fail_at_once_with_the_body(
    echo: tuple[EchoApp, LoopbackServer],
) -> None:
    _app, server = echo
    server.faults.fail(1, status=408)
    assert make(server).deliver(make_batch(recipients(1)))[0].ok
    server.faults.fail(1, status=404, body="no such route here")
    sleeps = Sleeps()
    [r] = make(server, sleeps).deliver(make_batch(recipients(1, start=5)))
    assert not r.ok and not r.retryable
    assert "no such route here" in (r.error or "") and "status 404" in (r.error or "")
    assert sleeps == []


def test_a_refused_connection_is_retried_then_left_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    results = make(f"http://127.0.0.1:{port}", sleeps, max_retries=2).deliver(
        make_batch(recipients(2)))
    assert len(sleeps) == 2
    assert all(not r.ok and r.retryable for r in results)
    assert "connection failed" in (results[0].error or "")


def test_too_few_results_fail_the_batch(echo: tuple[EchoApp, LoopbackServer]) -> None:
    app, server = echo
    app.short = True
    results = make(server).deliver(make_batch(recipients(3)))
    assert all(not r.ok for r in results)
    assert "2 results for 3 recipients" in (results[0].error or "")


def test_batches_over_max_batch_are_cut_with_stable_keys(
    echo: tuple[EchoApp, LoopbackServer],
) -> None:
    _app, server = echo
    results = make(server).deliver(make_batch(recipients(25), key="issue-7.b3"))
    assert [r.message_id for r in results] == [f"id-reader{i}@example.com" for i in range(25)]
    assert [q.json["key"] for q in server.requests] == [
        "issue-7.b3.0", "issue-7.b3.1", "issue-7.b3.2"]


def test_one_provider_shared_by_threads_uses_one_pooled_client(
    echo: tuple[EchoApp, LoopbackServer],
) -> None:
    app, server = echo
    p = make(server, concurrency=4)
    batches = [make_batch(recipients(5, start=i * 5), key=f"b{i}") for i in range(40)]
    out: list[list[RecipientResult]] = []
    lock = threading.Lock()

    def work(mine: list[Batch]) -> None:
        for b in mine:
            res = p.deliver(b)
            with lock:
                out.append(res)

    threads = [threading.Thread(target=work, args=(batches[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p.close()
    assert sum(len(r) for r in out) == 200 and all(x.ok for r in out for x in r)
    assert sorted(app.sent) == sorted(f"reader{i}@example.com" for i in range(200))
    ports = {q.client[1] for q in server.requests}
    assert len(ports) <= 8 < len(server.requests)


def test_a_held_answer_is_recorded_before_it_is_released(
    echo: tuple[EchoApp, LoopbackServer],
) -> None:
    """What crash tests build on: the provider has the request, the client has no answer."""
    app, server = echo
    server.faults.hold()
    p = make(server, timeout=30)
    result: list[list[RecipientResult]] = []
    t = threading.Thread(target=lambda: result.append(p.deliver(make_batch(recipients(2)))))
    t.start()
    assert server.faults.wait_held(1, timeout=10)
    assert app.sent == ["reader0@example.com", "reader1@example.com"]
    assert result == []
    server.faults.release()
    t.join(10)
    assert [r.ok for r in result[0]] == [True, True]
    assert server.requests[0].fault == "hold" and server.requests[0].status == 200


def test_stopping_the_server_frees_held_and_stalled_requests(
    loopback: Callable[[Any], LoopbackServer],
) -> None:
    server = LoopbackServer(lambda req: Reply(200, {})).start()
    server.faults.hold()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(server.url + "/x", timeout=20)
        except httpx.HTTPError as e:
            errors.append(e)

    t = threading.Thread(target=call)
    t.start()
    assert server.faults.wait_held(1)
    server.stop()
    t.join(10)
    assert not t.is_alive()


def test_the_kit_fails_for_a_time_window_then_recovers(
    loopback: Callable[[Any], LoopbackServer],
) -> None:
    server = loopback(lambda req: Reply(200, "ok"))
    server.faults.fail_for(0.3, status=503)
    first = httpx.get(server.url + "/a").status_code
    deadline = time.monotonic() + 5
    while httpx.get(server.url + "/a").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert first == 503


def test_the_kit_parses_json_urlencoded_and_multipart_bodies(
    loopback: Callable[[Any], LoopbackServer],
) -> None:
    server = loopback(lambda req: Reply(204))
    httpx.post(server.url + "/j", json={"a": [1, "é"]})
    httpx.post(server.url + "/f", data={"to": ["x@example.org", "y@example.org"], "s": "é"})
    httpx.post(server.url + "/m", data={"to": ["x@example.org"]},
               files={"attachment": ("a.txt", b"\x00\x01")})
    j, f, m = server.requests
    assert j.json == {"a": [1, "é"]}
    assert f.form == {"to": ["x@example.org", "y@example.org"], "s": ["é"]}
    assert m.form == {"to": ["x@example.org"]} and m.files == {"attachment": [b"\x00\x01"]}


def test_the_secret_is_scrubbed_from_an_error_body_that_echoes_it(
    echo: tuple[EchoApp, LoopbackServer], caplog: pytest.LogCaptureFixture
) -> None:
    _app, server = echo
    caplog.set_level(logging.DEBUG)
    server.faults.fail(1, status=403, body=f"token {TOKEN} is not allowed here")
    p = make(server)
    with pytest.raises(AccountDeliveryError) as err:
        p.deliver(make_batch(recipients(1)))
    assert "token *** is not allowed" in str(err.value) and "ECHO_TOKEN" in str(err.value)
    assert TOKEN not in str(err.value) + caplog.text + repr(p)


def test_a_missing_secret_is_a_config_error_when_the_client_starts(
    echo: tuple[EchoApp, LoopbackServer],
) -> None:
    _app, server = echo
    settings = make_settings("echo", {"base_url": server.url}, {})
    p = EchoProvider(settings, sleep=Sleeps())
    with pytest.raises(ConfigError, match="ECHO_TOKEN"):
        p.deliver(make_batch(recipients(1)))


@pytest.mark.parametrize(
    ("name", "url", "limit", "env"),
    [
        ("postmark", "https://api.postmarkapp.com", 500, "POSTMARK_SERVER_TOKEN"),
        ("sendgrid", "https://api.sendgrid.com", 1000, "SENDGRID_API_KEY"),
        ("mailgun", "https://api.mailgun.net", 1000, "MAILGUN_API_KEY"),
    ],
)
def test_the_registry_loads_each_provider_with_its_real_endpoint(
    name: str, url: str, limit: int, env: str
) -> None:
    cls = load_provider_class(name)
    options = {"domain": "mg.example.org"} if name == "mailgun" else {}
    p = cls(make_settings(name, options, {env: "x"}))
    assert isinstance(p, HTTPProvider)
    assert (p.name, p.base_url(), p.max_batch, p.env_vars) == (name, url, limit, (env,))
    assert p.idempotent is False and p.description
