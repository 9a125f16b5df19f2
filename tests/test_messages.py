"""Every message precise (issue 12, point 12), as a user sees it through ``digest``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tests.send_support import issue_yaml, run_digest, write_config, write_csv

from digest.text import shown
from digest.web.webhooks import PROVIDERS


def _folder(tmp_path: Path, emails: list[str]) -> Path:
    write_config(tmp_path, sending={"ledger": "ledger.sqlite3"}, audience={"recipients": "s.csv"})
    write_csv(tmp_path / "s.csv", emails)
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    return tmp_path


def test_one_of_a_thing_is_singular(tmp_path):
    folder = _folder(tmp_path, ["ann@example.org"])
    plan = run_digest("send", "issue-7", "--dry-run", cwd=folder)
    assert "file: 1 batch of up to 1000" in plan.stdout
    assert "1 rows" not in plan.stdout and "1 recipients" not in plan.stdout
    suppressed = run_digest("suppress", "bob@example.org", cwd=folder)
    assert "now holds 1 address." in suppressed.stdout


def test_a_dry_run_does_not_call_recipients_new_and_says_it_stores_nothing(tmp_path):
    folder = _folder(tmp_path, ["ann@example.org", "Ann@example.org", "bob@example.org"])
    plan = run_digest("send", "issue-7", "--dry-run", "--log-format", "text", cwd=folder)
    assert "3 rows: 2 addresses after removing 1 duplicate (2 to send, 0 suppressed)" in plan.stdout
    assert "(dry run: nothing stored)" in plan.stdout and " new " not in plan.stdout


def test_the_count_line_splits_the_addresses_into_to_send_and_suppressed(tmp_path):
    """"3 recipients" that counted two suppressed rows read as three to mail, and the plan then
    said "to send 1": each number now says what it is, and "to send" is the plan's."""
    folder = _folder(tmp_path, [])
    (folder / "s.csv").write_text(
        "email,status\nann@example.org,active\nbob@example.org,unsubscribed\n"
        "cy@example.org,unsubscribed\ndee@example.org,unconfirmed\n",
        encoding="utf-8",
    )
    plan = run_digest("send", "issue-7", "--dry-run", "--log-format", "text", cwd=folder)
    assert "4 rows: 3 addresses after removing 0 duplicates (1 to send, 2 suppressed)" in (
        plan.stdout
    ), plan.stdout
    assert re.search(r"to send +1\n", plan.stdout) and re.search(r"suppressed +2\n", plan.stdout)
    sent = run_digest("send", "issue-7", "--log-format", "text", cwd=folder)
    assert "4 rows: 3 new addresses (1 to send, 2 suppressed), 0 duplicates" in sent.stdout
    assert "1 never confirmed (skipped)" in sent.stdout
    again = run_digest("send", "issue-7", "--dry-run", "--log-format", "text", cwd=folder)
    assert "(0 to send, 1 already done, 2 suppressed)" in again.stdout
    assert re.search(r"already done +1 ", again.stdout) and re.search(r"to send +0\n", again.stdout)


def test_a_rerun_says_already_listed_where_the_first_run_said_duplicate(tmp_path):
    folder = _folder(tmp_path, ["ann@example.org", "Ann@example.org"])
    first = run_digest("send", "issue-7", "--log-format", "text", cwd=folder)
    want = "2 rows: 1 new address (1 to send, 0 suppressed), 1 duplicate, 0 bad rows."
    assert want in first.stdout
    again = run_digest("send", "issue-7", "--log-format", "text", cwd=folder)
    assert "0 new addresses, 2 already listed (loaded by an earlier run" in again.stdout


def test_an_outbox_file_for_a_non_latin_address_keeps_its_local_part(tmp_path):
    folder = _folder(tmp_path, ["محمد@example.org"])
    done = run_digest("send", "issue-7", cwd=folder)
    assert done.returncode == 0, done.stderr
    (eml,) = (folder / "outbox" / "issue-7").glob("*.eml")
    assert eml.name.startswith("xn--") and "@example.org" in eml.name


def test_providers_show_plain_text_not_restructuredtext(tmp_path):
    text = run_digest("providers", cwd=tmp_path)
    data = run_digest("providers", "--json", cwd=tmp_path)
    assert text.returncode == 0 and "mg.example.org" in text.stdout
    assert "``" not in text.stdout and "``" not in data.stdout and ":class:" not in text.stdout


def test_help_promises_only_what_status_shows(tmp_path):
    top = run_digest("--help", cwd=tmp_path)
    assert "recipient by recipient" not in top.stdout
    assert "counts by state" in top.stdout


def test_serve_help_lists_what_its_start_up_line_points_to(tmp_path):
    """The start-up log says "see `digest serve --help`" for the webhook variables."""
    help_text = run_digest("serve", "--help", cwd=tmp_path).stdout
    listed: dict[str, tuple[str, ...]] = {}
    for line in help_text.splitlines():
        m = re.fullmatch(r"\s+([a-z]+(?:, [a-z]+)*)\s{2,}([A-Z_]+(?:, [A-Z_]+)*)", line)
        if m:
            for name in m.group(1).split(", "):
                listed[name] = tuple(m.group(2).split(", "))
    assert listed == {name: p.env for name, p in PROVIDERS.items()}


def _feed(path: Path, items: list[tuple[str, str, datetime]]) -> Path:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>About {t}.</description>"
        f"<pubDate>{format_datetime(when)}</pubDate></item>"
        for t, link, when in items
    )
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://example.org/</link><description>d</description>{body}</channel></rss>",
        encoding="utf-8",
    )
    return path


def test_import_feed_warns_only_about_items_it_could_have_used(tmp_path):
    now = datetime.now(UTC)
    feed = _feed(
        tmp_path / "f.xml",
        [
            ("Fresh", "https://example.org/fresh", now - timedelta(days=1)),
            ("Fresh but broken", "javascript:x", now - timedelta(days=2)),
            ("Old and broken", "javascript:y", now - timedelta(days=30)),
        ],
    )
    done = run_digest("import-feed", feed, "--number", "3", "--days", "7", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Fresh but broken" in done.stderr
    assert "Old and broken" not in done.stderr


def test_bad_option_values_exit_2_in_every_command(tmp_path):
    feed = _feed(tmp_path / "f.xml", [("A", "https://example.org/a", datetime.now(UTC))])
    bad_days = run_digest("import-feed", feed, "--number", "3", "--days", "0", cwd=tmp_path)
    bad_number = run_digest("import-feed", feed, "--number", "zero", cwd=tmp_path)
    bad_failures = run_digest("status", "issue-7", "--failures", "x", cwd=tmp_path)
    assert {bad_days.returncode, bad_number.returncode, bad_failures.returncode} == {2}
    assert "Traceback" not in bad_days.stderr


def test_status_json_says_whether_a_send_is_running(tmp_path):
    folder = _folder(tmp_path, ["ann@example.org"])
    run_digest("send", "issue-7", cwd=folder)
    data = json.loads(run_digest("status", "7", "--json", cwd=folder).stdout)
    assert data["running"] is False and data["finished"] is True


def test_subscriber_counts_of_one_are_singular(tmp_path):
    """"Added 1 subscribers", "1 were already on the list" and "1 subscribers (active)"."""
    folder = _folder(tmp_path, ["ann@example.org"])
    assert "Added 1 subscriber;" in run_digest("subscribers", "add", "ann@example.org",
                                               cwd=folder).stdout
    again = run_digest("subscribers", "import", "s.csv", cwd=folder)
    assert "Added 0 subscribers; 1 was already on the list." in again.stdout, again.stderr
    listed = run_digest("subscribers", "list", "--status", "active", cwd=folder)
    assert "1 subscriber (active)" in listed.stderr
    exported = run_digest("subscribers", "export", "-o", "out.csv", cwd=folder)
    assert "1 subscriber exported." in exported.stderr


def test_a_provider_that_takes_one_recipient_a_call_says_recipient(tmp_path):
    listed = run_digest("providers", cwd=tmp_path)
    assert "up to 1 recipient a call" in listed.stdout
    assert "up to 1 recipients" not in listed.stdout


def test_a_one_article_build_and_a_one_error_check_are_singular(tmp_path):
    folder = _folder(tmp_path, ["ann@example.org"])
    built = run_digest("build", "issue-7", "--out", "out", cwd=folder)
    assert "Built issue-7: 1 article," in built.stdout, built.stderr
    (folder / "bad.yaml").write_text(issue_yaml().replace("https://example.org/a", "ftp://x"))
    checked = run_digest("check", "bad.yaml", "--offline", cwd=folder)
    assert ": 1 error," in checked.stdout, checked.stdout + checked.stderr


def test_a_subject_and_headline_with_a_bidi_override_are_shown_readably_and_safely(tmp_path):
    """U+202E turns the rest of a terminal line around; the plan printed it raw and build
    as Python's ``'A\\u202eB'``. Now only such characters are spelled out, the rest as typed."""
    folder = _folder(tmp_path, ["ann@example.org"])
    headline = "Grève\u202etsriF 👩\u200d👩\u200d👧"
    (folder / "issue-7.yaml").write_text(
        issue_yaml(headline=f'"{headline}"').replace(
            "date: 2026-11-20", 'date: 2026-11-20\nsubject: "Pay\u202e deal"'
        ),
        encoding="utf-8",
    )
    plan = run_digest("send", "issue-7", "--dry-run", cwd=folder)
    assert "subject          Pay<U+202E> deal\n" in plan.stdout, plan.stdout + plan.stderr
    built = run_digest("build", "issue-7", "--out", "out", cwd=folder)
    assert "subject 'Pay<U+202E> deal'" in built.stdout, built.stderr
    checked = run_digest("check", "issue-7", "--offline", cwd=folder)
    assert "Article 1: Grève<U+202E>tsriF 👩\u200d👩\u200d👧" in checked.stdout, checked.stdout
    for out in (plan, built, checked):
        assert "\u202e" not in out.stdout + out.stderr
        assert "\\u202e" not in out.stdout + out.stderr


def test_shown_spells_out_only_what_could_break_the_line():
    kept = "Grève — مرحبا 👩\u200d👩\u200d👧 e\u0301 \u00ad"
    assert shown(kept) == kept
    assert shown("a\tb\x1b[31mc\u2028d\u200fe\ud800") == (
        "a<U+0009>b<U+001B>[31mc<U+2028>d<U+200F>e<U+D800>"
    )
