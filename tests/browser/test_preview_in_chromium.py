"""``digest preview`` as the real server process, in real headless Chromium: four panes,
a phone pane without horizontal scroll, a dark pane whose email sees dark mode, live
updates on edit without a reload, and a broken edit shown above the last good render."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Frame, Page

from .conftest import REPO

pytestmark = pytest.mark.browser

CONFIG = """\
[newsletter]
name = "The Weekly"
from = "The Weekly <weekly@weekly.news>"
postal_address = "1 Main Street, Springfield"
[links]
unsubscribe_url = "https://weekly.news/u/{token}"
[templates]
dir = "tpl"
"""

ISSUE = """\
# the editor's working copy
number: 9
date: 2026-12-04
preheader: A week of walkouts and wins, from the harbour to the hospital wards.
intro: |
  This week: dockers stop the cranes and **nurses win**.
articles:
  - headline: Dockers Walk Out Over Automation Plans
    summary: Port workers stopped the cranes on Monday and said they would not return
      until the plan was withdrawn.
    url: https://harbour.news/dockers
    section: Labour
    lead: true
  - headline: Nurses Win Pay Deal After Three-Week Strike
    summary: The union accepted an offer worth 9 per cent over two years.
    url: https://health.news/nurses
    section: Health
  - headline: Rent Strike Spreads
    summary: Tenants in four more buildings joined the rent strike this week.
    section: Housing
"""


@dataclass
class Preview:
    url: str
    issue: Path
    process: subprocess.Popen[str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def preview(tmp_path: Path) -> Iterator[Preview]:
    (tmp_path / "digest.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "tpl").mkdir()
    shutil.copyfile(REPO / "templates" / "email.txt.j2", tmp_path / "tpl" / "email.txt.j2")
    issue = tmp_path / "issues" / "2026-12-04-009.yaml"
    issue.parent.mkdir()
    issue.write_text(ISSUE, encoding="utf-8")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["PYTHONPATH"] = str(REPO / "src")
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "preview", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "state.json", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            out = process.stdout.read() if process.stdout else ""
            pytest.fail(f"digest preview did not start: {out}")
        time.sleep(0.1)
    try:
        yield Preview(url, issue, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _frame(page: Page, pane: str) -> Frame:
    frame = page.frame_locator(f"#{pane}").locator("body").element_handle().owner_frame()
    assert frame is not None
    return frame


def _wait_for_panes(page: Page, text: str) -> None:
    page.wait_for_function(
        """(text) => ["desktop", "phone", "dark"].every((id) => {
            const doc = document.getElementById(id).contentDocument;
            return doc && doc.readyState === "complete" && doc.body
                && doc.body.innerText.includes(text);
        }) && document.getElementById("text").textContent.includes(text)""",
        arg=text,
        timeout=20_000,
    )


def test_preview_shows_four_panes_live_dark_and_errors(
    preview: Preview, browser_page: Page
) -> None:
    page = browser_page
    # No emulated colour scheme (Playwright emulates "light" by default, and an emulated
    # preference applies to every frame): each frame then sees what Chromium derives from
    # its embedding element's color-scheme, as in a mail client's dark mode.
    page.emulate_media(color_scheme="null")
    page.set_viewport_size({"width": 2360, "height": 1000})  # all four panes
    page.goto(preview.url)
    _wait_for_panes(page, "Dockers Walk Out Over Automation Plans")

    # the header: subject, preheader and the check's findings (the draft has an unlinked article)
    assert page.inner_text("#subject") == "Dockers Walk Out Over Automation Plans"
    assert page.inner_text("#preheader").startswith("A week of walkouts")
    assert "no-link" not in page.inner_text("#findings")  # messages, not codes
    assert "has no link" in page.inner_text("#findings")
    assert page.inner_text("#text").count("Rent Strike Spreads") == 1

    # four panes at their widths
    widths = page.evaluate(
        """["desktop", "phone", "dark"].map((id) => document.getElementById(id).clientWidth)"""
    )
    assert widths == [600, 375, 600]  # the email's own viewport widths

    # the phone pane: no horizontal scroll inside the email
    phone = _frame(page, "phone")
    assert phone.evaluate("document.documentElement.clientWidth") == 375
    assert phone.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )

    # the dark pane's email itself sees prefers-color-scheme: dark; the light one does not
    light, dark = _frame(page, "desktop"), _frame(page, "dark")
    query = "matchMedia('(prefers-color-scheme: dark)').matches"
    assert light.evaluate(query) is False
    assert dark.evaluate(query) is True
    colours = """() => {
        const surface = document.querySelector('.dg-surface td') || document.body;
        const text = document.querySelector('.dg-summary p') || document.body;
        return [getComputedStyle(surface).backgroundColor, getComputedStyle(text).color];
    }"""
    light_colours, dark_colours = light.evaluate(colours), dark.evaluate(colours)
    assert light_colours[0] != dark_colours[0] and light_colours[1] != dark_colours[1]

    shot = preview.issue.parent / "preview.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    if os.environ.get("DIGEST_UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, REPO / "docs" / "preview.png")

    # an edit shows up by itself, without a reload
    page.evaluate("window.__same_page = true")
    text = preview.issue.read_text(encoding="utf-8")
    preview.issue.write_text(
        text.replace(
            "Dockers Walk Out Over Automation Plans", "Dockers Win as Automation Is Shelved"
        ),
        encoding="utf-8",
    )
    _wait_for_panes(page, "Dockers Win as Automation Is Shelved")
    assert page.evaluate("window.__same_page") is True
    assert page.inner_text("#subject") == "Dockers Win as Automation Is Shelved"

    # so does a change to the config, and to a template in [templates] dir
    config = preview.issue.parent.parent / "digest.toml"
    config.write_text(CONFIG.replace('"The Weekly"', '"The Harbour Weekly"'), encoding="utf-8")
    _wait_for_panes(page, "The Harbour Weekly")
    template = preview.issue.parent.parent / "tpl" / "email.txt.j2"
    template.write_text(
        template.read_text(encoding="utf-8") + "Edited in the template.\n", encoding="utf-8"
    )
    page.wait_for_function(
        "document.getElementById('text').textContent.includes('Edited in the template.')",
        timeout=20_000,
    )
    assert page.evaluate("window.__same_page") is True

    # a broken edit: the errors show, above the last good render
    preview.issue.write_text(text.replace("number: 9", "number: nine"), encoding="utf-8")
    page.wait_for_selector("#errors.shown", timeout=20_000)
    assert "number" in page.inner_text("#errors") and "last good" in page.inner_text("#errors")
    assert "Dockers Win as Automation Is Shelved" in _frame(page, "desktop").inner_text("body")
    assert preview.process.poll() is None  # still serving

    # fixed again: the error goes away
    preview.issue.write_text(text, encoding="utf-8")
    page.wait_for_selector("#errors:not(.shown)", state="attached", timeout=20_000)
    _wait_for_panes(page, "Dockers Walk Out Over Automation Plans")
