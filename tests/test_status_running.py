"""``digest status`` tells a send that is running from one that stopped (issue 12, point 6),
with a real ``digest send`` held mid-batch by a loopback Postmark and then killed."""

from __future__ import annotations

import json
import signal
import threading

from tests.send_support import (
    cli_env,
    issue_yaml,
    run_digest,
    start_digest,
    write_config,
    write_csv,
)

from servers.kit import Reply, Request, loopback
from servers.postmark import TOKEN, FakePostmark

__all__ = ["loopback"]


def test_status_tells_a_running_send_from_a_stopped_one(tmp_path, loopback):
    fake = FakePostmark()
    arrived, release = threading.Event(), threading.Event()

    def held(req: Request) -> Reply:
        reply = fake(req)
        if req.method == "POST":  # the send, not the new-ledger check's search
            arrived.set()
            release.wait(30)
        return reply

    server = loopback(held)
    write_config(
        tmp_path,
        provider="postmark",
        options={"base_url": server.url},
        delivery={"batch_size": 2, "concurrency": 1},
        sending={"ledger": "ledger.sqlite3"},
        audience={"recipients": "subs.csv"},
    )
    write_csv(tmp_path / "subs.csv", [f"r{i}@example.org" for i in range(5)])
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    env = cli_env(POSTMARK_SERVER_TOKEN=TOKEN)
    proc = start_digest("send", "issue-7.yaml", "--skip-check", cwd=tmp_path, env=env)
    try:
        assert arrived.wait(60), "the send never reached the provider"
        running = run_digest("status", "issue-7", cwd=tmp_path, env=env)
        as_json = json.loads(run_digest("status", "7", "--json", cwd=tmp_path, env=env).stdout)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert running.returncode == 0, running.stderr
    assert f"a send job is running now (process {proc.pid})" in running.stdout
    assert "1 batch in flight now." in running.stdout
    assert "when a run stopped" not in running.stdout
    assert as_json["running"] is True

    stopped = run_digest("status", "issue-7.yaml", cwd=tmp_path, env=env)
    assert "not finished" in stopped.stdout and "running" not in stopped.stdout
    assert "1 batch was in flight when a run stopped" in stopped.stdout
    assert (
        json.loads(run_digest("status", "issue-7", "--json", cwd=tmp_path, env=env).stdout)[
            "running"
        ]
        is False
    )
