"""Small parts of the send job: rate reservation, result matching, personalisation rules."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from digest.config import Settings
from digest.delivery.base import RecipientResult
from digest.errors import ConfigError
from digest.sending.job import RateLimiter, _outcomes
from digest.sending.ledger import MemberRow
from digest.sending.personalise import Personaliser, message_id_for
from digest.sending.tokens import verify

SECRET = "parts-secret-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_reserves_consecutive_slots_for_each_batch():
    clock = Clock()
    limiter = RateLimiter(10.0, clock=clock)
    stop = threading.Event()
    stop.set()  # a stopped job never sits out a wait: it gives up at once
    assert limiter.wait(0, stop) is False
    assert limiter._next == pytest.approx(100.0)
    limiter.wait(50, stop)
    limiter.wait(50, stop)
    assert limiter._next == pytest.approx(110.0), "100 messages at 10/s take 10 s of slots"


def test_no_rate_limit_never_waits():
    limiter = RateLimiter(0.0)
    assert limiter.wait(10_000, threading.Event()) is True


def test_results_are_matched_to_members_by_address_when_out_of_order():
    members = [MemberRow(1, "a@x.org", "", {}), MemberRow(2, "B@x.org", "", {})]
    results = [
        RecipientResult("b@x.org", True, "id-b"),
        RecipientResult("a@x.org", False, error="no"),
    ]
    out = _outcomes(members, results)
    assert [(o.id, o.ok, o.message_id) for o in out] == [(1, False, None), (2, True, "id-b")]


def test_a_member_without_a_result_is_a_retryable_failure():
    (o,) = _outcomes([MemberRow(1, "a@x.org", "", {})], [])
    assert not o.ok and o.retryable


def _settings(url: str | None, secret: str | None = SECRET) -> Settings:
    env = {"DIGEST_SECRET": secret} if secret else {}
    return Settings.model_validate({"links": {"unsubscribe_url": url}, "environ": env})


def test_recipient_gets_a_signed_link_and_csv_cannot_override_it():
    p = Personaliser(
        _settings("https://example.org/u/{token}?i={slug}&e={email}"), "issue-7", "news@example.org"
    )
    r = p.recipient("ann+x@example.org", "Ann", {"city": "Rome", "unsubscribe_url": "evil"})
    url = r.fields["unsubscribe_url"]
    assert url.startswith("https://example.org/u/") and url.endswith("&e=ann%2Bx%40example.org")
    list_id = Settings().newsletter.list_id
    assert verify(url.split("/u/")[1].split("?")[0], SECRET, list_id) == "ann+x@example.org"
    assert r.fields["city"] == "Rome"
    assert url.split("/u/")[1].split("?")[0] == r.fields["unsubscribe_token"]
    assert r.message_id == message_id_for("issue-7", "ANN+X@example.org", "news@example.org")


def test_unknown_field_in_the_unsubscribe_template_is_a_config_error(tmp_path):
    from digest.config import load_settings

    config = tmp_path / "digest.toml"
    config.write_text('[links]\nunsubscribe_url = "https://example.org/u/{user}"\n')
    with pytest.raises(ConfigError, match=r"uses \{user\}; it may use only \{token\}"):
        load_settings(config, environ={})


def test_token_link_without_a_secret_is_a_config_error():
    with pytest.raises(ConfigError, match="DIGEST_SECRET"):
        Personaliser(_settings("https://example.org/u/{token}", None), "i", "news@example.org")


def test_message_ids_differ_by_issue_and_recipient_and_use_an_ascii_domain():
    a = message_id_for("issue-7", "ann@example.org", "news@exämple.org")
    assert a.isascii() and a.endswith("@xn--exmple-cua.org>")
    assert a != message_id_for("issue-8", "ann@example.org", "news@exämple.org")
    assert a != message_id_for("issue-7", "bob@example.org", "news@exämple.org")


def test_lock_follows_the_ledger_so_configs_sharing_a_ledger_share_a_lock(tmp_path: Path) -> None:
    from digest.config import Settings
    from digest.sending import lock_path

    a = Settings.model_validate({"sending": {"ledger": str(tmp_path / "l.sqlite3")}})
    b = Settings.model_validate(
        {"sending": {"ledger": str(tmp_path / "l.sqlite3"), "issues_dir": "elsewhere"}}
    )
    assert lock_path(a) == lock_path(b) == tmp_path / "l.sqlite3.lock"
