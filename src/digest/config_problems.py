"""Config mistakes as a person can act on them: ``file:line``, the key, a likely fix.

``tomllib`` keeps no positions, so :func:`key_lines` finds each table header and key in the
text itself (dotted and quoted keys, ``[a.b]`` and ``[[a]]`` tables, inline tables by
their key's line). :func:`describe` turns pydantic's errors into one line each, naming the
``[section] key`` as written and suggesting the nearest known key for a misspelling.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

__all__ = [
    "KeyPath",
    "describe",
    "did_you_mean",
    "key_lines",
    "known_keys",
    "section_problems",
    "suggest",
]

KeyPath = tuple[str, ...]

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY = rf"(?:{_BARE}|{_QUOTED})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER_RE = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN_RE = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_KEY)


def _parts(dotted: str) -> KeyPath:
    out = []
    for m in _PART_RE.finditer(dotted):
        part = m.group(0)
        out.append(part[1:-1] if part[:1] in "\"'" else part)
    return tuple(out)


def key_lines(text: str) -> dict[KeyPath, int]:
    """Every table and key of a TOML text → the line (from 1) where it is first written."""
    lines: dict[KeyPath, int] = {}
    table: KeyPath = ()
    fence: str | None = None
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if fence is not None:  # inside a multi-line string
            if line.count(fence) % 2:
                fence = None
            continue
        if depth > 0:  # inside a multi-line array
            depth += line.count("[") - line.count("]")
            continue
        if m := _HEADER_RE.match(line):
            table = _parts(m.group(1))
            for i in range(1, len(table) + 1):
                lines.setdefault(table[:i], number)
            continue
        if m := _ASSIGN_RE.match(line):
            key = table + _parts(m.group(1))
            for i in range(len(table) + 1, len(key) + 1):
                lines.setdefault(key[:i], number)
            rest = line[m.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2:
                    fence = quote
            if fence is None:
                value = rest.split("#", 1)[0]
                depth = max(0, value.count("[") - value.count("]"))
    return lines


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The known name closest to a misspelt ``word``, if one is close enough."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``did you mean 'x'?`` for a misspelt ``word``, else ``known: …`` (empty: none known)."""
    close = suggest(word, choices)
    if close is not None:
        return f"did you mean {close!r}?"
    return f"known: {', '.join(choices)}" if choices else ""


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """A model's keys as written in TOML (aliases, e.g. ``from``) → their annotation."""
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds: itself, or inside ``X | None`` or ``list[X]``."""
    if get_origin(annotation) is None:
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        return annotation if is_model else None
    if get_origin(annotation) is dict:
        return None
    return next((m for m in map(_model_in, get_args(annotation)) if m is not None), None)


def _model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):  # an item of a list: the list's own model
            continue
        model = _model_in(_fields(model).get(part))
    return model


def known_keys(
    root: type[BaseModel], loc: Sequence[str | int], hidden: frozenset[str] = frozenset()
) -> list[str]:
    """The keys the model at ``loc`` (a pydantic error's location) takes, as written."""
    model = _model_at(root, loc)
    return [k for k in _fields(model) if k not in hidden] if model is not None else []


def _where(loc: KeyPath) -> str:
    """``[newsletter] name``, ``[providers.file]`` or ``name`` (a top-level key)."""
    if len(loc) == 1:
        return f"[{loc[0]}]"
    return f"[{'.'.join(loc[:-1])}] {loc[-1]}"


def _line(lines: dict[KeyPath, int], loc: KeyPath) -> int | None:
    for i in range(len(loc), 0, -1):
        if loc[:i] in lines:
            return lines[loc[:i]]
    return None


def describe(
    path: Path | str,
    text: str,
    errors: Iterable[Mapping[str, Any]],
    root: type[BaseModel],
    hidden: frozenset[str] = frozenset(),
) -> list[str]:
    """One ``file:line: [section] key: what is wrong`` line per pydantic error."""
    lines = key_lines(text)
    out: list[tuple[int, str]] = []
    for err in errors:
        loc: KeyPath = tuple(str(x) for x in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            what = "section" if len(loc) == 1 else "key"
            hint = did_you_mean(loc[-1], known_keys(root, loc[:-1], hidden))
            message = f"unknown {what}; {hint}" if hint else f"unknown {what}"
        line = _line(lines, loc)
        where = f"{path}:{line}" if line else str(path)
        out.append((line or 0, f"{where}: {_where(loc)}: {message}"))
    return [text for _, text in sorted(out, key=lambda item: item[0])]


def section_problems(
    source: Path | None,
    section: KeyPath,
    errors: Iterable[Mapping[str, Any]],
    model: type[BaseModel],
) -> str:
    """:func:`describe` for one section validated on its own (a provider's options), its
    lines found in the config file ``source`` (read again: it is small)."""
    text = ""
    if source is not None:
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
    shifted = [{**err, "loc": (*section, *err["loc"])} for err in errors]

    root = _nest(section, model)
    lines = describe(source or "the config", text, shifted, root)
    return "\n".join(lines)


def _nest(section: KeyPath, model: type[BaseModel]) -> type[BaseModel]:
    """A model with ``model`` under the key path ``section`` (so ``describe`` can walk it)."""
    from pydantic import create_model

    inner: type[BaseModel] = model
    for name in reversed(section):
        inner = create_model(f"_At_{name}", **{name: (inner, ...)})  # type: ignore[call-overload]
    return inner
