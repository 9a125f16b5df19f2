"""The subscriber store in a real ledger file: statuses, the audience, import, export, stats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from tests.send_support import issue_yaml, run_digest, settings_for, write_config, write_csv

from digest.config import Settings
from digest.errors import ConfigError
from digest.sending import (
    Ledger,
    Subscribers,
    export_subscribers,
    import_subscribers,
    ledger_path,
    plan_send,
    prepare_issue,
    send_issue,
)
from digest.sending.subscriber_io import add_subscribers


def _site(
    tmp_path: Path, source: str = "subscribers", csv_rows: list[str] | None = None
) -> Settings:
    audience: dict[str, str] = {"source": source}
    if csv_rows is not None:
        audience["recipients"] = str(write_csv(tmp_path / "list.csv", csv_rows))
    config = write_config(tmp_path, audience=audience)
    (tmp_path / "issue.yaml").write_text(issue_yaml(), encoding="utf-8")
    return settings_for(config)


def _outbox(tmp_path: Path) -> set[str]:
    return {p.stem for p in (tmp_path / "outbox").rglob("*.eml")}


def _sign_up(store: Subscribers, email: str, confirm_id: str) -> None:
    store.sign_up(
        email,
        name="",
        lang="en",
        source="form:/subscribe",
        consent_text="Yes please",
        consent_ip="hmac:x:y",
        confirm_id=confirm_id,
    )


def test_a_send_from_subscribers_reaches_the_active_only_and_suppressions_win(
    tmp_path: Path,
) -> None:
    settings = _site(tmp_path)
    with Ledger(ledger_path(settings)) as ledger:
        store = Subscribers(ledger)
        add_subscribers(ledger, ["ann@example.org", "bob@example.org"], consent_text="ok")
        _sign_up(store, "pending@example.org", "c1")
        ledger.suppress([("bob@example.org", "manual")], source="test")
    report = send_issue(settings, prepare_issue(settings, tmp_path / "issue.yaml"))
    assert _outbox(tmp_path) == {"ann@example.org"}
    assert report.subscribers == 2 and report.suppressed == 1
    assert report.exit_code == 0


def test_source_both_merges_the_csv_and_the_subscribers_without_duplicates(
    tmp_path: Path,
) -> None:
    settings = _site(tmp_path, "both", ["ann@example.org", "cat@example.org"])
    with Ledger(ledger_path(settings)) as ledger:
        add_subscribers(ledger, ["Ann@example.org", "dan@example.org"], consent_text="ok")
    report = send_issue(settings, prepare_issue(settings, tmp_path / "issue.yaml"))
    # the subscriber's own spelling wins (the file backend names such a file with a hash)
    assert {n.split("-")[0] for n in _outbox(tmp_path)} == {
        "ann@example.org",
        "cat@example.org",
        "dan@example.org",
    }
    assert len(_outbox(tmp_path)) == 3 and report.duplicates == 1


def test_the_dry_run_counts_subscribers_as_the_send_will(tmp_path: Path) -> None:
    settings = _site(tmp_path)
    with Ledger(ledger_path(settings)) as ledger:
        add_subscribers(ledger, ["ann@example.org", "bob@example.org"], consent_text="ok")
        ledger.suppress([("bob@example.org", "unsubscribed")])
    plan = plan_send(settings, prepare_issue(settings, tmp_path / "issue.yaml"), recipients=None)
    assert plan.to_send == 1
    assert not _outbox(tmp_path)


def test_recipients_flag_with_source_subscribers_is_a_config_error(tmp_path: Path) -> None:
    settings = _site(tmp_path)
    with pytest.raises(ConfigError, match='source = "both"'):
        send_issue(
            settings,
            prepare_issue(settings, tmp_path / "issue.yaml"),
            recipients=write_csv(tmp_path / "x.csv", ["x@example.org"]),
        )


def test_unsubscribe_and_bounce_set_the_status_and_the_undo_restores_it(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        store = Subscribers(ledger)
        add_subscribers(ledger, ["ann@example.org", "bob@example.org"], consent_text="ok")
        _sign_up(store, "pat@example.org", "c1")
        ledger.suppress([("ann@example.org", "unsubscribed"), ("pat@example.org", "unsubscribed")])
        ledger.suppress([("bob@example.org", "bounced")], source="provider event")
        assert [store.get(e).status for e in ("ann@example.org", "bob@example.org")] == [  # type: ignore[union-attr]
            "unsubscribed",
            "bounced",
        ]
        assert store.get("pat@example.org").status == "pending"  # type: ignore[union-attr]
        assert ledger.remove_suppression("ann@example.org", reason="unsubscribed")
        assert store.get("ann@example.org").status == "active"  # type: ignore[union-attr]
        assert store.counts()["active"] == 1


def test_a_subscriber_who_bounced_then_unsubscribed_stays_unsubscribed(tmp_path: Path) -> None:
    """Their status is the strongest reason left: removing the bounce keeps them
    unsubscribed; the undo with a bounce left makes them bounced, not active."""
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        store = Subscribers(ledger)
        add_subscribers(ledger, ["ann@example.org", "bob@example.org"], consent_text="ok")
        for email in ("ann@example.org", "bob@example.org"):
            ledger.suppress([(email, "bounced")], source="provider:postmark")
            ledger.suppress([(email, "unsubscribed")], source="one-click")

        def status(email: str) -> str:
            row = store.get(email)
            assert row is not None
            return row.status

        assert (status("ann@example.org"), status("bob@example.org")) == ("unsubscribed",) * 2
        assert ledger.remove_suppression("ann@example.org") == ("bounced",)
        assert status("ann@example.org") == "unsubscribed"
        assert ledger.remove_suppression("bob@example.org", reason="unsubscribed")
        assert status("bob@example.org") == "bounced"
        assert ledger.remove_suppression("ann@example.org", reason="unsubscribed")
        assert status("ann@example.org") == "active"
        add_subscribers(ledger, ["cy@example.org"], consent_text="ok")
        ledger.suppress([("cy@example.org", "manual")], source="cli")
        ledger.suppress([("dee@example.org", "bounced"), ("dee@example.org", "complained")])
        add_subscribers(ledger, ["dee@example.org"], consent_text="ok")
        assert (status("cy@example.org"), status("dee@example.org")) == ("active", "complained")


def test_suppressing_a_subscribers_address_counts_it_once(tmp_path: Path) -> None:
    """The status the trigger changes is no second suppression (``digest suppress`` said
    "2 new, -1 already on the list")."""
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        add_subscribers(ledger, ["ann@example.org"], consent_text="ok")
        assert ledger.suppress([("ann@example.org", "unsubscribed")], source="cli") == (1, 0)
        assert Subscribers(ledger).counts()["unsubscribed"] == 1


def test_signing_up_keeps_an_active_reader_and_confirming_lifts_their_own_suppression(
    tmp_path: Path,
) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        store = Subscribers(ledger)
        add_subscribers(ledger, ["ann@example.org"], consent_text="ok")
        assert not store.sign_up(
            "ann@example.org",
            name="",
            lang="en",
            source="form",
            consent_text="x",
            consent_ip=None,
            confirm_id="c0",
        )
        ledger.suppress([("ann@example.org", "unsubscribed")])
        _sign_up(store, "ann@example.org", "c1")
        assert store.get("ann@example.org").status == "pending"  # type: ignore[union-attr]
        _sign_up(store, "ann@example.org", "c2")  # the first link keeps working
        assert store.confirm("c2") is None
        confirmed = store.confirm("c1")
        assert confirmed is not None and confirmed.status == "active"
        assert confirmed.consent_source == "form:/subscribe" and confirmed.confirmed_at
        assert ledger.is_suppressed("ann@example.org") is None
        assert store.confirm("c1") is None  # used up
        ledger.suppress([("ann@example.org", "manual")])
        ledger.db.execute("UPDATE subscribers SET status = 'unsubscribed'")
        _sign_up(store, "ann@example.org", "c3")
        assert store.confirm("c3") is not None
        assert ledger.is_suppressed("ann@example.org") == "manual"  # the editor's stays


def test_unconfirmed_sign_ups_are_purged_after_the_configured_days(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        store = Subscribers(ledger)
        _sign_up(store, "old@example.org", "c1")
        _sign_up(store, "new@example.org", "c2")
        ledger.db.execute(
            "UPDATE subscribers SET consent_at = '2020-01-01T00:00:00.000+00:00' "
            "WHERE email_key = 'old@example.org'"
        )
        assert store.purge_unconfirmed(7) == 1
        assert store.get("old@example.org") is None
        assert store.get("new@example.org") is not None


def test_import_records_where_and_when_consent_was_given_and_reports_bad_rows(
    tmp_path: Path,
) -> None:
    export = tmp_path / "mailchimp.csv"
    export.write_text(
        "Email Address,Name,CONFIRM_TIME,city\n"
        "ann@example.org,Ann,2024-03-01 10:00:00,Oslo\n"
        "not-an-address,Bob,,\n"
        "cat@example.org,Cat,,Rome\n",
        encoding="utf-8",
    )
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        result = import_subscribers(ledger, export, consent_text="Joined on Mailchimp")
        assert (result.added, result.already) == (2, 0)
        assert [b.line for b in result.bad] == [3]
        ann = Subscribers(ledger).get("ann@example.org")
        assert ann is not None
        assert ann.consent_source == "import:mailchimp.csv"
        assert ann.consent_at.startswith("2024-03-01T10:00:00")
        assert ann.fields == {"city": "Oslo"} and ann.status == "active"
        again = import_subscribers(ledger, export, consent_text="again")
        assert (again.added, again.already) == (0, 2)


def test_the_csv_export_reads_back_in_with_the_same_rows(tmp_path: Path) -> None:
    with Ledger(tmp_path / "a.sqlite3") as ledger:
        add_subscribers(ledger, ["ann@example.org", "bob@example.org"], name="A", consent_text="ok")
        out = io.StringIO()
        assert export_subscribers(ledger, out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["email"] for r in rows] == ["ann@example.org", "bob@example.org"]
    assert rows[0]["consent_source"] == "cli" and rows[0]["status"] == "active"
    (tmp_path / "export.csv").write_text(out.getvalue(), encoding="utf-8")
    with Ledger(tmp_path / "b.sqlite3") as other:
        result = import_subscribers(other, tmp_path / "export.csv", consent_text="moved")
        assert result.added == 2 and not result.bad
        moved = Subscribers(other).get("ann@example.org")
        assert moved is not None and moved.fields == {}
        assert moved.consent_at == rows[0]["consent_at"]


def test_weekly_growth_counts_joins_and_departures(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        add_subscribers(
            ledger, ["a@example.org", "b@example.org", "c@example.org"], consent_text="k"
        )
        ledger.db.execute(
            "UPDATE subscribers SET confirmed_at = '2026-01-06T10:00:00.000+00:00', "
            "updated_at = '2026-01-06T10:00:00.000+00:00'"
        )
        ledger.db.execute(
            "UPDATE subscribers SET confirmed_at = '2026-01-14T10:00:00.000+00:00' "
            "WHERE email_key = 'c@example.org'"
        )
        ledger.suppress([("a@example.org", "unsubscribed")])
        ledger.db.execute(
            "UPDATE subscribers SET updated_at = '2026-01-21T10:00:00.000+00:00' "
            "WHERE email_key = 'a@example.org'"
        )
        weeks = Subscribers(ledger).weekly()
    assert [(w.week, w.joined, w.left, w.active) for w in weeks[:3]] == [
        ("2026-W02", 2, 0, 2),
        ("2026-W03", 1, 0, 3),
        ("2026-W04", 0, 1, 2),
    ]


def test_cli_add_list_and_stats(tmp_path: Path) -> None:
    write_config(tmp_path)
    added = run_digest("subscribers", "add", "ann@example.org", "nope", cwd=tmp_path)
    assert added.returncode == 3, added.stderr
    assert "argument 2 ('nope')" in added.stderr and "Added 1 subscriber;" in added.stdout
    listed = run_digest("subscribers", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = json.loads(listed.stdout)
    assert row["email"] == "ann@example.org" and row["consent_source"] == "cli"
    assert "digest" in row["consent_text"] or row["consent_text"]
    stats = run_digest("subscribers", "stats", "--json", cwd=tmp_path)
    assert json.loads(stats.stdout)["counts"]["active"] == 1


def test_cli_import_names_the_file_and_line_of_each_bad_row_and_stats_prints_weeks(
    tmp_path: Path,
) -> None:
    write_config(tmp_path)
    (tmp_path / "ghost.csv").write_text(
        "email,name,created_at\nann@example.org,Ann,2026-11-02T09:00:00Z\nann@,Bad,\n",
        encoding="utf-8",
    )
    result = run_digest("subscribers", "import", "ghost.csv", "--source", "ghost", cwd=tmp_path)
    assert result.returncode == 3
    assert "skipped ghost.csv:3 ('ann@')" in result.stderr
    assert "Added 1 subscriber;" in result.stdout and "Traceback" not in result.stderr
    listed = json.loads(run_digest("subscribers", "list", "--json", cwd=tmp_path).stdout)
    assert listed["consent_source"] == "ghost"
    assert listed["consent_at"].startswith("2026-11-02T09:00:00")
    stats = run_digest("subscribers", "stats", "--weeks", "10000", cwd=tmp_path)
    assert stats.returncode == 0
    lines = stats.stdout.splitlines()
    assert lines[0].startswith("pending 0  active 1")
    assert lines[1].split() == ["week", "joined", "left", "net", "active"]
    assert lines[2].split() == ["2026-W45", "1", "0", "+1", "1"]


def test_import_keeps_what_the_exporting_tool_says_about_each_row(tmp_path: Path) -> None:
    export = tmp_path / "buttondown.csv"
    export.write_text(
        "email,subscriber_type,creation_date\n"
        "ann@example.org,regular,2025-06-01T08:00:00Z\n"
        "bob@example.org,unsubscribed,2025-05-01T08:00:00Z\n"
        "cat@example.org,unactivated,2025-07-01T08:00:00Z\n",
        encoding="utf-8",
    )
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        result = import_subscribers(ledger, export, consent_text="Joined on Buttondown")
        store = Subscribers(ledger)
        ann, bob = store.get("ann@example.org"), store.get("bob@example.org")
        assert (result.added, result.marked, result.inactive) == (2, 1, 1)
        assert ann is not None and ann.status == "active"
        assert ann.consent_at.startswith("2025-06-01T08:00:00")
        assert bob is not None and bob.status == "unsubscribed"
        assert ledger.is_suppressed("bob@example.org") == "unsubscribed"
        assert store.get("cat@example.org") is None


def test_an_export_to_a_file_is_owner_only_and_a_replaced_one_keeps_its_mode(
    tmp_path: Path, umask_022: None
) -> None:
    """It names every reader: under the usual umask it was created 0644."""
    write_config(tmp_path)
    assert run_digest("subscribers", "add", "ann@example.org", cwd=tmp_path).returncode == 0
    for args in (["-o", "list.csv"], ["ann@example.org", "-o", "ann.json"]):
        done = run_digest("subscribers", "export", *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert "ann@example.org" in (tmp_path / "list.csv").read_text(encoding="utf-8")
    assert (tmp_path / "list.csv").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ann.json").stat().st_mode & 0o777 == 0o600
    (tmp_path / "shared.csv").write_text("old", encoding="utf-8")
    (tmp_path / "shared.csv").chmod(0o640)
    assert run_digest("subscribers", "export", "-o", "shared.csv", cwd=tmp_path).returncode == 0
    assert (tmp_path / "shared.csv").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "shared.csv").read_text(encoding="utf-8").startswith("email,")


def test_an_export_to_a_folder_that_does_not_exist_is_an_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    write_config(tmp_path)
    assert run_digest("subscribers", "add", "ann@example.org", cwd=tmp_path).returncode == 0
    done = run_digest("subscribers", "export", "-o", "missing/list.csv", cwd=tmp_path)
    assert done.returncode == 3
    assert "missing/list.csv: cannot write the export" in done.stderr
    assert "Traceback" not in done.stderr
