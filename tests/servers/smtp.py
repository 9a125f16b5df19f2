"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the smtp backend's tests, with faults.

:class:`SMTPServer` runs aiosmtpd on an ephemeral port in its own thread and event loop:
plain, STARTTLS or implicit TLS (certificates from :func:`self_signed_cert`, made with the
``openssl`` binary), optionally with AUTH PLAIN/LOGIN checked against ``users``. It records
every message it accepts (envelope and raw bytes) and every connection it sees.

Faults, set on the server before a send:

* ``rcpt_replies[address] = "550 5.1.1 No such user"``: answer RCPT TO for that address;
* ``data_replies.append("451 4.3.0 Try again later")``: answer the next DATA with it;
* ``drop_after``: close a connection, unanswered, at the MAIL FROM after that many messages;
* ``data_fault``: a function asked at each DATA; ``"lose"`` accepts the message, then closes
  the connection before answering (a lost answer), ``"drop"`` closes it without taking the
  message, any other string is the reply;
* ``echo_password``: refuse a login with a reply that repeats the password it was sent (as
  a careless server might), to show the client keeps it out of its errors.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

__all__ = ["Received", "SMTPServer", "dkim_keypair", "openssl", "self_signed_cert"]

LOGGER_NAME = "mail.log"
"""aiosmtpd's logger: the test server's own log, which echoes what clients send."""


def openssl() -> str:
    """The openssl binary, or skip: the tests make their keys and certificates with it."""
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("the openssl binary is needed to make test keys and certificates")
    return path


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key: (cert.pem, key.pem)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl(), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def dkim_keypair(folder: Path) -> tuple[Path, bytes]:
    """A 2048-bit RSA key (PKCS#1 PEM file) and its DNS TXT record ``v=DKIM1; k=rsa; p=…``."""
    import base64

    key = folder / "dkim.pem"
    subprocess.run(
        [openssl(), "genrsa", "-traditional", "-out", str(key), "2048"],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(
        [openssl(), "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer_tls: bool
    at: float = field(default_factory=time.monotonic)
    """When the server accepted it (``time.monotonic``), for pacing tests."""


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, smtp: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        drop_after = self.server.drop_after
        if drop_after is not None and getattr(session, "delivered", 0) >= drop_after:
            assert smtp.transport is not None
            smtp.transport.close()
            return "421 4.4.2 closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.server.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Any, envelope: Any) -> str:
        if self.server.data_replies:
            return self.server.data_replies.popleft()
        fault = self.server.data_fault() if self.server.data_fault is not None else None
        if fault in ("lose", "drop"):
            if fault == "lose":
                self.server.messages.append(
                    Received(envelope.mail_from, list(envelope.rcpt_tos),
                             envelope.original_content, False)
                )
            assert smtp.transport is not None
            smtp.transport.abort()
            return "421 4.4.2 closing"
        if fault is not None:
            return fault
        session.delivered = getattr(session, "delivered", 0) + 1
        transport = smtp.transport
        tls = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        self.server.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, tls)
        )
        return "250 2.0.0 Message accepted"


class SMTPServer:
    """aiosmtpd on 127.0.0.1, an ephemeral port, its own thread; use as a context manager."""

    def __init__(
        self,
        *,
        security: Literal["none", "starttls", "tls"] = "none",
        cert: tuple[Path, Path] | None = None,
        users: dict[str, str] | None = None,
        auth_require_tls: bool = True,
        auth_mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
    ) -> None:
        self.security = security
        self.users = users
        self.auth_require_tls = auth_require_tls
        self.auth_exclude = [m for m in ("PLAIN", "LOGIN") if m not in auth_mechanisms]
        self.messages: list[Received] = []
        self.connections = 0
        self.logins: list[tuple[str, bool, str]] = []
        """(user, accepted, mechanism) for every AUTH."""
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: deque[str] = deque()
        self.drop_after: int | None = None
        self.data_fault: Callable[[], str | None] | None = None
        self.echo_password = False
        self._context: ssl.SSLContext | None = None
        if security != "none":
            assert cert is not None, "TLS needs a certificate"
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(str(cert[0]), str(cert[1]))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    def _authenticate(
        self, smtp: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword) and self.users is not None
        user = data.login.decode()
        ok = self.users.get(user) == data.password.decode()
        self.logins.append((user, ok, mechanism))
        if not ok and self.echo_password:
            message = f"535 5.7.8 Wrong password {data.password.decode()!r} for {user}"
            return AuthResult(success=False, handled=False, message=message)
        return AuthResult(success=ok, handled=False)

    def _factory(self) -> SMTP:
        self.connections += 1
        return SMTP(
            _Handler(self),
            hostname="localhost",
            tls_context=self._context if self.security == "starttls" else None,
            require_starttls=self.security == "starttls",
            authenticator=self._authenticate if self.users is not None else None,
            auth_required=self.users is not None,
            auth_require_tls=self.auth_require_tls,
            auth_exclude_mechanism=self.auth_exclude,
            loop=self._loop,
        )

    async def _start(self) -> None:
        self._server = await self._loop.create_server(
            self._factory, "127.0.0.1", 0,
            ssl=self._context if self.security == "tls" else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def __enter__(self) -> SMTPServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def options(self, **extra: Any) -> dict[str, Any]:
        """``[providers.smtp]`` options pointing at this server."""
        return {"host": "127.0.0.1", "port": self.port, "security": self.security, **extra}
