"""Where the repository's sample files are, for every test module."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ISSUE = ROOT / "sample_issues" / "issue-12.yaml"
SEED_LISTING = ROOT / "sample_issues" / "seed-articles.txt"
GOLDEN = Path(__file__).resolve().parent / "golden"
