"""digest: turn an editor's pick of articles into a weekly email newsletter, and send it.

The public API. Data flows one way: ``load_issue`` → ``render_issue`` → delivery, each
living in a module named for what it owns; everything here is re-exported from there.
Heavy modules (MJML, premailer, httpx) load only when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigError,
    DeliveryError,
    DigestError,
    HeaderError,
    InputError,
    IssueChangedError,
    IssueFileError,
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
    from .message import Address, Batch, Content, Recipient, build_mime
    from .model import Article, Image, Issue, Section
    from .render import Rendered, render_issue
    from .sources import issue_schema, listing_to_yaml, load_issue, parse_issue, read_listing

__all__ = [
    "Address",
    "Article",
    "Batch",
    "BuildResult",
    "ConfigError",
    "Content",
    "DeliveryError",
    "DigestError",
    "HeaderError",
    "Image",
    "InputError",
    "Issue",
    "IssueChangedError",
    "IssueFileError",
    "ListingError",
    "LockHeldError",
    "PermanentDeliveryError",
    "Recipient",
    "RecipientsError",
    "Rendered",
    "Section",
    "SendError",
    "Settings",
    "TemplateError",
    "TransientDeliveryError",
    "build_issue",
    "build_mime",
    "issue_schema",
    "listing_to_yaml",
    "load_issue",
    "load_settings",
    "parse_issue",
    "read_listing",
    "render_issue",
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
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'digest' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
