"""``[delivery] rate`` holds in messages a second (issue 12, point 1): the real ``digest``
command against a loopback Postmark and a real SMTP server, arrival times checked against
the configured rate with generous tolerance (a bound, not a benchmark)."""

from __future__ import annotations

import threading
import time

from tests.send_support import cli_env, issue_yaml, run_digest, write_config, write_csv

from servers.kit import Reply, Request, loopback
from servers.postmark import TOKEN, FakePostmark
from servers.smtp import SMTPServer

__all__ = ["loopback"]

SLACK = 0.6
"""Seconds of jitter allowed between when a call starts and when the server sees it (the
machine may be busy: the first call also opens the connection)."""


def _folder(tmp_path, provider, options, n, rate):
    write_config(
        tmp_path,
        provider=provider,
        options=options,
        delivery={"rate": rate, "concurrency": 2},
        sending={"ledger": "ledger.sqlite3"},
        audience={"recipients": "subs.csv"},
    )
    write_csv(tmp_path / "subs.csv", [f"r{i}@example.org" for i in range(n)])
    (tmp_path / "issue-7.yaml").write_text(issue_yaml(), encoding="utf-8")
    return tmp_path


def test_http_batches_are_capped_at_the_rate_and_spaced(tmp_path, loopback):
    n, rate = 12, 4
    fake = FakePostmark()
    arrivals: list[tuple[float, int]] = []
    lock = threading.Lock()

    def timed(req: Request) -> Reply:
        with lock:
            arrivals.append((time.monotonic(), len(req.json or [])))
        return fake(req)

    server = loopback(timed)
    folder = _folder(tmp_path, "postmark", {"base_url": server.url}, n, rate)
    env = cli_env(POSTMARK_SERVER_TOKEN=TOKEN)
    plan = run_digest("send", "issue-7", "--dry-run", cwd=folder, env=env)
    assert "3 batches of up to 4" in plan.stdout, plan.stdout
    assert "ETA              2s" in plan.stdout
    done = run_digest("send", "issue-7", "--skip-check", cwd=folder, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(size for _, size in arrivals) == n
    assert max(size for _, size in arrivals) <= rate
    arrivals.sort()
    assert arrivals[-1][0] - arrivals[0][0] >= (n - rate) / rate - SLACK
    for i in range(len(arrivals)):
        for j in range(i + 1, len(arrivals)):
            sent_before = sum(size for _, size in arrivals[i:j])
            assert sent_before <= rate * (arrivals[j][0] - arrivals[i][0] + SLACK)


def test_smtp_is_paced_message_by_message(tmp_path):
    n, rate = 8, 5
    with SMTPServer() as smtp:
        options = {"host": "127.0.0.1", "port": smtp.port, "security": "none"}
        folder = _folder(tmp_path, "smtp", options, n, rate)
        plan = run_digest("send", "issue-7", "--dry-run", cwd=folder)
        done = run_digest("send", "issue-7", "--skip-check", cwd=folder)
        times = sorted(m.at for m in smtp.messages)
    assert "8 batches of up to 1" in plan.stdout, plan.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(times) == n
    assert times[-1] - times[0] >= (n - 1) / rate - SLACK
    for i in range(n):
        for j in range(i + 1, n):
            assert j - i <= rate * (times[j] - times[i] + SLACK)
