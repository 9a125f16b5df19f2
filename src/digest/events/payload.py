"""Reading a webhook body safely: bounded JSON, typed models, bare addresses, timestamps.

Everything here turns a malformed body into :class:`BadPayload` (answered 400), never into
another exception: no ``RecursionError`` from deep nesting, no ``TypeError`` from a list
where a string belongs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "MAX_DEPTH",
    "BadPayload",
    "Id",
    "Loose",
    "Short",
    "Text",
    "bare_address",
    "from_epoch",
    "from_iso",
    "load_json",
    "validate",
]

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; the providers' payloads use under 8."""

Short = Annotated[str, Field(max_length=2000)]
"""Addresses, ids, types, timestamps: a few hundred characters at most in any sample."""
Id = Annotated[str, Field(max_length=1000)]
Text = Annotated[str, Field(max_length=100_000)]
"""Descriptions and SMTP answers."""

M = TypeVar("M", bound=BaseModel)


class BadPayload(ValueError):
    """The body is not what the provider sends: empty, not JSON, too deep or mistyped.

    The message names the field, never its value (a value may be an address).
    """


class Loose(BaseModel):
    """A provider payload: fields digest reads are typed, all others are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def load_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``body`` as JSON, nested no deeper than ``max_depth``."""
    if not body.strip():
        raise BadPayload("the body is empty")
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadPayload(f"the JSON is nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise BadPayload("the body is not UTF-8") from None
    except ValueError:
        raise BadPayload("the body is not JSON") from None
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise BadPayload(f"the JSON is nested deeper than {max_depth} levels")
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return data


def validate(model: type[M], data: Any, what: str) -> M:
    """``data`` as ``model``, or :class:`BadPayload` naming the first wrong field."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise BadPayload(f"{what}: {where}: {first['msg']}") from None


def bare_address(text: str | None) -> str | None:
    """``ann@example.org`` from ``"Ann Example <ann@example.org>"`` (or from itself)."""
    if not text:
        return None
    _, address = parseaddr(text)
    if "@" not in address or any(c.isspace() for c in address) or len(address) > 320:
        return None
    return address


def from_epoch(value: float | int | None) -> datetime | None:
    """A Unix time (seconds) as an aware datetime, or None when absent or absurd."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(value: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC), or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
