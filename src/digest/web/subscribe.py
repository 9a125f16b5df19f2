"""Sign-up with double opt-in: ``/subscribe`` and ``/confirm/<token>`` (``[subscribe]``).

* ``GET /subscribe`` is the form (``templates/web/subscribe.html.j2``); a newsletter's own
  site may carry the same form, posting here (``[newsletter] website`` and
  ``[subscribe] allowed_origins`` may post it).
* ``POST /subscribe`` refuses, each with a friendly page and never a 500: a foreign
  ``Origin``/``Referer`` (403), a body over ``[subscribe] max_body`` (413), a body that is
  not a form (415), an address that is not one (400, the form again), a client over its
  limit (429). A filled honeypot field gets the usual answer and records nothing. Otherwise
  the reader is recorded as pending and one confirmation mail is queued; the answer is the
  same page whether the address was new, pending, active or over its mail limit.
* ``GET /confirm/<token>`` shows a button and changes nothing (mail scanners open links);
  ``POST`` confirms. A forged or expired token changes nothing.

The mail goes out from a background task of the server (:meth:`SignUpSide.mail_loop`),
never inside the request; every worker runs one, and claims in the ledger keep them from
sending a mail twice. The same task purges unconfirmed sign-ups after ``[subscribe]
purge_after_days``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ConfigError
from ..sending.confirmations import ConfirmationMailer, confirm_url_template
from ..sending.ledger import Ledger
from ..sending.signup import ConfirmTokens, confirm, peek, prune_limits, sign_up
from ..sending.subscribers import Hasher, Subscribers, validated
from ..sending.tokens import SECRET_ENV, previous_secrets, secret_from_settings
from .body import BodyRefused, read_body, read_form
from .ledger_gate import LedgerUnavailable

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from .app import Web

__all__ = ["POLL_SECONDS", "SignUpSide", "install_signup"]

log = logging.getLogger("digest.subscribe")

POLL_SECONDS = 5.0
"""How often the mail task looks for mails queued by other workers, and for retries."""
PURGE_SECONDS = 3600.0
_FORM = "application/x-www-form-urlencoded"


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class SignUpSide:
    """The sign-up routes and their mail task, for one app."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.settings = web.settings
        sub = self.settings.subscribe
        secret = secret_from_settings(self.settings)
        if secret is None:  # make_web_app has refused to start already
            raise ConfigError(f"{SECRET_ENV} is not set: sign-up links are signed with it.")
        self.hasher = Hasher(secret)
        self.hashers = Hasher.all_from_settings(self.settings, "lifting a forgotten address")
        self.tokens = ConfirmTokens(secret, previous_secrets(self.settings))
        self.mailer = ConfirmationMailer(self.settings, self.tokens)
        confirm_path = urlsplit(confirm_url_template(self.settings)).path
        self.confirm_route = confirm_path
        self.languages = sub.languages or [self.settings.newsletter.lang]
        website = self.settings.newsletter.website
        self.origins = set(sub.allowed_origins)
        if website and (own := _origin(website)):
            self.origins.add(own)
        self.consent_text = sub.consent_text.replace("{newsletter}", self.settings.newsletter.name)
        self.wake = anyio.Event()
        self._last_purge = 0.0

    def routes(self) -> list[Route]:
        return [
            Route("/subscribe", self.subscribe, methods=["GET", "HEAD", "POST"]),
            Route(self.confirm_route, self.confirm, methods=["GET", "HEAD", "POST"]),
        ]

    # -- pages -----------------------------------------------------------------------------

    def _message(self, status: int, title: str, text: str, **headers: str) -> Response:
        return self.web.pages.message(status, title, text, dict(headers) or None)

    def _form(self, request: Request, status: int = 200, **values: str) -> Response:
        lang = values.get("lang") or request.query_params.get("lang", "")
        # "same-origin", not the other pages' "no-referrer": under no-referrer a browser
        # sends "Origin: null" with the form, and the origin check could not tell it apart
        return self.web.pages.page(
            status,
            "web/subscribe.html.j2",
            {"Referrer-Policy": "same-origin"},
            title=f"Subscribe to {self.settings.newsletter.name}",
            consent_text=self.consent_text,
            error=values.get("error"),
            email=values.get("email", ""),
            name=values.get("name", ""),
            form_lang=lang if lang in self.languages else self.languages[0],
            action=request.url.path,
        )

    def _sent(self) -> Response:
        return self.web.pages.page(
            200,
            "web/subscribe_sent.html.j2",
            title="Check your inbox",
            expires_hours=self.settings.subscribe.confirm_expires_hours,
        )

    def _bad_link(self, why: str) -> Response:
        text = (
            "This confirmation link has expired. Sign up again to get a fresh one."
            if why == "expired"
            else "The link may have been cut short or changed on its way here. Open it again "
            "from the email, or copy the whole link into the address bar."
        )
        return self._message(
            400,
            "This confirmation link is not valid",
            text + " Nobody has been subscribed by opening it.",
        )

    def _unavailable(self) -> Response:
        return self.web.pages.unavailable()

    # -- /subscribe ------------------------------------------------------------------------

    def _foreign(self, request: Request) -> bool:
        """True when a browser says the form was posted from a site not allowed to post it."""
        own = _origin(str(request.url))
        allowed = self.origins | ({own} if own else set())
        origin = request.headers.get("origin")
        if origin is not None:
            return origin.lower() == "null" or _origin(origin) not in allowed
        referer = request.headers.get("referer")
        if referer:
            return _origin(referer) not in allowed
        return False

    async def _read_form(self, request: Request) -> dict[str, str] | Response:
        """The urlencoded body, or the friendly page that refuses it."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != _FORM:
            return self._message(
                415,
                "This form could not be read",
                "Please send the sign-up form from its page.",
            )
        sub = self.settings.subscribe
        try:
            body = await read_body(request, sub.max_body, self.settings.serve.body_timeout)
        except BodyRefused as e:
            if e.status == 413:
                return self._message(
                    413,
                    "That was too much to send",
                    "The form holds only an address and a name. Please go back and try again.",
                    Connection="close",
                )
            return self._message(
                400, "The form did not arrive", "Please try again.", Connection="close"
            )
        try:
            return read_form(body, max_fields=20)
        except UnicodeDecodeError:
            return self._message(
                400,
                "This form could not be read",
                "It was not sent as UTF-8 text. Please send the sign-up form from its page.",
            )
        except ValueError:  # more fields than any form of ours has
            return self._message(400, "This form could not be read", "Please try again.")

    async def subscribe(self, request: Request) -> Response:
        if request.method != "POST":
            return self._form(request)
        if self._foreign(request):
            return self._message(
                403,
                "This form cannot be sent from there",
                f"Please sign up on {self.settings.newsletter.name}'s own page.",
            )
        form = await self._read_form(request)
        if isinstance(form, Response):
            return form
        if form.get("website", "").strip():  # the honeypot: only a robot fills it in
            log.info("sign-up: honeypot filled; nothing recorded")
            return self._sent()
        raw = form.get("email", "")[:320]
        # one line of printable text: the name goes into the confirmation mail's To header
        name = "".join(c for c in " ".join(form.get("name", "").split()) if c.isprintable())[:200]
        lang = form.get("lang", "")
        if lang not in self.languages:
            lang = self.languages[0]
        try:
            address = await anyio.to_thread.run_sync(
                lambda: validated(raw, check_dns=self.settings.subscribe.check_dns)
            )
        except ValueError as e:
            return self._form(
                request,
                400,
                error=f"That address cannot be used: {e}",
                email=raw,
                name=name,
                lang=lang,
            )
        client = request.client.host if request.client else None
        source = f"form:{request.url.path}"
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin and (site := _origin(origin)):
            source += f" on {site}"

        def record(ledger: Ledger) -> Any:
            return sign_up(
                self.settings,
                ledger,
                self.hasher,
                email=address,
                name=name,
                lang=lang,
                client_ip=client,
                source=source,
                consent_text=self.consent_text,
            )

        try:
            result = await self.web.gate.run(record)
        except LedgerUnavailable:
            return self._unavailable()
        if result.outcome == "too_many":
            return self._message(
                429,
                "Too many sign-ups from here",
                "Please wait a while before signing up again.",
                **{"Retry-After": str(int(self.settings.subscribe.ip_window_minutes * 60))},
            )
        if result.queued:
            self.wake.set()
        return self._sent()

    # -- /confirm/<token> ------------------------------------------------------------------

    async def confirm(self, request: Request) -> Response:
        token = request.path_params.get("token", "")
        confirm_id, why = self.tokens.check(token)
        if confirm_id is None:
            return self._bad_link(why)
        if request.method != "POST":
            try:
                who, why = await self.web.gate.run(lambda ledger: peek(ledger, self.tokens, token))
            except LedgerUnavailable:
                return self._unavailable()
            if who is None:
                return self._used()
            return self.web.pages.page(
                200, "web/confirm.html.j2", title="Confirm your subscription", email=who.email
            )
        try:
            await read_body(
                request, self.settings.subscribe.max_body, self.settings.serve.body_timeout
            )
        except BodyRefused:
            return self._message(400, "The form did not arrive", "Please press the button again.")
        try:
            who, why = await self.web.gate.run(
                lambda ledger: confirm(ledger, self.tokens, self.hashers, token)
            )
        except LedgerUnavailable:
            return self._unavailable()
        if who is None:
            return self._used()
        log.info("sign-up confirmed")
        return self.web.pages.page(
            200, "web/confirmed.html.j2", title="You're subscribed", email=who.email
        )

    def _used(self) -> Response:
        return self._message(
            410,
            "This link has been used",
            "This confirmation link was already used, or the sign-up it belongs to has been "
            "withdrawn. If you meant to subscribe, sign up again.",
        )

    # -- the background task ---------------------------------------------------------------

    def _round(self) -> None:
        with Ledger(self.web.gate.path) as ledger:
            done = self.mailer.run_once(ledger)
            if done.sent or done.failed:
                log.info("confirmation mails: %d sent, %d given up", done.sent, done.failed)
            now = time.time()
            if now - self._last_purge >= PURGE_SECONDS:
                self._last_purge = now
                purged = Subscribers(ledger).purge_unconfirmed(
                    self.settings.subscribe.purge_after_days
                )
                prune_limits(ledger, self.settings)
                if purged:
                    log.info("purged %d unconfirmed sign-ups", purged)

    async def mail_loop(self) -> None:
        """Send queued confirmation mails until cancelled; a failure is logged, never fatal."""
        while True:
            with anyio.move_on_after(POLL_SECONDS):
                await self.wake.wait()
            self.wake = anyio.Event()
            try:
                await anyio.to_thread.run_sync(self._round)
            except Exception:
                log.exception("the confirmation mail task failed; trying again shortly")


def install_signup(app: Starlette, web: Web) -> SignUpSide | None:
    """Add the sign-up routes and the mail task to ``app`` when ``[subscribe] enabled``."""
    if not web.settings.subscribe.enabled:
        return None
    side = SignUpSide(web)
    app.router.routes.extend(side.routes())
    inner: Callable[[Any], Any] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state, anyio.create_task_group() as tasks:
            tasks.start_soon(side.mail_loop)
            try:
                yield state
            finally:
                tasks.cancel_scope.cancel()
                side.mailer.close()

    app.router.lifespan_context = lifespan
    log.info("sign-up form at /subscribe, confirmation links at %s", side.confirm_route)
    return side
