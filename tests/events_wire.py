"""Signing and posting provider webhooks the way each provider does, for the events tests.

Every proof is made here from the provider's documented scheme, never with digest's code:
basic auth (Postmark, Mailjet, Brevo), Mailgun's HMAC of timestamp + token, Svix's HMAC of
"id.timestamp.body" (Resend), SendGrid's ECDSA over timestamp + body, and SNS's RSA
signature over the canonical string (SES, through a loopback stand-in for SNS). ``forged``
makes the same request with a proof from the wrong key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from tests.test_web_app import SECRET
from tests.test_web_webhooks_more import FakeSns

AUTH = ("hooks", "hook-password-42")
MAILGUN_KEY = "mailgun-signing-key-0123456789"
RESEND_SECRET = "whsec_" + base64.b64encode(b"resend-key-bytes-0123456789abcdef").decode()
OTHER_RESEND = "whsec_" + base64.b64encode(b"another-key-entirely-000000000000").decode()
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_SENDGRID = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-ses-events"


def env(sns_origin: str) -> dict[str, str]:
    public = SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "DIGEST_SECRET": SECRET,
        "DIGEST_WEBHOOK_USER": AUTH[0],
        "DIGEST_WEBHOOK_PASSWORD": AUTH[1],
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
        "RESEND_WEBHOOK_SECRET": RESEND_SECRET,
        "SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(public).decode(),
        "DIGEST_SES_TOPIC_ARN": TOPIC,
        "DIGEST_SNS_LOOPBACK_ORIGIN": sns_origin,
    }


def sns_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Wire:
    """Posts to one running ``digest serve``; ``sns`` serves the SNS signing certificate."""

    url: str
    sns: FakeSns

    def body_and_headers(
        self, provider: str, payload: Any, *, forged: bool = False
    ) -> tuple[bytes, dict[str, str]]:
        """The exact bytes and headers the provider would send for ``payload``."""
        headers = {"Content-Type": "application/json"}
        if provider in ("postmark", "mailjet", "brevo"):
            user, word = AUTH if not forged else (AUTH[0], "not-the-password")
            token = base64.b64encode(f"{user}:{word}".encode()).decode()
            return json.dumps(payload).encode(), {**headers, "Authorization": f"Basic {token}"}
        if provider == "mailgun":
            ts, tok = str(int(time.time())), secrets.token_hex(25)
            key = MAILGUN_KEY if not forged else "not-the-key"
            sig = hmac.new(key.encode(), (ts + tok).encode(), hashlib.sha256).hexdigest()
            body = {"signature": {"timestamp": ts, "token": tok, "signature": sig}, **payload}
            return json.dumps(body).encode(), headers
        if provider == "resend":
            body = json.dumps(payload).encode()
            msg_id, ts = "msg_" + secrets.token_hex(12), str(int(time.time()))
            key = base64.b64decode((RESEND_SECRET if not forged else OTHER_RESEND)[6:])
            mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
            sig = "v1," + base64.b64encode(mac).decode()
            return body, {
                **headers,
                "svix-id": msg_id,
                "svix-timestamp": ts,
                "svix-signature": sig,
            }
        if provider == "sendgrid":
            body = json.dumps(payload).encode() + b"\r\n"
            ts = str(int(time.time()))
            key = SENDGRID_KEY if not forged else OTHER_SENDGRID
            sig = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
            return body, {
                **headers,
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": ts,
            }
        if provider == "ses":
            message = {
                "Type": "Notification",
                "MessageId": str(uuid.uuid4()),
                "TopicArn": TOPIC,
                "Message": json.dumps(payload),
                "Timestamp": sns_now(),
            }
            signed = self.sns.sign(message)
            if forged:
                text = "".join(
                    f"{k}\n{message[k]}\n"
                    for k in ("Message", "MessageId", "Timestamp", "TopicArn", "Type")
                )
                other = OTHER_RSA.sign(text.encode(), padding.PKCS1v15(), hashes.SHA1())
                signed["Signature"] = base64.b64encode(other).decode()
            return json.dumps(signed).encode(), {
                "Content-Type": "text/plain; charset=UTF-8",
                "x-amz-sns-message-type": "Notification",
                "x-amz-sns-topic-arn": TOPIC,
            }
        raise ValueError(provider)

    def raw_headers(self, provider: str, body: bytes) -> dict[str, str]:
        """Valid proof for arbitrary bytes, where the proof is outside the body (else none)."""
        if provider in ("mailgun", "ses"):
            return {"Content-Type": "application/json"}
        if provider in ("postmark", "mailjet", "brevo"):
            return self.body_and_headers(provider, None)[1]
        if provider == "resend":
            msg_id, ts = "msg_" + secrets.token_hex(12), str(int(time.time()))
            key = base64.b64decode(RESEND_SECRET[6:])
            mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
            return {
                "svix-id": msg_id,
                "svix-timestamp": ts,
                "svix-signature": "v1," + base64.b64encode(mac).decode(),
            }
        ts = str(int(time.time()))
        sig = SENDGRID_KEY.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        }

    def post(self, provider: str, payload: Any, *, forged: bool = False) -> httpx.Response:
        body, headers = self.body_and_headers(provider, payload, forged=forged)
        return self.raw(provider, body, headers)

    def raw(self, provider: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return _CLIENT.post(f"{self.url}/webhooks/{provider}", content=body, headers=headers)


_CLIENT = httpx.Client(timeout=60)
"""One client for every post: building one costs ~0.1 s (its TLS context), a request ~5 ms."""
