"""A reader's unsubscribe outranks a bounce, through the real ``digest serve`` process and
the real ``digest`` command on one folder.

The trial that found it: a hard bounce first, then the reader's one-click unsubscribe was
not recorded, so ``digest suppress --remove`` of the bounce made them mailable again. Each
reason is now its own entry; removing a bounce leaves the opt-out, and the page's undo
takes away only the opt-out and says so when a bounce still stops mail.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.send_support import issue_yaml, run_digest, write_csv
from tests.serve_process import ServeProcess, serve_process
from tests.test_web_webhooks import postmark_bounce

READER = "hans-gerd@example.de"
TOML = """
[newsletter]
name = "Test Weekly"
from = "Test Weekly <weekly@example.org>"
postal_address = "1 Example Street, Springfield"
[links]
unsubscribe_url = "https://example.org/unsubscribe/{token}"
[delivery]
provider = "file"
[providers.file]
dir = "outbox"
[sending]
ledger = "ledger.sqlite3"
"""
HOOKS = {"DIGEST_WEBHOOK_USER": "postmark", "DIGEST_WEBHOOK_PASSWORD": "hook-password-42"}
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@dataclass
class Sent:
    """Issue 12 as the reader got it: the provider's message id and their unsubscribe path."""

    server: ServeProcess
    message_id: str
    unsubscribe_path: str

    @property
    def folder(self) -> Path:
        return self.server.folder

    def bounce(self) -> httpx.Response:
        return httpx.post(
            self.server.url + "/webhooks/postmark",
            json=postmark_bounce(self.message_id, READER),
            auth=("postmark", "hook-password-42"),
        )

    def unsubscribe(self, data: dict[str, str]) -> httpx.Response:
        return httpx.post(self.server.url + self.unsubscribe_path, data=data)

    def entries(self) -> set[tuple[str, str]]:
        """The reader's suppression entries: (reason, source)."""
        db = sqlite3.connect(self.server.ledger_path)
        try:
            return set(
                db.execute("SELECT reason, source FROM suppressions WHERE email = ?", (READER,))
            )
        finally:
            db.close()

    def dry_run_of_issue_13(self) -> str:
        plan = run_digest(
            "send", "issue-13.yaml", "--recipients", "h.csv", "--dry-run", cwd=self.folder
        )
        assert plan.returncode == 0, plan.stdout + plan.stderr
        return plan.stdout


@pytest.fixture
def sent(tmp_path: Path) -> Iterator[Sent]:
    """Issue 12 really sent to the reader (file backend), then ``digest serve`` running."""
    (tmp_path / "digest.toml").write_text(TOML, encoding="utf-8")
    write_csv(tmp_path / "h.csv", [READER])
    for number in (12, 13):
        (tmp_path / f"issue-{number}.yaml").write_text(issue_yaml(number), encoding="utf-8")
    done = run_digest("send", "issue-12.yaml", "--recipients", "h.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (eml,) = (tmp_path / "outbox").rglob("*.eml")
    link = re.search(r"<https://example\.org(/unsubscribe/[^>\s]+)>", eml.read_text())
    assert link, eml.read_text()
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    (message_id,) = db.execute("SELECT message_id FROM recipients").fetchone()
    db.close()
    with serve_process(tmp_path, None, env=HOOKS) as server:
        yield Sent(server, message_id, link.group(1))


def test_an_unsubscribe_after_a_hard_bounce_survives_removing_the_bounce(sent: Sent) -> None:
    """The trial's steps exactly: bounce, one-click, ``suppress --remove``, a dry run."""
    assert sent.bounce().json()["suppressed"] == 1
    clicked = sent.unsubscribe(ONE_CLICK)
    assert (clicked.status_code, clicked.text) == (200, "Unsubscribed.\n")
    assert sent.entries() == {("bounced", "provider:postmark"), ("unsubscribed", "one-click")}

    removed = run_digest("suppress", "--remove", READER, cwd=sent.folder)
    assert removed.returncode == 3, removed.stdout + removed.stderr
    assert f"{READER} stays on the suppression list: the reader unsubscribed" in removed.stderr
    assert "Its bounced entry was removed." in removed.stderr
    assert "Removed" not in removed.stdout
    assert "now holds 1 address." in removed.stdout
    assert sent.entries() == {("unsubscribed", "one-click")}

    plan = sent.dry_run_of_issue_13()
    assert "suppressed       1" in plan and "to send          0" in plan, plan


def test_a_bounce_after_an_unsubscribe_keeps_the_unsubscribe(sent: Sent) -> None:
    assert sent.unsubscribe(ONE_CLICK).status_code == 200
    assert sent.bounce().json()["suppressed"] == 1
    assert sent.entries() == {("bounced", "provider:postmark"), ("unsubscribed", "one-click")}
    removed = run_digest("suppress", "--remove", READER, cwd=sent.folder)
    assert removed.returncode == 3 and "stays on the suppression list" in removed.stderr
    assert sent.entries() == {("unsubscribed", "one-click")}
    plan = sent.dry_run_of_issue_13()
    assert "suppressed       1" in plan and "to send          0" in plan, plan


def test_undo_after_a_bounce_lifts_only_the_unsubscribe_and_says_mail_still_stops(
    sent: Sent,
) -> None:
    assert sent.bounce().status_code == 200
    page = sent.unsubscribe({"confirm": "yes"})
    assert "will get no more issues of Test Weekly" in page.text
    again = httpx.get(sent.server.url + sent.unsubscribe_path)
    assert "is already unsubscribed from Test Weekly" in again.text

    undone = sent.unsubscribe({"undo": "yes"})
    assert undone.status_code == 200
    assert "will keep getting" not in undone.text
    assert (
        "h•••@example.de</span> is no longer unsubscribed, but it will still not get "
        "Test Weekly: earlier mail to this address bounced." in undone.text
    ), undone.text
    assert READER not in undone.text
    assert sent.entries() == {("bounced", "provider:postmark")}
    plan = sent.dry_run_of_issue_13()
    assert "suppressed       1" in plan and "to send          0" in plan, plan
