"""CSS inlining without cssutils' validation profiles writes the same HTML as with them.

digest drops the profiles (``render.html._without_css_validation``) because premailer
validates inline styles even when told not to. Each render runs in its own process, since
the profiles are cssutils' global state.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RENDER = """
import sys
from pathlib import Path
import digest.render.html as html
if sys.argv[1] == "validate":
    html._without_css_validation = lambda: None
import cssutils
from digest.config import Settings
from digest.render import render_issue
from digest.sources import load_issue
out = render_issue(load_issue(Path(sys.argv[2])), Settings()).html
print(len(cssutils.profile.knownNames), file=sys.stderr)
sys.stdout.write(out)
"""


def render(mode: str, issue: Path) -> tuple[str, int]:
    proc = subprocess.run(
        [sys.executable, "-c", RENDER, mode, str(issue)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return proc.stdout, int(proc.stderr.strip().splitlines()[-1])


def test_the_sample_issue_inlines_to_the_same_html_without_validation_profiles() -> None:
    issue = ROOT / "sample_issues" / "issue-12.yaml"
    validated, profiles_on = render("validate", issue)
    fast, profiles_off = render("fast", issue)
    assert profiles_on > 100 and profiles_off == 0  # the two runs differ where they should
    assert 'style="' in fast and fast == validated
