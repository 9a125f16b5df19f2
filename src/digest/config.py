"""Settings: ``digest.toml`` plus the environment, as typed, validated objects.

This is the only module that reads the environment. Secrets (API keys, the token secret)
come only from there, wrapped in :class:`Secret` so they never print.
"""

from __future__ import annotations

import os
import string
import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "ArchiveSettings",
    "AudienceSettings",
    "BrandSettings",
    "DeliverySettings",
    "EventSettings",
    "IssuesSettings",
    "LinkSettings",
    "NewsletterSettings",
    "Secret",
    "SendingSettings",
    "ServeSettings",
    "Settings",
    "SubscribeSettings",
    "load_settings",
]

DEFAULT_CONFIG_NAME = "digest.toml"


class Secret:
    """A secret value that never shows itself in ``str``, ``repr``, logs or tracebacks."""

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name}=***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _web_url(value: str | None) -> str | None:
    """Links the email shows must be absolute http(s) URLs (templates like {token} allowed)."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http:// or https:// URL, not {value!r}")
    return value


ISSUE_FIELDS = ("slug", "number", "date")
SUBJECT_FIELDS = ("headline", "newsletter", "number", "date")
UNSUBSCRIBE_FIELDS = ("token", "slug", "email")


def _template_fields(value: str, allowed: tuple[str, ...]) -> str:
    """A URL template may use only the ``{fields}`` digest fills in for it."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as e:
        raise ValueError(
            f"{value!r} is not a valid template ({e}); write literal braces as {{{{ }}}}"
        ) from None
    unknown = sorted(n for n in names if n not in allowed)
    if unknown:
        choices = ", ".join("{" + a + "}" for a in allowed)
        raise ValueError(f"uses {{{unknown[0]}}}; it may use only {choices}")
    return value


_MAILBOX_EXAMPLE = "write one address, e.g. 'Name <you@example.org>' or 'you@example.org'"


def _one_mailbox(value: str) -> None:
    """``ValueError`` unless ``value`` is exactly one mailbox (a display name optional) on
    one line: parsed as a From header by the stdlib's header parser (any defect refuses it),
    its address then checked like every subscriber's, and read the same by ``parseaddr``,
    which the rest of digest uses. ``parseaddr`` alone takes the first of two addresses, or
    one with a header after it, as if it were all."""
    from email.errors import NonASCIILocalPartDefect
    from email.headerregistry import AddressHeader, HeaderRegistry
    from email.utils import parseaddr

    from .address import normalise_address

    control = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        raise ValueError(
            f"{value!r} contains the control character U+{ord(control):04X} (a line break "
            f"would start another header); {_MAILBOX_EXAMPLE}, on one line"
        )
    try:
        parsed = HeaderRegistry()("From", value)
    except Exception:  # on some malformed text the parser fails with IndexError,
        # AttributeError, TypeError or UnboundLocalError: each means "not a mailbox"
        raise ValueError(f"{value!r} is not a mail address; {_MAILBOX_EXAMPLE}") from None
    header = cast(AddressHeader, parsed)  # the registry's From class is both
    if len(header.addresses) > 1:
        raise ValueError(
            f"{value!r} names {len(header.addresses)} addresses; {_MAILBOX_EXAMPLE} (a name "
            "with a comma goes in quotes: '\"Weekly, Inc.\" <you@example.org>')"
        )
    if header.groups and header.groups[0].display_name is not None:
        raise ValueError(f"{value!r} is a group, not one mailbox; {_MAILBOX_EXAMPLE}")
    defects = [d for d in parsed.defects if not isinstance(d, NonASCIILocalPartDefect)]
    if not header.addresses or defects:
        why = f" ({defects[0]})" if defects else ""
        raise ValueError(f"{value!r} is not a mail address{why}; {_MAILBOX_EXAMPLE}")
    address = header.addresses[0].addr_spec
    try:
        normalise_address(address)
    except ValueError as e:
        raise ValueError(f"{value!r} is not a mail address ({e}); {_MAILBOX_EXAMPLE}") from None
    if (other := parseaddr(value)[1]) != address:
        raise ValueError(
            f"{value!r} is read as two different addresses ({address!r} and {other!r}); "
            f"{_MAILBOX_EXAMPLE}"
        )


_LIST_ID_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"


class NewsletterSettings(_Section):
    id: str | None = None
    """A stable id for this newsletter (RFC 2919 ``List-Id``), e.g. ``weekly.example.org``.

    Unsubscribe tokens are bound to it; never change it once links are out. Default: the
    name as a slug, then the From address's domain.
    """
    name: str = "digest"
    subject: str = "{headline}"
    """Default subject of an issue without ``subject:``; phones show 40–60 characters."""
    from_: str = Field("digest <newsletter@example.org>", alias="from")
    reply_to: str | None = None
    postal_address: str | None = None
    website: str | None = None
    logo: str | None = None
    logo_alt: str | None = None
    lang: str = "en"
    dir: Literal["ltr", "rtl", "auto"] = "ltr"

    @field_validator("website", "logo")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return _web_url(v)

    @field_validator("from_", "reply_to")
    @classmethod
    def _mailbox(cls, v: str | None) -> str | None:
        """Checked here, not at render time, so the error names the file and line."""
        if v is not None:
            _one_mailbox(v)
        return v

    @field_validator("subject")
    @classmethod
    def _subject(cls, v: str) -> str:
        if "\n" in v or "\r" in v:
            raise ValueError("must be on one line")
        return _template_fields(v, SUBJECT_FIELDS)

    @field_validator("id")
    @classmethod
    def _list_id(cls, v: str | None) -> str | None:
        import re

        if v is None:
            return None
        if len(v) > 200 or not re.fullmatch(rf"{_LIST_ID_LABEL}(?:\.{_LIST_ID_LABEL})+", v):
            raise ValueError(
                f"{v!r} is not a list id: use lower-case letters, digits and hyphens in two "
                "or more dot-separated parts, like weekly.example.org"
            )
        return v

    @property
    def list_id(self) -> str:
        """``id`` as set, else derived from the name and the From domain (stable as they are)."""
        if self.id:
            return self.id
        import re
        from email.utils import parseaddr

        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")[:60].strip("-")
        domain = parseaddr(self.from_)[1].rpartition("@")[2].lower()
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            domain = ""
        labels = [x for x in domain.split(".") if re.fullmatch(_LIST_ID_LABEL, x)]
        return ".".join([slug or "newsletter", *(labels or ["invalid"])])


class BrandSettings(_Section):
    accent: str = "#b3261e"
    text: str = "#1f2328"
    muted: str = "#57606a"
    background: str = "#f3f4f6"
    surface: str = "#ffffff"
    dark_background: str = "#121212"
    dark_surface: str = "#1e1e1e"
    dark_text: str = "#e8e8e8"
    dark_accent: str = "#ff8a80"
    font_family: str = "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"

    @field_validator("font_family")
    @classmethod
    def _font_stack(cls, v: str) -> str:
        """A font stack goes into CSS as is: refuse what could end the declaration or the tag."""
        if any(c in v for c in "<>{};\\"):
            raise ValueError("a CSS font stack cannot contain < > { } ; or \\")
        return v

    @field_validator(
        "accent",
        "text",
        "muted",
        "background",
        "surface",
        "dark_background",
        "dark_surface",
        "dark_text",
        "dark_accent",
    )
    @classmethod
    def _hex(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"#(?:[0-9a-fA-F]{3}){1,2}", v):
            raise ValueError(f"must be a hex colour like #1f2328, not {v!r}")
        return v


class LinkSettings(_Section):
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    view_online_url: str | None = None
    utm: dict[str, str] = Field(default_factory=dict)

    @field_validator("unsubscribe_url")
    @classmethod
    def _unsubscribe(cls, v: str | None) -> str | None:
        """One-click unsubscribe (RFC 8058) needs https, and a link that names its reader."""
        if v is None:
            return None
        _template_fields(v, UNSUBSCRIBE_FIELDS)
        _web_url(v)
        if urlsplit(v).scheme != "https":
            raise ValueError(
                f"{v!r} must be an https:// URL: one-click unsubscribe (RFC 8058) needs https"
            )
        if "{token}" not in v:
            raise ValueError(
                f"{v!r} has no {{token}}: without it every message gets the same link, which "
                'cannot tell who wants to leave; write e.g. "https://example.org/u/{token}"'
            )
        return v

    @field_validator("view_online_url")
    @classmethod
    def _view_online(cls, v: str | None) -> str | None:
        return None if v is None else _template_fields(v, ISSUE_FIELDS) and _web_url(v)

    @field_validator("utm")
    @classmethod
    def _utm(cls, v: dict[str, str]) -> dict[str, str]:
        for value in v.values():
            _template_fields(value, ISSUE_FIELDS)
        return v


class TemplateSettings(_Section):
    dir: Path | None = None


class DeliverySettings(_Section):
    provider: str = "file"
    rate: float = Field(0.0, ge=0, description="messages per second; 0 means no limit")
    concurrency: int = Field(2, ge=1, le=64)
    batch_size: int | None = Field(
        None, ge=1, description="cap below the provider's batch limit (bounds crash duplicates)"
    )
    max_retries: int = Field(5, ge=0, le=50)
    backoff: float = Field(1.0, ge=0, description="first retry wait in seconds; doubles")
    max_backoff: float = Field(60.0, ge=0)
    timeout: float = Field(30.0, gt=0)
    reconcile_delay: float = Field(
        30.0,
        ge=0,
        description="seconds to wait after a lost answer before asking the provider what it "
        "accepted (its search lags a little behind its sends)",
    )


class AudienceSettings(_Section):
    recipients: Path | None = None
    suppressions: Path | None = None
    source: Literal["csv", "subscribers", "both"] = "csv"
    """Who a send goes to: the ``recipients`` CSV, the active subscribers in the ledger
    (readers who joined through the form, or were added or imported), or both."""


class SubscribeSettings(_Section):
    """``[subscribe]``: readers joining through ``digest serve``'s form, with double opt-in."""

    enabled: bool = False
    confirm_url: str | None = None
    """Where confirmation links point, with ``{token}``; default: the origin of
    ``[links] unsubscribe_url`` plus ``/confirm/{token}``."""
    consent_text: str = (
        "Yes, send me {newsletter} by email. I can unsubscribe at any time with the link "
        "in every issue."
    )
    """What the reader agrees to (shown by the form, stored with their consent)."""
    languages: list[str] = Field(default_factory=list)
    """Languages the form may ask for (``?lang=``); default only ``[newsletter] lang``."""
    confirm_expires_hours: float = Field(48.0, gt=0)
    purge_after_days: float = Field(7.0, gt=0)
    """Unconfirmed sign-ups older than this are deleted."""
    mail_window_minutes: float = Field(60.0, ge=0)
    """At most one confirmation mail per address in this many minutes."""
    ip_limit: int = Field(10, ge=1)
    """Sign-ups one client address may make per ``ip_window_minutes``."""
    ip_window_minutes: float = Field(60.0, gt=0)
    store_ip: Literal["hash", "full", "none"] = "hash"
    """How the consent record keeps the sign-up IP: a keyed hash, the address, or not."""
    check_dns: bool = False
    """Look up the address's domain before accepting it (off: syntax only, no DNS)."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Sites whose pages may post the form (``https://example.org``), besides serve's own
    origin and ``[newsletter] website``."""
    max_body: int = Field(8192, ge=1024, le=1_048_576)
    """Largest sign-up or confirmation request body, in bytes."""
    mail_attempts: int = Field(6, ge=1, le=50)
    """Tries per confirmation mail before it is given up."""

    @field_validator("confirm_url")
    @classmethod
    def _confirm(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if "{token}" not in urlsplit(v).path:
            raise ValueError("needs {token} in its path, like https://example.org/confirm/{token}")
        return _template_fields(v, ("token",)) and _web_url(v)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        out = []
        for origin in v:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
                raise ValueError(f"{origin!r} is not an origin like https://example.org")
            out.append(f"{parts.scheme}://{parts.netloc}".lower())
        return out


class SendingSettings(_Section):
    ledger: Path = Path("digest-ledger.sqlite3")
    issues_dir: Path = Path("issues")
    """The old name of ``[issues] dir``; still read, and always equal to it."""
    max_overdue_hours: float = Field(24.0, ge=0)


class IssuesSettings(_Section):
    """The editor's desk: where issue files live and how often one comes out."""

    dir: Path | None = None
    """The issues folder (default ``issues``; ``[sending] issues_dir`` is the old name)."""
    cadence_days: int = Field(7, ge=1, le=366)
    """Days between issues: ``digest new`` dates the next one this much later."""
    summary_max: int = Field(400, ge=40)
    """``digest check`` warns about a summary longer than this many characters."""


class ArchiveSettings(_Section):
    """``[archive]``: the web archive folder that ``send``/``send-due`` publish issues into."""

    dir: Path | None = Field(None, description="publish each issue here once it is sent")
    url: str | None = Field(None, description="the folder's public URL (the feed's self link)")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _web_url(v)


class EventSettings(_Section):
    """Provider events (``digest serve`` webhooks)."""

    soft_bounce_limit: int = Field(
        3, ge=1, le=100, description="soft bounces in a row, across issues, that suppress"
    )
    retention_days: float = Field(
        180.0, gt=0, description="days a recorded event is kept before it is purged"
    )


class ServeSettings(_Section):
    """``[serve]``: how ``digest serve`` listens, and the limits it holds every request to."""

    host: str = "127.0.0.1"
    port: int = Field(8025, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64, description="processes sharing the listening socket")
    backlog: int = Field(2048, ge=16, le=65535, description="connections the kernel queues")
    max_connections: int = Field(
        1000, ge=1, description="open connections per worker before new requests get 503"
    )
    max_header_bytes: int = Field(
        16384, ge=1024, le=1048576, description="request line plus headers; more gets 431"
    )
    max_unsubscribe_body: int = Field(
        4096, ge=64, le=65536, description="an RFC 8058 one-click body is 26 bytes"
    )
    max_webhook_body: int = Field(5 * 1024 * 1024, ge=1024, description="bytes; more gets 413")
    max_json_depth: int = Field(32, ge=2, le=200, description="deeper webhook JSON gets 400")
    header_timeout: float = Field(10.0, gt=0, description="seconds to send a request's head")
    body_timeout: float = Field(10.0, gt=0, description="seconds to send a request's body")
    keep_alive: float = Field(5.0, gt=0, description="seconds an idle connection stays open")
    graceful_timeout: float = Field(
        20.0, gt=0, description="seconds in-flight requests get to finish after SIGTERM"
    )
    legacy_tokens: bool = Field(
        True, description="accept digest 0.1's readable tokens (turn off 30 days after)"
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="addresses (or networks) whose X-Forwarded-For/-Proto are believed",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        """A typo here would mean X-Forwarded-For is never believed, without a word."""
        import ipaddress

        for item in v:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, "
                    '::1) nor "*"'
                ) from None
        return v


class Settings(_Section):
    """Everything ``digest.toml`` can say; every field has a default."""

    newsletter: NewsletterSettings = Field(default_factory=NewsletterSettings)
    brand: BrandSettings = Field(default_factory=BrandSettings)
    links: LinkSettings = Field(default_factory=LinkSettings)
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    audience: AudienceSettings = Field(default_factory=AudienceSettings)
    subscribe: SubscribeSettings = Field(default_factory=SubscribeSettings)
    sending: SendingSettings = Field(default_factory=SendingSettings)
    issues: IssuesSettings = Field(default_factory=IssuesSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    events: EventSettings = Field(default_factory=EventSettings)

    source: Path | None = Field(None, exclude=True)
    environ: Mapping[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    def secret(self, name: str) -> Secret | None:
        """The environment variable ``name`` as a :class:`Secret`, or None when unset."""
        value = self.environ.get(name)
        return Secret(name, value) if value else None

    def env(self, name: str, default: str | None = None) -> str | None:
        """A non-secret environment value (e.g. ``AWS_REGION``)."""
        return self.environ.get(name, default)

    def provider_options(self, name: str) -> dict[str, Any]:
        return dict(self.providers.get(name, {}))

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def path(self, p: Path) -> Path:
        """A path from the config, relative to the config file's folder."""
        return p if p.is_absolute() else self.base_dir / p

    @field_validator("issues")
    @classmethod
    def _issues_dir_agrees(cls, v: IssuesSettings, info: ValidationInfo) -> IssuesSettings:
        """``[issues] dir`` and its old name ``[sending] issues_dir`` may not disagree."""
        sending = info.data.get("sending")
        if v.dir is not None and isinstance(sending, SendingSettings):
            old = sending.issues_dir
            if "issues_dir" in sending.model_fields_set and old != v.dir:
                raise ValueError(
                    f"dir = {str(v.dir)!r} and its old name [sending] issues_dir = "
                    f"{str(old)!r} disagree; keep only [issues] dir"
                )
        return v

    @model_validator(mode="after")
    def _one_issues_dir(self) -> Settings:
        """``[issues] dir`` and its old name ``[sending] issues_dir`` always agree."""
        if self.issues.dir is None:
            self.issues.dir = self.sending.issues_dir
        else:
            self.sending.issues_dir = self.issues.dir
        return self

    @property
    def issues_dir(self) -> Path:
        """The issues folder: ``[issues] dir`` (or its old name ``[sending] issues_dir``)."""
        return self.path(self.issues.dir or Path("issues"))


def _check_providers(settings: Settings, text: str, p: Path) -> None:
    """``[delivery] provider`` and each ``[providers.NAME]`` must name a provider that
    exists: a misspelling is caught when the file loads, with its line and the likely name."""
    from .delivery.builtin import BUILTIN

    named = [(("delivery", "provider"), settings.delivery.provider, "[delivery] provider")]
    named += [(("providers", n), n, f"[providers.{n}]") for n in settings.providers]
    unknown = [item for item in named if item[1] not in BUILTIN]
    if not unknown:
        return
    from .config_problems import did_you_mean, key_lines
    from .delivery.base import available_providers

    known = available_providers()
    lines = key_lines(text)
    problems = []
    for loc, name, where in unknown:
        if name in known:
            continue
        line = lines.get(loc)
        at = f"{p}:{line}" if line else str(p)
        hint = did_you_mean(name, sorted(known))
        problems.append(f"{at}: {where}: no provider is called {name!r}; {hint}")
    if problems:
        raise ConfigError("\n".join(problems))


def load_settings(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read ``path``, else ``./digest.toml`` if present, else defaults.

    Every mistake is a ConfigError with one line per problem: ``file:line: [section] key:
    what is wrong``, with the nearest known key or provider for a misspelling.
    """
    from .config_problems import describe

    env = dict(os.environ if environ is None else environ)
    explicit = path is not None
    if path is None and env.get("DIGEST_CONFIG"):
        path, explicit = env["DIGEST_CONFIG"], True
    p = Path(path) if path is not None else Path(DEFAULT_CONFIG_NAME)
    data: dict[str, Any] = {}
    source: Path | None = None
    text = ""
    if p.is_file():
        try:
            text = p.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(_toml_error(p, e)) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: cannot read: {e}") from None
        source = p.resolve()
    elif explicit:
        raise ConfigError(f"{p}: no such config file")
    try:
        settings = Settings.model_validate({**data, "source": source, "environ": env})
    except ValidationError as e:
        hidden = frozenset({"source", "environ"})
        raise ConfigError("\n".join(describe(p, text, e.errors(), Settings, hidden))) from None
    _check_providers(settings, text, p)
    return settings


def _toml_error(p: Path, e: tomllib.TOMLDecodeError) -> str:
    """``file:line: not valid TOML: …`` from tomllib's "(at line N, column M)"."""
    import re

    message = str(e)
    m = re.search(r"\(at line (\d+), column \d+\)$", message)
    if m is None:
        return f"{p}: not valid TOML: {message}"
    return f"{p}:{m.group(1)}: not valid TOML: {message[: m.start()].strip()} ({m.group(0)[4:-1]})"
