"""Helpers for the send tests: a small issue, a digest.toml, a CSV, the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.paths import ROOT

from digest.config import Settings, load_settings

SECRET = "test-secret-0123456789abcdef"


def issue_yaml(number: int = 7, send_at: str | None = None, headline: str = "A story") -> str:
    lines = [f"number: {number}", "date: 2026-11-20"]
    if send_at:
        lines.append(f"send_at: {send_at}")
    lines += [
        "articles:",
        f"- headline: {headline}",
        "  summary: Something happened, @@digest.name|reader@@ should know.",
        "  url: https://example.org/a",
    ]
    return "\n".join(lines) + "\n"


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    folder: Path,
    *,
    provider: str = "file",
    options: Mapping[str, Any] | None = None,
    delivery: Mapping[str, Any] | None = None,
    sending: Mapping[str, Any] | None = None,
    audience: Mapping[str, Any] | None = None,
    unsubscribe: bool = True,
) -> Path:
    parts = [
        "[newsletter]",
        'from = "Example Weekly <news@example.org>"',
        'postal_address = "1 Example Street, Springfield"',
        "[links]",
    ]
    if unsubscribe:
        parts.append('unsubscribe_url = "https://example.org/u/{token}"')
    sections = {
        "delivery": {"provider": provider, **(delivery or {})},
        f"providers.{provider}": dict(options or {"dir": str(folder / "outbox")}),
        "sending": dict(sending or {}),
        "audience": dict(audience or {}),
    }
    for name, values in sections.items():
        parts.append(f"[{name}]")
        parts += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    path = folder / "digest.toml"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, emails: Sequence[str], header: str = "email,name") -> Path:
    rows = [header] + [f"{e},Reader {i}" for i, e in enumerate(emails)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def settings_for(config: Path, **env: str) -> Settings:
    return load_settings(config, environ={"DIGEST_SECRET": SECRET, **env})


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["DIGEST_SECRET"] = SECRET
    env.update(extra)
    return env


def digest_cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "digest", *map(str, args)]


def run_digest(
    *args: str | Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``digest`` in a subprocess; ``stdin`` (a pipe, never a terminal) is its input when given."""
    return subprocess.run(
        digest_cmd(*args),
        cwd=cwd,
        env=dict(env or cli_env()),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )


def start_digest(
    *args: str | Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """``digest`` in the background, its output captured, for tests that signal or kill it."""
    return subprocess.Popen(
        digest_cmd(*args),
        cwd=cwd,
        env=dict(env or cli_env()),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
