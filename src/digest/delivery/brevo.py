"""Brevo (formerly Sendinblue): ``POST /v3/smtp/email`` with ``messageVersions``.

Facts from Brevo's documentation (developers.brevo.com: "Batch send transactional emails",
"Idempotency for batch emails", "Rate limit headers", and the ``SendSmtpEmail`` /
``SendSmtpEmailMessageVersions`` models of its generated SDKs):

* ``api-key`` header; up to 1,000 message versions a call (and at most 2,000 recipients, 99
  per version). Each version takes ``to`` (required), ``params``, ``cc``, ``bcc``,
  ``replyTo``, ``subject``, ``htmlContent`` and ``textContent``; the last two may be set per
  version only when one of them is also set at the top level. ``headers`` exists only at
  the top level, so recipients whose filled headers differ (a personal ``List-Unsubscribe``)
  go in separate calls, one per distinct set of headers.
* ``headers.idempotencyKey`` must be a UUID and is kept 30 minutes. A repeat within that
  time is refused with the ``duplicate_parameter`` error code and not processed: the first
  call went through, so digest counts the repeat as delivered (with the ids from the first
  answer when this process still has them).
* A success is ``201`` with ``{"messageIds": [...]}``, one id per version; errors are
  ``{"code": ..., "message": ...}``. Every answer carries ``x-sib-ratelimit-limit``,
  ``-remaining`` and ``-reset`` (seconds); the HTTP base reads them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from ..errors import PermanentDeliveryError
from ..message import PLACEHOLDER_RE, Address, Batch, Content, Recipient
from ._http import Bodies, HTTPOptions, HTTPProvider, HTTPRequest
from .base import Options, RecipientResult

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["BrevoOptions", "BrevoProvider", "idempotency_key"]

_KEY_NAMESPACE = uuid.UUID("5d0c6a8e-2f51-4c57-9a55-0f3e0f6b7d21")
"""Fixed namespace of digest's Brevo keys: the same batch gives the same UUID everywhere."""


_ANSWERS_KEPT = 10_000
"""Most recent answers remembered, to give ids back when a retry is refused as duplicate."""


class BrevoOptions(HTTPOptions):
    """``[providers.brevo]``: only the API address can change (tests point it at 127.0.0.1)."""

    base_url: str = "https://api.brevo.com"
    """The API\'s address; change it for a proxy or a test server."""


def idempotency_key(batch_key: str, headers: Sequence[tuple[str, str]] = ()) -> str:
    """The UUID Brevo wants, derived from the batch key (and the header set of its call).

    A version-5 UUID: the same batch always gives the same key, across retries and restarts.
    """
    name = batch_key if not headers else batch_key + "\n" + json.dumps(list(headers))
    return str(uuid.uuid5(_KEY_NAMESPACE, name))


def _party(address: Address) -> dict[str, str]:
    return (
        {"email": address.email, "name": address.name} if address.name else {"email": address.email}
    )


class BrevoProvider(HTTPProvider):
    """Brevo's transactional API, one message version per recipient."""

    name: ClassVar[str] = "brevo"
    description: ClassVar[str] = "Brevo HTTP API (POST /v3/smtp/email, 1,000 versions a call)"
    options_model: ClassVar[type[Options]] = BrevoOptions
    env_vars: ClassVar[tuple[str, ...]] = ("BREVO_API_KEY",)
    max_batch: ClassVar[int] = 1000
    max_batch_bytes: ClassVar[int | None] = 8_000_000
    """Not a documented limit: digest's own cap, so a call with 1,000 full HTML bodies stays
    a reasonable size."""
    idempotent: ClassVar[bool] = True
    idempotency_window: ClassVar[float | None] = 25 * 60
    """Brevo keeps a key 30 minutes; 5 of them are the margin."""
    rejects_whole_batch: ClassVar[bool] = True
    key_env = "BREVO_API_KEY"
    key_header = ("api-key", "{key}")
    error_code_field = "code"

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(settings, sleep=sleep)
        self._answers: OrderedDict[str, list[str]] = OrderedDict()
        self._answers_lock = threading.Lock()

    def recipient_bytes(self, batch: Batch, recipient: Recipient) -> int:
        """Bytes of one version: only the parts that differ per recipient are repeated."""
        c = batch.content
        bodies = self.bodies(c)
        values = recipient.values()
        size = len(recipient.email) + len(recipient.name) + 64
        if bodies.html.varies:
            size += bodies.html.size(values)
        if bodies.text.varies:
            size += bodies.text.size(values)
        if PLACEHOLDER_RE.search(c.subject):
            size += len(c.subject_for(recipient).encode("utf-8"))
        return int(size * 1.1)

    def shared_bytes(self, batch: Batch) -> int:
        c = batch.content
        return len(c.html.encode("utf-8")) + len(c.text.encode("utf-8")) + 4096

    # Brevo's headers are per call, so one batch may need several calls: send_batch is
    # written here, with build_request/parse_response serving one call each.

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        groups = _by_headers(batch)
        if len(groups) > 1:
            self.log.debug(
                "%s: %d recipients need %d calls (their headers differ)",
                self.name,
                len(batch.recipients),
                len(groups),
            )
        results: dict[int, RecipientResult] = {}
        for header_items, indexes in groups:
            part = Batch(batch.content, [batch.recipients[i] for i in indexes], batch.key)
            key = idempotency_key(batch.key, header_items if len(groups) > 1 else ())
            request = self._request_for(part, dict(header_items), key)
            response = self.request(request)
            for i, result in zip(indexes, self._results(part, response, key), strict=True):
                results[i] = result
        return [results[i] for i in range(len(batch.recipients))]

    def build_request(self, batch: Batch) -> HTTPRequest:
        """The call for a batch whose recipients share their headers (the common case)."""
        groups = _by_headers(batch)
        headers = dict(groups[0][0]) if len(groups) == 1 else {}
        return self._request_for(batch, headers, idempotency_key(batch.key))

    def parse_response(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        return self._results(batch, response, "")

    def _request_for(self, batch: Batch, headers: dict[str, str], key: str) -> HTTPRequest:
        c = batch.content
        first = batch.recipients[0]
        bodies = self.bodies(c)
        subject_varies = PLACEHOLDER_RE.search(c.subject) is not None
        body: dict[str, Any] = {
            "sender": _party(c.sender),
            "subject": c.subject_for(first),
            "htmlContent": bodies.html.fill(first.values()),
            "textContent": bodies.text.fill(first.values()),
            "headers": {**headers, "idempotencyKey": key},
            "tags": [c.issue_id, *c.tags],
            "messageVersions": [_version(c, r, bodies, subject_varies) for r in batch.recipients],
        }
        if c.reply_to:
            body["replyTo"] = _party(c.reply_to)
        return HTTPRequest("POST", "/v3/smtp/email", json=body, accept=frozenset({400}))

    def _results(self, batch: Batch, response: httpx.Response, key: str) -> list[RecipientResult]:
        if response.status_code == 400:
            if self.error_code(response) != "duplicate_parameter" or not key:
                raise PermanentDeliveryError(
                    self.scrub(self.error_message(response)),
                    provider=self.name,
                    status=400,
                    body=self.scrub(response.text[:2000]),
                )
            # The key was used within 30 minutes: the first call was processed.
            with self._answers_lock:
                ids: list[str | None] = list(self._answers.get(key, []))
            self.log.info("%s: batch %s was already accepted; not sent again", self.name, key)
        else:
            try:
                ids = [str(i) for i in response.json()["messageIds"]]
            except (ValueError, KeyError, TypeError):
                ids = []
            if key:
                with self._answers_lock:
                    self._answers[key] = [i for i in ids if i is not None]
                    while len(self._answers) > _ANSWERS_KEPT:
                        self._answers.popitem(last=False)
        if len(ids) != len(batch.recipients):
            ids = [None] * len(batch.recipients)
        return [
            RecipientResult(r.email, True, message_id=i)
            for r, i in zip(batch.recipients, ids, strict=True)
        ]


def _by_headers(batch: Batch) -> list[tuple[tuple[tuple[str, str], ...], list[int]]]:
    """Recipients grouped by their filled headers, in order of first appearance."""
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, r in enumerate(batch.recipients):
        filled = batch.content.headers_for(r)
        items = tuple(sorted((k, v) for k, v in filled.items() if v.strip("<>, ")))
        groups.setdefault(items, []).append(i)
    return list(groups.items())


def _version(
    content: Content, recipient: Recipient, bodies: Bodies, subject_varies: bool
) -> dict[str, Any]:
    """One recipient's version: its address, plus whatever differs from the top level."""
    version: dict[str, Any] = {"to": [_party(recipient.address)]}
    if subject_varies:
        version["subject"] = content.subject_for(recipient)
    if bodies.html.varies:
        version["htmlContent"] = bodies.html.fill(recipient.values())
    if bodies.text.varies:
        version["textContent"] = bodies.text.fill(recipient.values())
    return version
