"""Snapshot tests: the sample issue's HTML and text, compared byte for byte.

The golden files were reviewed by eye. When a template change is deliberate, regenerate them
with ``DIGEST_UPDATE_GOLDEN=1 pytest tests/test_golden.py``, look at the diff, and commit it.
CI only compares: it never regenerates.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.paths import GOLDEN

from digest.render import Rendered


def _check(path: Path, actual: str) -> None:
    if os.environ.get("DIGEST_UPDATE_GOLDEN") and not os.environ.get("CI"):
        path.write_text(actual, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing: create it with DIGEST_UPDATE_GOLDEN=1 and review it")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"{path.name} differs from the rendered sample issue; if the change is deliberate, "
        "regenerate with DIGEST_UPDATE_GOLDEN=1 and review the diff"
    )


def test_sample_issue_html_matches_golden(sample_rendered: Rendered) -> None:
    _check(GOLDEN / "issue-12.html", sample_rendered.preview_html())


def test_sample_issue_text_matches_golden(sample_rendered: Rendered) -> None:
    _check(GOLDEN / "issue-12.txt", sample_rendered.preview_text())
