"""Resend: ``POST /emails/batch``, up to 100 emails a call, one email per recipient.

Facts from Resend's documentation (https://resend.com/docs/api-reference/emails/send-batch-emails,
.../dashboard/emails/idempotency-keys, .../api-reference/errors):

* Bearer authentication with the API key; the body is a JSON array of up to 100 emails, each
  with ``from``, ``to`` (at most 50 addresses), ``subject``, ``html``, ``text``, ``reply_to``,
  ``headers`` and ``tags`` (name/value pairs of ASCII letters, digits, ``_`` and ``-``).
* The answer is ``{"data": [{"id": ...}, ...]}``, one id per email, in order.
* ``Idempotency-Key`` (1 to 256 characters, kept 24 hours): a repeat with the same key and
  payload returns the first answer and sends nothing. A 409 ``concurrent_idempotent_requests``
  means the first request is still running (retry with the same key); a 409
  ``invalid_idempotent_request`` means the key was used for another payload.
* Batch validation is ``strict`` by default: one invalid email rejects the whole request
  (4xx, nothing sent). digest asks for ``strict`` explicitly and lets the base split the batch
  to isolate the bad address; ``permissive`` would accept a partial batch, and its answer
  does not say which id belongs to which email in every SDK's reading, so it is not used.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

import httpx

from ..errors import PermanentDeliveryError, TransientDeliveryError
from ..message import Address, Batch, Content, Recipient
from ..text import plural
from ._http import Bodies, HTTPOptions, HTTPProvider, HTTPRequest, issue_tags, parse_retry_after
from .base import Options, RecipientResult

__all__ = ["ResendOptions", "ResendProvider", "idempotency_key"]

KEY_LIMIT = 256
_NEEDS_QUOTES = re.compile(r'[()<>\[\]:;@\\,."]')


class ResendOptions(HTTPOptions):
    """``[providers.resend]``: only the API address can change (tests point it at 127.0.0.1)."""

    base_url: str = "https://api.resend.com"
    """The API\'s address; change it for a proxy or a test server."""


def idempotency_key(batch_key: str) -> str:
    """The ``Idempotency-Key`` for a batch: its own key, hashed when longer than Resend allows.

    It depends only on ``Batch.key``, so a retry, or a resumed send after a crash, reuses it.
    A key that is too long or not printable ASCII (it travels in an HTTP header) is hashed.
    """
    key = f"digest/{batch_key}"
    if len(key) <= KEY_LIMIT and key.isascii() and key.isprintable():
        return key
    return "digest/sha256/" + hashlib.sha256(batch_key.encode("utf-8")).hexdigest()


def display(address: Address) -> str:
    """``Name <email>`` as JSON APIs take it: Unicode kept, the name quoted where RFC 5322
    needs it (a bare comma in a name would otherwise read as two addresses)."""
    if not address.name:
        return address.email
    name = address.name
    if _NEEDS_QUOTES.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address.email}>"


class ResendProvider(HTTPProvider):
    """Resend's batch API, with an idempotency key per batch."""

    name: ClassVar[str] = "resend"
    description: ClassVar[str] = "Resend HTTP API (POST /emails/batch, 100 emails a call)"
    options_model: ClassVar[type[Options]] = ResendOptions
    env_vars: ClassVar[tuple[str, ...]] = ("RESEND_API_KEY",)
    max_batch: ClassVar[int] = 100
    idempotent: ClassVar[bool] = True
    idempotency_window: ClassVar[float | None] = 23 * 3600
    """Resend keeps a key 24 hours; one of them is the margin."""
    rejects_whole_batch: ClassVar[bool] = True
    key_env = "RESEND_API_KEY"
    key_header = ("Authorization", "Bearer {key}")
    error_code_field = "name"

    def build_request(self, batch: Batch) -> HTTPRequest:
        shared = _shared_fields(batch.content)
        bodies = self.bodies(batch.content)
        emails = [_email(batch.content, r, shared, bodies) for r in batch.recipients]
        return HTTPRequest(
            "POST",
            "/emails/batch",
            json=emails,
            headers={
                "Idempotency-Key": idempotency_key(batch.key),
                "x-batch-validation": "strict",
            },
            accept=frozenset({409}),
        )

    def parse_response(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        if response.status_code == 409:
            return self._conflict(batch, response)
        try:
            data = response.json()["data"]
            ids = [str(item["id"]) for item in data]
        except (ValueError, KeyError, TypeError) as e:
            raise PermanentDeliveryError(
                f"unexpected answer ({type(e).__name__}): {self.scrub(response.text[:300])}",
                provider=self.name,
                status=response.status_code,
            ) from None
        if len(ids) != len(batch.recipients):
            raise PermanentDeliveryError(
                f"answered with {plural(len(ids), 'id')} for "
                f"{plural(len(batch.recipients), 'email')}",
                provider=self.name,
                status=response.status_code,
            )
        pairs = zip(batch.recipients, ids, strict=True)
        return [RecipientResult(r.email, True, message_id=i) for r, i in pairs]

    def _conflict(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        """A 409: the same key is still running (retry later) or was used for another payload.

        The second is returned as a failure of every recipient rather than raised: splitting
        the batch would make fresh keys and get around the very check that refused it.
        """
        message = self.scrub(self.error_message(response))
        if self.error_code(response) == "concurrent_idempotent_requests":
            wait = parse_retry_after(response.headers.get("retry-after"))
            raise TransientDeliveryError(
                f"the same batch is still being sent: {message}",
                provider=self.name,
                status=409,
                body=self.scrub(response.text[:2000]),
                retry_after=wait if wait else 1.0,
            )
        error = (
            f"{self.name}: {message} (status 409). The batch key {batch.key!r} was used before "
            "for a different message; if the issue changed, start a new send"
        )
        return [RecipientResult(r.email, False, error=error) for r in batch.recipients]


def _shared_fields(content: Content) -> dict[str, Any]:
    """The parts of every email that do not depend on the recipient."""
    shared: dict[str, Any] = {"from": display(content.sender)}
    if content.reply_to:
        shared["reply_to"] = [display(content.reply_to)]
    shared["tags"] = [{"name": k, "value": v} for k, v in issue_tags(content)]
    return shared


def _email(
    content: Content, recipient: Recipient, shared: dict[str, Any], bodies: Bodies
) -> dict[str, Any]:
    values = recipient.values()
    email: dict[str, Any] = {
        **shared,
        "to": [display(recipient.address)],
        "subject": content.subject_for(recipient),
        "html": bodies.html.fill(values),
        "text": bodies.text.fill(values),
    }
    headers = {k: v for k, v in content.headers_for(recipient).items() if v.strip("<>, ")}
    if headers:
        email["headers"] = headers
    if recipient.digest_id:
        email["tags"] = [*shared["tags"], {"name": "digest_id", "value": recipient.digest_id}]
    return email
