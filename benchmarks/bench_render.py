"""How long rendering the sample issue takes in-process, and how long `digest` takes to start.

Run: .venv/bin/python benchmarks/bench_render.py [--repeat N]
Prints cold (first) and warm (median of N) render times, the split between MJML compile and
premailer, the per-recipient fill cost, and start-up times of `digest --help` and
`digest build`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    t0 = time.perf_counter()
    from digest.config import load_settings
    from digest.message import Recipient
    from digest.render import html as html_mod
    from digest.render import render_issue
    from digest.sources import load_issue

    t_import = time.perf_counter() - t0
    settings = load_settings(ROOT / "digest.toml", environ={})
    issue = load_issue(ROOT / "sample_issues" / "issue-12.yaml")

    t0 = time.perf_counter()
    rendered = render_issue(issue, settings)
    cold = time.perf_counter() - t0

    warm = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        render_issue(issue, settings)
        warm.append(time.perf_counter() - t0)

    import digest.render as render_pkg

    spent = {"mjml": 0.0, "premailer": 0.0}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        def wrapper(arg: str) -> str:
            t = time.perf_counter()
            try:
                return fn(arg)  # type: ignore[no-any-return]
            finally:
                spent[name] += time.perf_counter() - t

        return wrapper

    render_pkg.compile_mjml = timed("mjml", html_mod.compile_mjml)  # type: ignore[attr-defined]
    render_pkg.inline_css = timed("premailer", html_mod.inline_css)  # type: ignore[attr-defined]
    for _ in range(args.repeat):
        render_issue(issue, settings)
    compiled_ms = spent["mjml"] / args.repeat
    inlined_ms = spent["premailer"] / args.repeat

    recipients = [
        Recipient(
            f"r{i}@example.org",
            f"Reader {i}",
            {"unsubscribe_url": f"https://example.org/u/{i:032x}"},
        )
        for i in range(10_000)
    ]
    content = rendered.content
    t0 = time.perf_counter()
    for r in recipients:
        content.html_for(r)
        content.text_for(r)
        content.headers_for(r)
    fill = (time.perf_counter() - t0) / len(recipients)

    size_kb = len(rendered.html.encode()) / 1024
    print(f"sample issue: {len(issue.articles)} articles, HTML {size_kb:.1f} KB")
    print(f"import of render path:   {_ms(t_import)}")
    print(f"render, first call:      {_ms(cold)}")
    print(f"render, warm median:     {_ms(statistics.median(warm))} (n={args.repeat})")
    print(f"  of which MJML compile: {_ms(compiled_ms)} (mean)")
    print(f"  of which premailer:    {_ms(inlined_ms)} (mean)")
    print(f"per-recipient fill:      {fill * 1e6:.1f} µs (html + text + headers)")

    exe = [sys.executable, "-m", "digest"]
    for label, argv in (("digest --help", ["--help"]), ("digest build", None)):
        times = []
        for _ in range(5):
            with tempfile.TemporaryDirectory() as tmp:
                cmd = exe + (
                    argv
                    or [
                        "build",
                        str(ROOT / "sample_issues" / "issue-12.yaml"),
                        "--out",
                        tmp,
                        "--config",
                        str(ROOT / "digest.toml"),
                    ]
                )
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                times.append(time.perf_counter() - t0)
        print(f"{label + ':':24} {_ms(statistics.median(times))} median of 5 (whole process)")


if __name__ == "__main__":
    main()
