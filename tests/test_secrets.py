"""Secrets never reach output, errors, reprs, files or logs.

Every provider environment variable holds a distinctive fake secret while a scenario runs;
the scenario returns every text digest produced (errors, results, files, command output),
and the test also reads every log record (DEBUG, all loggers: digest's, httpx's, httpcore's,
smtplib's) and everything written to stdout and stderr. No secret may appear in any of
them, neither as is nor base64-encoded as HTTP Basic and SMTP AUTH send it.

Adding a provider: write a scenario ``(environ, tmp_path) -> list[str]`` that makes it fail
(and succeed) against its test server, and add one ``pytest.param`` line to SCENARIOS.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable, Iterator
from importlib import import_module
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.servers.smtp import LOGGER_NAME as SMTP_SERVER_LOGGER
from tests.servers.smtp import SMTPServer, dkim_keypair, self_signed_cert
from tests.servers.support import make_batch, make_settings, recipients

from digest.cli import cli
from digest.config import Settings, load_settings
from digest.delivery.base import RecipientResult, available_providers
from digest.delivery.local import ConsoleProvider, FileProvider
from digest.delivery.smtp import SMTPProvider
from digest.errors import DeliveryError, DigestError, PermanentDeliveryError
from digest.message import Batch

SECRET_VARS = [
    "POSTMARK_SERVER_TOKEN",
    "SENDGRID_API_KEY",
    "MAILGUN_API_KEY",
    "RESEND_API_KEY",
    "BREVO_API_KEY",
    "MJ_APIKEY_PUBLIC",
    "MJ_APIKEY_PRIVATE",
    "AWS_SECRET_ACCESS_KEY",
    "SMTP_PASSWORD",
    "DIGEST_SECRET",
]
NOT_SECRET = {"AWS_REGION", "AWS_DEFAULT_REGION"}
SMTP_USER = "newsletter"
TEST_SERVER_LOGGERS = {SMTP_SERVER_LOGGER}
"""The test servers' own logs echo what clients send (AUTH lines too); they are not digest."""


def provider_env_vars() -> set[str]:
    """Every env var a loadable provider declares, so a new provider is covered by itself."""
    names: set[str] = set()
    for target in available_providers().values():
        module, _, attr = target.partition(":")
        try:
            names.update(getattr(import_module(module), attr).env_vars)
        except Exception:
            continue
    return names


@pytest.fixture
def environ() -> dict[str, str]:
    names = (set(SECRET_VARS) | provider_env_vars()) - NOT_SECRET
    env = {name: f"fake-{name.lower().replace('_', '-')}-{secrets.token_hex(6)}" for name in names}
    env["AWS_REGION"] = "eu-west-1"
    return env


def forms(name: str, value: str) -> list[str]:
    """A secret as it could leak: plain, base64, HTTP Basic and SMTP AUTH PLAIN encodings,
    and for a PEM key each line of it."""
    b64 = [value, f"\0{SMTP_USER}\0{value}", f"api:{value}", f"{value}:"]
    lines = [line for line in value.splitlines() if len(line) >= 16 and "-----" not in line]
    return [value, *(base64.b64encode(v.encode()).decode() for v in b64), *lines]


# -- scenarios -----------------------------------------------------------------------------

Scenario = Callable[[dict[str, str], Path], list[str]]


def smtp_wrong_password(environ: dict[str, str], tmp_path: Path) -> list[str]:
    """The server refuses SMTP_PASSWORD, repeating it in its answer: digest's error shows
    the answer with the password blanked out."""
    cert = self_signed_cert(tmp_path)
    with SMTPServer(security="starttls", cert=cert, users={SMTP_USER: "the-real-one"}) as server:
        server.echo_password = True
        settings = make_settings(
            "smtp", server.options(username=SMTP_USER, ca_file=str(cert[0])), environ,
            max_retries=0,
        )
        texts: list[str] = []
        with SMTPProvider(settings, sleep=lambda s: None) as p:
            try:
                p.send_batch(make_batch(recipients(1)))
            except DeliveryError as e:
                assert "Wrong password '***'" in str(e)
                texts += [str(e), repr(e), e.body]
            else:
                raise AssertionError("the login should have failed")
            try:  # through the delivery loop: an account error, raised to stop the run
                p.deliver(make_batch(recipients(2)))
            except DeliveryError as e:
                texts += [str(e), repr(e)]
            else:
                raise AssertionError("the login should have failed")
        assert server.logins and not server.logins[0][1]
    return texts


def smtp_login_and_send(environ: dict[str, str], tmp_path: Path) -> list[str]:
    """A successful login and send: the message itself carries no secret either."""
    cert = self_signed_cert(tmp_path)
    users = {SMTP_USER: environ["SMTP_PASSWORD"]}
    with SMTPServer(security="starttls", cert=cert, users=users) as server:
        settings = make_settings(
            "smtp", server.options(username=SMTP_USER, ca_file=str(cert[0])), environ
        )
        with SMTPProvider(settings) as p:
            results = p.send_batch(make_batch(recipients(2)))
        assert all(r.ok for r in results)
        return [str(r) for r in results] + [
            m.data.decode("utf-8", "replace") for m in server.messages
        ]


def smtp_dkim_key_from_env(environ: dict[str, str], tmp_path: Path) -> list[str]:
    """A real DKIM key in DKIM_PRIVATE_KEY signs messages and shows up nowhere."""
    pytest.importorskip("dkim")
    key_file, _txt = dkim_keypair(tmp_path)
    environ["DKIM_PRIVATE_KEY"] = key_file.read_text()
    key_file.unlink()
    with SMTPServer() as server:
        settings = make_settings(
            "smtp", server.options(dkim_selector="s1", dkim_domain="example.org"), environ
        )
        with SMTPProvider(settings) as p:
            results = p.send_batch(make_batch(recipients(2)))
        assert all(r.ok for r in results)
        texts = [str(r) for r in results] + [m.data.decode() for m in server.messages]
    assert all("DKIM-Signature:" in t for t in texts[2:])
    broken = dict(environ, DKIM_PRIVATE_KEY=environ["DKIM_PRIVATE_KEY"][:-200])
    try:
        SMTPProvider(make_settings("smtp", {"dkim_selector": "s1", "dkim_domain": "example.org"},
                                   broken))
    except DigestError as e:
        texts += [str(e), repr(e)]
    else:
        raise AssertionError("a truncated key should be refused")
    return texts


def smtp_password_in_config_file(environ: dict[str, str], tmp_path: Path) -> list[str]:
    """A password put in [providers.smtp] by mistake is refused without being echoed."""
    settings = make_settings("smtp", {"password": environ["SMTP_PASSWORD"]}, environ)
    try:
        SMTPProvider(settings)
    except DigestError as e:
        return [str(e), repr(e)]
    raise AssertionError("an unknown option should be refused")


def file_and_console_send(environ: dict[str, str], tmp_path: Path) -> list[str]:
    settings = Settings.model_validate(
        {"providers": {"file": {"dir": str(tmp_path / "outbox")}, "console": {"full": True}},
         "environ": environ}
    )
    FileProvider(settings).send_batch(make_batch(recipients(2)))
    texts = [p.read_text() for p in (tmp_path / "outbox").rglob("*.eml")]
    assert texts
    ConsoleProvider(settings).send_batch(make_batch(recipients(1)))
    return texts


def providers_command(environ: dict[str, str], tmp_path: Path) -> list[str]:
    """``digest providers`` says which variables are set, never what they hold."""
    runner = CliRunner()
    env: dict[str, str | None] = {"DIGEST_CONFIG": None, **environ}
    texts = []
    for args in (["providers"], ["providers", "--json"]):
        result = runner.invoke(cli, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        texts.append(result.output)
    assert "SMTP_PASSWORD  set" in texts[0]
    return texts


def settings_reprs(environ: dict[str, str], tmp_path: Path) -> list[str]:
    config = tmp_path / "digest.toml"
    config.write_text('[delivery]\nprovider = "smtp"\n[providers.smtp]\nhost = "127.0.0.1"\n')
    texts = []
    for settings in (Settings.model_validate({"environ": environ}),
                     load_settings(config, environ=environ)):
        texts += [repr(settings), str(settings), settings.model_dump_json(),
                  repr(settings.model_dump())]
        for name in environ:
            secret = settings.secret(name)
            assert secret is not None and secret.reveal() == environ[name]
            texts += [repr(secret), str(secret), f"{secret}", f"{secret!r}"]
    return texts


class _EchoingBackend(FileProvider):
    """A third-party backend whose service echoes its key in every refusal."""

    name = "file"

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        key = self.secret("DIGEST_SECRET")
        raise PermanentDeliveryError(f"refused key {key}", provider="echo", status=401)


def plugin_error_echoing_its_secret(environ: dict[str, str], tmp_path: Path) -> list[str]:
    """The base's delivery loop masks what any backend took through ``Provider.secret``."""
    settings = make_settings("file", {"dir": str(tmp_path)}, environ)
    results = _EchoingBackend(settings).deliver(make_batch(recipients(2)))
    assert all(not r.ok and "refused key ***" in (r.error or "") for r in results)
    return [r.error or "" for r in results]


SCENARIOS = [
    pytest.param(smtp_wrong_password, id="smtp-wrong-password"),
    pytest.param(smtp_login_and_send, id="smtp-login-and-send"),
    pytest.param(smtp_dkim_key_from_env, id="smtp-dkim-key-from-env"),
    pytest.param(smtp_password_in_config_file, id="smtp-password-in-config"),
    pytest.param(file_and_console_send, id="file-and-console"),
    pytest.param(providers_command, id="providers-command"),
    pytest.param(settings_reprs, id="settings-repr"),
    pytest.param(plugin_error_echoing_its_secret, id="plugin-error-echo"),
]


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at DEBUG, including libraries that set their own levels."""
    caplog.set_level(logging.DEBUG)
    for name in ("digest", "httpx", "httpcore", "smtplib", "dkimpy", "botocore"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_secret_leaks(
    scenario: Scenario,
    environ: dict[str, str],
    tmp_path: Path,
    all_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    texts = scenario(environ, tmp_path)
    captured = capfd.readouterr()
    records = [r for r in all_logs.records if r.name not in TEST_SERVER_LOGGERS]
    logged = [f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}"
              for r in records]
    haystack = {
        "returned": "\n".join(texts),
        "stdout": captured.out,
        "stderr": captured.err,
        "logs": "\n".join(logged),
    }
    leaks = [
        f"{name} in {where}"
        for name, value in environ.items()
        if name not in NOT_SECRET
        for form in forms(name, value)
        for where, text in haystack.items()
        if form in text
    ]
    assert leaks == []
    assert texts, "a scenario must return what it produced"


def test_the_leak_check_can_fail(environ: dict[str, str]) -> None:
    """The forms the check looks for are what an AUTH line or a naive repr would show."""
    value = environ["SMTP_PASSWORD"]
    auth_plain = base64.b64encode(f"\0{SMTP_USER}\0{value}".encode()).decode()
    assert any(form in f"AUTH PLAIN {auth_plain}" for form in forms("SMTP_PASSWORD", value))
    assert any(form in repr({"password": value}) for form in forms("SMTP_PASSWORD", value))


def test_newsletter_list_id_defaults_from_name_and_from_domain() -> None:
    from digest.config import NewsletterSettings

    n = NewsletterSettings.model_validate(
        {"name": "Socialist Revolution Weekly", "from": "SR <news@Example.ORG>"}
    )
    assert n.list_id == "socialist-revolution-weekly.example.org"
    assert NewsletterSettings.model_validate({"id": "w.example.org"}).list_id == "w.example.org"


def test_newsletter_id_must_be_a_dotted_list_id() -> None:
    import pydantic

    from digest.config import NewsletterSettings

    for bad in ("nodots", "Upper.Case.org", "a..b", "sp ace.org", "-x.org"):
        with pytest.raises(pydantic.ValidationError):
            NewsletterSettings.model_validate({"id": bad})
