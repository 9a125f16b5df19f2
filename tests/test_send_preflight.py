"""A real send checks everything before it touches the ledger, and refuses to break the
bulk-sender rules (issue 12, points 2, 3 and 5), through the real ``digest`` command."""

from __future__ import annotations

from pathlib import Path

from tests.send_support import cli_env, issue_yaml, run_digest, write_config, write_csv
from tests.servers.kit import serve
from tests.servers.postmark import FakePostmark

TOKEN = "pm-token-for-preflight"


def _postmark_folder(tmp_path: Path, url: str, *, unsubscribe: bool = True) -> Path:
    write_config(
        tmp_path,
        provider="postmark",
        options={"base_url": url},
        unsubscribe=unsubscribe,
        sending={"ledger": "ledger.sqlite3"},
        audience={"recipients": "subs.csv"},
    )
    write_csv(tmp_path / "subs.csv", ["ann@example.org", "bob@example.org"])
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    return tmp_path


def test_a_real_send_without_an_unsubscribe_url_is_refused_with_the_fix(tmp_path):
    fake = FakePostmark(token=TOKEN)
    with serve(fake) as server:
        folder = _postmark_folder(tmp_path, server.url, unsubscribe=False)
        done = run_digest(
            "send",
            "issue-7.yaml",
            "--skip-check",  # example.org links: the content rules are opted out, not compliance
            cwd=folder,
            env=cli_env(POSTMARK_SERVER_TOKEN=TOKEN),
        )
        assert not server.requests
    assert done.returncode == 6, done.stdout + done.stderr
    assert "[links] unsubscribe_url" in done.stderr and "Traceback" not in done.stderr
    assert not (folder / "ledger.sqlite3").exists()


def test_no_flag_skips_the_compliance_check(tmp_path):
    fake = FakePostmark(token=TOKEN)
    with serve(fake) as server:
        folder = _postmark_folder(tmp_path, server.url)
        toml = folder / "digest.toml"
        toml.write_text(
            toml.read_text().replace('postal_address = "1 Example Street, Springfield"\n', "")
        )
        env = cli_env(POSTMARK_SERVER_TOKEN=TOKEN)
        forced = run_digest("send", "issue-7.yaml", "--force", "--skip-check", cwd=folder, env=env)
        retried = run_digest("retry", "issue-7.yaml", cwd=folder, env=env)
        assert not server.requests
    assert forced.returncode == 6 and "postal_address" in forced.stderr
    assert retried.returncode == 6


def test_the_file_backend_goes_ahead_with_a_warning(tmp_path):
    write_config(tmp_path, unsubscribe=False, sending={"ledger": "ledger.sqlite3"})
    write_csv(tmp_path / "subs.csv", ["ann@example.org"])
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    done = run_digest(
        "send", "issue-7.yaml", "--recipients", "subs.csv", "--log-format", "text", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "warning: No unsubscribe URL" in done.stdout
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 1


def test_a_missing_secret_stops_the_send_before_the_ledger_exists(tmp_path):
    folder = _postmark_folder(tmp_path, "http://127.0.0.1:9")
    env = cli_env(POSTMARK_SERVER_TOKEN=TOKEN)
    del env["DIGEST_SECRET"]
    done = run_digest("send", "issue-7.yaml", "--skip-check", cwd=folder, env=env)
    assert done.returncode == 3 and "DIGEST_SECRET" in done.stderr
    assert not (folder / "ledger.sqlite3").exists()
    assert not (folder / "ledger.sqlite3.lock").exists()


def test_a_missing_provider_key_or_list_stops_the_send_before_the_ledger_exists(tmp_path):
    folder = _postmark_folder(tmp_path, "http://127.0.0.1:9")
    no_key = run_digest("send", "issue-7.yaml", "--skip-check", cwd=folder)
    assert no_key.returncode == 3 and "POSTMARK_SERVER_TOKEN" in no_key.stderr
    (folder / "subs.csv").write_text("address\nann@example.org\n", encoding="utf-8")
    env = cli_env(POSTMARK_SERVER_TOKEN=TOKEN)
    bad_list = run_digest("send", "issue-7.yaml", "--skip-check", cwd=folder, env=env)
    assert bad_list.returncode == 3 and "no 'email' column" in bad_list.stderr
    assert not (folder / "ledger.sqlite3").exists()
