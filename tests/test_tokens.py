"""Unsubscribe tokens: opaque, bound to one newsletter, surviving a secret's rotation.

Old-format tokens are made here from digest 0.1's documented algorithm (base64url address,
".", base64url HMAC-SHA256 over "digest-unsubscribe:" + address), never with digest's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from pathlib import Path
from urllib.parse import quote

import pytest

from digest.config import Secret, Settings
from digest.errors import ConfigError
from digest.sending.tokens import (
    Signer,
    make_token,
    secret_from_settings,
    verifier_from_settings,
    verify,
)

SECRET = "s3cret-for-tests-0123456789"
LIST = "weekly.example.org"


def legacy_token(email: str, secret: str) -> str:
    """A digest 0.1 token, from its documented algorithm."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    mac = hmac.new(secret.encode(), b"digest-unsubscribe:" + email.encode(), hashlib.sha256)
    return f"{b64(email.encode())}.{b64(mac.digest())}"


def encodings(email: str) -> list[str]:
    """Ways an address could hide in a URL-safe string."""
    raw = email.encode()
    forms = [
        email,
        quote(email, safe=""),
        raw.hex(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b32encode(raw).decode().rstrip("="),
    ]
    # base64 of the address at each of the three byte offsets inside a longer blob
    for shift in (1, 2):
        forms.append(base64.urlsafe_b64encode(b"\0" * shift + raw).decode()[4:-4])
    return [f.lower() for f in forms]


def test_good_token_verifies_to_its_address() -> None:
    token = make_token("Ann.Lee@example.org", SECRET, LIST)
    assert verify(token, SECRET, LIST) == "Ann.Lee@example.org"


def test_internationalised_address_round_trips_through_a_url_safe_token() -> None:
    token = make_token("josé@exämple.org", Secret("DIGEST_SECRET", SECRET), LIST)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert verify(token, Secret("DIGEST_SECRET", SECRET), LIST) == "josé@exämple.org"


@pytest.mark.parametrize("email", ["ann@example.org", "Ann.Lee+news@example.org", "jo@ex.io"])
def test_the_address_is_not_in_the_token_in_any_encoding(email: str) -> None:
    token = make_token(email, SECRET, LIST).lower()
    for form in encodings(email):
        assert form not in token, form
    for part in (email.split("@")[0], email.split("@")[1]):
        assert part.lower() not in token


def test_tokens_of_addresses_of_similar_length_have_the_same_length() -> None:
    a = make_token("a@example.org", SECRET, LIST)
    b = make_token("bobby.tables@example.org", SECRET, LIST)
    assert len(a) == len(b)


def test_a_token_of_newsletter_a_fails_for_newsletter_b_with_the_same_secret() -> None:
    token = make_token("ann@example.org", SECRET, "a.example.org")
    assert verify(token, SECRET, "a.example.org") == "ann@example.org"
    assert verify(token, SECRET, "b.example.org") is None


def test_old_links_verify_after_a_rotation_with_the_previous_secret() -> None:
    old_secret, new_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    old_link = make_token("ann@example.org", old_secret, LIST)
    new_link = make_token("bob@example.org", new_secret, LIST)
    assert verify(old_link, new_secret, LIST) is None
    assert verify(old_link, new_secret, LIST, previous=[old_secret]) == "ann@example.org"
    assert verify(new_link, new_secret, LIST, previous=[old_secret]) == "bob@example.org"


def test_previous_secrets_come_from_the_environment_separated_by_commas_or_spaces() -> None:
    first, second, current = (secrets.token_urlsafe(32) for _ in range(3))
    env = {"DIGEST_SECRET": current, "DIGEST_SECRET_PREVIOUS": f"{first}, {second}"}
    settings = Settings.model_validate({"newsletter": {"id": LIST}, "environ": env})
    verifier = verifier_from_settings(settings)
    assert verifier is not None
    for old in (first, second, current):
        assert verifier.verify(make_token("ann@example.org", old, LIST)) == "ann@example.org"
    assert first not in repr(verifier) and current not in repr(verifier)


def test_the_previous_token_format_still_verifies_and_can_be_turned_off() -> None:
    old = legacy_token("ann@example.org", SECRET)
    assert verify(old, SECRET, LIST) == "ann@example.org"
    assert verify(old, "another-secret-entirely-123", LIST, previous=[SECRET]) == "ann@example.org"
    assert verify(old, SECRET, LIST, legacy=False) is None
    assert (
        verify(legacy_token("ann@example.org", "another-secret-entirely-123"), SECRET, LIST) is None
    )


@pytest.mark.parametrize("where", [0, 3, 10, -1])
def test_a_token_changed_anywhere_fails(where: str) -> None:
    token = make_token("ann@example.org", SECRET, LIST)
    i = int(where) % len(token)
    changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    assert verify(changed, SECRET, LIST) is None


def test_token_from_another_secret_fails() -> None:
    token = make_token("ann@example.org", "another-secret-entirely-123", LIST)
    assert verify(token, SECRET, LIST) is None


@pytest.mark.parametrize(
    "junk", ["", ".", "abc", "a.b.c", "!!!.???", "YW5u.", ".c2ln", "A" * 5000, "Ag", "é"]
)
def test_malformed_token_fails_without_raising(junk: str) -> None:
    assert verify(junk, SECRET, LIST) is None


def test_tokens_are_stable_so_a_reader_gets_the_same_link_in_every_issue() -> None:
    assert make_token("ann@example.org", SECRET, LIST) == make_token(
        "ann@example.org", SECRET, LIST
    )


def test_short_secret_is_refused_with_a_hint() -> None:
    settings = Settings.model_validate({"environ": {"DIGEST_SECRET": "short"}})
    with pytest.raises(ConfigError, match="DIGEST_SECRET is shorter"):
        secret_from_settings(settings)


@pytest.mark.parametrize(
    "weak",
    [
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "passwordpassword",
        "abcdabcdabcdabcdabcd",
        "1234567890123456",
    ],
)
def test_long_but_weak_secrets_are_refused(weak: str) -> None:
    settings = Settings.model_validate({"environ": {"DIGEST_SECRET": weak}})
    with pytest.raises(ConfigError, match="too easy to guess") as err:
        secret_from_settings(settings)
    assert weak not in str(err.value)


def test_a_random_secret_is_accepted() -> None:
    value = secrets.token_urlsafe(32)
    settings = Settings.model_validate({"environ": {"DIGEST_SECRET": value}})
    secret = secret_from_settings(settings)
    assert secret is not None and secret.reveal() == value


def test_secret_never_shows_in_the_error() -> None:
    settings = Settings.model_validate({"environ": {"DIGEST_SECRET": "tiny-secret"}})
    with pytest.raises(ConfigError) as err:
        secret_from_settings(settings)
    assert "tiny-secret" not in str(err.value)


def test_a_signer_made_once_signs_like_make_token_and_never_shows_its_secret() -> None:
    """The send prepares the key once per issue; the tokens must not change for that."""
    secret = "signer-secret-0123456789"
    signer = Signer(secret, LIST)
    for address in ("ann@example.org", "jo@exämple.org"):
        assert signer.token(address) == make_token(address, secret, LIST)
        assert verify(signer.token(address), secret, LIST) == address
    assert secret not in repr(signer)


def test_email_in_the_link_template_is_deprecated_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from digest.sending.personalise import Personaliser
    from digest.web import make_web_app

    settings = Settings.model_validate(
        {
            "links": {"unsubscribe_url": "https://example.org/u/{email}/{token}"},
            "sending": {"ledger": str(tmp_path / "ledger.sqlite3")},
            "environ": {"DIGEST_SECRET": SECRET},
        }
    )
    with caplog.at_level(logging.WARNING):
        Personaliser(settings, "issue-1", "news@example.org")
        make_web_app(settings, tmp_path)
    warnings = [r for r in caplog.records if "uses {email}, which is deprecated" in r.getMessage()]
    assert [r.name for r in warnings] == ["digest.sending", "digest.web"]
