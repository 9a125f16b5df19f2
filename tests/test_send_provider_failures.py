"""A send the provider refuses or fails, end to end through the CLI: the reason is kept and
shown, the API key never is (even when the provider repeats it back), and the hint names a
command that works."""

from __future__ import annotations

from pathlib import Path

from tests.send_support import cli_env, issue_yaml, run_digest, write_config, write_csv
from tests.servers.kit import Reply, Request, serve

TOKEN = "pm-secret-token-9f8e7d6c5b4a"


def _echoing_refusal(req: Request) -> Reply:
    """The worst case: a 422 whose message quotes the token it was sent."""
    token = req.headers.get("x-postmark-server-token", "")
    return Reply(422, {"ErrorCode": 300, "Message": f"Token {token} may not send to this list"})


def test_refused_send_keeps_the_key_out_of_ledger_logs_and_files(tmp_path: Path) -> None:
    with serve(_echoing_refusal) as server:
        config = write_config(
            tmp_path,
            provider="postmark",
            options={"base_url": server.url},
            delivery={"max_retries": 0},
        )
        (tmp_path / "issue.yaml").write_text(issue_yaml(), encoding="utf-8")
        csv = write_csv(tmp_path / "list.csv", ["ann@example.org", "bob@example.org"])
        env = cli_env(POSTMARK_SERVER_TOKEN=TOKEN)
        result = run_digest(
            "send",
            "issue.yaml",
            "--skip-check",  # sample-style example.org links: content rules opted out
            "--recipients",
            csv,
            "--config",
            config,
            "--log-format",
            "json",
            cwd=tmp_path,
            env=env,
        )
        status = run_digest("status", "issue.yaml", "--config", config, cwd=tmp_path, env=env)
        assert server.requests, "the provider was called"
        assert TOKEN in server.requests[0].headers.get("x-postmark-server-token", "")
    assert result.returncode == 1
    assert "may not send to this list" in result.stdout + result.stderr + status.stdout
    for text in (result.stdout, result.stderr, status.stdout, status.stderr):
        assert TOKEN not in text
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite3") for p in written)
    for path in written:
        assert TOKEN.encode() not in path.read_bytes(), path


def test_hint_after_a_retryable_failure_names_a_command_that_works(tmp_path: Path) -> None:
    outage = {"on": True}

    def app(req: Request) -> Reply:
        if outage["on"]:
            return Reply(503, {"ErrorCode": 100, "Message": "Maintenance"})
        messages = req.json if isinstance(req.json, list) else []
        return Reply(
            200,
            [
                {"ErrorCode": 0, "Message": "OK", "MessageID": f"id-{i}", "To": m.get("To")}
                for i, m in enumerate(messages)
            ],
        )

    with serve(app) as server:
        config = write_config(
            tmp_path,
            provider="postmark",
            options={"base_url": server.url},
            delivery={"max_retries": 0},
        )
        (tmp_path / "issue.yaml").write_text(issue_yaml(), encoding="utf-8")
        csv = write_csv(tmp_path / "list.csv", ["ann@example.org"])
        env = cli_env(POSTMARK_SERVER_TOKEN=TOKEN)
        failed = run_digest(
            "send",
            "issue.yaml",
            "--skip-check",
            "--recipients",
            csv,
            "--config",
            config,
            cwd=tmp_path,
            env=env,
        )
        assert failed.returncode == 1
        output = failed.stdout + failed.stderr
        assert "`digest retry issue.yaml` sends them again" in output
        outage["on"] = False
        retried = run_digest("retry", "issue.yaml", "--config", config, cwd=tmp_path, env=env)
        assert retried.returncode == 0, retried.stdout + retried.stderr
