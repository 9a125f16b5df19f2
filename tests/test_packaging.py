"""`pip install .` into a fresh virtualenv gives a working `digest`: the package, its
dependencies and the built-in templates all come from the wheel, not from this checkout."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = min((REPO / "sample_issues").glob("*.yaml"), default=None)

# Resolving and installing the dependencies from the registry (or pip's cache) takes a
# while on a cold machine; the default 300 s per test is too tight for that.
pytestmark = pytest.mark.timeout(1500)


def isolated_env(venv: Path) -> dict[str, str]:
    """The caller's environment minus anything that would let the checkout leak in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, (
        f"`{' '.join(map(str, args))}` exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


def squash(text: str) -> str:
    return " ".join(html.unescape(text).split())


def test_pip_install_dot_gives_a_digest_that_builds_the_sample_from_another_folder(
    tmp_path: Path,
) -> None:
    assert SAMPLE is not None, "no sample issue in sample_issues/*.yaml"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = isolated_env(venv)
    python = venv / "bin" / "python"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", REPO],
        cwd=elsewhere,
        env=env,
    )

    probe = (
        "import digest, importlib.resources as r, pathlib\n"
        "print(pathlib.Path(digest.__file__).resolve().parent)\n"
        "t = r.files('digest').joinpath('templates')\n"
        "for name in sorted(p.name for p in t.iterdir()) if t.is_dir() else []: print(name)\n"
    )
    where = run([python, "-c", probe], cwd=elsewhere, env=env).splitlines()
    package_dir, shipped = Path(where[0]), set(where[1:])
    assert package_dir.is_relative_to(venv), f"digest imported from {package_dir}"
    in_repo = {p.name for p in (REPO / "templates").iterdir() if p.is_file()}
    assert in_repo, "templates/ is empty"
    assert in_repo <= shipped, f"templates missing from the wheel: {sorted(in_repo - shipped)}"

    out = tmp_path / "out"
    run([venv / "bin" / "digest", "build", SAMPLE, "--out", out], cwd=elsewhere, env=env)

    htmls, texts, emls = (sorted(out.glob(f"*.{ext}")) for ext in ("html", "txt", "eml"))
    assert (len(htmls), len(texts), len(emls)) == (1, 1, 1), sorted(p.name for p in out.iterdir())
    page = htmls[0].read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    headlines = [a["headline"] for a in yaml.safe_load(SAMPLE.read_text("utf-8"))["articles"]]
    assert headlines
    missing = [h for h in headlines if squash(h) not in squash(page)]
    assert missing == [], f"headlines missing from the built HTML: {missing}"
    assert texts[0].read_text(encoding="utf-8").strip()

    message = BytesParser(policy=policy.default).parsebytes(emls[0].read_bytes())
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)) is not None
    assert message.get_body(("html",)) is not None
