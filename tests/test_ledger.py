"""The SQLite send ledger: dedupe in SQLite, batches recorded before sending, resumable."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from digest.sending.ledger import Ledger, Outcome, batch_key

ISSUE, HASH = "issue-7", "h" * 64


def _ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.start_issue(ISSUE, HASH, "Subject")
    return ledger


def _add(ledger: Ledger, emails: list[str]) -> tuple[int, int]:
    return ledger.add_recipients(ISSUE, ((e, "", {}, i + 2) for i, e in enumerate(emails)))


def test_ledger_file_is_in_wal_mode(tmp_path: Path):
    _ledger(tmp_path).close()
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_addresses_differing_only_in_case_are_one_recipient(tmp_path: Path):
    ledger = _ledger(tmp_path)
    emails = ["Ann@example.org", "ann@example.org", "ANN@EXAMPLE.ORG", "b@x.org"]
    added, dupes = _add(ledger, emails)
    assert (added, dupes) == (2, 2)
    emails = [e for e, _, _ in ledger.recipient_states(ISSUE)]
    assert emails == ["Ann@example.org", "b@x.org"]


def test_loading_the_same_list_twice_adds_nobody(tmp_path: Path):
    ledger = _ledger(tmp_path)
    _add(ledger, [f"r{i}@example.org" for i in range(5000)])
    assert _add(ledger, [f"R{i}@example.org" for i in range(5000)]) == (0, 5000)
    assert ledger.counts(ISSUE)["pending"] == 5000


def test_batch_members_and_key_are_committed_before_sending(tmp_path: Path):
    ledger = _ledger(tmp_path)
    _add(ledger, [f"r{i}@example.org" for i in range(5)])
    batch = ledger.plan_batch(ISSUE, HASH, 3)
    assert batch is not None and batch.key == batch_key(ISSUE, HASH, 1)
    other = Ledger(tmp_path / "ledger.sqlite3")
    (seen,) = other.open_batches(ISSUE)
    assert seen.key == batch.key
    assert [m.email for m in other.members(seen)] == [f"r{i}@example.org" for i in range(3)]


def test_a_crashed_batch_is_offered_again_with_the_same_members_and_key(tmp_path: Path):
    ledger = _ledger(tmp_path)
    _add(ledger, [f"r{i}@example.org" for i in range(5)])
    first = ledger.plan_batch(ISSUE, HASH, 3)
    assert first is not None
    ledger.close()
    reopened = Ledger(tmp_path / "ledger.sqlite3")
    (again,) = reopened.open_batches(ISSUE)
    assert (again.number, again.key) == (first.number, first.key)
    nxt = reopened.plan_batch(ISSUE, HASH, 3)
    assert nxt is not None and nxt.number == 2
    assert [m.email for m in reopened.members(nxt)] == ["r3@example.org", "r4@example.org"]


def test_results_close_the_batch_and_set_each_recipient_state(tmp_path: Path):
    ledger = _ledger(tmp_path)
    _add(ledger, ["a@x.org", "b@x.org", "c@x.org"])
    batch = ledger.plan_batch(ISSUE, HASH, 10)
    assert batch is not None
    a, b, c = ledger.members(batch)
    ledger.record_results(
        batch,
        [
            Outcome(a.id, True, "id-a", None, False),
            Outcome(b.id, False, None, "mailbox full", True),
            Outcome(c.id, False, None, "invalid address", False),
        ],
    )
    assert ledger.open_batches(ISSUE) == []
    states = {e: (s, m) for e, s, m in ledger.recipient_states(ISSUE)}
    assert states == {
        "a@x.org": ("sent", "id-a"),
        "b@x.org": ("failed", None),
        "c@x.org": ("failed", None),
    }
    assert ledger.failures(ISSUE) == [
        ("b@x.org", "mailbox full", True),
        ("c@x.org", "invalid address", False),
    ]
    assert not ledger.is_finished(ISSUE)


def test_requeue_reopens_a_wholly_failed_batch_with_its_key(tmp_path: Path):
    ledger = _ledger(tmp_path)
    _add(ledger, ["a@x.org", "b@x.org"])
    batch = ledger.plan_batch(ISSUE, HASH, 10)
    assert batch is not None
    ledger.record_results(
        batch, [Outcome(m.id, False, None, "503", True) for m in ledger.members(batch)]
    )
    assert ledger.requeue_retryable(ISSUE, HASH, 10) == 2
    (again,) = ledger.open_batches(ISSUE)
    assert again.key == batch.key
    assert [m.email for m in ledger.members(again)] == ["a@x.org", "b@x.org"]


def test_requeue_regroups_partial_failures_into_new_batches_and_skips_permanent(tmp_path: Path):
    ledger = _ledger(tmp_path)
    _add(ledger, ["a@x.org", "b@x.org", "c@x.org"])
    batch = ledger.plan_batch(ISSUE, HASH, 10)
    assert batch is not None
    a, b, c = ledger.members(batch)
    ledger.record_results(
        batch,
        [
            Outcome(a.id, True, "1", None, False),
            Outcome(b.id, False, None, "timeout", True),
            Outcome(c.id, False, None, "bad address", False),
        ],
    )
    assert ledger.requeue_retryable(ISSUE, HASH, 10) == 1
    (again,) = ledger.open_batches(ISSUE)
    assert again.key != batch.key
    assert [m.email for m in ledger.members(again)] == ["b@x.org"]


def test_suppressed_addresses_are_marked_and_never_batched(tmp_path: Path):
    ledger = _ledger(tmp_path)
    ledger.suppress([("B@X.org", "unsubscribed")])
    _add(ledger, ["a@x.org", "b@x.org"])
    assert ledger.apply_suppressions(ISSUE) == 1
    batch = ledger.plan_batch(ISSUE, HASH, 10)
    assert batch is not None
    assert [m.email for m in ledger.members(batch)] == ["a@x.org"]
    assert ledger.counts(ISSUE)["suppressed"] == 1


def test_bounce_event_marks_the_send_and_suppresses_the_address(tmp_path: Path):
    ledger = _ledger(tmp_path)
    _add(ledger, ["a@x.org"])
    batch = ledger.plan_batch(ISSUE, HASH, 10)
    assert batch is not None
    (a,) = ledger.members(batch)
    ledger.record_results(batch, [Outcome(a.id, True, "pm-1", None, False)])
    assert ledger.record_event("bounced", message_id="pm-1") == 1
    assert ledger.counts(ISSUE)["bounced"] == 1
    assert ledger.is_suppressed("A@x.org") == "bounced"


def test_unknown_suppression_reason_is_refused(tmp_path: Path):
    from digest.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown suppression reason"):
        _ledger(tmp_path).suppress([("a@x.org", "annoyed")])


def test_batch_keys_change_with_the_content_and_fit_resends_limit():
    assert batch_key("i", "h1", 1) != batch_key("i", "h2", 1)
    assert batch_key("i", "h1", 1) != batch_key("i", "h1", 2)
    assert len(batch_key("x" * 1000, "h", 99999)) < 200


def test_an_unsubscribe_arriving_mid_send_is_honoured_by_later_batches(tmp_path: Path):
    ledger = _ledger(tmp_path)
    _add(ledger, ["a@x.org", "b@x.org", "c@x.org", "d@x.org"])
    ledger.apply_suppressions(ISSUE)
    first = ledger.plan_batch(ISSUE, HASH, 2)
    assert first is not None
    Ledger(tmp_path / "ledger.sqlite3").suppress([("C@x.org", "unsubscribed")])
    second = ledger.plan_batch(ISSUE, HASH, 2)
    assert second is not None
    assert [m.email for m in ledger.members(second)] == ["d@x.org"]
    assert ledger.counts(ISSUE)["suppressed"] == 1


def test_knows_only_message_ids_a_send_recorded(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    _add(ledger, ["a@x.org"])
    batch = ledger.plan_batch(ISSUE, HASH, 10)
    assert batch is not None
    assert not ledger.knows_message("pm-1")
    (a,) = ledger.members(batch)
    ledger.record_results(batch, [Outcome(a.id, True, "pm-1", None, False)])
    assert ledger.knows_message("pm-1")
    assert not ledger.knows_message("pm-2")


def test_remove_suppression_takes_off_only_the_reason_asked(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.suppress([("Ann@Example.org", "unsubscribed")], source="web")
    ledger.suppress([("bob@example.org", "complained")], source="provider event")
    assert not ledger.remove_suppression("bob@example.org", reason="unsubscribed")
    assert ledger.is_suppressed("bob@example.org") == "complained"
    assert ledger.remove_suppression("ann@example.org", reason="unsubscribed")
    assert ledger.is_suppressed("ann@example.org") is None
    assert not ledger.remove_suppression("ann@example.org")


def test_an_address_keeps_every_reason_and_shows_the_readers_opt_out_first(
    tmp_path: Path,
) -> None:
    ledger = _ledger(tmp_path)
    ledger.suppress([("ann@example.org", "bounced")], source="provider:postmark")
    assert ledger.suppress([("Ann@Example.org", "unsubscribed")], source="one-click") == (1, 0)
    assert ledger.suppress([("ann@example.org", "unsubscribed")], source="web page") == (0, 1)
    assert ledger.is_suppressed("ann@example.org") == "unsubscribed"
    assert [(s.reason, s.source) for s in ledger.suppressions("ann@example.org")] == [
        ("unsubscribed", "one-click"),
        ("bounced", "provider:postmark"),
    ]
    assert ledger.suppression_count() == 1


def test_remove_without_a_reason_lifts_bounces_and_typed_entries_but_no_readers_opt_out(
    tmp_path: Path,
) -> None:
    """``digest suppress --remove``'s rule: what the operator typed, bounces and manual
    entries go; an unsubscribe or complaint that came from the reader stays."""
    ledger = _ledger(tmp_path)
    ledger.suppress([("a@x.org", "unsubscribed")], source="cli")
    ledger.suppress([("b@x.org", "complained"), ("c@x.org", "bounced")], source="provider:ses")
    ledger.suppress([("d@x.org", "unsubscribed")], source="unsubscribes.csv")
    ledger.suppress([("e@x.org", "manual"), ("e@x.org", "unsubscribed")], source="one-click")
    assert ledger.remove_suppression("a@x.org") == ("unsubscribed",)
    assert ledger.remove_suppression("b@x.org") == ()
    assert ledger.remove_suppression("c@x.org") == ("bounced",)
    assert ledger.remove_suppression("d@x.org") == ()
    assert ledger.remove_suppression("e@x.org") == ("manual",)
    left = [ledger.is_suppressed(f"{c}@x.org") for c in "abcde"]
    assert left == [None, "complained", None, "unsubscribed", "unsubscribed"]


def _mid_call(ledger: Ledger, provider: str, n: int = 1, size: int = 10) -> Any:
    """Issue ``issue-1`` with ``n`` recipients whose first batch's call to ``provider``
    began and never ended (a crash mid-call); returns that batch."""
    ledger.start_issue("issue-1", "hash", "Subject")
    ledger.add_recipients("issue-1", [(f"r{i}@example.org", "", {}, i) for i in range(n)])
    batch = ledger.plan_batch("issue-1", "hash", size)
    assert batch is not None
    ledger.begin_attempt(batch, provider)
    return batch


def test_an_idempotent_batch_resumed_after_its_key_expired_is_unknown_not_reopened(tmp_path):
    """Brevo keeps a key 30 minutes, Resend 24 hours: a batch whose call is older than the
    provider's window cannot be repeated safely under its key."""
    from datetime import UTC, datetime, timedelta

    with Ledger(tmp_path / "l.sqlite3") as ledger:
        old = _mid_call(ledger, "brevo", n=4, size=2)
        recent = ledger.plan_batch("issue-1", "hash", 2)
        assert recent is not None
        ledger.begin_attempt(recent, "brevo")
        long_ago = (datetime.now(UTC) - timedelta(minutes=26)).isoformat(timespec="milliseconds")
        ledger.db.execute(
            "UPDATE batches SET first_attempted_at = ?1, attempted_at = ?1 WHERE number = ?2",
            (long_ago, old.number),
        )
        assert ledger.settle_in_flight(
            "issue-1", idempotent=True, window=25 * 60, provider="brevo"
        ) == 2
        states = dict(
            ledger.db.execute(
                "SELECT number, state || '/' || maybe_taken FROM batches WHERE issue_id = 'issue-1'"
            )
        )
        assert states == {old.number: "done/0", recent.number: "open/1"}
        unknown = ledger.db.execute(
            "SELECT batch, error FROM recipients WHERE state = 'unknown'"
        ).fetchall()
        assert [b for b, _ in unknown] == [old.number] * 2
        assert "no longer keeps it" in unknown[0][1]


def test_an_idempotent_batch_without_a_window_is_always_reopened(tmp_path):
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        _mid_call(ledger, "file")
        ledger.db.execute(
            "UPDATE batches SET first_attempted_at = '2020-01-01T00:00:00.000+00:00', "
            "attempted_at = first_attempted_at"
        )
        assert ledger.settle_in_flight("issue-1", idempotent=True) == 0
        assert ledger.db.execute("SELECT state FROM batches").fetchone()[0] == "open"


def test_a_batch_caught_mid_call_is_not_repeated_through_another_provider(tmp_path):
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        _mid_call(ledger, "resend")
        assert ledger.settle_in_flight("issue-1", idempotent=True, provider="brevo") == 1
        assert ledger.db.execute("SELECT state FROM recipients").fetchone()[0] == "unknown"


def _reopened(path: Path) -> tuple[Ledger, Any]:
    """A batch caught mid-call at Resend and reopened for a repeat under its key."""
    ledger = Ledger(path)
    batch = _mid_call(ledger, "resend", n=3)
    assert ledger.settle_in_flight("issue-1", idempotent=True, window=3600, provider="resend") == 0
    return ledger, batch


@pytest.mark.parametrize("case", ["expired", "other provider", "issue edited", "unsubscribed"])
def test_a_reopened_batch_is_called_again_only_under_its_key_at_its_provider_in_time(
    tmp_path, case
):
    """Reopened for a repeat under its key, then left uncalled: a later run past the key's
    life, through another provider, or with another key (--force) must not make the call."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    ledger, batch = _reopened(tmp_path / "l.sqlite3")
    with ledger:
        assert ledger.repeat_check(batch, "resend", 3600) == "repeat"
        provider = "resend"
        if case == "expired":
            old = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="milliseconds")
            ledger.db.execute("UPDATE batches SET first_attempted_at = ?", (old,))
        elif case == "other provider":
            provider = "brevo"
        elif case == "issue edited":
            batch = replace(batch, key=batch_key("issue-1", "edited", batch.number))
        else:  # had the first call not gone, the repeat would mail someone who left
            ledger.suppress([("r1@example.org", "unsubscribed")])
        assert ledger.repeat_check(batch, provider, 3600) == "refused"
        states = [r[0] for r in ledger.db.execute("SELECT state FROM recipients")]
        assert states == ["unknown"] * 3
        assert ledger.open_batches("issue-1") == []


def test_a_batch_reopened_for_a_repeat_counts_in_the_duplicate_exposure(tmp_path):
    ledger, _ = _reopened(tmp_path / "l.sqlite3")
    with ledger:
        counts = ledger.counts("issue-1")
        assert (counts["pending"], counts["exposure"]) == (3, 3)


def test_a_batch_that_does_not_say_where_it_went_is_not_repeated_elsewhere(tmp_path):
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        _mid_call(ledger, "resend")
        ledger.db.execute("UPDATE batches SET provider = NULL")  # a 0.1.0 ledger's batch
        assert ledger.settle_in_flight("issue-1", idempotent=True, provider="resend") == 1
