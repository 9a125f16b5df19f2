"""Shared fixtures: the repository's sample issue, rendered once per test session.

Also the hypothesis profiles (docs/testing.md): ``ci`` when ``CI`` is set (a few thousand
examples in all, derandomised, no example database), ``dev`` otherwise (quick), ``long`` for
a thorough local run (``DIGEST_HYPOTHESIS_PROFILE=long``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from tests.paths import ROOT, SAMPLE_ISSUE

from digest.config import Settings, load_settings
from digest.render import Rendered, render_issue
from digest.sources import load_issue

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
hypothesis_settings.register_profile(
    "ci",
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
hypothesis_settings.register_profile(
    "dev", max_examples=150, deadline=None, suppress_health_check=_SLOW_OK
)
hypothesis_settings.register_profile(
    "long", max_examples=10_000, deadline=None, suppress_health_check=_SLOW_OK
)
hypothesis_settings.load_profile(
    os.environ.get("DIGEST_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(scope="session")
def sample_settings() -> Settings:
    """The repository's digest.toml, with an empty environment."""
    return load_settings(ROOT / "digest.toml", environ={})


@pytest.fixture(scope="session")
def sample_rendered(sample_settings: Settings) -> Rendered:
    return render_issue(load_issue(SAMPLE_ISSUE), sample_settings)


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        return p

    return _write


@pytest.fixture
def umask_022():  # type: ignore[no-untyped-def]
    """The usual umask, so a file created without an explicit mode would be 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)
