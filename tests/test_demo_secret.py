"""scripts/demo runs with no secret set: it makes a random one once, keeps it, git-ignores it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.paths import ROOT

from digest.config import Settings
from digest.sending.tokens import secret_from_settings


def test_the_demo_makes_a_strong_secret_once_and_keeps_it_out_of_git(tmp_path: Path) -> None:
    """The demo's secret block, run in a copy with a stand-in for the rest of the script."""
    script = (ROOT / "scripts" / "demo").read_text(encoding="utf-8")
    start = script.index('if [[ -z "${DIGEST_SECRET:-}" ]]')
    end = script.index("export DIGEST_SECRET") + len("export DIGEST_SECRET")
    block = script[start:end]
    probe = tmp_path / "probe.sh"
    probe.write_text(f'set -euo pipefail\nPYTHON=python3\n{block}\necho "$DIGEST_SECRET"\n')
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_SECRET"}
    bash = shutil.which("bash") or "bash"
    first = subprocess.run(
        [bash, str(probe)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    again = subprocess.run(
        [bash, str(probe)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    secret = first.stdout.strip()
    assert secret and again.stdout.strip() == secret
    assert (tmp_path / ".digest-secret").read_text().strip() == secret
    assert (tmp_path / ".digest-secret").stat().st_mode & 0o077 == 0
    checked = secret_from_settings(Settings.model_validate({"environ": {"DIGEST_SECRET": secret}}))
    assert checked is not None
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".digest-secret"], cwd=ROOT, capture_output=True
    )
    assert ignored.returncode == 0
