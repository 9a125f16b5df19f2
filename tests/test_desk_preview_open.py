"""``digest preview --open`` as the editor runs it: the real server process hands its own
address to the browser (``$BROWSER``, as Python's ``webbrowser`` reads it: here a script
that writes down what it was given), and that address serves the preview."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import httpx
from tests.paths import ROOT, SAMPLE_ISSUE
from tests.send_support import cli_env, start_digest

OPENER = """\
import sys
from pathlib import Path
Path(sys.argv[1]).write_text(sys.argv[2], encoding="utf-8")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_preview_open_hands_the_browser_the_address_that_serves_the_preview(
    tmp_path: Path,
) -> None:
    opener, opened = tmp_path / "opener.py", tmp_path / "opened.txt"
    opener.write_text(OPENER, encoding="utf-8")
    port = _free_port()
    env = cli_env(BROWSER=f"{sys.executable} {opener} {opened} %s")
    process = start_digest(
        "preview", SAMPLE_ISSUE, "--open", "--port", str(port),
        "--config", ROOT / "digest.toml", cwd=tmp_path, env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not opened.exists() and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.05)
        url = opened.read_text(encoding="utf-8")
        assert url == f"http://127.0.0.1:{port}/"
        page = None
        while time.monotonic() < deadline:
            try:
                page = httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert page is not None and page.status_code == 200
        assert '<iframe id="desktop"' in page.text
        email = httpx.get(url + "email.html", timeout=5)
        assert email.status_code == 200 and "Free Mumia Abu-Jamal!" in email.text
    finally:
        process.terminate()
        process.wait(10)
