"""Matching and recording provider events on a real SQLite ledger (no server needed)."""

from __future__ import annotations

from pathlib import Path

from digest.events import EventKind, RejectReason, TrackingEvent
from digest.events.postmark import PostmarkEvent, event_from
from digest.sending.event_log import record_request
from digest.sending.ledger import Ledger, Outcome
from digest.sending.personalise import digest_id_for


def sent(ledger: Ledger, issue: str, ids: dict[str, str]) -> None:
    ledger.start_issue(issue, "h", "s")
    ledger.add_recipients(issue, [(e, "", {}, None) for e in ids])
    batch = ledger.plan_batch(issue, "h", 100)
    assert batch is not None
    ledger.record_results(
        batch, [Outcome(m.id, True, ids[m.email], None, False) for m in ledger.members(batch)]
    )


def states(ledger: Ledger, issue: str) -> dict[str, str]:
    return {e: s for e, s, _ in ledger.recipient_states(issue)}


def test_the_providers_message_id_wins_over_digests_own_id(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        sent(ledger, "week-1", {"ann@example.org": "pm-1"})
        sent(ledger, "week-2", {"ann@example.org": "pm-2"})
        event = TrackingEvent(
            "postmark",
            EventKind.HARD_BOUNCE,
            "Bounce:HardBounce",
            ("pm-1",),
            digest_id=digest_id_for("week-2", "ann@example.org"),
            address="ann@example.org",
        )
        assert record_request(ledger, "postmark", [event]).recorded == 1
        assert states(ledger, "week-1") == {"ann@example.org": "bounced"}
        assert states(ledger, "week-2") == {"ann@example.org": "sent"}


def test_a_batch_id_without_an_address_matches_nobody(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        sent(ledger, "week-1", {"ann@example.org": "<b@mg>", "bob@example.org": "<b@mg>"})
        event = TrackingEvent("mailgun", EventKind.COMPLAINT, "complained", ("<b@mg>",))
        done = record_request(ledger, "mailgun", [event])
        assert (done.matched, done.suppressed) == (0, 0)
        assert ledger.suppression_count() == 0


def test_a_digest_id_for_another_address_matches_nothing(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        sent(ledger, "week-1", {"ann@example.org": "x1", "bob@example.org": "x2"})
        event = TrackingEvent(
            "sendgrid",
            EventKind.HARD_BOUNCE,
            "bounce",
            ("unknown",),
            digest_id=digest_id_for("week-1", "bob@example.org"),
            address="ann@example.org",
        )
        assert record_request(ledger, "sendgrid", [event]).matched == 0
        assert ledger.suppression_count() == 0


def test_a_postmark_soft_bounce_that_deactivated_the_address_is_a_rejection() -> None:
    """Postmark refuses every later send to an ``Inactive`` address: suppress it."""
    event = event_from(
        PostmarkEvent.model_validate(
            {"RecordType": "Bounce", "Type": "SoftBounce", "Inactive": True, "Email": "a@b.org"}
        )
    )
    assert (event.kind, event.reject, event.suppression) == (
        EventKind.REJECTED,
        RejectReason.BOUNCED,
        "bounced",
    )
