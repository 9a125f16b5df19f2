"""Amazon SES v2: ``SendEmail`` with ``Content.Raw``, one call per recipient, SigV4-signed.

Facts from botocore's service model for ``sesv2`` (2019-09-27) and the SES v2 API reference:

* ``POST /v2/email/outbound-emails`` (rest-json) at ``https://email.<region>.amazonaws.com``,
  signed with Signature Version 4 for the service name ``ses``.
* ``SendEmailRequest`` requires only ``Content``; digest sends ``FromEmailAddress``,
  ``Destination.ToAddresses`` (the one recipient), ``Content.Raw.Data`` (the MIME message,
  base64 as the JSON protocol carries blobs), ``ConfigurationSetName`` and ``EmailTags``.
  The answer is ``{"MessageId": ...}``.
* Errors name their type in ``x-amzn-ErrorType`` (or ``__type``/``code`` in the body) with a
  ``message``: ``TooManyRequestsException`` (429), ``LimitExceededException``,
  ``MessageRejected``, ``MailFromDomainNotVerifiedException``, ``BadRequestException``,
  ``SendingPausedException``, ``AccountSuspendedException`` (400), ``NotFoundException`` (404);
  signing and key problems come back as 403.
* SES replaces ``Message-ID`` and sets ``Date`` itself, and personal content needs one raw
  message per recipient, so each recipient gets a message filled from the per-issue MIME
  template and a call of its own (``max_batch = 1``: a retry never resends to anyone else).

botocore is an optional extra (``pip install 'digest[ses]'``), imported only when an SES
provider is made; only its signer is used, and requests go through the shared httpx client.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from pydantic import field_validator

from ..errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from ..message import Address, Batch, Recipient
from ._http import HTTPOptions, HTTPProvider, HTTPRequest, issue_tags, json_bytes
from ._mime import render_message
from .base import Options, RecipientResult

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["SESOptions", "SESProvider"]

PATH = "/v2/email/outbound-emails"

TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "LimitExceededException",
        "ServiceUnavailable",
        "InternalFailure",
        "RequestTimeout",
    }
)
"""Throttling and quota answers: the same call may succeed later."""

RECIPIENT_CODES = frozenset(
    {"MessageRejected", "BadRequestException", "MailFromDomainNotVerifiedException"}
)
"""Answers about this message: the recipient fails for good, the send goes on."""


class SESOptions(HTTPOptions):
    """``[providers.ses]``."""

    region: str | None = None
    """AWS region, e.g. ``eu-west-1``; else the ``AWS_REGION`` environment variable."""
    configuration_set: str | None = None
    """SES configuration set for event publishing (``ConfigurationSetName``)."""
    base_url: str | None = None  # type: ignore[assignment]
    """Endpoint; default ``https://email.<region>.amazonaws.com``."""

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", v):
            raise ValueError(f"must be an AWS region such as eu-west-1, not {v!r}")
        return v


class _ScrubSecrets(logging.Filter):
    """Masks known secrets in botocore's signing log.

    ``botocore.auth`` logs the canonical request at DEBUG, and with temporary credentials that
    includes the ``X-Amz-Security-Token`` header: a secret that must not reach any log.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            if any(s in text for s in self.secrets):
                for s in self.secrets:
                    text = text.replace(s, "***")
                record.msg, record.args = text, ()
        return True


_SCRUB = _ScrubSecrets()


def _guard_botocore_log(secrets: list[str]) -> None:
    _SCRUB.secrets.update(s for s in secrets if s)
    for name in ("botocore.auth", "botocore.awsrequest"):
        logger = logging.getLogger(name)
        if _SCRUB not in logger.filters:
            logger.addFilter(_SCRUB)


def ascii_address(address: Address) -> Address:
    """``address`` as SES takes it: SES has no SMTPUTF8, so the local part must be ASCII and
    a non-ASCII domain is written in Punycode (the ``Destination`` documentation says so)."""
    local, _, domain = address.email.rpartition("@")
    if not local.isascii():
        raise PermanentDeliveryError(
            f"SES cannot send to or from {address.email!r}: it does not support non-ASCII "
            "local parts (no SMTPUTF8)",
            provider="ses",
        )
    if domain.isascii():
        return address
    try:
        puny = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise PermanentDeliveryError(
            f"the domain of {address.email!r} is not a valid internationalised domain name",
            provider="ses",
        ) from None
    return Address(f"{local}@{puny}", address.name)


def _header_form(address: Address) -> str:
    """``Name <email>`` with a non-ASCII name as an RFC 2047 encoded word, as SES wants."""
    return email.utils.formataddr((address.name, address.email), charset="utf-8")


class SESProvider(HTTPProvider):
    """SES v2 ``SendEmail`` with raw MIME, signed by botocore, sent by httpx."""

    name: ClassVar[str] = "ses"
    description: ClassVar[str] = "Amazon SES v2 API (SendEmail, raw MIME, one call a recipient)"
    options_model: ClassVar[type[Options]] = SESOptions
    env_vars: ClassVar[tuple[str, ...]] = (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
    )
    max_batch: ClassVar[int] = 1
    idempotent: ClassVar[bool] = False
    rejects_whole_batch: ClassVar[bool] = False

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(settings, sleep=sleep)
        try:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
        except ImportError:
            raise ConfigError(
                "The ses provider needs botocore, which is not installed; "
                "try: pip install 'digest[ses]'"
            ) from None
        self._signer_class: Any = SigV4Auth
        self._request_class: Any = AWSRequest
        opts: Any = self.options
        region = opts.region or settings.env("AWS_REGION")
        if not region:
            raise ConfigError(
                "The ses provider needs a region: set region in [providers.ses] or the "
                "AWS_REGION environment variable (e.g. eu-west-1)."
            )
        self.region: str = region
        self._configuration_set: str | None = opts.configuration_set
        self._base_url: str = opts.base_url or f"https://email.{region}.amazonaws.com"
        access_key = self.secret("AWS_ACCESS_KEY_ID")
        secret_key = self.secret("AWS_SECRET_ACCESS_KEY")
        token_secret = settings.secret("AWS_SESSION_TOKEN")
        token = self.secret("AWS_SESSION_TOKEN") if token_secret is not None else None
        self._credentials: Any = Credentials(access_key, secret_key, token)
        _guard_botocore_log([secret_key, token or ""])

    def base_url(self) -> str:
        return self._base_url

    def build_request(self, batch: Batch) -> HTTPRequest:
        (original,) = batch.recipients
        c = batch.content
        to = ascii_address(original.address)
        sender = ascii_address(c.sender)
        if sender != c.sender:
            raise PermanentDeliveryError(
                f"write the sender's domain in Punycode ({sender.email}) in the config: SES "
                "takes only ASCII addresses",
                provider=self.name,
            )
        recipient = Recipient(to.email, original.name, original.fields, original.message_id)
        raw = render_message(c, recipient).data
        payload: dict[str, Any] = {
            "FromEmailAddress": _header_form(sender),
            "Destination": {"ToAddresses": [_header_form(to)]},
            "Content": {"Raw": {"Data": base64.b64encode(raw).decode("ascii")}},
            "EmailTags": [
                {"Name": k, "Value": v}
                for k, v in [*issue_tags(c), ("digest_id", original.digest_id or "")]
                if v
            ],
        }
        if self._configuration_set:
            payload["ConfigurationSetName"] = self._configuration_set
        body = json_bytes(payload)
        signed = self._request_class(
            method="POST",
            url=self._base_url + PATH,
            data=body,
            headers={"Content-Type": "application/json"},
        )
        self._signer_class(self._credentials, "ses", self.region).add_auth(signed)
        headers = {str(k): str(v) for k, v in signed.headers.items()}
        return HTTPRequest(
            "POST", PATH, content=body, headers=headers, accept=frozenset({400, 403, 404})
        )

    def parse_response(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        (recipient,) = batch.recipients
        status = response.status_code
        if 200 <= status < 300:
            try:
                message_id = str(response.json()["MessageId"])
            except (ValueError, KeyError, TypeError):
                message_id = None
            return [RecipientResult(recipient.email, True, message_id=message_id)]
        code = self.error_code(response)
        message = self.scrub(self.error_message(response))
        body = self.scrub(response.text[:2000])
        if code in TRANSIENT_CODES:
            raise TransientDeliveryError(
                f"throttled: {message}", provider=self.name, status=status, body=body
            )
        if code in RECIPIENT_CODES:
            return [RecipientResult(recipient.email, False, error=f"ses: {message}")]
        if status == 403 or code in ("AccountSuspendedException", "SendingPausedException"):
            raise self.account_error(message, status=status, body=body)
        raise PermanentDeliveryError(message, provider=self.name, status=status, body=body)

    def error_code(self, response: httpx.Response) -> str:
        """The error type of a rest-json answer: header ``x-amzn-ErrorType`` or body ``__type``."""
        return error_code(response)


def error_code(response: httpx.Response) -> str:
    """The error type of a rest-json answer: header ``x-amzn-ErrorType`` or body ``__type``."""
    raw = response.headers.get("x-amzn-errortype", "")
    if not raw:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            raw = str(body.get("__type") or body.get("code") or body.get("Code") or "")
    code: str = raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()
    return code
