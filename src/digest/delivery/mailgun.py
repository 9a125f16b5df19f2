"""Mailgun: ``POST /v3/<domain>/messages`` as a form, up to 1,000 recipients a call.

Batch sending: one ``to`` per recipient plus ``recipient-variables`` (a JSON object keyed
by address) makes Mailgun send each recipient a message of their own, filling
``%recipient.KEY%`` in the subject, bodies and headers. Without recipient-variables every
recipient would see all the others in To, so every request carries them. Mailgun answers
with one id for the whole call and refuses the whole call for one bad address (400), so the
base splits the batch.
"""

from __future__ import annotations

import json
from typing import ClassVar, Literal
from urllib.parse import quote

import httpx

from ..errors import PermanentDeliveryError
from ..message import Batch
from ._http import HTTPOptions, HTTPProvider, HTTPRequest, MergeTokens
from .base import Options, RecipientResult

__all__ = ["REGIONS", "MailgunOptions", "MailgunProvider"]

KEY_ENV = "MAILGUN_API_KEY"

REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}

_MAX_TAGS = 3


def _token(key: str) -> str:
    return f"%recipient.{key}%"


class MailgunOptions(HTTPOptions):
    domain: str
    """Your sending domain, e.g. ``mg.example.org``."""
    region: Literal["us", "eu"] = "us"
    """Where the domain lives: ``us`` (api.mailgun.net) or ``eu`` (api.eu.mailgun.net)."""
    base_url: str | None = None  # type: ignore[assignment]
    """Overrides the region's endpoint (a proxy, a test server)."""
    tracking: bool | None = None
    """Turn Mailgun's open and click tracking on or off (``o:tracking``); unset: the
    domain's setting."""


class MailgunProvider(HTTPProvider):
    name = "mailgun"
    description = "Mailgun messages API (1,000 recipients per call with recipient-variables)"
    options_model: ClassVar[type[Options]] = MailgunOptions
    env_vars = (KEY_ENV,)
    max_batch = 1000
    max_batch_bytes = None
    idempotent = False
    rejects_whole_batch = True
    split_statuses = frozenset({400, 413})
    key_env = KEY_ENV

    options: MailgunOptions

    def base_url(self) -> str:
        return self.options.base_url or REGIONS[self.options.region]

    def auth(self) -> httpx.Auth | None:
        return httpx.BasicAuth("api", self.api_key)

    def build_request(self, batch: Batch) -> HTTPRequest:
        c = batch.content
        tokens = MergeTokens(_token)
        form: dict[str, str | list[str]] = {
            "from": c.sender.formatted(),
            "to": [r.address.formatted() for r in batch.recipients],
            "subject": tokens.rewrite(c.subject, escape=False),
            "text": tokens.rewrite(c.text, escape=False),
            "html": tokens.rewrite(c.html, escape=True),
            "o:tag": list(dict.fromkeys([c.issue_id, *c.tags]))[:_MAX_TAGS],
            "v:digest-issue": c.issue_id,
        }
        for k, v in c.metadata.items():
            form[f"v:{k}"] = v
        if c.reply_to:
            form["h:Reply-To"] = c.reply_to.formatted()
        for k, v in c.headers.items():
            form[f"h:{k}"] = tokens.rewrite(v, escape=False)
        if self.options.tracking is not None:
            form["o:tracking"] = "yes" if self.options.tracking else "no"
        variables: dict[str, dict[str, str]] = {}
        for i, r in enumerate(batch.recipients):
            variables[r.email] = {"digest_n": str(i), **tokens.values(r)}
        form["recipient-variables"] = json.dumps(variables, ensure_ascii=False)
        return HTTPRequest("POST", f"/v3/{quote(self.options.domain, safe='')}/messages", data=form)

    def blame(self, batch: Batch, error: PermanentDeliveryError) -> set[int] | None:
        """Mailgun does not say which address is bad, but it does say when none is."""
        try:
            message = json.loads(error.body).get("message", "")
        except (ValueError, AttributeError):
            return None
        if not isinstance(message, str):
            return None
        everyone = (
            "from parameter",
            "need at least one of",
            "send options",
            "header name",
            "recipient-variables",
        )
        return set() if message.lower().startswith(everyone) else None

    def parse_response(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        try:
            body = response.json()
        except ValueError:
            body = None
        message_id = body.get("id") if isinstance(body, dict) else None
        if not message_id:
            self.log.warning(
                "mailgun accepted a batch without giving its id (status %s)", response.status_code
            )
        return [RecipientResult(r.email, True, message_id=message_id) for r in batch.recipients]
