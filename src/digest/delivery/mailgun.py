"""Mailgun: ``POST /v3/<domain>/messages`` as a form, up to 1,000 recipients a call.

Batch sending: one ``to`` per recipient plus ``recipient-variables`` (a JSON object keyed
by address) makes Mailgun send each recipient a message of their own, filling
``%recipient.KEY%`` in the subject, bodies and headers. Without recipient-variables every
recipient would see all the others in To, so every request carries them. Mailgun answers
with one id for the whole call and refuses the whole call for one bad address (400), so the
base splits the batch.

Each recipient's message carries digest's per-recipient id as the custom variable
``v:digest_id`` (``%recipient.digest_id%``, filled from recipient-variables). After a lost
answer, the Events API (``GET /v3/<domain>/events`` with ``event=accepted``, ``tags``,
``begin`` in epoch seconds, ``ascending=yes``, ``limit`` ≤ 300, pages followed through
``paging.next``) lists the accepted messages with their ``user-variables``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode

import httpx

from ..errors import PermanentDeliveryError
from ..message import Batch, Content, Recipient
from ._http import HTTPOptions, HTTPProvider, HTTPRequest, MergeTokens
from .base import Options, RecipientResult

__all__ = ["REGIONS", "MailgunOptions", "MailgunProvider"]

KEY_ENV = "MAILGUN_API_KEY"

REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}

_MAX_TAGS = 3
_EVENTS_PAGE = 300


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
    reconciles = True
    rejects_whole_batch = True
    split_statuses = frozenset({400, 413})
    key_env = KEY_ENV
    form_encoding = "multipart"  # the API's documented form; 1,000 recipients' variables

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
            "v:digest_id": _token("digest_id"),
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
            variables[r.email] = {
                "digest_n": str(i),
                "digest_id": r.digest_id or "",
                **tokens.values(r),
            }
        form["recipient-variables"] = json.dumps(variables, ensure_ascii=False)
        return HTTPRequest("POST", f"/v3/{quote(self.options.domain, safe='')}/messages", data=form)

    def accepted(
        self, content: Content, recipients: Sequence[Recipient], since: datetime
    ) -> dict[str, str | None]:
        """Accepted events tagged with the issue since ``since``, matched on
        ``user-variables.digest_id``; pages followed until all are found or none is left."""
        wanted = {r.digest_id for r in recipients if r.digest_id}
        found: dict[str, str | None] = {}
        for item in self._events(content.issue_id, since, limit=_EVENTS_PAGE):
            variables = item.get("user-variables")
            digest_id = variables.get("digest_id") if isinstance(variables, dict) else None
            if digest_id in wanted:
                message = item.get("message")
                headers = message.get("headers") if isinstance(message, dict) else None
                mid = headers.get("message-id") if isinstance(headers, dict) else None
                found[digest_id] = f"<{mid}>" if isinstance(mid, str) else None
                if found.keys() >= wanted:
                    break
        return found

    def issue_messages(self, content: Content) -> int | None:
        """1 when Mailgun's events (kept for days) show an accepted message of the issue."""
        for _ in self._events(content.issue_id, None, limit=1):
            return 1
        return 0

    def _events(self, tag: str, since: datetime | None, *, limit: int) -> Iterator[Any]:
        query: dict[str, str | int] = {"event": "accepted", "tags": tag, "limit": limit}
        if since is not None:
            query.update(begin=int(since.timestamp()), ascending="yes")
        else:
            query.update(ascending="no")
        path = f"/v3/{quote(self.options.domain, safe='')}/events?{urlencode(query)}"
        while True:
            response = self.read(HTTPRequest("GET", path))
            try:
                body = response.json()
                items = body["items"]
                path = body.get("paging", {}).get("next") or ""
            except (ValueError, KeyError, TypeError, AttributeError):
                raise PermanentDeliveryError(
                    "the events answer has no items",
                    provider=self.name,
                    status=response.status_code,
                ) from None
            if not isinstance(items, list) or not items:
                return
            yield from (i for i in items if isinstance(i, dict))
            if not path:
                return

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
