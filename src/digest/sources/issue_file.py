"""Issue files: YAML in, a validated :class:`~digest.model.Issue` out.

Mistakes are reported all at once, each with the file, the line and the field, because an
editor fixing a file wants the whole list rather than one error per run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..config_problems import did_you_mean, known_keys
from ..errors import InputError, IssueFileError
from ..model import FORBIDDEN_CHARACTERS, MAX_ISSUE_NUMBER, Issue, describe_forbidden

__all__ = [
    "MAX_DEPTH",
    "issue_schema",
    "load_issue",
    "parse_issue",
    "read_issue_yaml",
    "write_issue_file",
]

_Path = tuple[str | int, ...]


def _lines(node: yaml.Node, path: _Path, out: dict[_Path, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            out[(*path, k)] = key.start_mark.line + 1
            _lines(value, (*path, k), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def _line_for(loc: _Path, lines: dict[_Path, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _field(loc: _Path) -> str:
    parts: list[str] = []
    i = 0
    while i < len(loc):
        part = loc[i]
        if part == "articles" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            parts.append(f"article {int(loc[i + 1]) + 1}")
            i += 2
            continue
        parts.append(str(part))
        i += 1
    return " → ".join(parts)


_FRIENDLY = {
    "missing": "is required",
    "timezone_aware": "needs a time zone, e.g. 2026-11-27T09:00:00+01:00 or …Z",
}
_RANGE_ERRORS = frozenset({"greater_than_equal", "less_than_equal"})


def _message(err: Any) -> str:
    loc: _Path = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        hint = did_you_mean(str(loc[-1]), known_keys(Issue, loc[:-1]))
        return f"is not a field digest knows; {hint or 'check the spelling'}"
    if loc == ("number",) and err["type"] in _RANGE_ERRORS:
        return f"must be a whole number from 1 to {MAX_ISSUE_NUMBER:,}"
    friendly = _FRIENDLY.get(err["type"])
    if friendly:
        return friendly
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


MAX_DEPTH = 32
"""How deep an issue file may nest lists and mappings (its own fields need a few): deeper
text is refused before the recursive walks here and in PyYAML's composer overflow the stack."""

NO_ANCHORS = (
    "issue files don't support YAML anchors/aliases (&name, *name) or merge keys (<<); "
    "write the value out"
)


class _Refused(yaml.MarkedYAMLError):
    """YAML that parses but that issue files refuse: anchors, aliases, merge keys (an alias
    bomb expands to billions of nodes in the walks over the tree) and deep nesting."""


class _IssueLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates and times as text for the model to parse, and refuses
    anchors, aliases, merge keys and nesting past :data:`MAX_DEPTH` as it composes.

    PyYAML's own timestamp parsing raises a bare ``ValueError`` for an impossible date such
    as 2026-02-30, with no line; pydantic reports it like every other mistake.
    """

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML reads this class attribute
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(problem=NO_ANCHORS, problem_mark=event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise _Refused(
                problem=f"lists and mappings nested more than {MAX_DEPTH} levels deep; "
                "an issue file needs only a few",
                problem_mark=event.start_mark,
            )
        self._depth += 1
        try:
            node: yaml.Node | None = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.MappingNode):
            for key, _ in node.value:
                if key.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(problem=NO_ANCHORS, problem_mark=key.start_mark)
        return node


def read_issue_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The node tree and the data of issue-file ``text`` (None for an empty file).

    The one YAML reader of issue files, for loading, the desk's edits and the folder scans;
    raises :class:`~digest.errors.IssueFileError` naming ``source`` and the line for text
    that is not YAML, or that issue files refuse (see :class:`_IssueLoader`).
    """
    try:
        loader = _IssueLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _Refused as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise IssueFileError(source, [(line, "", str(e.problem))]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise IssueFileError(source, [(line, "", f"not valid YAML: {e.problem}")]) from None
    except yaml.YAMLError as e:
        raise IssueFileError(source, [(None, "", f"not valid YAML: {e}")]) from None
    return node, data


def _duplicate_keys(node: yaml.Node, path: _Path = ()) -> list[tuple[int | None, str, str]]:
    """A key given twice in one mapping: YAML would silently keep the last one."""
    problems: list[tuple[int | None, str, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            k = str(key.value)
            if k in seen:
                problems.append((key.start_mark.line + 1, _field((*path, k)), "is given twice"))
            seen.add(k)
            problems += _duplicate_keys(value, (*path, k))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*path, i))
    return problems


def _scalars(node: yaml.Node, path: _Path, out: list[tuple[int, int, _Path]]) -> None:
    """Every scalar's span in the text (start and end index) with its field path."""
    if isinstance(node, yaml.ScalarNode):
        out.append((node.start_mark.index, node.end_mark.index, path))
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            _scalars(key, (*path, k), out)
            _scalars(value, (*path, k), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _scalars(item, (*path, i), out)


def _raw_forbidden(text: str) -> list[tuple[int | None, str, str]]:
    """Control characters typed raw into the file, each with its line, column and field.

    PyYAML refuses most of them with a character offset only; to name the field, the file is
    read again with each one replaced by U+FFFD (same offsets) and the scalar holding it found.
    """
    found = list(FORBIDDEN_CHARACTERS.finditer(text))
    if not found:
        return []
    spans: list[tuple[int, int, _Path]] = []
    try:
        loader = _IssueLoader(FORBIDDEN_CHARACTERS.sub("\ufffd", text))
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is not None:
            _scalars(node, (), spans)
    except yaml.YAMLError:
        pass
    problems: list[tuple[int | None, str, str]] = []
    seen: set[tuple[int, str]] = set()
    for m in found:
        pos = m.start()
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        inside = [s for s in spans if s[0] <= pos < max(s[1], s[0] + 1)]
        field = _field(min(inside, key=lambda s: s[1] - s[0])[2]) if inside else ""
        if (line, field) in seen:
            continue
        seen.add((line, field))
        problems.append((line, field, describe_forbidden(m.group(), f"at column {column}")))
    return problems


def parse_issue(text: str, source: str = "<issue>") -> Issue:
    """Validate issue-file text; ``source`` names it in errors."""
    raw = _raw_forbidden(text)
    if raw:
        raise IssueFileError(source, raw)
    node, data = read_issue_yaml(text, source)
    if not isinstance(data, dict) or node is None:
        raise IssueFileError(source, [(1, "", "an issue file is a YAML mapping (key: value)")])
    duplicates = _duplicate_keys(node)
    if duplicates:
        raise IssueFileError(source, duplicates)
    lines: dict[_Path, int] = {}
    _lines(node, (), lines)
    try:
        return Issue.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc: _Path = tuple(err["loc"])
            problems.append((_line_for(loc, lines), _field(loc), _message(err)))
        raise IssueFileError(source, problems) from None


def load_issue(path: Path | str) -> Issue:
    """Read and validate an issue file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IssueFileError(p, [(None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise IssueFileError(p, [(None, "", f"cannot read it: {e}")]) from None
    return parse_issue(text, str(p))


def write_issue_file(
    path: Path | str,
    text: str,
    *,
    overwrite: bool = False,
    refusal: str = "choose another name or pass --force to replace it",
) -> Path:
    """Write a new issue file; never silently replace one an editor may have curated.

    The file is created exclusively (``O_EXCL``), not looked for first: one saved by an
    editor between a look and the write would be overwritten. ``refusal`` ends the message
    when the file is already there.
    """
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{p.parent}: cannot create the folder: {e.strerror or e}") from None
    try:
        f = p.open("w" if overwrite else "x", encoding="utf-8")
    except FileExistsError:
        raise InputError(f"{p} already exists; {refusal}") from None
    except OSError as e:
        raise InputError(f"{p}: cannot write it: {e.strerror or e}") from None
    try:
        with f:
            f.write(text)
    except OSError as e:
        if not overwrite:  # ours, half written: a second try would call it "already there"
            p.unlink(missing_ok=True)
        raise InputError(f"{p}: cannot write it: {e.strerror or e}") from None
    return p


def issue_schema() -> str:
    """JSON Schema for issue files, for editors' YAML language servers."""
    schema = Issue.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
