"""digest's exceptions: one tree, each message something a person can act on.

::

    DigestError                      base of everything digest raises on purpose
    ├── ConfigError                  digest.toml or the environment is wrong        (exit 3)
    ├── InputError                   a file the user gave us is wrong               (exit 3)
    │   ├── IssueFileError           an issue file: names file, line and field
    │   ├── ListingError             a plain listing for `import-text`
    │   ├── RecipientsError          a recipients or suppression CSV as a whole
    │   └── HeaderError              CR/LF or similar in something that becomes a header
    ├── TemplateError                a template failed to render or compile         (exit 3)
    ├── DeliveryError                a provider refused or failed (provider, status, body)
    │   ├── TransientDeliveryError   not sent, worth retrying: 429, refused connections,
    │   │                            a 5xx the provider documents as not processed
    │   ├── AmbiguousDeliveryError   may have been sent: a lost answer (timeout after the
    │   │                            request went, a dropped connection, another 5xx)
    │   └── PermanentDeliveryError   not worth retrying: malformed request, refused sender
    │       └── AccountDeliveryError 401/403: the key or the account; stops the run  (exit 3)
    ├── SendError                    the send job cannot go on
    │   ├── LockHeldError            another job holds the lock                      (exit 4)
    │   ├── IssueChangedError        the issue changed since its send started        (exit 5)
    │   └── CheckFailedError         the pre-send check found errors                 (exit 6)
    └── LedgerError                  the send ledger cannot be used: read-only,
                                     locked, full, corrupt, empty                    (exit 7)

Every class carries ``exit_code``: the CLI maps an uncaught ``DigestError`` to its message
and that status, never to a traceback.

The one exit-status table of every command::

    0    done (warnings only, or nothing to do)
    1    partial: someone is left to send (failed, will retry) or a route/command failed
    2    usage: the command line is wrong (click's own status), or a confirmation has no
         terminal to answer it (pass --yes)
    3    config or input: digest.toml, the environment or a file given is wrong
    4    locked: another job holds the ledger's lock
    5    changed: the issue was edited after its send started
    6    check: the pre-send check found errors
    7    ledger: the send ledger cannot be read or written
    8    unknown: some recipients' outcome is unknown (a lost answer): see `retry --unknown`
    130  interrupted (Ctrl-C / SIGTERM) before the run finished
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AccountDeliveryError",
    "AmbiguousDeliveryError",
    "CheckFailedError",
    "ConfigError",
    "DeliveryError",
    "DigestError",
    "HeaderError",
    "InputError",
    "IssueChangedError",
    "IssueFileError",
    "LedgerError",
    "ListingError",
    "LockHeldError",
    "PermanentDeliveryError",
    "RecipientsError",
    "SendError",
    "TemplateError",
    "TransientDeliveryError",
]

EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_LOCKED = 4
EXIT_CHANGED = 5
EXIT_CHECK = 6
EXIT_LEDGER = 7
EXIT_UNKNOWN = 8
EXIT_INTERRUPTED = 130


class DigestError(Exception):
    """Base class: ``str(error)`` is a complete sentence for the user."""

    exit_code: int = EXIT_CONFIG


class ConfigError(DigestError):
    """digest.toml, a command-line option or an environment variable is wrong."""


class InputError(DigestError):
    """A file the user gave digest is wrong."""


class IssueFileError(InputError):
    """One or more mistakes in an issue file, each with its line and field."""

    def __init__(self, path: Path | str, problems: list[tuple[int | None, str, str]]) -> None:
        self.path = str(path)
        self.problems = problems
        lines = []
        for line, field, message in problems:
            where = f"{self.path}:{line}" if line else self.path
            lines.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")
        super().__init__("\n".join(lines))


class ListingError(InputError):
    """A plain listing could not be read as articles."""


class RecipientsError(InputError):
    """A recipients or suppression CSV cannot be used at all (bad header, missing file)."""


class HeaderError(InputError):
    """A value that becomes a mail header holds a line break or other forbidden text."""


class TemplateError(DigestError):
    """A template failed to render, or its MJML failed to compile."""


class DeliveryError(DigestError):
    """A provider refused or failed a request.

    ``provider``, ``status`` (HTTP or SMTP code, if any) and ``body`` (the provider's own
    answer, secrets never included) say what happened.
    """

    exit_code = EXIT_PARTIAL

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        body: str = "",
    ) -> None:
        self.provider = provider
        self.status = status
        self.body = body
        prefix = f"{provider}: " if provider else ""
        suffix = f" (status {status})" if status is not None else ""
        super().__init__(f"{prefix}{message}{suffix}")


class TransientDeliveryError(DeliveryError):
    """Not sent, and worth retrying later: throttling, a refused connection, a server error
    the provider documents as "not processed".

    ``retry_after`` is the provider's requested wait in seconds, when it gave one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class AmbiguousDeliveryError(DeliveryError):
    """The request may have been taken: its answer was lost (a timeout after the request
    went, a connection dropped before the answer, a server error of unknown effect).

    Never retried blindly (except with an idempotency key): the outcome is looked up at the
    provider where it can say, else the recipients are marked *unknown*.
    """


class PermanentDeliveryError(DeliveryError):
    """Retrying would not help: bad credentials, a malformed request, a refused sender."""


class AccountDeliveryError(PermanentDeliveryError):
    """The provider refused the credentials or the account (401/403): nothing was sent.

    It stops the run and leaves everyone pending; the message names the setting to fix.
    """

    exit_code = EXIT_CONFIG


class SendError(DigestError):
    """The send job cannot go on."""


class LockHeldError(SendError):
    """Another digest job holds the send lock."""

    exit_code = EXIT_LOCKED


class IssueChangedError(SendError):
    """The issue was edited after its send started; resume only with ``--force``."""

    exit_code = EXIT_CHANGED


class CheckFailedError(SendError):
    """The pre-send check found errors; the message lists them and how to fix each."""

    exit_code = EXIT_CHECK


class LedgerError(DigestError):
    """The send ledger cannot be used: read-only, locked, full, corrupt or emptied.

    Nothing was sent because of it; the message names the file and what to do.
    """

    exit_code = EXIT_LEDGER
