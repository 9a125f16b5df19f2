"""digest: turn an editor's pick of articles into a weekly email newsletter, and send it.

The public API. Data flows one way: ``load_issue`` → ``render_issue`` → delivery, each
living in a module named for what it owns; everything here is re-exported from there.
Heavy modules (MJML, premailer, httpx) load only when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    EXIT_CHANGED,
    EXIT_CHECK,
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_LEDGER,
    EXIT_LOCKED,
    EXIT_PARTIAL,
    EXIT_UNKNOWN,
    CheckFailedError,
    ConfigError,
    DeliveryError,
    DigestError,
    HeaderError,
    InputError,
    IssueChangedError,
    IssueFileError,
    LedgerError,
    ListingError,
    LockHeldError,
    PermanentDeliveryError,
    RecipientsError,
    SendError,
    TemplateError,
    TransientDeliveryError,
)

if TYPE_CHECKING:
    from .build import BuildResult, build_issue
    from .config import Settings, load_settings
    from .delivery.base import Provider, RecipientResult, get_provider
    from .delivery.catalog import describe_providers
    from .desk.add import AddResult, add_articles
    from .desk.check import CheckReport, check_issue, gate_send
    from .desk.gather import FeedIntoIssue, import_feed_into, previous_issue_date
    from .desk.new import InitResult, init_newsletter, new_issue
    from .desk.preview import serve_preview
    from .message import Address, Batch, Content, Recipient, build_mime
    from .model import Article, Image, Issue, Section
    from .render import Rendered, render_issue
    from .sending import (
        Ledger,
        Reporter,
        SendPlan,
        SendReport,
        due_exit_code,
        import_suppressions,
        ledger_path,
        make_reporter,
        plan_send,
        prepare_issue,
        recipients_path,
        send_due,
        send_issue,
        send_test,
        suppress_addresses,
        unsuppress_addresses,
        verify,
    )
    from .sending.compliance import Finding, compliance_findings
    from .sending.lock import lock_holder, lock_path
    from .sources import (
        issue_schema,
        listing_to_yaml,
        load_issue,
        parse_issue,
        read_listing,
        write_issue_file,
    )
    from .sources.feed import FeedImport, import_feed, read_feed
    from .sources.locate import issue_slug, resolve_issue
    from .web import make_web_app, serve_web

__all__ = [
    "EXIT_CHANGED",
    "EXIT_CHECK",
    "EXIT_CONFIG",
    "EXIT_INTERRUPTED",
    "EXIT_LEDGER",
    "EXIT_LOCKED",
    "EXIT_PARTIAL",
    "EXIT_UNKNOWN",
    "AddResult",
    "Address",
    "Article",
    "Batch",
    "BuildResult",
    "CheckFailedError",
    "CheckReport",
    "ConfigError",
    "Content",
    "DeliveryError",
    "DigestError",
    "FeedImport",
    "FeedIntoIssue",
    "Finding",
    "HeaderError",
    "Image",
    "InitResult",
    "InputError",
    "Issue",
    "IssueChangedError",
    "IssueFileError",
    "Ledger",
    "LedgerError",
    "ListingError",
    "LockHeldError",
    "PermanentDeliveryError",
    "Provider",
    "Recipient",
    "RecipientResult",
    "RecipientsError",
    "Rendered",
    "Reporter",
    "Section",
    "SendError",
    "SendPlan",
    "SendReport",
    "Settings",
    "TemplateError",
    "TransientDeliveryError",
    "add_articles",
    "build_issue",
    "build_mime",
    "check_issue",
    "compliance_findings",
    "describe_providers",
    "due_exit_code",
    "gate_send",
    "get_provider",
    "import_feed",
    "import_feed_into",
    "import_suppressions",
    "init_newsletter",
    "issue_schema",
    "issue_slug",
    "ledger_path",
    "listing_to_yaml",
    "load_issue",
    "load_settings",
    "lock_holder",
    "lock_path",
    "make_reporter",
    "make_web_app",
    "new_issue",
    "parse_issue",
    "plan_send",
    "prepare_issue",
    "previous_issue_date",
    "read_feed",
    "read_listing",
    "recipients_path",
    "render_issue",
    "resolve_issue",
    "send_due",
    "send_issue",
    "send_test",
    "serve_preview",
    "serve_web",
    "suppress_addresses",
    "unsuppress_addresses",
    "verify",
    "write_issue_file",
]

_LAZY = {
    "BuildResult": "build",
    "build_issue": "build",
    "Settings": "config",
    "load_settings": "config",
    "Address": "message",
    "Batch": "message",
    "Content": "message",
    "Recipient": "message",
    "build_mime": "message",
    "Article": "model",
    "Image": "model",
    "Issue": "model",
    "Section": "model",
    "Rendered": "render",
    "render_issue": "render",
    "issue_schema": "sources",
    "listing_to_yaml": "sources",
    "load_issue": "sources",
    "parse_issue": "sources",
    "read_listing": "sources",
    "write_issue_file": "sources",
    "FeedImport": "sources.feed",
    "import_feed": "sources.feed",
    "read_feed": "sources.feed",
    "AddResult": "desk.add",
    "add_articles": "desk.add",
    "CheckReport": "desk.check",
    "check_issue": "desk.check",
    "gate_send": "desk.check",
    "FeedIntoIssue": "desk.gather",
    "import_feed_into": "desk.gather",
    "previous_issue_date": "desk.gather",
    "serve_preview": "desk.preview",
    "InitResult": "desk.new",
    "init_newsletter": "desk.new",
    "new_issue": "desk.new",
    "resolve_issue": "sources.locate",
    "issue_slug": "sources.locate",
    "lock_holder": "sending.lock",
    "lock_path": "sending.lock",
    "Finding": "sending.compliance",
    "compliance_findings": "sending.compliance",
    "make_web_app": "web",
    "serve_web": "web",
    "Provider": "delivery.base",
    "RecipientResult": "delivery.base",
    "get_provider": "delivery.base",
    "describe_providers": "delivery.catalog",
    "Ledger": "sending",
    "import_suppressions": "sending",
    "ledger_path": "sending",
    "make_reporter": "sending",
    "plan_send": "sending",
    "prepare_issue": "sending",
    "recipients_path": "sending",
    "send_due": "sending",
    "send_issue": "sending",
    "send_test": "sending",
    "suppress_addresses": "sending",
    "unsuppress_addresses": "sending",
    "verify": "sending",
    "Reporter": "sending",
    "SendPlan": "sending",
    "SendReport": "sending",
    "due_exit_code": "sending",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'digest' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
