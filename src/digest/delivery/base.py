"""The provider interface: what every delivery backend does, and the parts they share.

A backend maps one :class:`~digest.message.Batch` to its provider's request and the answer
back to one :class:`RecipientResult` per recipient (``send_batch``). The base owns the rest:
retries with backoff and jitter for :class:`~digest.errors.TransientDeliveryError`, and, for
providers that reject a whole request for one bad address, splitting the batch in halves until
the bad one is isolated (``deliver``).

Adding a provider: one module under ``digest.delivery`` with a ``Provider`` subclass (name,
limits, options model, ``env_vars``), one line in ``BUILTIN`` below (or an entry point in the
``digest.providers`` group for a third-party package), a test server under
``tests/servers/``, and one README row.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from ..message import Batch

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "BUILTIN",
    "Options",
    "Provider",
    "RecipientResult",
    "available_providers",
    "get_provider",
    "load_provider_class",
]


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """What became of one recipient in one call.

    ``message_id`` is the provider's id for this recipient's message, or for the whole batch
    where the provider gives only one. ``retryable`` is true when a later try may succeed.
    """

    email: str
    ok: bool
    message_id: str | None = None
    error: str | None = None
    retryable: bool = False


class Options(BaseModel):
    """Base of every provider's ``[providers.<name>]`` options."""

    model_config = ConfigDict(extra="forbid")


class Provider(ABC):
    """One delivery backend. Subclasses set the class attributes and write ``send_batch``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    options_model: ClassVar[type[Options]] = Options
    env_vars: ClassVar[tuple[str, ...]] = ()
    """Environment variables the provider reads (secrets and region names)."""
    max_batch: ClassVar[int] = 1
    """Most recipients one ``send_batch`` call may carry."""
    max_batch_bytes: ClassVar[int | None] = None
    """Most request bytes one call may carry, if the provider sets a limit."""
    idempotent: ClassVar[bool] = False
    """True when ``Batch.key`` makes a repeated call safe (no duplicate sends)."""
    rejects_whole_batch: ClassVar[bool] = False
    """True when one bad address makes the provider refuse the whole request."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.delivery = settings.delivery
        self._sleep = sleep
        try:
            self.options = self.options_model.model_validate(settings.provider_options(self.name))
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()
            )
            raise ConfigError(f"[providers.{self.name}] in the config: {problems}") from None

    @abstractmethod
    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """Send one batch, once. Return one result per recipient, in order.

        Raise ``TransientDeliveryError`` when the whole call may be retried as is, and
        ``PermanentDeliveryError`` when the whole call failed for good.
        """

    def close(self) -> None:  # noqa: B027 - optional hook; most backends hold nothing
        """Release pooled connections."""

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def batch_size(self) -> int:
        """Recipients per batch: the provider's limit, or ``[delivery] batch_size`` if lower."""
        wanted = self.delivery.batch_size
        return min(self.max_batch, wanted) if wanted else self.max_batch

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.delivery.max_backoff)
        base: float = self.delivery.backoff * 2.0 ** (attempt - 1)
        return min(base, self.delivery.max_backoff) * random.uniform(0.5, 1.0)

    def deliver(self, batch: Batch) -> list[RecipientResult]:
        """Send a batch with retries; never raises for one recipient's failure.

        Transient failures are retried up to ``delivery.max_retries`` times; once those are
        spent every recipient gets a retryable failure. A permanent failure of a whole batch,
        at a provider that rejects whole requests for one bad address, is split in halves
        and each half delivered on its own, so only the bad address fails.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.send_batch(batch)
            except TransientDeliveryError as e:
                if attempt > self.delivery.max_retries:
                    return _fail_all(batch, str(e), retryable=True)
                self._sleep(self._backoff(attempt, e.retry_after))
            except PermanentDeliveryError as e:
                if self.rejects_whole_batch and len(batch.recipients) > 1 and _is_request_error(e):
                    return list(_split(self, batch))
                return _fail_all(batch, str(e), retryable=False)


SPLIT_STATUSES = frozenset({400, 413, 422})


def _is_request_error(e: PermanentDeliveryError) -> bool:
    """Only a malformed-request answer may be caused by one recipient; auth, a missing
    domain or an answer without a status never is, so splitting would only multiply calls."""
    return e.status in SPLIT_STATUSES


def _split(provider: Provider, batch: Batch) -> Iterator[RecipientResult]:
    mid = len(batch.recipients) // 2
    for i, part in enumerate((batch.recipients[:mid], batch.recipients[mid:])):
        yield from provider.deliver(Batch(batch.content, part, f"{batch.key}.{i}"))


def _fail_all(batch: Batch, error: str, *, retryable: bool) -> list[RecipientResult]:
    return [
        RecipientResult(r.email, False, error=error, retryable=retryable) for r in batch.recipients
    ]


BUILTIN: dict[str, str] = {
    "file": "digest.delivery.local:FileProvider",
    "console": "digest.delivery.local:ConsoleProvider",
    "smtp": "digest.delivery.smtp:SMTPProvider",
    "postmark": "digest.delivery.postmark:PostmarkProvider",
    "sendgrid": "digest.delivery.sendgrid:SendGridProvider",
    "mailgun": "digest.delivery.mailgun:MailgunProvider",
    "resend": "digest.delivery.resend:ResendProvider",
    "brevo": "digest.delivery.brevo:BrevoProvider",
    "mailjet": "digest.delivery.mailjet:MailjetProvider",
    "ses": "digest.delivery.ses:SESProvider",
}


def available_providers() -> dict[str, str]:
    """Provider name → ``module:Class``: built-ins plus ``digest.providers`` entry points."""
    found = dict(BUILTIN)
    for ep in entry_points(group="digest.providers"):
        found[ep.name] = ep.value
    return found


def load_provider_class(name: str) -> type[Provider]:
    targets = available_providers()
    if name not in targets:
        known = ", ".join(sorted(targets))
        raise ConfigError(f"Unknown provider {name!r} in [delivery] provider. Known: {known}.")
    module_name, _, attr = targets[name].partition(":")
    try:
        cls: Any = getattr(import_module(module_name), attr)
    except ImportError as e:
        if e.name and module_name.startswith(e.name):
            raise ConfigError(f"Provider {name!r}: its module {module_name} is missing") from None
        raise ConfigError(
            f"Provider {name!r} needs a package that is not installed ({e.name}); "
            f"try: pip install 'digest[{name}]'"
        ) from None
    except AttributeError:
        raise ConfigError(f"Provider {name!r}: {module_name} has no {attr}") from None
    return cls  # type: ignore[no-any-return]


def get_provider(settings: Settings, name: str | None = None) -> Provider:
    """The configured provider, ready to send."""
    return load_provider_class(name or settings.delivery.provider)(settings)
