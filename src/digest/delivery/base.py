"""The provider interface: what every delivery backend does, and the parts they share.

A backend maps one :class:`~digest.message.Batch` to its provider's request and the answer
back to one :class:`RecipientResult` per recipient (``send_batch``: one call, no retries).
The base owns the one delivery loop (``deliver``): repeated addresses sent once, cutting to
the provider's limits (``chunks``), retries with backoff and jitter for
:class:`~digest.errors.TransientDeliveryError`, and, for providers that reject a whole request
for one bad address, isolating it (the culprits ``blame`` names, else halving the batch).
HTTP providers add their transport and error mapping in ``digest.delivery._http``.

Adding a provider: one module under ``digest.delivery`` with a ``Provider`` subclass (name,
limits, options model, ``env_vars``), one line in ``BUILTIN`` (``delivery/builtin.py``; or an
entry point in the ``digest.providers`` group for a third-party package), a test server under
``tests/servers/``, and one README row.
"""

from __future__ import annotations

import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import (
    AccountDeliveryError,
    AmbiguousDeliveryError,
    ConfigError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from ..message import Batch, Content, Recipient
from .builtin import BUILTIN

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("digest.delivery")

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
    where the provider gives only one. ``retryable`` is true when a later try may succeed
    (nothing was sent); ``unknown`` when the call may have been taken but its answer was
    lost, so sending again could duplicate.
    """

    email: str
    ok: bool
    message_id: str | None = None
    error: str | None = None
    retryable: bool = False
    unknown: bool = False


class Options(BaseModel):
    """Base of every provider's ``[providers.<name>]`` options.

    The docstring under each field is its description: ``digest providers`` reads it from
    the source (:func:`~digest.delivery.catalog.field_docs`), not every process at import.
    """

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
    idempotency_window: ClassVar[float | None] = None
    """Seconds after a call during which repeating it under its key is still safe, when the
    provider forgets keys (less a margin for clocks and the repeat's own way there); None:
    always safe. A run resuming a batch older than this treats it as without a key."""
    per_message: ClassVar[bool] = False
    """True when each message is handed over on its own (SMTP): a rate paces them one by one."""
    rejects_whole_batch: ClassVar[bool] = False
    """True when one bad address makes the provider refuse the whole request."""
    keeps_message_id: ClassVar[bool] = False
    """True when the recipient gets digest's stable ``Message-ID`` (the provider lets us set
    it and keeps it); else the provider writes its own."""
    reconciles: ClassVar[bool] = False
    """True when ``accepted`` can look up what the provider took (after a lost answer)."""
    split_statuses: ClassVar[frozenset[int]] = frozenset({400, 413, 422})
    """Refusals one recipient (or too much data) can cause: only these isolate culprits.
    Auth, a missing domain or an answer without a status never split a batch."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.delivery = settings.delivery
        self._sleep = sleep
        self._secrets: list[str] = []
        try:
            self.options = self.options_model.model_validate(settings.provider_options(self.name))
        except ValidationError as e:
            from ..config_problems import section_problems

            where = ("providers", self.name)
            problems = section_problems(settings.source, where, e.errors(), self.options_model)
            raise ConfigError(problems) from None

    def secret(self, name: str) -> str:
        """The revealed value of a required secret; remembered so errors never show it."""
        found = self.settings.secret(name)
        if found is None:
            raise ConfigError(
                f"The {self.name} provider needs the environment variable {name}; set it "
                "to your key or password (it is never written to the config file)."
            )
        value = found.reveal()
        self.hide(value)
        return value

    def hide(self, *forms: str) -> None:
        """Remember more secret text to mask (a secret as a protocol encodes it, say)."""
        for form in forms:
            if form and form not in self._secrets:
                self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every secret this provider holds replaced by ``***``.

        The delivery loop scrubs every error it records; adapters scrub what they raise.
        """
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    @abstractmethod
    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """Send one batch, once. Return one result per recipient, in order.

        Raise ``TransientDeliveryError`` when the whole call may be retried as is, and
        ``PermanentDeliveryError`` when the whole call failed for good.
        """

    def accepted(
        self, content: Content, recipients: Sequence[Recipient], since: datetime
    ) -> dict[str, str | None]:
        """Which of ``recipients`` the provider accepted for ``content`` since ``since``.

        Returns digest id → the provider's message id (None when it gives none) for each
        recipient it found, matched on the digest id sent in the provider's metadata field;
        a recipient missing from the answer was not accepted (as far as the provider knows
        now: allow for search lag before believing it). Only when ``reconciles`` is true;
        raises ``DeliveryError`` when the look-up itself fails.
        """
        raise NotImplementedError(f"{self.name} cannot look up what it accepted")

    def issue_messages(self, content: Content) -> int | None:
        """How many messages of this issue the provider (or outbox) already holds, or None
        when it cannot tell: guards against a ledger that was lost or reset."""
        return None

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

    def chunks(self, batch: Batch) -> list[Batch]:
        """``batch`` as sent: whole, or cut into ``max_batch`` pieces with stable keys.

        Cuts are deterministic, so a retry after a crash makes the same chunks and keys. HTTP
        providers also cut by request bytes.
        """
        n = self.max_batch
        if len(batch.recipients) <= n:
            return [batch]
        rs = batch.recipients
        return [
            Batch(batch.content, rs[i : i + n], f"{batch.key}.{i // n}")
            for i in range(0, len(rs), n)
        ]

    def blame(self, batch: Batch, error: PermanentDeliveryError) -> set[int] | None:
        """Which recipients (indexes into ``batch.recipients``) caused a refusal.

        Asked only for a ``split_statuses`` refusal at a ``rejects_whole_batch`` provider.
        None: the answer does not say (the batch is halved to find out); an empty set: the
        request is wrong for everyone (a bad sender, say), so splitting would not help.
        """
        return None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.delivery.max_backoff)
        base: float = self.delivery.backoff * 2.0 ** (attempt - 1)
        return min(base, self.delivery.max_backoff) * random.uniform(0.5, 1.0)

    def deliver(self, batch: Batch) -> list[RecipientResult]:
        """Send a batch with retries; never raises for one recipient's failure.

        The one delivery loop of every backend. An address twice in the batch is sent once
        (the repeat shares its result); the batch is cut to the provider's limits
        (``chunks``); each chunk is tried until it succeeds, with backoff and jitter for
        transient failures up to ``delivery.max_retries`` (then every recipient gets a
        retryable failure). An ambiguous failure (the call may have been taken) is retried
        only at an idempotent provider (same key); elsewhere its recipients come back
        ``unknown``, for the job to reconcile. An account error (401/403) is raised: it
        stops the run. A provider that refuses a whole request for one bad address
        (``rejects_whole_batch``) gets its culprits isolated: the ones ``blame`` names fail
        alone and the rest go again; when it names no one, the batch is halved.
        """
        everyone = batch.recipients
        first: dict[str, int] = {}
        repeats: dict[int, int] = {}
        for i, r in enumerate(everyone):
            k = r.email.strip().lower()
            if k in first:
                repeats[i] = first[k]
            else:
                first[k] = i
        if repeats:
            log.warning(
                "%s: %d repeated address(es) in batch %s sent once",
                self.name,
                len(repeats),
                batch.key,
            )
            batch = Batch(
                batch.content, [r for i, r in enumerate(everyone) if i not in repeats], batch.key
            )
        sent: list[RecipientResult] = []
        for chunk in self.chunks(batch):
            sent.extend(self._deliver_chunk(chunk))
        if not repeats:
            return sent
        unique = iter(sent)
        out: list[RecipientResult] = []
        for i, r in enumerate(everyone):
            if i in repeats:
                f = out[repeats[i]]
                out.append(
                    RecipientResult(r.email, f.ok, f.message_id, f.error, f.retryable, f.unknown)
                )
            else:
                out.append(next(unique))
        return out

    def _deliver_chunk(self, batch: Batch) -> list[RecipientResult]:
        attempt = 0
        lost = False  # some attempt's answer was lost: the call may have been taken
        first_call = time.monotonic()  # the key's life runs from here
        window = self.idempotency_window
        error = ""
        while True:
            attempt += 1
            if lost and window is not None and time.monotonic() - first_call > window:
                # the provider no longer keeps the key: this repeat could send twice
                return _fail_all(batch, error, retryable=False, unknown=True)
            try:
                return self.send_batch(batch)
            except TransientDeliveryError as e:
                error = self.scrub(str(e))
                if attempt > self.delivery.max_retries:
                    return _fail_all(batch, error, retryable=not lost, unknown=lost)
                self._sleep(self._backoff(attempt, e.retry_after))
            except AmbiguousDeliveryError as e:
                # a repeat under the same idempotency key cannot send twice, so this run
                # repeats it while the provider keeps the key; anywhere else, or once the
                # repeats are spent, the call may have been taken: unknown, never sent again
                # blindly
                lost, error = True, self.scrub(str(e))
                if not self.idempotent or attempt > self.delivery.max_retries:
                    return _fail_all(batch, error, retryable=False, unknown=True)
                self._sleep(self._backoff(attempt, None))
            except AccountDeliveryError as e:
                if lost:  # refused now, but an earlier attempt may have gone
                    return _fail_all(batch, self.scrub(str(e)), retryable=False, unknown=True)
                raise
            except PermanentDeliveryError as e:
                if (
                    not self.rejects_whole_batch
                    or len(batch.recipients) < 2
                    or e.status not in self.split_statuses
                ):
                    return _fail_all(batch, self.scrub(str(e)), retryable=False)
                return self._isolate(batch, e)

    def _isolate(self, batch: Batch, error: PermanentDeliveryError) -> list[RecipientResult]:
        """Results for a batch refused for (maybe) one bad recipient: find and fail only them."""
        culprits = self.blame(batch, error)
        rs = batch.recipients
        text = self.scrub(str(error))
        if culprits is None:
            mid = len(rs) // 2
            return [
                res
                for i, part in enumerate((rs[:mid], rs[mid:]))
                for res in self._deliver_chunk(Batch(batch.content, part, f"{batch.key}.{i}"))
            ]
        if not culprits:
            return _fail_all(batch, text, retryable=False)
        rest = [r for j, r in enumerate(rs) if j not in culprits]
        done = iter(
            self._deliver_chunk(Batch(batch.content, rest, f"{batch.key}.r")) if rest else []
        )
        return [
            RecipientResult(r.email, False, error=text) if j in culprits else next(done)
            for j, r in enumerate(rs)
        ]


def _fail_all(
    batch: Batch, error: str, *, retryable: bool, unknown: bool = False
) -> list[RecipientResult]:
    return [
        RecipientResult(r.email, False, error=error, retryable=retryable, unknown=unknown)
        for r in batch.recipients
    ]




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
