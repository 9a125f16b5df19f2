"""Choosing a provider by configuration alone, and what goes wrong with a bad choice."""

from __future__ import annotations

import pytest

from digest.config import Settings
from digest.delivery.base import available_providers, get_provider, load_provider_class
from digest.errors import ConfigError

EXPECTED = {
    "file",
    "console",
    "smtp",
    "postmark",
    "sendgrid",
    "mailgun",
    "resend",
    "brevo",
    "mailjet",
    "ses",
}


def _settings(**delivery: object) -> Settings:
    environ = {"POSTMARK_SERVER_TOKEN": "server-token-for-tests"}
    return Settings.model_validate({"delivery": delivery, "environ": environ})


def test_every_builtin_provider_loads_by_name() -> None:
    assert set(available_providers()) >= EXPECTED
    for name in EXPECTED:
        assert load_provider_class(name).name == name


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"Unknown provider 'postmrk'.*Known: .*postmark"):
        get_provider(_settings(provider="postmrk"))


def test_default_provider_is_the_local_file_backend() -> None:
    assert get_provider(_settings()).name == "file"


def test_batch_size_setting_caps_the_provider_limit() -> None:
    cls = load_provider_class("postmark")
    assert cls(_settings(provider="postmark")).batch_size() == cls.max_batch == 500
    assert cls(_settings(provider="postmark", batch_size=50)).batch_size() == 50
    assert cls(_settings(provider="postmark", batch_size=5000)).batch_size() == 500


def test_unknown_provider_option_names_the_section() -> None:
    settings = Settings.model_validate(
        {
            "delivery": {"provider": "postmark"},
            "providers": {"postmark": {"strem": "x"}},
            "environ": {},
        }
    )
    with pytest.raises(ConfigError, match=r"\[providers.postmark\].*strem"):
        get_provider(settings)
