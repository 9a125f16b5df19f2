"""Provider webhooks over real HTTP into a real SQLite ledger.

Every signature here is computed in the test from the provider's documented algorithm
(Mailgun: hex HMAC-SHA256 of timestamp + token; Svix for Resend: base64 HMAC-SHA256 of
"id.timestamp.body" under the base64 key after "whsec_"), never with digest's own code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.test_web_app import BASE_TOML, SECRET, Site, seed_sent, serve_site, states

from digest.config import load_settings
from digest.events import BadPayload, Unauthorized, parse_webhook

MAILGUN_KEY = "mailgun-signing-key-0123456789"
RESEND_KEY = base64.b64encode(b"resend-key-bytes-0123456789abcdef").decode()
RESEND_SECRET = "whsec_" + RESEND_KEY
ENV = {
    "DIGEST_SECRET": SECRET,
    "DIGEST_WEBHOOK_USER": "postmark",
    "DIGEST_WEBHOOK_PASSWORD": "hook-password-42",
    "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
    "RESEND_WEBHOOK_SECRET": RESEND_SECRET,
}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with serve_site(tmp_path, BASE_TOML, ENV) as s:
        seed_sent(
            s,
            {
                "ann@example.org": "pm-ann-0001",
                "bob@example.org": "pm-bob-0002",
                "cat@example.org": "re_cat_0003",
            },
        )
        yield s


def tally(response: httpx.Response) -> tuple[int, int, int]:
    """(events read, events recorded, suppression entries newly made) from a webhook's answer."""
    assert response.status_code == 200, response.text
    answer = response.json()
    return answer["events"], answer["recorded"], answer["suppressed"]


def event_kinds(site: Site, email: str) -> list[str]:
    """The kinds of the events recorded for ``email``, oldest first."""
    with site.ledger() as ledger:
        rows = ledger.db.execute("SELECT kind FROM events WHERE email = ? ORDER BY id", (email,))
        return [r[0] for r in rows]


def suppressed(site: Site, email: str) -> str | None:
    with site.ledger() as ledger:
        return ledger.is_suppressed(email)


def suppression_count(site: Site) -> int:
    with site.ledger() as ledger:
        return ledger.suppression_count()


def test_unknown_provider_is_404(site: Site) -> None:
    assert httpx.post(site.url + "/webhooks/sparkpost", json={}).status_code == 404


# -- Postmark: basic auth ------------------------------------------------------------------


def postmark(
    site: Site, payload: dict[str, Any], auth: tuple[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        site.url + "/webhooks/postmark",
        json=payload,
        auth=auth if auth is not None else ("postmark", "hook-password-42"),
    )


def postmark_bounce(
    message_id: str, email: str, type_: str = "HardBounce", **extra: Any
) -> dict[str, Any]:
    """Shaped like Postmark's documented bounce webhook."""
    return {
        "RecordType": "Bounce",
        "ID": 42,
        "Type": type_,
        "TypeCode": 1 if type_ == "HardBounce" else 4096,
        "Name": "Hard bounce",
        "MessageID": message_id,
        "MessageStream": "broadcast",
        "Description": "The server was unable to deliver your message",
        "Details": "smtp;550 5.1.1 unknown user",
        "Email": email,
        "From": "weekly@example.org",
        "BouncedAt": "2026-11-24T13:28:10Z",
        "DumpAvailable": False,
        "Inactive": type_ == "HardBounce",
        "CanActivate": True,
        "Subject": "Test Weekly #12",
        **extra,
    }


def test_postmark_hard_bounce_marks_the_send_and_suppresses(site: Site) -> None:
    response = postmark(site, postmark_bounce("pm-ann-0001", "ann@example.org"))
    assert response.status_code == 200
    assert tally(response)[:2] == (1, 1)
    assert states(site)["ann@example.org"] == "bounced"
    assert states(site)["bob@example.org"] == "sent"
    assert suppressed(site, "ann@example.org") == "bounced"


def test_postmark_spam_complaint_suppresses_as_complained(site: Site) -> None:
    payload = postmark_bounce("pm-bob-0002", "bob@example.org", "SpamComplaint")
    payload["RecordType"] = "SpamComplaint"
    assert postmark(site, payload).status_code == 200
    assert states(site)["bob@example.org"] == "complained"
    assert suppressed(site, "bob@example.org") == "complained"


def test_postmark_complaint_after_a_hard_bounce_is_recorded_beside_it(site: Site) -> None:
    assert tally(postmark(site, postmark_bounce("pm-bob-0002", "bob@example.org")))[2] == 1
    complaint = postmark_bounce("pm-bob-0002", "bob@example.org", "SpamComplaint")
    complaint.update(RecordType="SpamComplaint", ID=43)
    assert tally(postmark(site, complaint)) == (1, 1, 1)
    assert suppressed(site, "bob@example.org") == "complained"
    with site.ledger() as ledger:
        assert [s.reason for s in ledger.suppressions("bob@example.org")] == [
            "complained",
            "bounced",
        ]
        assert ledger.remove_suppression("bob@example.org") == ("bounced",)
        assert ledger.is_suppressed("bob@example.org") == "complained"


def test_postmark_soft_bounce_and_delivery_are_recorded_without_suppressing(site: Site) -> None:
    soft = postmark_bounce("pm-ann-0001", "ann@example.org", "SoftBounce")
    assert tally(postmark(site, soft)) == (1, 1, 0)
    delivery = {
        "RecordType": "Delivery",
        "MessageID": "pm-ann-0001",
        "Recipient": "ann@example.org",
        "DeliveredAt": "2026-11-24T13:28:12Z",
    }
    assert tally(postmark(site, delivery)) == (1, 1, 0)
    assert states(site)["ann@example.org"] == "sent"
    assert suppression_count(site) == 0
    assert event_kinds(site, "ann@example.org") == ["soft_bounce", "delivered"]


def test_postmark_event_for_an_unknown_message_is_200_and_changes_nothing(site: Site) -> None:
    response = postmark(site, postmark_bounce("not-ours-9999", "zed@example.org"))
    assert response.status_code == 200
    assert tally(response)[:2] == (1, 0)
    assert suppression_count(site) == 0


def test_postmark_without_or_with_wrong_credentials_is_401(site: Site) -> None:
    payload = postmark_bounce("pm-ann-0001", "ann@example.org")
    unsigned = httpx.post(site.url + "/webhooks/postmark", json=payload)
    assert unsigned.status_code == 401
    assert unsigned.headers["www-authenticate"].startswith("Basic ")
    assert postmark(site, payload, ("postmark", "wrong")).status_code == 401
    assert postmark(site, payload, ("someone", "hook-password-42")).status_code == 401
    bad = httpx.post(
        site.url + "/webhooks/postmark", json=payload, headers={"Authorization": "Basic !!!"}
    )
    assert bad.status_code == 401
    assert suppression_count(site) == 0


def test_postmark_is_refused_when_no_credentials_are_configured(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "DIGEST_WEBHOOK_PASSWORD"}
    with serve_site(tmp_path, BASE_TOML, env) as site:
        seed_sent(site, {"ann@example.org": "pm-ann-0001"})
        payload = postmark_bounce("pm-ann-0001", "ann@example.org")
        assert postmark(site, payload, ("postmark", "")).status_code == 401
        assert suppression_count(site) == 0


def test_postmark_authenticated_garbage_is_400(site: Site) -> None:
    response = httpx.post(
        site.url + "/webhooks/postmark", content=b"not json", auth=("postmark", "hook-password-42")
    )
    assert response.status_code == 400


# -- Mailgun: HMAC of timestamp + token in the body ----------------------------------------


def mailgun_body(
    event_data: dict[str, Any],
    *,
    key: str = MAILGUN_KEY,
    timestamp: int | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    tok = token or secrets.token_hex(25)
    sig = hmac.new(key.encode(), (ts + tok).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": ts, "token": tok, "signature": sig},
        "event-data": event_data,
    }


def mailgun_failed(recipient: str, message_id: str, severity: str = "permanent") -> dict[str, Any]:
    """Shaped like Mailgun's documented "failed" webhook: the message-id has no angle brackets."""
    return {
        "event": "failed",
        "severity": severity,
        "reason": "bounce",
        "recipient": recipient,
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "timestamp": time.time(),
        "log-level": "error",
        "message": {"headers": {"message-id": message_id, "to": recipient}},
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"},
    }


@pytest.fixture
def mailgun_site(tmp_path: Path) -> Iterator[Site]:
    """A Mailgun send: one message id for the whole batch, as Mailgun's API answers it."""
    with serve_site(tmp_path, BASE_TOML, ENV) as s:
        batch_id = "<20261124132638.abc123@mg.example.org>"
        seed_sent(s, {"ann@example.org": batch_id, "bob@example.org": batch_id})
        yield s


def mailgun(site: Site, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(site.url + "/webhooks/mailgun", json=body)


def test_mailgun_permanent_failure_bounces_only_that_recipient_of_the_batch(
    mailgun_site: Site,
) -> None:
    event = mailgun_failed("ann@example.org", "20261124132638.abc123@mg.example.org")
    response = mailgun(mailgun_site, mailgun_body(event))
    assert response.status_code == 200
    assert tally(response)[:2] == (1, 1)
    assert states(mailgun_site) == {"ann@example.org": "bounced", "bob@example.org": "sent"}
    assert suppressed(mailgun_site, "ann@example.org") == "bounced"
    assert suppressed(mailgun_site, "bob@example.org") is None


def test_mailgun_complaint_suppresses(mailgun_site: Site) -> None:
    event = {
        "event": "complained",
        "recipient": "bob@example.org",
        "message": {"headers": {"message-id": "20261124132638.abc123@mg.example.org"}},
    }
    assert mailgun(mailgun_site, mailgun_body(event)).status_code == 200
    assert states(mailgun_site)["bob@example.org"] == "complained"


def test_mailgun_temporary_failure_is_a_deferral_and_suppresses_nothing(mailgun_site: Site) -> None:
    event = mailgun_failed("ann@example.org", "20261124132638.abc123@mg.example.org", "temporary")
    assert tally(mailgun(mailgun_site, mailgun_body(event))) == (1, 1, 0)
    assert suppression_count(mailgun_site) == 0
    assert event_kinds(mailgun_site, "ann@example.org") == ["deferred"]


def test_mailgun_wrong_key_missing_signature_or_old_timestamp_is_401_and_not_json_400(
    mailgun_site: Site,
) -> None:
    event = mailgun_failed("ann@example.org", "20261124132638.abc123@mg.example.org")
    assert mailgun(mailgun_site, mailgun_body(event, key="not-the-key")).status_code == 401
    assert mailgun(mailgun_site, {"event-data": event}).status_code == 401
    old = mailgun_body(event, timestamp=int(time.time()) - 3600)
    assert mailgun(mailgun_site, old).status_code == 401
    future = mailgun_body(event, timestamp=int(time.time()) + 3600)
    assert mailgun(mailgun_site, future).status_code == 401
    tampered = mailgun_body(event)
    tampered["signature"]["token"] += "x"
    assert mailgun(mailgun_site, tampered).status_code == 401
    not_json = httpx.post(mailgun_site.url + "/webhooks/mailgun", content=b"timestamp=1&token=2")
    assert not_json.status_code == 400
    assert suppression_count(mailgun_site) == 0


def test_mailgun_replayed_token_is_acknowledged_and_changes_nothing(mailgun_site: Site) -> None:
    event = mailgun_failed("ann@example.org", "20261124132638.abc123@mg.example.org")
    body = mailgun_body(event)
    assert tally(mailgun(mailgun_site, body)) == (1, 1, 1)
    with mailgun_site.ledger() as ledger:
        ledger.remove_suppression("ann@example.org")
    replay = mailgun(mailgun_site, body)
    assert replay.json()["replay"] is True
    assert tally(replay) == (1, 0, 0)
    assert suppressed(mailgun_site, "ann@example.org") is None


# -- Resend: Svix signatures ---------------------------------------------------------------


def svix_headers(
    body: bytes,
    *,
    secret: str = RESEND_SECRET,
    timestamp: int | None = None,
    msg_id: str | None = None,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    msg_id = msg_id or "msg_" + secrets.token_hex(12)
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "svix-id": msg_id,
        "svix-timestamp": ts,
        "svix-signature": "v1," + base64.b64encode(mac).decode(),
        "content-type": "application/json",
    }


def resend_event(kind: str, email_id: str, to: str, **data: Any) -> bytes:
    """Shaped like Resend's documented email.* webhook events."""
    payload = {
        "type": kind,
        "created_at": "2026-11-24T13:28:10.000Z",
        "data": {
            "created_at": "2026-11-24T13:20:00.000Z",
            "email_id": email_id,
            "from": "Test Weekly <weekly@example.org>",
            "to": [to],
            "subject": "Test Weekly #12",
            **data,
        },
    }
    return json.dumps(payload).encode()


def resend(site: Site, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(site.url + "/webhooks/resend", content=body, headers=headers)


def test_resend_bounce_marks_and_suppresses(site: Site) -> None:
    body = resend_event(
        "email.bounced",
        "re_cat_0003",
        "cat@example.org",
        bounce={"type": "Permanent", "subType": "General", "message": "no such user"},
    )
    response = resend(site, body, svix_headers(body))
    assert response.status_code == 200
    assert tally(response)[:2] == (1, 1)
    assert states(site)["cat@example.org"] == "bounced"
    assert suppressed(site, "cat@example.org") == "bounced"


def test_resend_complaint_suppresses(site: Site) -> None:
    body = resend_event("email.complained", "re_cat_0003", "cat@example.org")
    assert resend(site, body, svix_headers(body)).status_code == 200
    assert suppressed(site, "cat@example.org") == "complained"


def test_resend_transient_bounce_and_delivery_are_recorded_without_suppressing(site: Site) -> None:
    soft = resend_event(
        "email.bounced", "re_cat_0003", "cat@example.org", bounce={"type": "Transient"}
    )
    delivered = resend_event("email.delivered", "re_cat_0003", "cat@example.org")
    for body in (soft, delivered):
        assert tally(resend(site, body, svix_headers(body))) == (1, 1, 0)
    assert suppression_count(site) == 0
    assert event_kinds(site, "cat@example.org") == ["soft_bounce", "delivered"]


def test_resend_accepts_any_matching_signature_in_the_list(site: Site) -> None:
    body = resend_event("email.complained", "re_cat_0003", "cat@example.org")
    headers = svix_headers(body)
    headers["svix-signature"] = "v1,AAAAbm90IHRoZSBzaWduYXR1cmU= " + headers["svix-signature"]
    assert resend(site, body, headers).status_code == 200
    assert suppressed(site, "cat@example.org") == "complained"


def test_resend_unsigned_wrongly_signed_or_stale_is_401(site: Site) -> None:
    body = resend_event("email.complained", "re_cat_0003", "cat@example.org")
    other = "whsec_" + base64.b64encode(b"another-key-entirely-000000000000").decode()
    cases = [
        {"content-type": "application/json"},
        svix_headers(body, secret=other),
        svix_headers(body, timestamp=int(time.time()) - 600),
        svix_headers(body, timestamp=int(time.time()) + 600),
        {**svix_headers(body), "svix-id": "msg_different"},
    ]
    for headers in cases:
        assert resend(site, body, headers).status_code == 401
    changed = body.replace(b"cat@example.org", b"ann@example.org")
    assert resend(site, changed, svix_headers(body)).status_code == 401
    assert suppression_count(site) == 0


def test_resend_event_for_an_unknown_email_is_200_and_changes_nothing(site: Site) -> None:
    body = resend_event("email.bounced", "re_unknown", "zed@example.org")
    response = resend(site, body, svix_headers(body))
    assert response.status_code == 200
    assert tally(response)[:2] == (1, 0)
    assert suppression_count(site) == 0


def test_svix_published_example_verifies(tmp_path: Path) -> None:
    """The example in Svix's documentation: secret, id, timestamp, body and signature."""
    config = tmp_path / "digest.toml"
    config.write_text("", encoding="utf-8")
    settings = load_settings(
        config, environ={"RESEND_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    )
    headers = {
        "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "svix-timestamp": "1614265330",
        "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    body = b'{"test": 2432232314}'
    with pytest.raises(BadPayload, match="type"):  # signed right, but no Resend event
        parse_webhook("resend", settings, headers, body, now=1614265330)
    with pytest.raises(Unauthorized):
        parse_webhook("resend", settings, headers, body + b" ", now=1614265330)
    with pytest.raises(Unauthorized):
        parse_webhook("resend", settings, headers, body, now=1614265330 + 301)
