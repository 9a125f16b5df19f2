"""Shared fixtures: the repository's sample issue, rendered once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.paths import ROOT, SAMPLE_ISSUE

from digest.config import Settings, load_settings
from digest.render import Rendered, render_issue
from digest.sources import load_issue


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
