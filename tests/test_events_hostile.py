"""Hostile requests on every webhook route: a 4xx (or a harmless 200), never a 500 or traceback.

Deep nesting, a wrong type at every place of a documented payload, huge strings and bodies,
invalid UTF-8 and empty bodies, each posted to the real server with valid proof where the
proof sits outside the body, so the parser itself is what is tried.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.event_samples import SAMPLES, Target
from tests.events_wire import AUTH, Wire, env
from tests.test_events_catalog import provider_message_id, seed
from tests.test_web_app import BASE_TOML, Site, serve_site
from tests.test_web_webhooks_more import running_fake_sns

PROVIDERS = ("postmark", "sendgrid", "mailgun", "resend", "brevo", "mailjet", "ses")
HARD = {s.provider: s for s in SAMPLES if s.kind == "hard_bounce" and "Sub" not in s.name}


@pytest.fixture(scope="module")
def wire_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Wire]]:
    folder = tmp_path_factory.mktemp("hostile")
    with running_fake_sns() as sns, serve_site(Path(folder), BASE_TOML, env(sns.url)) as site:
        yield site, Wire(site.url, sns)


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The log lines so far at ERROR or with a traceback (the server runs in this process)."""
    caplog.set_level(logging.INFO)

    def found() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]

    return found


def target_for(provider: str) -> Target:
    return Target("zed@example.org", "Zed", provider_message_id(provider, 99_999), "0" * 32)


def places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value, the value itself first."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from places(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from places(child, (*path, i))


def wrong(value: Any) -> Any:
    """A value of another JSON type than ``value``."""
    if isinstance(value, bool | None):
        return {"x": [1]}
    if isinstance(value, str):
        return ["a", {"b": None}]
    if isinstance(value, int | float):
        return "not a number"
    if isinstance(value, list):
        return {"not": "a list"}
    return "not an object"


def replaced(payload: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return wrong(payload)
    out = copy.deepcopy(payload)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = wrong(node[path[-1]])
    return out


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_type_at_every_place_is_never_a_server_error(
    wire_site: tuple[Site, Wire], provider: str, errors: Callable[[], list[str]]
) -> None:
    _site, wire = wire_site
    payload = HARD[provider].build(target_for(provider))
    statuses = {}
    for path in places(payload):
        if provider == "mailgun" and not path:
            continue  # the signature is added beside the payload's keys; bare bodies: below
        response = wire.post(provider, replaced(payload, path))
        assert response.status_code in (200, 400, 401), (path, response.status_code)
        assert "Traceback" not in response.text
        statuses[path] = response.status_code
    assert 400 in statuses.values()
    assert errors() == []


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   \r\n", id="blank"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-arrays"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="deep-objects"),
        pytest.param(b'{"a":' * 40 + b"1" + b"}" * 40, id="nested-past-the-limit"),
        pytest.param(b'{"event": "\xff\xfe\xfa", "RecordType": "\xc3"}', id="invalid-utf8"),
        pytest.param(b'{"event": "bounce", "email": "a@b"', id="truncated"),
        pytest.param(b"9" * 5000, id="huge-number"),
        pytest.param(b'"just a string"', id="a-string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"NaN", id="nan"),
    ],
)
def test_a_hostile_body_is_a_4xx_without_a_traceback(
    wire_site: tuple[Site, Wire], provider: str, body: bytes, errors: Callable[[], list[str]]
) -> None:
    _site, wire = wire_site
    response = wire.raw(provider, body, wire.raw_headers(provider, body))
    assert 400 <= response.status_code < 500, response.status_code
    assert "Traceback" not in response.text
    assert errors() == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_huge_string_where_an_address_belongs_is_400(
    wire_site: tuple[Site, Wire], provider: str, errors: Callable[[], list[str]]
) -> None:
    _site, wire = wire_site
    target = Target("z" * 300_000 + "@example.org", "Zed", "1", "0" * 32)
    if provider == "mailjet":
        target = Target(target.email, "Zed", "12345", "0" * 32)
    response = wire.post(provider, HARD[provider].build(target))
    assert response.status_code == 400, response.text
    assert errors() == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_body_over_the_providers_cap_is_413_before_it_is_read(
    wire_site: tuple[Site, Wire], provider: str
) -> None:
    import socket
    from urllib.parse import urlsplit

    from digest.web.webhooks import body_cap

    site, wire = wire_site
    size = body_cap(site.settings, provider) + 1
    headers = wire.raw_headers(provider, b"")  # the proof is never looked at
    where = urlsplit(wire.url)
    head = f"POST /webhooks/{provider} HTTP/1.1\r\nHost: {where.netloc}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    head += f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    # Only the head is sent: the answer must come without the body (a client still writing
    # the body would race the server's close and could lose the answer).
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_ses_envelope_type_as_a_list_or_object_is_400(wire_site: tuple[Site, Wire]) -> None:
    _site, wire = wire_site
    body, headers = wire.body_and_headers("ses", HARD["ses"].build(target_for("ses")))
    message = json.loads(body)
    for bad in (["Notification"], {"Notification": 1}):
        response = wire.raw("ses", json.dumps({**message, "Type": bad}).encode(), headers)
        assert response.status_code == 400


def test_postmark_type_as_a_list_is_400(wire_site: tuple[Site, Wire]) -> None:
    _site, wire = wire_site
    payload = HARD["postmark"].build(target_for("postmark"))
    assert wire.post("postmark", {**payload, "Type": ["HardBounce"]}).status_code == 400


def test_postmark_credentials_are_checked_before_the_body_is_read(
    wire_site: tuple[Site, Wire],
) -> None:
    """A 40 MB body without credentials is refused on its headers: 401, not 413, not read."""
    site, _wire = wire_site
    body = b" " * (40 * 1024 * 1024)
    response = httpx.post(site.url + "/webhooks/postmark", content=body, timeout=60)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic ")


def test_a_postmark_bounce_larger_than_5_mb_is_recorded(wire_site: tuple[Site, Wire]) -> None:
    """Postmark can post a bounce with the whole bounced message: 5 MB used to be refused."""
    site, _wire = wire_site
    _issue, target, _ = seed(site, "postmark")
    payload = HARD["postmark"].build(target)
    payload["Content"] = base64.b64encode(b"x" * (6 * 1024 * 1024)).decode()
    token = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    response = httpx.post(
        site.url + "/webhooks/postmark",
        content=json.dumps(payload).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    with site.ledger() as ledger:
        assert ledger.is_suppressed(target.email) == "bounced"
