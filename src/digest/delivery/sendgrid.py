"""SendGrid: ``POST /v3/mail/send`` with up to 1,000 personalizations a call.

The body goes once per call: the HTML and text carry substitution tags, and each
personalization (one per recipient) holds that recipient's values, subject and headers.
SendGrid answers 202 with an empty body and one ``X-Message-Id`` for the whole request; one
bad address makes it refuse the whole request with 400, so the base splits the batch.
Each personalization carries digest's per-recipient id in ``custom_args.digest_id`` (merged
by SendGrid with the message's own ``custom_args``); SendGrid offers no free look-up of what
it accepted, so a lost answer leaves its recipients unknown.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import httpx

from ..errors import PermanentDeliveryError
from ..message import Batch, Recipient
from ._http import HTTPOptions, HTTPProvider, HTTPRequest, MergeTokens, json_bytes
from .base import Options, RecipientResult

__all__ = ["SendGridOptions", "SendGridProvider"]

KEY_ENV = "SENDGRID_API_KEY"

_PERSONALIZATION_FIELD = re.compile(r"personalizations\.(\d+)\b")


def _tag(key: str) -> str:
    """A substitution tag no template text would contain by accident."""
    return f"[%digest:{key}%]"


class SendGridOptions(HTTPOptions):
    base_url: str = "https://api.sendgrid.com"
    """``https://api.eu.sendgrid.com`` for an EU-pinned subuser."""
    categories: tuple[str, ...] = ()
    """Extra categories; the issue id and the message's tags are always added."""


class SendGridProvider(HTTPProvider):
    name = "sendgrid"
    description = "SendGrid v3 mail send (1,000 personalizations per call, body sent once)"
    options_model: ClassVar[type[Options]] = SendGridOptions
    env_vars = (KEY_ENV,)
    max_batch = 1000
    max_batch_bytes = 30 * 1000 * 1000
    idempotent = False
    rejects_whole_batch = True
    key_env = KEY_ENV
    key_header = ("Authorization", "Bearer {key}")

    options: SendGridOptions

    def build_request(self, batch: Batch) -> HTTPRequest:
        c = batch.content
        tokens = MergeTokens(_tag)
        text = tokens.rewrite(c.text, escape=False)
        html = tokens.rewrite(c.html, escape=True)
        body: dict[str, Any] = {
            "personalizations": [self._personalization(batch, r, tokens) for r in batch.recipients],
            "from": _address(c.sender.email, c.sender.name),
            "subject": c.subject_for(Recipient(email="")),
            "content": [
                {"type": "text/plain", "value": text},
                {"type": "text/html", "value": html},
            ],
            "custom_args": {**c.metadata, "digest_issue": c.issue_id},
        }
        categories = list(dict.fromkeys([c.issue_id, *c.tags, *self.options.categories]))
        body["categories"] = categories[:10]
        if c.reply_to:
            body["reply_to"] = _address(c.reply_to.email, c.reply_to.name)
        return HTTPRequest("POST", "/v3/mail/send", json=body)

    def _personalization(self, batch: Batch, r: Recipient, tokens: MergeTokens) -> dict[str, Any]:
        c = batch.content
        p: dict[str, Any] = {
            "to": [_address(r.email, r.name)],
            "subject": c.subject_for(r),
        }
        headers = {k: v for k, v in c.headers_for(r).items() if v.strip("<>, ")}
        if headers:
            p["headers"] = headers
        values = tokens.values(r)
        if values:
            p["substitutions"] = {_tag(k): v for k, v in values.items()}
        if r.digest_id:
            p["custom_args"] = {"digest_id": r.digest_id}
        return p

    def recipient_bytes(self, batch: Batch, recipient: Recipient) -> int:
        """The personalization without its substitutions, plus each value twice (escaped
        for HTML and raw for text) with room for the tags."""
        c = batch.content
        p = {
            "to": [_address(recipient.email, recipient.name)],
            "subject": c.subject_for(recipient),
            "headers": c.headers_for(recipient),
        }
        values = sum(len(v.encode()) for v in recipient.values().values())
        return len(json_bytes(p)) + int(values * 2.4) + 40 * len(c.merge_fields) + 1

    def shared_bytes(self, batch: Batch) -> int:
        c = batch.content
        return int((len(c.html.encode()) + len(c.text.encode())) * 1.1) + 2048

    def parse_response(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        message_id = response.headers.get("x-message-id")
        return [RecipientResult(r.email, True, message_id=message_id) for r in batch.recipients]

    def blame(self, batch: Batch, error: PermanentDeliveryError) -> set[int] | None:
        """SendGrid names the field at fault, e.g. ``personalizations.5.to.0.email``.

        A field outside ``personalizations`` (``from.email``, ``content``) is everyone's
        problem; ``personalizations`` alone (a duplicate, too many) says nobody in
        particular, so the base splits.
        """
        try:
            errors = json.loads(error.body).get("errors")
        except (ValueError, AttributeError):
            return None
        if not isinstance(errors, list) or not errors:
            return None
        culprits: set[int] = set()
        for e in errors:
            field = e.get("field") if isinstance(e, dict) else None
            if not isinstance(field, str):
                return None
            m = _PERSONALIZATION_FIELD.match(field)
            if m and int(m.group(1)) < len(batch.recipients):
                culprits.add(int(m.group(1)))
            elif field.startswith("personalizations"):
                return None
        return culprits

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors:
            parts = []
            for e in errors:
                if isinstance(e, dict):
                    where = f" ({e['field']})" if e.get("field") else ""
                    parts.append(f"{e.get('message', '')}{where}")
                else:
                    parts.append(json.dumps(e))
            return "; ".join(parts)
        return super().error_message(response)


def _address(email: str, name: str) -> dict[str, str]:
    """SendGrid's address object; its names may not hold ``;`` or ``,``."""
    out = {"email": email}
    clean = " ".join(name.replace(";", " ").replace(",", " ").split())
    if clean:
        out["name"] = clean
    return out
