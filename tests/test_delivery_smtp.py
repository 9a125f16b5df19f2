"""The smtp backend against a real aiosmtpd server on 127.0.0.1: TLS, AUTH, refusals, DKIM."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import pytest
from tests.servers.smtp import SMTPServer, dkim_keypair, self_signed_cert
from tests.servers.support import Sleeps, make_batch, make_content, make_settings, recipients

from digest.delivery.smtp import SMTPProvider
from digest.errors import (
    AccountDeliveryError,
    ConfigError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from digest.message import Recipient, build_mime

PASSWORD = "correct horse battery staple"


def provider(server: SMTPServer, environ: dict[str, str] | None = None, **options: object) -> (
    SMTPProvider
):
    settings = make_settings("smtp", server.options(**options), environ or {})
    return SMTPProvider(settings, sleep=Sleeps())


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def bodies(msg: EmailMessage) -> dict[str, str]:
    """Decoded text and HTML parts, line ends made LF (the in-memory message has LF)."""
    out = {}
    for part in msg.walk():
        if not part.is_multipart():
            out[part.get_content_type()] = part.get_content().replace("\r\n", "\n")
    return out


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def plain() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


def test_each_recipient_gets_their_own_message_matching_build_mime(plain: SMTPServer) -> None:
    """What the server receives parses back to the parts build_mime makes for that reader."""
    content = make_content()
    people = recipients(3)
    with provider(plain) as p:
        results = p.send_batch(make_batch(people, content))
    assert [r.ok for r in results] == [True, True, True]
    assert [r.message_id for r in results] == [r.message_id for r in people]
    assert [m.rcpt_tos for m in plain.messages] == [[r.email] for r in people]
    assert {m.mail_from for m in plain.messages} == {"news@example.org"}
    for person, received in zip(people, plain.messages, strict=True):
        got, want = parse(received.data), build_mime(content, person)
        assert bodies(got) == bodies(want)
        for name in ("From", "To", "Reply-To", "Subject", "Message-ID", "List-Unsubscribe",
                     "List-Unsubscribe-Post"):
            assert str(got[name]) == str(want[name]), name
    assert plain.connections == 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_and_login_carry_the_message_over_tls(
    cert: tuple[Path, Path], mechanism: str
) -> None:
    with SMTPServer(security="starttls", cert=cert, users={"newsletter": PASSWORD},
                    auth_mechanisms=(mechanism,)) as server:
        p = provider(server, {"SMTP_PASSWORD": PASSWORD}, username="newsletter",
                     ca_file=str(cert[0]))
        with p:
            results = p.send_batch(make_batch(recipients(2)))
    assert all(r.ok for r in results)
    assert server.logins == [("newsletter", True, mechanism)]
    assert [m.peer_tls for m in server.messages] == [True, True]


def test_implicit_tls_sends(cert: tuple[Path, Path]) -> None:
    with SMTPServer(security="tls", cert=cert) as server, provider(
        server, ca_file=str(cert[0])
    ) as p:
        results = p.send_batch(make_batch(recipients(1)))
    assert results[0].ok
    assert server.messages[0].peer_tls


def test_untrusted_certificate_fails_for_good_naming_ca_file(cert: tuple[Path, Path]) -> None:
    """Without ca_file the self-signed certificate is refused: no silent downgrade."""
    with (
        SMTPServer(security="starttls", cert=cert) as server,
        provider(server) as p,
        pytest.raises(PermanentDeliveryError, match="ca_file"),
    ):
        p.send_batch(make_batch(recipients(1)))
    assert server.messages == []


def test_starttls_required_but_not_offered_is_permanent(plain: SMTPServer) -> None:
    with (
        provider(plain, security="starttls") as p,
        pytest.raises(PermanentDeliveryError, match="does not offer STARTTLS"),
    ):
        p.send_batch(make_batch(recipients(1)))


def test_refused_recipient_fails_alone_and_for_good(plain: SMTPServer) -> None:
    people = recipients(3)
    plain.rcpt_replies[people[1].email] = "550 5.1.1 No such user here"
    with provider(plain) as p:
        results = p.send_batch(make_batch(people))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].retryable is False
    assert "550" in (results[1].error or "") and "No such user here" in (results[1].error or "")
    assert [m.rcpt_tos for m in plain.messages] == [[people[0].email], [people[2].email]]


@pytest.mark.parametrize(
    "fault",
    ["rcpt 451 4.7.1 Greylisted, try again", "rcpt 421 4.3.2 Shutting down",
     "data 451 4.3.0 Queue full"],
)
def test_deferral_fails_that_recipient_retryably_and_the_rest_go_on(
    plain: SMTPServer, fault: str
) -> None:
    """4xx means later: that reader is retryable; after a 421 the provider reconnects."""
    stage, reply = fault.split(" ", 1)
    people = recipients(3)
    if stage == "rcpt":
        plain.rcpt_replies[people[1].email] = reply
    else:
        plain.data_replies.extend([reply])
        people = [people[1], people[0], people[2]]
    with provider(plain) as p:
        results = p.send_batch(make_batch(people))
    by_email = {r.email: r for r in results}
    deferred = by_email[recipients(3)[1].email]
    assert deferred.ok is False and deferred.retryable is True
    assert reply.split(" ")[0] in (deferred.error or "")
    assert sum(r.ok for r in results) == 2
    assert len(plain.messages) == 2


def test_wrong_password_stops_at_once_without_the_password(
    cert: tuple[Path, Path],
) -> None:
    """A refused login is an account error: not retried, raised out of the delivery loop
    (it stops the run), with the server's answer and never the password."""
    wrong = "Tr0ub4dor&3-wrong"
    with SMTPServer(security="starttls", cert=cert, users={"newsletter": PASSWORD}) as server:
        settings = make_settings(
            "smtp", server.options(username="newsletter", ca_file=str(cert[0])),
            {"SMTP_PASSWORD": wrong},
        )
        sleeps = Sleeps()
        with (
            SMTPProvider(settings, sleep=sleeps) as p,
            pytest.raises(AccountDeliveryError) as caught,
        ):
            p.deliver(make_batch(recipients(2)))
    assert caught.value.status == 535
    assert "Authentication credentials invalid" in str(caught.value)
    assert "SMTP_PASSWORD" in str(caught.value) and wrong not in str(caught.value)
    assert sleeps == []
    assert server.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_plain_login_works_on_loopback_without_tls() -> None:
    with (
        SMTPServer(users={"u": PASSWORD}, auth_require_tls=False) as server,
        provider(server, {"SMTP_PASSWORD": PASSWORD}, username="u", security="none") as p,
    ):
        assert p.send_batch(make_batch(recipients(1)))[0].ok
    assert [login[:2] for login in server.logins] == [("u", True)]


def test_a_repeated_address_gets_one_message_through_the_shared_delivery_loop(
    plain: SMTPServer,
) -> None:
    """The base's ``deliver`` sends each address once, whatever the backend."""
    people = recipients(3)
    twice = Recipient(email=people[1].email.upper(), name=people[1].name)
    with provider(plain) as p:
        results = p.deliver(make_batch([*people, twice]))
    assert [r.ok for r in results] == [True] * 4
    assert results[3].message_id == results[1].message_id
    assert [m.rcpt_tos for m in plain.messages] == [[r.email] for r in people]


def test_one_connection_carries_several_batches(plain: SMTPServer) -> None:
    with provider(plain) as p:
        for start in (0, 3, 6):
            assert all(r.ok for r in p.send_batch(make_batch(recipients(3, start=start))))
    assert len(plain.messages) == 9
    assert plain.connections == 1


def test_concurrent_batches_each_get_a_connection_and_leave_it_for_reuse(
    plain: SMTPServer,
) -> None:
    """Batches sent from several threads never share a session; idle ones are kept."""
    with provider(plain) as p, ThreadPoolExecutor(max_workers=3) as pool:
        batches = [make_batch(recipients(4, start=4 * k), key=f"b{k}") for k in range(6)]
        results = [r for rs in pool.map(p.send_batch, batches) for r in rs]
        opened = plain.connections
        assert all(r.ok for r in p.send_batch(make_batch(recipients(2, start=100))))
    assert all(r.ok for r in results) and len(results) == 24
    assert sorted(m.rcpt_tos[0] for m in plain.messages) == sorted(
        [r.email for r in recipients(24)] + [r.email for r in recipients(2, start=100)]
    )
    assert 1 <= opened <= 3
    assert plain.connections == opened


def test_dropped_connection_is_opened_again_and_the_message_sent(plain: SMTPServer) -> None:
    plain.drop_after = 1
    with provider(plain) as p:
        results = p.send_batch(make_batch(recipients(3)))
    assert [r.ok for r in results] == [True, True, True]
    assert len(plain.messages) == 3
    assert plain.connections == 3


@pytest.mark.parametrize("fault", ["lose", "drop"])
def test_a_connection_lost_during_data_leaves_that_recipient_unknown_and_goes_on(
    plain: SMTPServer, fault: str
) -> None:
    """The second message's answer never comes (taken, or not): it is not sent again; the
    third goes over a new connection."""
    faults = iter([None, fault, None])
    plain.data_fault = lambda: next(faults)
    with provider(plain) as p:
        results = p.deliver(make_batch(recipients(3)))
    assert [(r.ok, r.unknown) for r in results] == [(True, False), (False, True), (True, False)]
    assert "answer lost" in (results[1].error or "")
    assert len(plain.messages) == (3 if fault == "lose" else 2)
    assert plain.connections == 2


def test_unreachable_server_is_transient_and_retried_by_deliver() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = make_settings("smtp", {"host": "127.0.0.1", "port": port, "security": "none"},
                             {}, max_retries=2)
    sleeps = Sleeps()
    with SMTPProvider(settings, sleep=sleeps) as p:
        with pytest.raises(TransientDeliveryError, match="cannot reach"):
            p.send_batch(make_batch(recipients(1)))
        results = p.deliver(make_batch(recipients(2)))
    assert len(sleeps) == 2
    assert [(r.ok, r.retryable) for r in results] == [(False, True), (False, True)]


def test_line_break_in_a_name_fails_that_recipient_only(plain: SMTPServer) -> None:
    bad = Recipient("eve@example.com", "Eve\r\nBcc: victim@example.com")
    people = [recipients(1)[0], bad]
    with provider(plain) as p:
        results = p.send_batch(make_batch(people))
    assert [r.ok for r in results] == [True, False]
    assert "line break" in (results[1].error or "")
    assert len(plain.messages) == 1


def test_username_without_password_is_a_config_error(plain: SMTPServer) -> None:
    with pytest.raises(ConfigError, match="SMTP_PASSWORD"):
        provider(plain, username="newsletter")


def test_password_over_plain_text_to_a_remote_host_is_refused() -> None:
    settings = make_settings(
        "smtp", {"host": "mail.example.org", "security": "none", "username": "u"},
        {"SMTP_PASSWORD": PASSWORD},
    )
    with pytest.raises(ConfigError, match="unencrypted"):
        SMTPProvider(settings)


# -- DKIM ----------------------------------------------------------------------------------

dkim = pytest.importorskip("dkim")


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    return dkim_keypair(tmp_path_factory.mktemp("dkim"))


def verify(data: bytes, txt: bytes) -> bool:
    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return txt if name == b"news2026._domainkey.example.org." else None

    return bool(dkim.verify(data, dnsfunc=dns))


def signed_headers(data: bytes) -> set[str]:
    sig = str(parse(data)["DKIM-Signature"])
    match = re.search(r"\bh=([^;]+)", sig)
    assert match
    return {h.strip().lower() for h in match.group(1).split(":")}


@pytest.mark.parametrize("key_from", ["file", "env"])
def test_dkim_signature_verifies_and_covers_one_click_unsubscribe(
    plain: SMTPServer, dkim_key: tuple[Path, bytes], key_from: str
) -> None:
    key_file, txt = dkim_key
    options: dict[str, object] = {"dkim_selector": "news2026", "dkim_domain": "example.org"}
    environ = {}
    if key_from == "file":
        options["dkim_key_file"] = str(key_file)
    else:
        environ["DKIM_PRIVATE_KEY"] = key_file.read_text()
    with provider(plain, environ, **options) as p:
        assert all(r.ok for r in p.send_batch(make_batch(recipients(2))))
    for received in plain.messages:
        assert verify(received.data, txt)
        covered = signed_headers(received.data)
        assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe",
                "list-unsubscribe-post"} <= covered


def test_dkim_breaks_when_list_unsubscribe_is_changed(
    plain: SMTPServer, dkim_key: tuple[Path, bytes]
) -> None:
    """The signature really covers the unsubscribe header: editing it fails verification."""
    key_file, txt = dkim_key
    with provider(plain, dkim_selector="news2026", dkim_domain="example.org",
                  dkim_key_file=str(key_file)) as p:
        assert p.send_batch(make_batch(recipients(1)))[0].ok
    data = plain.messages[0].data
    tampered = re.sub(rb"List-Unsubscribe: <[^>]+>", b"List-Unsubscribe: <https://evil.example/>",
                      data)
    assert tampered != data
    assert verify(data, txt) and not verify(tampered, txt)


def test_dkim_without_a_key_is_a_config_error(plain: SMTPServer) -> None:
    with pytest.raises(ConfigError, match="DKIM_PRIVATE_KEY"):
        provider(plain, dkim_selector="s", dkim_domain="example.org")


def test_dkim_with_a_broken_key_is_a_config_error_without_the_key(plain: SMTPServer) -> None:
    junk = "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-5ecret\n-----END RSA PRIVATE KEY-----\n"
    with pytest.raises(ConfigError) as caught:
        provider(plain, {"DKIM_PRIVATE_KEY": junk}, dkim_selector="s", dkim_domain="example.org")
    assert "not-a-key-5ecret" not in str(caught.value)


def test_dkim_without_dkimpy_names_the_extra(
    plain: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dkimpy is optional: without it, signing asks for digest[dkim] instead of crashing."""
    monkeypatch.setitem(sys.modules, "dkim", None)
    with pytest.raises(ConfigError, match=re.escape("pip install 'digest[dkim]'")):
        provider(plain, {"DKIM_PRIVATE_KEY": "x"}, dkim_selector="s", dkim_domain="example.org")


def test_lines_starting_with_a_dot_arrive_intact(plain: SMTPServer) -> None:
    """digest dot-stuffs DATA itself (faster than smtplib's regex); the server must still
    read back exactly the message digest built, dots and all."""
    text = ".hidden first line\n.\n..two dots\nplain @@digest.name@@\n.last"
    content = make_content(text=text, html="<p>\n.dot at a line start</p>\n.")
    people = recipients(2)
    with provider(plain) as p:
        results = p.send_batch(make_batch(people, content))
    assert [r.ok for r in results] == [True, True]
    for person, received in zip(people, plain.messages, strict=True):
        got, want = parse(received.data), build_mime(content, person)
        assert bodies(got) == bodies(want)
        assert ".hidden first line" in bodies(got)["text/plain"]


@pytest.mark.parametrize(
    "data",
    [b"", b".", b"a\r\n.b\r\n", b".\r\n.\r\n", b"x\n.y", b"no end", b"\r\n..\r\n", b"a\r\n"],
)
def test_dot_stuffing_gives_smtplibs_bytes(data: bytes) -> None:
    """The same bytes smtplib's DATA would put on the wire for any message."""
    import smtplib

    from digest.delivery.smtp import _dot_stuffed

    q = smtplib._quote_periods(data)  # type: ignore[attr-defined]
    want = (q if q[-2:] == b"\r\n" else q + b"\r\n") + b".\r\n"
    assert _dot_stuffed(data) == want
