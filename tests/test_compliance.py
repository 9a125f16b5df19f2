"""The bulk-sender rules a real send must meet: one function, errors or warnings by backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.send_support import SECRET, write_config

from digest.config import load_settings
from digest.errors import CheckFailedError, ConfigError
from digest.sending.compliance import compliance_findings, require_compliance


def _settings(tmp_path: Path, *, unsubscribe: bool = True, postal: bool = True, **env: str):
    config = write_config(tmp_path, unsubscribe=unsubscribe)
    if not postal:
        text = config.read_text().replace('postal_address = "1 Example Street, Springfield"\n', "")
        config.write_text(text)
    return load_settings(config, environ=env)


def test_a_complete_config_has_no_findings(tmp_path):
    assert compliance_findings(_settings(tmp_path, DIGEST_SECRET=SECRET), "postmark") == []


def test_missing_unsubscribe_url_and_postal_address_are_errors_for_a_real_provider(tmp_path):
    found = compliance_findings(_settings(tmp_path, unsubscribe=False, postal=False), "postmark")
    assert [(f.severity, f.code) for f in found] == [
        ("error", "no-unsubscribe-url"),
        ("error", "no-postal-address"),
    ]
    assert all(f.fix for f in found)
    with pytest.raises(CheckFailedError, match=r"postal_address") as info:
        require_compliance(_settings(tmp_path, unsubscribe=False, postal=False), "smtp")
    assert info.value.exit_code == 6


@pytest.mark.parametrize("provider", ["file", "console"])
def test_local_backends_get_the_same_findings_as_warnings(tmp_path, provider):
    settings = _settings(tmp_path, unsubscribe=False, postal=False)
    found = require_compliance(settings, provider)
    assert {f.code for f in found} == {"no-unsubscribe-url", "no-postal-address"}
    assert {f.severity for f in found} == {"warning"}


def test_a_token_link_without_the_secret_is_an_error(tmp_path):
    found = compliance_findings(_settings(tmp_path), "resend")
    assert [f.code for f in found] == ["no-secret"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://news.example.org/u/", "has no {token}"),
        ("https://news.example.org/u/{email}", "has no {token}"),
        ("http://news.example.org/u/{token}", "https"),
    ],
)
def test_an_unsubscribe_url_that_cannot_identify_or_is_not_https_is_a_config_error(
    tmp_path, url, words
):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("https://example.org/u/{token}", url))
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={})
    assert words in str(info.value) and "unsubscribe_url" in str(info.value)
