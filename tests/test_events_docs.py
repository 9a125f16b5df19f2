"""docs/events.md says what the code does: its tables are the tested catalogue, its numbers
the code's."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from tests.event_samples import SAMPLES
from tests.events_wire import Wire
from tests.paths import ROOT
from tests.test_events_catalog import wire_site
from tests.test_web_app import Site

from digest.config import load_settings
from digest.events import EventKind, TrackingEvent
from digest.sending.event_log import NONCE_WINDOW, record_request
from digest.sending.ledger import Ledger
from digest.web.webhooks import body_cap

__all__ = ["wire_site"]

DOC = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
TITLES = {
    "Postmark": "postmark",
    "SendGrid": "sendgrid",
    "Mailgun": "mailgun",
    "Resend": "resend",
    "Brevo": "brevo",
    "Mailjet": "mailjet",
    "Amazon SES": "ses",
}


def documented_rows() -> set[tuple[str, str, str, str | None, str]]:
    rows = set()
    for section in DOC.split("\n#### ")[1:]:
        title, _, body = section.partition("\n")
        for line in body.splitlines():
            m = re.fullmatch(r"\| `([^`]+)` \| (\w+) \| (\w+|—) \| (\w+) \|", line)
            if m:
                suppression = None if m[3] == "—" else m[3]
                rows.add((TITLES[title], m[1], m[2], suppression, m[4]))
    return rows


def test_the_mapping_tables_are_exactly_the_tested_samples() -> None:
    tested = {(s.provider, s.name, s.kind, s.suppression, s.state) for s in SAMPLES}
    assert documented_rows() == tested


def test_the_documented_body_caps_are_the_codes(tmp_path: Path) -> None:
    (tmp_path / "digest.toml").write_text("", encoding="utf-8")
    settings = load_settings(tmp_path / "digest.toml", environ={})
    mb = 1024 * 1024
    assert "Postmark 32 MB" in DOC and body_cap(settings, "postmark") == 32 * mb
    assert "Mailjet 8 MB" in DOC and body_cap(settings, "mailjet") == 8 * mb
    assert "Brevo 2 MB" in DOC and body_cap(settings, "brevo") == 2 * mb
    for provider in ("mailgun", "ses", "resend", "sendgrid"):
        assert body_cap(settings, provider) <= settings.serve.max_webhook_body
    assert "docs/events.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_malformed_body_answer_names_the_field_but_not_its_value(
    wire_site: tuple[Site, Wire],
) -> None:
    _site, wire = wire_site
    payload = {"RecordType": "Bounce", "Type": ["HardBounce"], "Email": "secret@example.org"}
    response = wire.post("postmark", payload)
    assert response.status_code == 400
    assert "Type" in response.text
    assert "secret@example.org" not in response.text
    assert httpx.post(wire.url + "/webhooks/postmark", content=b"").status_code == 401


def test_one_time_ids_are_kept_three_days_and_purging_keeps_suppressions(tmp_path: Path) -> None:
    bounce = TrackingEvent(
        "brevo", EventKind.HARD_BOUNCE, "hard_bounce", ("<m1@x>",), address="ann@example.org"
    )
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        ledger.start_issue("i1", "h", "s")
        ledger.add_recipients("i1", [("ann@example.org", "", {}, None)])
        batch = ledger.plan_batch("i1", "h", 10)
        assert batch is not None
        from digest.sending.ledger import Outcome

        ledger.record_results(
            batch, [Outcome(m.id, True, "<m1@x>", None, False) for m in ledger.members(batch)]
        )
        t0 = 1_800_000_000.0
        first = record_request(ledger, "resend", [bounce], nonce="msg_1", now=t0)
        assert (first.recorded, first.suppressed, first.replay) == (1, 1, False)
        later = record_request(ledger, "resend", [], nonce="msg_1", now=t0 + NONCE_WINDOW - 60)
        assert later.replay
        assert NONCE_WINDOW == 3 * 86400 and "3 days" in DOC
        purged = record_request(
            ledger, "resend", [], nonce="msg_1", now=t0 + 400 * 86400, retention_days=180
        )
        assert not purged.replay
        assert ledger.db.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)
        assert ledger.is_suppressed("ann@example.org") == "bounced"
