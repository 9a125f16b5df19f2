"""Double opt-in without the web server: limits, tokens, the mail queue and its retries."""

from __future__ import annotations

import email
import email.policy
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.send_support import SECRET, settings_for, write_config

from digest.config import Settings
from digest.delivery.base import RecipientResult
from digest.delivery.local import FileProvider
from digest.errors import ConfigError
from digest.message import Batch
from digest.sending import Ledger, Subscribers, ledger_path
from digest.sending.confirmations import ConfirmationMailer
from digest.sending.signup import ConfirmTokens, SignUp, confirm, sign_up
from digest.sending.subscribers import Hasher


def _settings(tmp_path: Path, **subscribe: Any) -> Settings:
    config = write_config(tmp_path)
    extra = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in subscribe.items())
    config.write_text(config.read_text() + "[subscribe]\nenabled = true\n" + extra + "\n")
    return settings_for(config)


def _sign_up(settings: Settings, ledger: Ledger, address: str, ip: str = "192.0.2.1") -> SignUp:
    return sign_up(
        settings,
        ledger,
        Hasher(SECRET),
        email=address,
        name="",
        lang="en",
        client_ip=ip,
        source="form:/subscribe",
        consent_text="Yes",
    )


def _queued(ledger: Ledger) -> int:
    return int(ledger.db.execute("SELECT COUNT(*) FROM subscriber_mails").fetchone()[0])


def test_repeated_sign_ups_of_one_address_queue_one_mail_per_window(tmp_path: Path) -> None:
    settings = _settings(tmp_path, mail_window_minutes=60)
    with Ledger(ledger_path(settings)) as ledger:
        results = [
            _sign_up(settings, ledger, "ann@example.org", ip=f"192.0.2.{i}") for i in range(5)
        ]
        assert [r.outcome for r in results] == ["accepted"] * 5
        assert [r.queued for r in results] == [True, False, False, False, False]
        assert _queued(ledger) == 1


def test_one_client_over_its_limit_is_refused_and_nothing_is_recorded(tmp_path: Path) -> None:
    settings = _settings(tmp_path, ip_limit=3)
    with Ledger(ledger_path(settings)) as ledger:
        outcomes = [_sign_up(settings, ledger, f"r{i}@example.org").outcome for i in range(5)]
        assert outcomes == ["accepted"] * 3 + ["too_many"] * 2
        assert Subscribers(ledger).counts()["pending"] == 3
        assert _sign_up(settings, ledger, "x@example.org", ip="198.51.100.7").outcome == "accepted"


def test_the_consent_record_keeps_a_keyed_hash_of_the_ip_by_default(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with Ledger(ledger_path(settings)) as ledger:
        _sign_up(settings, ledger, "ann@example.org", ip="203.0.113.9")
        record = Subscribers(ledger).get("ann@example.org")
    assert record is not None and record.consent_ip is not None
    assert "203.0.113.9" not in record.consent_ip and record.consent_ip.startswith("hmac:")
    assert (tmp_path / "digest-ledger.sqlite3").read_bytes().find(b"203.0.113.9") == -1


def test_tokens_refuse_forgery_tampering_and_expiry() -> None:
    tokens = ConfirmTokens(SECRET)
    good = tokens.make("ab" * 16, 2_000_000_000)
    assert tokens.check(good, now=1_900_000_000) == ("ab" * 16, "ok")
    assert tokens.check(good, now=2_000_000_001) == (None, "expired")
    other = ConfirmTokens("another-secret-0123456789").make("ab" * 16, 2_000_000_000)
    body, _, mac = good.partition(".")
    flipped = ("A" if body[0] != "A" else "B") + body[1:] + "." + mac
    for bad in (other, flipped, "x", "a.b", good + "=", body + "." + other.partition(".")[2]):
        assert tokens.check(bad, now=1_900_000_000)[0] is None, bad
    rotated = ConfirmTokens("a-new-secret-Zq8vT3kLm9Xw2Rp5", previous=[SECRET])
    assert rotated.check(good, now=1_900_000_000) == ("ab" * 16, "ok")


def test_the_mailer_sends_through_the_file_backend_and_the_link_confirms(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    tokens = ConfirmTokens(SECRET)
    mailer = ConfirmationMailer(settings, tokens)
    with Ledger(ledger_path(settings)) as ledger:
        _sign_up(settings, ledger, "ann@example.org")
        done = mailer.run_once(ledger)
        assert (done.sent, _queued(ledger)) == (1, 0)
        eml = tmp_path / "outbox" / "digest-confirm" / "ann@example.org.eml"
        msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        assert msg["Subject"] == "Confirm your subscription to digest"
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        link = re.search(r"https://example\.org/confirm/(\S+)", text)
        assert link and link.group(0) in html
        assert Subscribers(ledger).get("ann@example.org").status == "pending"  # type: ignore[union-attr]
        who, why = confirm(ledger, tokens, Hasher(SECRET), link.group(1))
        assert who is not None and who.status == "active" and why == "ok"
        assert confirm(ledger, tokens, Hasher(SECRET), link.group(1)) == (None, "used")


def test_a_confirmation_mail_in_the_outbox_is_owner_only(tmp_path: Path, umask_022: None) -> None:
    """It names the person who signed up."""
    settings = _settings(tmp_path)
    mailer = ConfirmationMailer(settings, ConfirmTokens(SECRET))
    with Ledger(ledger_path(settings)) as ledger:
        _sign_up(settings, ledger, "ann@example.org")
        assert mailer.run_once(ledger).sent == 1
    eml = tmp_path / "outbox" / "digest-confirm" / "ann@example.org.eml"
    assert eml.stat().st_mode & 0o777 == 0o600


class _Flaky(FileProvider):
    """The file backend, failing (retryably) its first ``fails`` calls."""

    fails = 2

    def deliver(self, batch: Batch) -> list[RecipientResult]:
        if self.fails:
            self.fails -= 1
            return [
                RecipientResult(r.email, False, error="busy", retryable=True)
                for r in batch.recipients
            ]
        return super().deliver(batch)


def test_a_failing_provider_is_retried_later_and_never_blocks_the_sign_up(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    clock = [1_000_000.0]
    provider = _Flaky(settings)
    mailer = ConfirmationMailer(
        settings, ConfirmTokens(SECRET), provider=provider, clock=lambda: clock[0]
    )
    with Ledger(ledger_path(settings)) as ledger:
        _sign_up(settings, ledger, "ann@example.org")
        ledger.db.execute("UPDATE subscriber_mails SET next_at = ?", (clock[0],))
        assert mailer.run_once(ledger).retried == 1
        assert mailer.run_once(ledger).sent == 0  # not due yet
        clock[0] += 31
        assert mailer.run_once(ledger).retried == 1
        clock[0] += 61
        assert mailer.run_once(ledger).sent == 1
    assert (tmp_path / "outbox" / "digest-confirm" / "ann@example.org.eml").is_file()


def test_without_a_confirm_url_or_unsubscribe_link_serve_says_what_to_set(tmp_path: Path) -> None:
    config = write_config(tmp_path, unsubscribe=False)
    settings = settings_for(config)
    with pytest.raises(ConfigError, match=r"\[subscribe\] confirm_url"):
        ConfirmationMailer(settings, ConfirmTokens(SECRET))


def test_two_workers_sharing_the_ledger_send_each_mail_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    counted: list[str] = []

    class _Counting(FileProvider):
        def deliver(self, batch: Batch) -> list[RecipientResult]:
            counted.extend(r.email for r in batch.recipients)
            return super().deliver(batch)

    mailers = [
        ConfirmationMailer(settings, ConfirmTokens(SECRET), provider=_Counting(settings))
        for _ in range(2)
    ]
    with Ledger(ledger_path(settings)) as ledger:
        for i in range(6):
            _sign_up(settings, ledger, f"r{i}@example.org", ip=f"192.0.2.{i}")

    def work(mailer: ConfirmationMailer) -> None:
        with Ledger(ledger_path(settings)) as own:
            mailer.run_once(own)

    threads = [threading.Thread(target=work, args=(m,)) for m in mailers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(counted) == sorted(f"r{i}@example.org" for i in range(6))


def test_the_mail_is_rendered_once_per_language_from_its_own_templates(tmp_path: Path) -> None:
    mine = tmp_path / "my-templates" / "subscribe"
    mine.mkdir(parents=True)
    (mine / "confirm.de.txt.j2").write_text(
        '{% set subject = "Bitte bestätigen: " ~ newsletter %}'
        "Bitte bestätigen: {{ confirm_url }}\n",
        encoding="utf-8",
    )
    (mine / "confirm.de.html.j2").write_text(
        '<p><a href="{{ confirm_url }}">Bestätigen</a></p>\n', encoding="utf-8"
    )
    settings = _settings(tmp_path, languages=["en", "de"])
    settings = settings.model_copy(
        update={"templates": settings.templates.model_copy(update={"dir": Path("my-templates")})}
    )
    mailer = ConfirmationMailer(settings, ConfirmTokens(SECRET))
    german = mailer.content("de")
    assert mailer.content("de") is german  # rendered once, kept
    assert german.subject == "Bitte bestätigen: digest"
    assert mailer.content("en").subject == "Confirm your subscription to digest"
    with Ledger(ledger_path(settings)) as ledger:
        sign_up(
            settings,
            ledger,
            Hasher(SECRET),
            email="jan@example.org",
            name="",
            lang="de",
            client_ip="192.0.2.1",
            source="form",
            consent_text="Ja",
        )
        assert mailer.run_once(ledger).sent == 1
    eml = (tmp_path / "outbox" / "digest-confirm" / "jan@example.org.eml").read_bytes()
    msg = email.message_from_bytes(eml, policy=email.policy.default)
    assert "Bitte" in str(msg["Subject"])
    body = msg.get_body(("plain",))
    assert body is not None and "https://example.org/confirm/" in body.get_content()
