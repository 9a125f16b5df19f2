"""The ``smtp`` backend: any SMTP server or relay, over the stdlib's smtplib.

One connection carries many messages: it is opened at the first message, kept for the next
batches (a small pool, so concurrent batches each get their own) and opened again when the
server has dropped it. Each recipient gets their own message and their own result: a refused
recipient (5xx) fails for good, a deferral (4xx, including 421) fails retryably, and the rest
of the batch goes on. Only failures before anything was handed over (connecting, TLS, login)
fail the whole call, so a retry never sends anyone a message twice on purpose. A connection
lost before the message went (at MAIL or RCPT) is opened again and the message sent; one
lost while the message was going or before the server's answer to it leaves that recipient
``unknown``: SMTP offers no way to ask what the server took, so it is never sent again
without ``digest retry --unknown``. A refused login (5xx) is an account error: it stops the
run.

Messages are built with :mod:`digest.delivery._mime` and may be DKIM-signed with dkimpy (the
optional extra ``digest[dkim]``), covering the RFC 8058 one-click unsubscribe headers.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from pydantic import Field, model_validator

from ..config import Secret
from ..errors import (
    AccountDeliveryError,
    ConfigError,
    DeliveryError,
    DigestError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from ..message import Batch, Recipient
from ._mime import render_message
from .base import Options, Provider, RecipientResult

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["DKIM_HEADERS", "SMTPOptions", "SMTPProvider"]

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DKIM_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)
"""Headers the DKIM signature covers (RFC 8058 requires the two List-Unsubscribe ones)."""

DKIM_INSTALL_HINT = "pip install 'digest[dkim]'"


class SMTPOptions(Options):
    host: str = Field("localhost", description="SMTP server name or address")
    port: int | None = Field(
        None, ge=1, le=65535, description="default 587 (starttls), 465 (tls) or 25 (none)"
    )
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls, tls (implicit, port 465) or none"
    )
    username: str | None = Field(None, description="login name; the password is SMTP_PASSWORD")
    timeout: float | None = Field(
        None, gt=0, description="seconds per network step; default [delivery] timeout"
    )
    envelope_from: str | None = Field(
        None, description="bounce address (MAIL FROM); default the From address"
    )
    local_hostname: str | None = Field(None, description="name sent in EHLO; default this host")
    ca_file: Path | None = Field(
        None, description="PEM file of certificates to trust (a private CA, a self-signed cert)"
    )
    dkim_selector: str | None = Field(None, description="DKIM selector; enables signing")
    dkim_domain: str | None = Field(None, description="DKIM signing domain (d=)")
    dkim_key_file: Path | None = Field(
        None, description="PEM RSA private key; or put the key in DKIM_PRIVATE_KEY"
    )

    @model_validator(mode="after")
    def _dkim_pair(self) -> SMTPOptions:
        if bool(self.dkim_selector) != bool(self.dkim_domain):
            raise ValueError("dkim_selector and dkim_domain go together: set both or neither")
        return self


class SMTPProvider(Provider):
    """Send through an SMTP server: one message per recipient over a reused connection."""

    name = "smtp"
    description = "Send through any SMTP server or relay (STARTTLS, TLS, AUTH, optional DKIM)."
    options_model: ClassVar[type[Options]] = SMTPOptions
    env_vars = ("SMTP_PASSWORD", "DKIM_PRIVATE_KEY")
    max_batch = 100
    per_message = True
    keeps_message_id = True

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(settings, sleep=sleep)
        opts = self.options
        assert isinstance(opts, SMTPOptions)
        self.opts = opts
        self.port = opts.port or DEFAULT_PORTS[opts.security]
        self.timeout = opts.timeout or self.delivery.timeout
        self._password: Secret | None = settings.secret("SMTP_PASSWORD")
        if self._password is not None:
            password = self._password.reveal()
            user = opts.username or ""
            self.hide(
                password,
                base64.b64encode(password.encode()).decode(),
                base64.b64encode(f"\0{user}\0{password}".encode()).decode(),
            )
        if opts.username and self._password is None:
            raise ConfigError(
                "[providers.smtp] username is set but SMTP_PASSWORD is not: "
                "put the SMTP password in the SMTP_PASSWORD environment variable."
            )
        if opts.username and opts.security == "none" and not _is_loopback(opts.host):
            raise ConfigError(
                f"[providers.smtp] would send the password for {opts.username!r} to "
                f'{opts.host} unencrypted: set security = "starttls" or "tls".'
            )
        self._dkim_key: bytes | None = self._load_dkim_key() if opts.dkim_selector else None
        self._lock = threading.Lock()
        self._idle: list[smtplib.SMTP] = []

    # -- DKIM ---------------------------------------------------------------------------

    def _load_dkim_key(self) -> bytes:
        dkim = _import_dkim()
        opts = self.opts
        if opts.dkim_key_file is not None:
            path = self.settings.path(opts.dkim_key_file)
            try:
                key = path.read_bytes()
            except OSError as e:
                raise ConfigError(
                    f"[providers.smtp] dkim_key_file {path}: cannot read: {e.strerror or e}"
                ) from None
            where = f"dkim_key_file {path}"
        else:
            secret = self.settings.secret("DKIM_PRIVATE_KEY")
            if secret is None:
                raise ConfigError(
                    "[providers.smtp] dkim_selector is set but there is no key: set "
                    "dkim_key_file or put the PEM key in the DKIM_PRIVATE_KEY environment variable."
                )
            self.hide(secret.reveal())
            key = secret.reveal().encode("utf-8")
            where = "DKIM_PRIVATE_KEY"
        try:
            dkim.crypto.parse_pem_private_key(key)
        except Exception:
            raise ConfigError(
                f"[providers.smtp] {where} is not a PEM RSA private key (PKCS#1 or PKCS#8)."
            ) from None
        return key

    def _sign(self, data: bytes) -> bytes:
        dkim = _import_dkim()
        opts = self.opts
        assert self._dkim_key is not None and opts.dkim_selector and opts.dkim_domain
        try:
            signature: bytes = dkim.sign(
                data,
                opts.dkim_selector.encode("ascii"),
                opts.dkim_domain.encode("ascii"),
                self._dkim_key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[h.lower().encode("ascii") for h in DKIM_HEADERS],
            )
        except dkim.DKIMException as e:
            raise PermanentDeliveryError(f"DKIM signing failed: {e}", provider=self.name) from None
        return signature + data

    # -- connections ----------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        """A connected, secured and logged-in session, or a DeliveryError saying why not."""
        opts = self.opts
        where = f"{opts.host}:{self.port}"
        log.debug("smtp: connecting to %s (%s)", where, opts.security)
        context = ssl.create_default_context(
            cafile=str(self.settings.path(opts.ca_file)) if opts.ca_file else None
        )
        conn: smtplib.SMTP | None = None
        try:
            if opts.security == "tls":
                conn = _SMTPSSL(
                    opts.host,
                    self.port,
                    local_hostname=opts.local_hostname,
                    timeout=self.timeout,
                    context=context,
                )
            else:
                conn = _SMTP(
                    opts.host,
                    self.port,
                    local_hostname=opts.local_hostname,
                    timeout=self.timeout,
                )
            conn.ehlo()
            if opts.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise PermanentDeliveryError(
                        f"{where} does not offer STARTTLS; set [providers.smtp] security to "
                        '"tls" (implicit TLS, usually port 465) or, on a trusted network, '
                        '"none"',
                        provider=self.name,
                    )
                conn.starttls(context=context)
                conn.ehlo()
            if opts.username:
                assert self._password is not None
                conn.login(opts.username, self._password.reveal())
                log.debug("smtp: logged in to %s as %s", where, opts.username)
            return conn
        except DeliveryError:
            _drop(conn)
            raise
        except smtplib.SMTPAuthenticationError as e:
            _drop(conn)
            text = (
                f"{where} refused the login for {opts.username!r}: "
                f"{self.scrub(_text(e.smtp_error))}; check [providers.smtp] username and "
                "SMTP_PASSWORD"
            )
            if 500 <= e.smtp_code < 600:
                raise AccountDeliveryError(
                    f"{text}. Nothing was sent; everyone not yet sent stays pending",
                    provider=self.name,
                    status=e.smtp_code,
                ) from None
            raise _code_error(e.smtp_code, text, provider=self.name) from None
        except smtplib.SMTPResponseException as e:
            _drop(conn)
            raise _code_error(
                e.smtp_code,
                f"{where} answered {e.smtp_code} {self.scrub(_text(e.smtp_error))}",
                provider=self.name,
            ) from None
        except ssl.SSLCertVerificationError as e:
            _drop(conn)
            raise PermanentDeliveryError(
                f"the TLS certificate of {where} is not trusted ({e.verify_message}); "
                "for a private CA or self-signed certificate set [providers.smtp] ca_file",
                provider=self.name,
            ) from None
        except ssl.SSLError as e:
            _drop(conn)
            raise PermanentDeliveryError(
                f"TLS with {where} failed ({e.reason or e}); check security and port "
                '("tls" is usually port 465, "starttls" port 587)',
                provider=self.name,
            ) from None
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            _drop(conn)
            raise TransientDeliveryError(
                f"cannot reach {where}: {self.scrub(str(e)) or type(e).__name__}",
                provider=self.name,
            ) from None
        except smtplib.SMTPException as e:
            _drop(conn)
            raise PermanentDeliveryError(
                f"{where}: {self.scrub(str(e))}", provider=self.name
            ) from None

    def _acquire(self) -> smtplib.SMTP:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _release(self, conn: smtplib.SMTP | None) -> None:
        if conn is not None and conn.sock is not None:
            with self._lock:
                self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()

    # -- sending --------------------------------------------------------------------------

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        content = batch.content
        sender = self.opts.envelope_from or content.sender.email
        results: list[RecipientResult] = []
        conn: smtplib.SMTP | None = self._acquire()
        try:
            for i, recipient in enumerate(batch.recipients):
                try:
                    message = render_message(content, recipient)
                    data = self._sign(message.data) if self._dkim_key else message.data
                except DigestError as e:
                    results.append(RecipientResult(recipient.email, False, error=str(e)))
                    continue
                try:
                    result, conn = self._send_one(conn, sender, recipient, data)
                except DeliveryError as e:
                    if not any(r.ok for r in results):
                        raise
                    # Some messages went out: fail the rest, never the whole call again.
                    retryable = isinstance(e, TransientDeliveryError)
                    results.extend(
                        RecipientResult(r.email, False, error=str(e), retryable=retryable)
                        for r in batch.recipients[i:]
                    )
                    break
                if result.ok:
                    result = RecipientResult(result.email, True, message_id=message.message_id)
                results.append(result)
        finally:
            self._release(conn)
        return results

    def _send_one(
        self, conn: smtplib.SMTP | None, sender: str, recipient: Recipient, data: bytes
    ) -> tuple[RecipientResult, smtplib.SMTP | None]:
        """Hand one message over: its result, and the connection to go on with.

        A connection dropped at MAIL or RCPT (nothing handed over) is opened again once and
        the message sent again; one dropped during or after DATA leaves the outcome unknown.
        """
        to = recipient.email
        for attempt in (1, 2):
            if conn is None:
                conn = self._connect()
            options: list[str] = []
            if not (sender.isascii() and to.isascii()):
                if not conn.has_extn("smtputf8"):
                    error = "the address is not ASCII and the server does not support SMTPUTF8"
                    return RecipientResult(to, False, error=error), conn
                options.append("SMTPUTF8")
            handing_over = False
            try:
                code, answer = conn.mail(sender, options)
                if code != 250:
                    _reset(conn)
                    return self._refused(to, code, answer, f"refused the sender {sender}"), (
                        _alive(conn)
                    )
                code, answer = conn.rcpt(to)
                if code not in (250, 251):
                    _reset(conn)
                    return self._refused(to, code, answer, "refused the recipient"), _alive(conn)
                handing_over = True
                code, answer = conn.data(data)
                if code != 250:
                    return self._refused(to, code, answer, "refused the message"), _alive(conn)
                log.debug("smtp: handed over the message to %s", to)
                return RecipientResult(to, True), conn
            except smtplib.SMTPDataError as e:  # DATA itself refused: nothing went
                return self._refused(to, e.smtp_code, e.smtp_error, "refused the message"), (
                    _alive(conn)
                )
            except (smtplib.SMTPServerDisconnected, OSError) as e:
                _drop(conn)
                conn = None
                if handing_over:
                    error = (
                        f"answer lost: the connection dropped while the message was handed "
                        f"over ({e or type(e).__name__}); the server may have taken it"
                    )
                    return RecipientResult(to, False, error=error, unknown=True), None
                if attempt == 2:
                    error = f"connection lost: {e or type(e).__name__}"
                    return RecipientResult(to, False, error=error, retryable=True), None
                log.debug("smtp: connection lost (%s); connecting again", e)
            except smtplib.SMTPResponseException as e:
                return self._refused(to, e.smtp_code, e.smtp_error, "answered"), _alive(conn)
            except smtplib.SMTPException as e:
                return RecipientResult(to, False, error=self.scrub(str(e))), _alive(conn)
        raise AssertionError("unreachable")

    def _refused(self, to: str, code: int, answer: bytes | str, what: str) -> RecipientResult:
        retryable = not 500 <= code < 600
        error = f"{self.opts.host} {what}: {code} {self.scrub(_text(answer))}"
        log.debug("smtp: %s for %s", error, to)
        return RecipientResult(to, False, error=error, retryable=retryable)


class _QuickData:
    """``DATA`` as smtplib sends it, with dot-stuffing by ``bytes.replace``.

    smtplib stuffs with a multi-line regex that costs about 0.3 ms on a 50 KB message, as
    much as the rest of handing it over; replacing every LF-dot gives the very same bytes
    (the regex's ``^`` is the start or just after an LF) for a tenth of that.
    """

    def data(self, msg: Any) -> tuple[int, bytes]:
        smtp = cast(smtplib.SMTP, self)
        if not isinstance(msg, bytes):
            return smtplib.SMTP.data(smtp, msg)
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        smtp.send(_dot_stuffed(msg))
        return smtp.getreply()


def _dot_stuffed(msg: bytes) -> bytes:
    """``msg`` as DATA carries it: every line starting with a dot doubled, then CRLF.CRLF."""
    stuffed = msg.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + (b".\r\n" if stuffed.endswith(b"\r\n") else b"\r\n.\r\n")


class _SMTP(_QuickData, smtplib.SMTP):
    pass


class _SMTPSSL(_QuickData, smtplib.SMTP_SSL):
    pass


def _import_dkim() -> Any:
    try:
        dkim = import_module("dkim")
        import_module("dkim.crypto")
    except ImportError:
        raise ConfigError(
            f"DKIM signing ([providers.smtp] dkim_selector) needs dkimpy: {DKIM_INSTALL_HINT}"
        ) from None
    return dkim


def _code_error(code: int, message: str, *, provider: str) -> DeliveryError:
    if 400 <= code < 500 or code < 0:
        return TransientDeliveryError(message, provider=provider, status=code)
    return PermanentDeliveryError(message, provider=provider, status=code)


def _text(answer: bytes | str) -> str:
    if isinstance(answer, bytes):
        return answer.decode("utf-8", "replace")
    return str(answer)


def _reset(conn: smtplib.SMTP) -> None:
    """RSET after a refused envelope, as smtplib's sendmail does; a dead link is let go."""
    try:
        conn.rset()
    except (smtplib.SMTPException, OSError):
        conn.close()


def _alive(conn: smtplib.SMTP) -> smtplib.SMTP | None:
    """The connection if smtplib kept it open (it closes after a 421), else None."""
    return conn if conn.sock is not None else None


def _drop(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        conn.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
