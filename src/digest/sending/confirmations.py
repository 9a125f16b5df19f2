"""The confirmation mails: queued by a sign-up, sent by ``digest serve``'s background task.

Never inside the request: a slow or failing provider must not tie up the server. Each
queued row is *claimed* (its ``next_at`` pushed past a lease) in one ``UPDATE`` before it is
sent, so several ``serve --workers`` processes never send the same row twice; a failure
that may pass is tried again later with a growing pause, up to ``[subscribe]
mail_attempts`` times.

The mail is ``templates/subscribe/confirm.html.j2`` and ``confirm.txt.j2`` (a
``confirm.<lang>.*.j2`` pair wins for that language; the text template sets the subject
with ``{% set subject = "…" %}``), rendered once per language with the link as a merge
placeholder, and filled per reader like an issue.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING

from ..errors import ConfigError, DigestError, TemplateError, TransientDeliveryError
from ..message import Address, Batch, Content, Recipient, placeholder
from .ledger import Ledger
from .signup import ConfirmTokens

if TYPE_CHECKING:
    from ..config import Settings
    from ..delivery.base import Provider

__all__ = ["CONFIRM_ISSUE_ID", "ConfirmationMailer", "MailRound", "confirm_url_template"]

log = logging.getLogger("digest.subscribe")

CONFIRM_ISSUE_ID = "digest-confirm"
"""What the provider files confirmation mails under (the file backend's folder name)."""
LEASE_SECONDS = 300.0
"""How long a claimed mail stays claimed: longer than one provider call with its retries."""


def confirm_url_template(settings: Settings) -> str:
    """``[subscribe] confirm_url``, else the unsubscribe link's origin plus ``/confirm/{token}``."""
    if settings.subscribe.confirm_url:
        return settings.subscribe.confirm_url
    from urllib.parse import urlsplit

    base = settings.links.unsubscribe_url
    if not base:
        raise ConfigError(
            "[subscribe] is enabled but digest cannot tell where confirmation links point: "
            'set [subscribe] confirm_url = "https://your.site/confirm/{token}".'
        )
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}/confirm/{{token}}"


@dataclass
class MailRound:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0


class ConfirmationMailer:
    """Sends due confirmation mails through the configured provider (one thread at a time)."""

    def __init__(
        self,
        settings: Settings,
        tokens: ConfirmTokens,
        *,
        provider: Provider | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.url_template = confirm_url_template(settings)
        self._provider = provider
        self._own_provider = provider is None
        self._clock = clock
        self._contents: dict[str, Content] = {}
        self.content(settings.newsletter.lang)  # a broken template fails at start, not later

    def close(self) -> None:
        if self._provider is not None and self._own_provider:
            self._provider.close()
            self._provider = None

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            from ..delivery.base import get_provider

            self._provider = get_provider(self.settings)
        return self._provider

    def content(self, lang: str) -> Content:
        """The confirmation mail in ``lang``, rendered once and kept."""
        if lang not in self._contents:
            self._contents[lang] = self._render(lang)
        return self._contents[lang]

    def _render(self, lang: str) -> Content:
        import jinja2

        from ..render.environment import template_environment

        s = self.settings
        user_dir = s.path(s.templates.dir) if s.templates.dir else None
        env = template_environment(user_dir)
        nl = s.newsletter
        context = {
            "newsletter": nl.name,
            "website": nl.website,
            "postal_address": nl.postal_address,
            "lang": lang,
            "dir": nl.dir,
            "brand": s.brand,
            "consent_text": s.subscribe.consent_text.replace("{newsletter}", nl.name),
            "expires_hours": s.subscribe.confirm_expires_hours,
            "confirm_url": placeholder("confirm_url"),
        }
        names = [f"subscribe/confirm.{lang}", "subscribe/confirm"]
        try:
            text_module = env.select_template([f"{n}.txt.j2" for n in names]).make_module(context)
            html = env.select_template([f"{n}.html.j2" for n in names]).render(context)
        except jinja2.TemplateError as e:
            raise TemplateError(f"the confirmation mail template failed: {e}") from None
        subject = str(getattr(text_module, "subject", "") or f"Confirm: {nl.name}")
        name, addr = parseaddr(nl.from_)
        reply = parseaddr(nl.reply_to) if nl.reply_to else None
        return Content(
            issue_id=CONFIRM_ISSUE_ID,
            subject=subject,
            html=html,
            text=str(text_module),
            sender=Address(addr, name),
            reply_to=Address(reply[1], reply[0]) if reply else None,
            tags=("confirm",),
        )

    def run_once(self, ledger: Ledger, limit: int = 20) -> MailRound:
        """Send up to ``limit`` due mails; returns what happened to them."""
        done = MailRound()
        for _ in range(limit):
            claimed = self._claim(ledger)
            if claimed is None:
                break
            self._send(ledger, *claimed, done)
        return done

    def _claim(self, ledger: Ledger) -> tuple[int, str, int, str] | None:
        now = self._clock()
        row = ledger.db.execute(
            "UPDATE subscriber_mails SET attempts = attempts + 1, next_at = ? WHERE id = "
            "(SELECT id FROM subscriber_mails WHERE sent_at IS NULL AND failed_at IS NULL "
            "AND next_at <= ? ORDER BY next_at, id LIMIT 1) "
            "RETURNING id, email_key, attempts, created_at",
            (now + LEASE_SECONDS, now),
        ).fetchone()
        return (int(row[0]), str(row[1]), int(row[2]), str(row[3])) if row else None

    def _send(
        self, ledger: Ledger, mail_id: int, key: str, attempts: int, created: str, done: MailRound
    ) -> None:
        row = ledger.db.execute(
            "SELECT email, name, lang, confirm_id FROM subscribers "
            "WHERE email_key = ? AND status = 'pending' AND confirm_id IS NOT NULL",
            (key,),
        ).fetchone()
        if row is None:  # confirmed, purged or forgotten meanwhile: nothing to send
            ledger.db.execute("DELETE FROM subscriber_mails WHERE id = ?", (mail_id,))
            done.dropped += 1
            return
        email, name, lang, confirm_id = row
        expires = self._clock() + self.settings.subscribe.confirm_expires_hours * 3600
        url = self.url_template.format(token=self.tokens.make(confirm_id, expires))
        recipient = Recipient(email=email, name=name, fields={"confirm_url": url})
        batch_key = (
            "digest-confirm-" + hashlib.sha256(f"{key}\0{created}".encode()).hexdigest()[:24]
        )
        try:
            content = self.content(lang or self.settings.newsletter.lang)
            result = self.provider.deliver(Batch(content, [recipient], batch_key))[0]
            ok, error, retryable = result.ok, result.error, result.retryable
        except TransientDeliveryError as e:
            ok, error, retryable = False, str(e), True
        except DigestError as e:
            ok, error, retryable = False, str(e), False
        if ok:
            ledger.db.execute("DELETE FROM subscriber_mails WHERE id = ?", (mail_id,))
            done.sent += 1
            log.info("confirmation mail sent (queue id %d)", mail_id)
            return
        if retryable and attempts < self.settings.subscribe.mail_attempts:
            pause = min(3600.0, 30.0 * 2 ** (attempts - 1))
            ledger.db.execute(
                "UPDATE subscriber_mails SET next_at = ?, error = ? WHERE id = ?",
                (self._clock() + pause, error, mail_id),
            )
            done.retried += 1
            log.warning(
                "confirmation mail %d failed, retrying in %.0f s: %s", mail_id, pause, error
            )
            return
        ledger.db.execute(
            "UPDATE subscriber_mails SET failed_at = ?, error = ? WHERE id = ?",
            (time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(self._clock())), error, mail_id),
        )
        done.failed += 1
        log.error("confirmation mail %d given up after %d attempts: %s", mail_id, attempts, error)
