"""`digest build` end to end: three files and a short report."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.paths import ROOT, SAMPLE_ISSUE

from digest.cli import cli


def test_build_writes_html_text_and_eml_and_reports(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["build", str(SAMPLE_ISSUE), "--out", str(tmp_path), "--config", str(ROOT / "digest.toml")],
    )
    assert result.exit_code == 0, result.output
    html, text, eml = (tmp_path / f"issue-12.{ext}" for ext in ("html", "txt", "eml"))
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert "Free Mumia Abu-Jamal!" in text.read_text(encoding="utf-8")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert "Built issue-12: 12 articles" in result.output
    assert f"{html}  " in result.output and " KB" in result.output


def test_build_warns_near_gmail_clipping(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    articles = "".join(
        f"  - headline: Headline {i}\n    summary: {'Words that fill space. ' * 8}\n"
        f"    url: https://example.org/{i}\n"
        for i in range(90)
    )
    issue = write("big.yaml", f"number: 9\ndate: 2026-11-27\narticles:\n{articles}")
    result = CliRunner().invoke(
        cli,
        ["build", str(issue), "--out", str(tmp_path / "o"), "--config", str(ROOT / "digest.toml")],
    )
    assert result.exit_code == 0
    assert "Gmail" in result.output


def test_build_with_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "build",
            str(SAMPLE_ISSUE),
            "--out",
            str(tmp_path),
            "--config",
            str(tmp_path / "none.toml"),
        ],
    )
    assert result.exit_code == 3
    assert "no such config file" in result.output


def test_bad_config_value_names_the_key(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    cfg = write("digest.toml", '[brand]\naccent = "red"\n[delivery]\nrate = -1\n')
    result = CliRunner().invoke(
        cli, ["build", str(SAMPLE_ISSUE), "--out", str(tmp_path), "--config", str(cfg)]
    )
    assert result.exit_code == 3
    assert "[brand] accent: must be a hex colour" in result.output
    assert "[delivery] rate" in result.output


def test_python_dash_m_digest_runs_without_config(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "build", str(SAMPLE_ISSUE), "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "issue-12.eml").exists()
    assert "No unsubscribe link" in proc.stderr


def test_config_links_must_be_absolute_web_urls(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    cfg = write(
        "digest.toml",
        '[newsletter]\nlogo = "javascript:alert(1)"\n[links]\nunsubscribe_url = "/u/{token}"\n',
    )
    result = CliRunner().invoke(
        cli, ["build", str(SAMPLE_ISSUE), "--out", str(tmp_path), "--config", str(cfg)]
    )
    assert result.exit_code == 3
    assert "[newsletter] logo: must be an absolute http:// or https:// URL" in result.output
    assert "[links] unsubscribe_url" in result.output


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ('utm = { source = "{foo}" }', "[links] utm: uses {foo}; it may use only {slug}"),
        (
            'unsubscribe_url = "https://e.org/u/{date}/{token}"',
            "[links] unsubscribe_url: uses {date}; it may use only {token}, {slug}, {email}",
        ),
        ('view_online_url = "https://e.org/{token}"', "[links] view_online_url: uses {token}"),
    ],
)
def test_url_templates_may_use_only_the_fields_digest_fills(
    tmp_path: Path, write, links: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    cfg = write("digest.toml", f"[links]\n{links}\n")
    result = CliRunner().invoke(
        cli, ["build", str(SAMPLE_ISSUE), "--out", str(tmp_path), "--config", str(cfg)]
    )
    assert result.exit_code == 3
    assert message in result.output and "Traceback" not in result.output


def test_font_stack_that_could_break_out_of_css_is_refused(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    cfg = write("digest.toml", '[brand]\nfont_family = "x;}</style><script>alert(1)</script>"\n')
    result = CliRunner().invoke(
        cli, ["build", str(SAMPLE_ISSUE), "--out", str(tmp_path), "--config", str(cfg)]
    )
    assert result.exit_code == 3
    assert "[brand] font_family: a CSS font stack cannot contain" in result.output


def test_every_listed_command_loads_and_has_help() -> None:
    from digest.cli import COMMANDS

    for name in COMMANDS:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage: " in result.output and name in result.output
