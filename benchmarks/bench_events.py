"""Provider events into the ledger: reading and recording one webhook request of N events.

Builds a ledger of --recipients sends (SendGrid-like: one message id per 1,000), then times,
for a request of --events ``delivered`` events:

* parse: bounded JSON, typed models, normalised events (:mod:`digest.events.sendgrid`);
* record by message id: matched through the batch's message id and the address;
* record by digest's id: the message id unknown, matched through the ``digest_id``
  custom argument and the address.

Run: ``python benchmarks/bench_events.py [--recipients N] [--events N]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from digest.events.payload import load_json, validate
from digest.events.sendgrid import SendGridEvent, event_from
from digest.sending.event_log import record_request
from digest.sending.ledger import Ledger, Outcome
from digest.sending.personalise import digest_id_for


def build_ledger(path: Path, recipients: int) -> Ledger:
    ledger = Ledger(path)
    ledger.start_issue("issue-1", "h", "s")
    ledger.add_recipients(
        "issue-1", [(f"r{i}@example.org", "", {}, None) for i in range(recipients)]
    )
    while batch := ledger.plan_batch("issue-1", "h", 1000):
        members = ledger.members(batch)
        ledger.record_results(
            batch, [Outcome(m.id, True, f"X{batch.number}", None, False) for m in members]
        )
    return ledger


def request(events: int, *, by_digest_id: bool, offset: int) -> bytes:
    items = []
    for i in range(events):
        email = f"r{i}@example.org"
        items.append(
            {
                "event": "delivered",
                "email": email,
                "timestamp": 1764000000 + offset,
                "sg_event_id": f"e{offset}-{i}",
                "sg_message_id": "unknown.filter0" if by_digest_id else f"X{i // 1000 + 1}.f0",
                "digest_id": digest_id_for("issue-1", email),
            }
        )
    return json.dumps(items).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ledger = build_ledger(Path(tmp) / "ledger.sqlite3", args.recipients)
        for offset, (label, by_digest_id) in enumerate(
            (("by message id", False), ("by digest's id", True))
        ):
            body = request(args.events, by_digest_id=by_digest_id, offset=offset)
            t0 = time.perf_counter()
            events = [
                event_from(validate(SendGridEvent, item, "event")) for item in load_json(body)
            ]
            t1 = time.perf_counter()
            done = record_request(ledger, "sendgrid", events)
            t2 = time.perf_counter()
            print(
                f"{args.events} events, {args.recipients} sends, {label}: "
                f"parse {(t1 - t0) * 1000:.0f} ms, record {(t2 - t1) * 1000:.0f} ms "
                f"({done.recorded} recorded)"
            )
        ledger.close()


if __name__ == "__main__":
    main()
