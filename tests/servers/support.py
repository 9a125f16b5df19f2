"""Helpers for provider tests: a rendered message, recipients, settings and a recorded sleep."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from digest.config import Settings
from digest.message import Address, Batch, Content, Recipient

__all__ = ["Sleeps", "make_batch", "make_content", "make_settings", "people", "recipients"]

HTML = (
    "<html><body><p>Hello @@digest.name|reader@@,</p>"
    "<p>This week: <a href=\"https://example.org/a?x=1&amp;y=2\">a story</a>.</p>"
    "<p><a href=\"@@digest.unsubscribe_url@@\">Unsubscribe</a></p></body></html>"
)
TEXT = (
    "Hello @@digest.name|reader@@,\n\nThis week: a story\n[1] https://example.org/a?x=1&y=2\n\n"
    "Unsubscribe: @@digest.unsubscribe_url@@\n"
)


def make_content(**overrides: Any) -> Content:
    """An issue as ``render`` would hand it over: placeholders in body and headers."""
    values: dict[str, Any] = {
        "issue_id": "2026-w48",
        "subject": "Weekly digest for @@digest.name|you@@",
        "html": HTML,
        "text": TEXT,
        "sender": Address("news@example.org", "Example News"),
        "reply_to": Address("editor@example.org", "The Editor"),
        "headers": {
            "List-Unsubscribe": "<@@digest.unsubscribe_url@@>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "tags": ("weekly",),
        "metadata": {"newsletter": "example"},
    }
    values.update(overrides)
    return Content(**values)


def recipients(n: int, *, domain: str = "example.com", start: int = 0) -> list[Recipient]:
    return [
        Recipient(
            email=f"reader{i}@{domain}",
            name=f"Reader {i}",
            fields={"unsubscribe_url": f"https://example.org/u/{i}?t=a&b"},
            message_id=f"<digest.{i}@example.org>",
        )
        for i in range(start, start + n)
    ]


def people(n: int, start: int = 0) -> list[Recipient]:
    """Readers with only a ``token`` field, for contents whose links end in it."""
    return [
        Recipient(f"reader{i}@example.com", f"Reader {i}", {"token": f"t{i}"})
        for i in range(start, start + n)
    ]


def make_batch(rs: list[Recipient], content: Content | None = None, key: str = "b1") -> Batch:
    return Batch(content or make_content(), rs, key)


def make_settings(
    provider: str,
    options: Mapping[str, Any],
    environ: Mapping[str, str],
    **delivery: Any,
) -> Settings:
    """Settings for one provider; retries quick to count, timeouts short for stall tests."""
    d = {"provider": provider, "max_retries": 3, "backoff": 0.5, "max_backoff": 30.0,
         "timeout": 2.0}
    d.update(delivery)
    return Settings.model_validate(
        {"delivery": d, "providers": {provider: dict(options)}, "environ": dict(environ)}
    )


class Sleeps(list[float]):
    """A ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
