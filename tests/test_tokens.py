"""Unsubscribe tokens: only the holder of DIGEST_SECRET can make one that verifies."""

from __future__ import annotations

import pytest

from digest.config import Secret, Settings
from digest.errors import ConfigError
from digest.sending.tokens import Signer, make_token, secret_from_settings, verify

SECRET = "s3cret-for-tests-0123456789"


def test_good_token_verifies_to_its_address():
    token = make_token("Ann.Lee@example.org", SECRET)
    assert verify(token, SECRET) == "Ann.Lee@example.org"


def test_internationalised_address_round_trips_through_a_url_safe_token():
    token = make_token("josé@exämple.org", Secret("DIGEST_SECRET", SECRET))
    assert all(c.isalnum() or c in "-_." for c in token)
    assert verify(token, Secret("DIGEST_SECRET", SECRET)) == "josé@exämple.org"


def _flip(ch: str) -> str:
    return "B" if ch == "A" else "A"


@pytest.mark.parametrize("where", ["signature start", "signature end", "address"])
def test_tampered_token_fails(where: str):
    token = make_token("ann@example.org", SECRET)
    body, sig = token.split(".")
    if where == "signature start":
        token = f"{body}.{_flip(sig[0])}{sig[1:]}"
    elif where == "signature end":
        token = f"{body}.{sig[:-2]}{_flip(sig[-2])}{sig[-1]}"
    else:
        other = make_token("bob@example.org", SECRET).split(".")[0]
        token = f"{other}.{sig}"
    assert verify(token, SECRET) is None


def test_token_from_another_secret_fails():
    token = make_token("ann@example.org", "another-secret-entirely-123")
    assert verify(token, SECRET) is None


@pytest.mark.parametrize("junk", ["", ".", "abc", "a.b.c", "!!!.???", "YW5u.", ".c2ln"])
def test_malformed_token_fails_without_raising(junk: str):
    assert verify(junk, SECRET) is None


def test_tokens_are_stable_so_old_links_keep_working():
    assert make_token("ann@example.org", SECRET) == make_token("ann@example.org", SECRET)


def test_short_secret_is_refused_with_a_hint():
    settings = Settings.model_validate({"environ": {"DIGEST_SECRET": "short"}})
    with pytest.raises(ConfigError, match="DIGEST_SECRET is shorter"):
        secret_from_settings(settings)


def test_secret_never_shows_in_the_error():
    settings = Settings.model_validate({"environ": {"DIGEST_SECRET": "tiny-secret"}})
    with pytest.raises(ConfigError) as err:
        secret_from_settings(settings)
    assert "tiny-secret" not in str(err.value)


def test_a_signer_made_once_signs_like_make_token_and_never_shows_its_secret():
    """The send prepares the key once per issue; the tokens must not change for that."""
    secret = "signer-secret-0123456789"
    signer = Signer(secret)
    for address in ("ann@example.org", "jo@exämple.org"):
        assert signer.token(address) == make_token(address, secret)
        assert verify(signer.token(address), secret) == address
    assert secret not in repr(signer)
