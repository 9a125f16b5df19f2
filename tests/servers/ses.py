"""A fake Amazon SES v2 ``SendEmail``, checked against botocore's ``sesv2`` service model.

The request body is validated against the model's shapes (required members, member names,
types, blobs as base64), the ``Authorization`` header is checked for the Signature Version 4
shape and then verified by recomputing the signature from AWS's published algorithm (written
here with hashlib/hmac, not with botocore's signer, so the adapter's signing is tested by an
independent implementation). Errors follow the rest-json protocol: the error type in
``x-amzn-ErrorType`` and ``{"message": ...}`` in the body, with the model's status codes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.policy
import gzip
import hashlib
import hmac
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import botocore

from .kit import Reply, Request

__all__ = ["FakeSES", "Sent", "load_model", "validate"]

PATH = "/v2/email/outbound-emails"
AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


def load_model() -> dict[str, Any]:
    """botocore's service model for SES v2 (the newest API version it ships)."""
    root = Path(botocore.__file__).parent / "data" / "sesv2"
    latest = sorted(p for p in root.iterdir() if p.is_dir())[-1]
    plain = latest / "service-2.json"
    if plain.exists():
        return json.loads(plain.read_text("utf-8"))  # type: ignore[no-any-return]
    with gzip.open(latest / "service-2.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]


def validate(model: dict[str, Any], shape_name: str, value: Any, where: str = "") -> list[str]:
    """Problems of ``value`` against the model's shape, as AWS's validation would name them."""
    shape = model["shapes"][shape_name]
    kind = shape["type"]
    here = where or shape_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{here}: expected an object"]
        problems = [f"{here}: missing required member {m}"
                    for m in shape.get("required", []) if m not in value]
        for name, member in value.items():
            if name not in shape["members"]:
                problems.append(f"{here}: unknown member {name}")
                continue
            problems += validate(model, shape["members"][name]["shape"], member,
                                 f"{here}.{name}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{here}: expected a list"]
        out: list[str] = []
        for i, item in enumerate(value):
            out += validate(model, shape["member"]["shape"], item, f"{here}[{i}]")
        return out
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{here}: expected a map"]
        out = []
        for k, v in value.items():
            out += validate(model, shape["value"]["shape"], v, f"{here}.{k}")
        return out
    if kind == "string":
        if not isinstance(value, str):
            return [f"{here}: expected a string"]
        if "min" in shape and len(value) < shape["min"]:
            return [f"{here}: shorter than {shape['min']}"]
        if "max" in shape and len(value) > shape["max"]:
            return [f"{here}: longer than {shape['max']}"]
        if "enum" in shape and value not in shape["enum"]:
            return [f"{here}: not one of {shape['enum']}"]
        return []
    if kind == "blob":
        if not isinstance(value, str):
            return [f"{here}: expected base64 text"]
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return [f"{here}: not valid base64"]
        return []
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{here}: expected a boolean"]
    if kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{here}: expected an integer"]
    if kind in ("double", "float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{here}: expected a number"]
    if kind == "timestamp":
        return [] if isinstance(value, (int, float, str)) else [f"{here}: expected a timestamp"]
    return [f"{here}: unhandled shape type {kind}"]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def expected_signature(req: Request, secret: str, *, date: str, region: str, service: str,
                       signed: list[str], amz_date: str) -> str:
    """The SigV4 signature of ``req`` per AWS's documented algorithm."""
    canonical_headers = "".join(
        f"{name}:{' '.join((req.header(name) or '').split())}\n" for name in signed
    )
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k in sorted(req.query) for v in sorted(req.query[k])
    )
    canonical_request = "\n".join([
        req.method,
        quote(req.path, safe="/-_.~"),
        query,
        canonical_headers,
        ";".join(signed),
        hashlib.sha256(req.body).hexdigest(),
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope,
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class Sent:
    """One raw message SES accepted."""

    message_id: str
    to: list[str]
    sender: str
    mime: EmailMessage
    configuration_set: str | None
    tags: list[dict[str, str]]


@dataclass
class FakeSES:
    """The app. ``rejected`` addresses get ``MessageRejected``, as SES does for suppressed or
    (in the sandbox) unverified recipients."""

    access_key: str = "AKIDEXAMPLE"
    secret_key: str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    session_token: str | None = None
    region: str = "us-east-1"
    verified: set[str] = field(default_factory=lambda: {"example.org"})
    configuration_sets: set[str] = field(default_factory=lambda: {"digest-events"})
    rejected: set[str] = field(default_factory=set)
    sent: list[Sent] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=load_model, repr=False)
    clock: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def deliveries(self, address: str) -> int:
        with self._lock:
            return sum(1 for s in self.sent for t in s.to if _addr(t) == address.lower())

    def __call__(self, req: Request) -> Reply:
        op = self.model["operations"]["SendEmail"]["http"]
        if req.method != op["method"] or req.path != op["requestUri"]:
            return _error(404, "NotFoundException", "Unknown operation.")
        denied = self._check_signature(req)
        if denied:
            return denied
        if req.json is None:
            return _error(400, "SerializationException", "Request body is not valid JSON.")
        problems = validate(self.model, "SendEmailRequest", req.json)
        if problems:
            return _error(400, "BadRequestException", "; ".join(problems))
        return self._send(req.json)

    def _check_signature(self, req: Request) -> Reply | None:
        auth = req.header("authorization") or ""
        m = AUTH_RE.match(auth)
        if not m:
            return _error(403, "IncompleteSignatureException",
                          "Authorization header requires 'Credential', 'SignedHeaders' and "
                          "'Signature' in the AWS4-HMAC-SHA256 form.")
        amz_date = req.header("x-amz-date") or ""
        if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or amz_date[:8] != m["date"]:
            return _error(403, "IncompleteSignatureException",
                          "X-Amz-Date is missing or does not match the credential scope.")
        signed = m["signed"].split(";")
        if signed != sorted(signed) or not {"host", "x-amz-date"} <= set(signed):
            return _error(403, "IncompleteSignatureException",
                          "SignedHeaders must be sorted and include host and x-amz-date.")
        if m["akid"] != self.access_key:
            return _error(403, "UnrecognizedClientException",
                          "The security token included in the request is invalid.")
        if m["region"] != self.region or m["service"] != self.model["metadata"]["signingName"]:
            return _error(403, "InvalidSignatureException",
                          f"Credential should be scoped to a valid region and the service "
                          f"'{self.model['metadata']['signingName']}'.")
        if self.session_token is not None and (
            req.header("x-amz-security-token") != self.session_token
            or "x-amz-security-token" not in signed
        ):
            return _error(403, "UnrecognizedClientException",
                          "The security token included in the request is invalid.")
        now = self.clock() if self.clock else dt.datetime.now(dt.UTC)
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        if abs((now - when).total_seconds()) > 15 * 60:
            return _error(403, "InvalidSignatureException", "Signature expired.")
        want = expected_signature(req, self.secret_key, date=m["date"], region=m["region"],
                                  service=m["service"], signed=signed, amz_date=amz_date)
        if not hmac.compare_digest(want, m["signature"]):
            return _error(403, "InvalidSignatureException",
                          "The request signature we calculated does not match the signature "
                          "you provided.")
        return None

    def _send(self, body: dict[str, Any]) -> Reply:
        raw_part = body["Content"].get("Raw")
        if raw_part is None:
            return _error(400, "BadRequestException", "Only raw content is supported here.")
        raw = base64.b64decode(raw_part["Data"])
        mime = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(mime, EmailMessage)
        sender = body.get("FromEmailAddress") or str(mime["From"] or "")
        if not sender:
            return _error(400, "BadRequestException", "Missing From address.")
        domain = _addr(sender).rpartition("@")[2]
        if _addr(sender) not in self.verified and domain not in self.verified:
            return _error(400, "MessageRejected",
                          f"Email address is not verified. The following identities failed "
                          f"the check in region {self.region.upper()}: {sender}")
        to = list((body.get("Destination") or {}).get("ToAddresses") or [])
        if not to:
            to = [str(a) for a in mime.get_all("To", [])]
        if not to:
            return _error(400, "BadRequestException", "No recipients.")
        for header in ("From", "Subject"):
            if mime[header] is None:
                return _error(400, "MessageRejected", f"Missing required header '{header}'.")
        config = body.get("ConfigurationSetName")
        if config is not None and config not in self.configuration_sets:
            return _error(404, "NotFoundException", f"Configuration set <{config}> does not "
                          "exist.")
        if any(_addr(t) in self.rejected for t in to):
            return _error(400, "MessageRejected",
                          "Address blacklisted: the recipient is on the suppression list.")
        message_id = f"0100018c{uuid.uuid4().hex}-000000"
        with self._lock:
            self.sent.append(Sent(message_id, to, sender, mime, config,
                                  list(body.get("EmailTags") or [])))
        return Reply(200, {"MessageId": message_id})


def _addr(value: str) -> str:
    value = value.strip()
    if value.endswith(">") and "<" in value:
        value = value[value.rindex("<") + 1 : -1]
    return value.strip().lower()


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"message": message},
                 {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"})
