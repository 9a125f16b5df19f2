"""Per-recipient values for an issue rendered once: name, merge fields, unsubscribe link.

Nothing here touches a template engine: a :class:`~digest.message.Recipient` carries the
values, and :class:`~digest.message.Content` fills its placeholders (HTML, text, subject
and headers such as ``List-Unsubscribe``) by joining pieces split once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from urllib.parse import quote

from ..config import Secret, Settings
from ..errors import ConfigError
from ..message import Recipient
from .recipients import RESERVED_FIELDS, email_key
from .tokens import SECRET_ENV, Signer, secret_from_settings

__all__ = ["EMAIL_FIELD_DEPRECATED", "Personaliser", "digest_id_for", "message_id_for"]

log = logging.getLogger("digest.sending")

EMAIL_FIELD_DEPRECATED = (
    "[links] unsubscribe_url uses {email}, which is deprecated and will stop working in "
    "digest 0.3: it writes the reader's address into every link (proxy logs, link "
    "scanners). The {token} already says who it is; remove {email} from the template."
)


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii").lower() or "digest.invalid"
    except UnicodeError:
        return "digest.invalid"


def digest_id_for(issue_id: str, email: str) -> str:
    """digest's own id for one recipient of one issue: the local part of its Message-ID."""
    return hashlib.sha256(f"{issue_id}\0{email_key(email)}".encode()).hexdigest()[:32]


def _message_id(issue_id: str, email: str, domain: str) -> str:
    return f"<digest.{digest_id_for(issue_id, email)}@{domain}>"


def message_id_for(issue_id: str, email: str, sender_email: str) -> str:
    """A Message-ID that is the same for this issue and recipient on every run."""
    return _message_id(issue_id, email, _ascii_domain(sender_email.rpartition("@")[2]))


class Personaliser:
    """Builds each :class:`Recipient` of one issue: merge fields, token, link, Message-ID.

    Whatever is the same for every recipient (the signing key, the quoted slug, the
    Message-ID domain) is worked out once here, not per recipient.
    """

    def __init__(
        self,
        settings: Settings,
        issue_id: str,
        sender_email: str,
        *,
        secret: Secret | None = None,
    ) -> None:
        self.issue_id = issue_id
        self.template = settings.links.unsubscribe_url
        secret = secret if secret is not None else secret_from_settings(settings)
        list_id = settings.newsletter.list_id
        self._signer = Signer(secret, list_id) if secret is not None else None
        self._slug = quote(issue_id, safe="")
        self._domain = _ascii_domain(sender_email.rpartition("@")[2])
        self._shows_email = "{email" in (self.template or "")
        if self.template is not None and "{email}" in self.template:
            log.warning(EMAIL_FIELD_DEPRECATED)
        if self.template is not None and "{token}" in self.template and secret is None:
            raise ConfigError(
                f"[links] unsubscribe_url needs a signed token, but {SECRET_ENV} is not set "
                "in the environment. Set it to a long random value and keep it: changing "
                "it breaks every unsubscribe link already sent."
            )

    def token(self, email: str) -> str:
        if self._signer is None:
            raise ConfigError(f"{SECRET_ENV} is not set; it signs unsubscribe links.")
        return self._signer.token(email)

    def unsubscribe_url(self, email: str, token: str | None = None) -> str:
        """The link for ``email``; ``token`` when the caller has already made it."""
        if not self.template:
            return ""
        if token is None:
            token = self._signer.token(email) if self._signer is not None else ""
        # quote the address only for a template that shows it (percent-encoding costs more
        # than the rest of a recipient's link)
        quoted = quote(email, safe="") if self._shows_email else ""
        return self.template.format(token=token, slug=self._slug, email=quoted)

    def recipient(
        self, email: str, name: str = "", fields: Mapping[str, str] | None = None
    ) -> Recipient:
        values = {k: v for k, v in (fields or {}).items() if k not in RESERVED_FIELDS}
        token = self._signer.token(email) if self._signer is not None else None
        values["unsubscribe_url"] = self.unsubscribe_url(email, token)
        if token is not None:
            values["unsubscribe_token"] = token
        return Recipient(
            email=email,
            name=name,
            fields=values,
            message_id=_message_id(self.issue_id, email, self._domain),
        )
