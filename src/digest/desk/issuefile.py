"""Changing an issue file the editor wrote, touching nothing but the lines that change.

Round-trip YAML libraries keep comments and key order but re-flow a multi-line plain
scalar onto one line (or re-wrap it), and editors' summaries are full of those. So edits
here are splices at the positions the YAML scanner reports: a new article is written after
the last one (in a block list, with the same indentation; in a flow list ``[…]``, as one
more flow entry before the ``]``), a lead mark is taken off its line, and every other byte
of the file (comments, quoting, blank lines, line breaks) stays as it was.

Every edit is then read back: the file must hold exactly what it held before plus the
change, or the edit is refused with the line to rewrite, never guessed at (an article lost
to a layout the splice did not foresee is the one mistake an editor cannot see coming). The
result is validated before it replaces the file, atomically, and only if the file on disk is
still the one that was read: a failed edit, or one that raced the editor's own save, leaves
it untouched.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError, IssueFileError
from ..model import Issue
from ..sources.issue_file import parse_issue, read_issue_yaml
from ..sources.listing import issue_yaml

__all__ = ["IssueText", "read_issue_text"]

_NULL = "tag:yaml.org,2002:null"
_LINE_BREAKS = "\n\r\x85\u2028\u2029"
_REWRITE = (
    "write `articles:` as a block list (one `- headline: …` entry per article, each on "
    "its own lines) and run the command again; the file is unchanged"
)


class _FlowDumper(yaml.SafeDumper):
    """One article as one line of flow YAML: text with a line break is double-quoted
    (escaped), since a multi-line scalar inside ``[…]`` would depend on indentation."""


def _flow_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(c in value for c in _LINE_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_FlowDumper.add_representer(str, _flow_str)


def _flow(article: Mapping[str, Any]) -> str:
    dumped: str = yaml.dump(
        dict(article),
        Dumper=_FlowDumper,
        default_flow_style=True,
        allow_unicode=True,
        sort_keys=False,
        width=sys.maxsize,
    )
    return dumped.rstrip("\n")


def _indented(block: str, indent: str, nl: str) -> str:
    """``block``'s lines (split at ``\\n`` only, as the dumper wrote them) under ``indent``."""
    lines = block.removesuffix("\n").split("\n")
    return "".join((indent + line if line else line) + nl for line in lines)


def _line_start(text: str, at: int) -> int:
    return text.rfind("\n", 0, at) + 1


def _after_line(text: str, at: int) -> int:
    """The start of the line after the one holding ``text[at - 1]``."""
    # a block scalar's end mark may already sit at the start of the next line
    if at > 0 and text[at - 1] == "\n":
        return at
    newline = text.find("\n", at)
    return len(text) if newline < 0 else newline + 1


def _real(tokens: list[yaml.Token]) -> list[yaml.Token]:
    """The tokens that are text in the file (not the scanner's zero-width block marks)."""
    return [t for t in tokens if t.end_mark.index > t.start_mark.index]


@dataclass
class IssueText:
    """An issue file's text, with splicing edits that keep the rest byte for byte."""

    path: Path
    text: str
    original: str = field(init=False)
    """The text as read: the file must still hold it when the edit is saved."""

    def __post_init__(self) -> None:
        self.original = self.text

    def _root(self) -> yaml.MappingNode | None:
        node, _ = read_issue_yaml(self.text, str(self.path))
        if node is None:
            return None
        if not isinstance(node, yaml.MappingNode):
            raise InputError(f"{self.path}: an issue file is a YAML mapping (key: value)")
        return node

    def _articles(self) -> tuple[yaml.ScalarNode | None, yaml.Node | None]:
        root = self._root()
        for key, value in root.value if root is not None else []:
            if isinstance(key, yaml.ScalarNode) and key.value == "articles":
                return key, value
        return None, None

    def _data(self, text: str) -> dict[str, Any]:
        _, data = read_issue_yaml(text, str(self.path))
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise InputError(f"{self.path}: an issue file is a YAML mapping (key: value)")
        return data

    def _refuse(self, line: int | None, why: str) -> IssueFileError:
        return IssueFileError(self.path, [(line, "articles", f"{why}; {_REWRITE}")])

    def _keep_if(self, new: str, expected: dict[str, Any], line: int | None) -> None:
        """Take ``new`` only if it reads back as ``expected``: nothing lost, nothing moved."""
        try:
            got = self._data(new)
        except (ValueError, InputError):
            got = None
        if got == expected:
            self.text = new
        elif line is None:
            raise InputError(
                f"{self.path}: digest cannot add an `articles:` list to this file without "
                "changing what is there; add `articles:` (a block list) by hand and run the "
                "command again; the file is unchanged"
            )
        else:
            raise self._refuse(
                line, "digest cannot add to this list without changing what it holds"
            )

    def issue(self) -> Issue:
        return parse_issue(self.text, str(self.path))

    def urls(self) -> set[str]:
        """Every article link in the file, as written."""
        return {a.url for a in self.issue().articles if a.url}

    def append_articles(self, articles: Sequence[Mapping[str, Any]]) -> None:
        """Write ``articles`` after the last one, in the file's own layout.

        Only a missing, empty (null) or ``[]`` value is replaced; a list with articles is
        added to, block or flow, and anything else is refused with the line to change.
        """
        if not articles:
            return
        text = self.text
        nl = "\r\n" if "\r\n" in text else "\n"
        root = self._root()
        before = self._data(text)
        old = before.get("articles")
        if old is not None and not isinstance(old, list):
            key, _ = self._articles()
            kind = (
                "a mapping (key: value)"
                if isinstance(old, dict)
                else "text" if isinstance(old, str) else "one value"
            )
            raise self._refuse(
                key.start_mark.line + 1 if key else None, f"is {kind}, not a list of articles"
            )
        expected = {**before, "articles": [*(old or []), *(dict(a) for a in articles)]}
        if root is not None and root.flow_style:
            raise InputError(
                f"{self.path}:{root.start_mark.line + 1}: the issue is written as one flow "
                "mapping `{…}`; write it as `key: value` lines and run the command again; "
                "the file is unchanged"
            )
        key, seq = self._articles()
        if key is None:
            new = self._with_key(text, root, articles, nl)
            self._keep_if(new, expected, None)
            return
        line = key.start_mark.line + 1
        if isinstance(seq, yaml.ScalarNode) and seq.tag == _NULL:
            new = self._replaced(text, key, seq, articles, nl)
        elif isinstance(seq, yaml.SequenceNode) and not seq.flow_style:
            new = self._block_appended(text, key, seq, articles, nl)
        elif isinstance(seq, yaml.SequenceNode):
            inside = text[seq.start_mark.index : seq.end_mark.index]
            if not seq.value and "#" not in inside:
                new = self._replaced(text, key, seq, articles, nl)
            else:
                new = self._flow_appended(text, seq, articles, nl)
        else:
            raise self._refuse(line, "articles is not a list")
        self._keep_if(new, expected, line)

    def _with_key(
        self,
        text: str,
        root: yaml.MappingNode | None,
        articles: Sequence[Mapping[str, Any]],
        nl: str,
    ) -> str:
        """No ``articles:`` yet: the key and the list at the end, level with the other keys."""
        column = root.value[0][0].start_mark.column if root is not None and root.value else 0
        block = _indented(issue_yaml({"articles": list(articles)}), " " * column, nl)
        ends = [t for t in yaml.scan(text, Loader=yaml.SafeLoader)
                if isinstance(t, yaml.DocumentEndToken)]
        if ends:  # before a closing `...`, inside the document
            at = _line_start(text, ends[0].start_mark.index)
            return text[:at] + block + text[at:]
        prefix = "" if not text or text.endswith("\n") else nl
        return text + prefix + block

    def _replaced(
        self,
        text: str,
        key: yaml.ScalarNode,
        value: yaml.Node,
        articles: Sequence[Mapping[str, Any]],
        nl: str,
    ) -> str:
        """``articles:`` with nothing (null) or ``[]``: the value becomes a block list."""
        start = key.end_mark.index
        end = value.end_mark.index
        rest = text[end:]
        eol = rest.find("\n")
        tail = rest[: eol if eol >= 0 else len(rest)].strip()
        if tail and not tail.startswith("#"):
            raise self._refuse(key.start_mark.line + 1, f"`{tail}` follows it on its line")
        after = rest[eol + 1 :] if eol >= 0 else ""
        head = ":" + (f"  {tail}" if tail else "") + nl
        block = issue_yaml(list(articles))  # type: ignore[arg-type]
        return text[:start] + head + _indented(block, " " * key.start_mark.column, nl) + after

    def _block_appended(
        self,
        text: str,
        key: yaml.ScalarNode,
        seq: yaml.SequenceNode,
        articles: Sequence[Mapping[str, Any]],
        nl: str,
    ) -> str:
        """After the last item's last line, at the column of the list's dashes.

        Positions come from the scanner's tokens, not a search of the text: the dashes'
        column is the first ``-`` token's (a ``-`` alone on its line, or a hyphen in a link,
        cannot mislead it), and the last item ends where its last token does.
        """
        tokens = _real(list(yaml.scan(text, Loader=yaml.SafeLoader)))
        end = seq.end_mark.index
        dash = next(
            t
            for t in tokens
            if isinstance(t, yaml.BlockEntryToken) and t.start_mark.index >= key.end_mark.index
        )
        last = max(
            t.end_mark.index for t in tokens if dash.start_mark.index <= t.start_mark.index < end
        )
        at = _after_line(text, last)
        block = issue_yaml(list(articles))  # type: ignore[arg-type]
        sep = "" if at == 0 or text[at - 1] == "\n" else nl
        return text[:at] + sep + _indented(block, " " * dash.start_mark.column, nl) + text[at:]

    def _flow_appended(
        self, text: str, seq: yaml.SequenceNode, articles: Sequence[Mapping[str, Any]], nl: str
    ) -> str:
        """More entries in a flow list ``[…]``, as flow mappings, before its ``]``.

        A list written one entry per line gets one line per new entry, indented as its last
        one (with its trailing comma, if it has one); a list on one line gets ``, {…}`` after
        its last entry. Comments inside the list stay where they are.
        """
        tokens = _real(list(yaml.scan(text, Loader=yaml.SafeLoader)))
        opening = next(
            t
            for t in tokens
            if isinstance(t, yaml.FlowSequenceStartToken)
            and t.start_mark.index >= seq.start_mark.index
        )
        closing = next(t for t in tokens if t.end_mark.index == seq.end_mark.index)
        inner = [
            t
            for t in tokens
            if opening.end_mark.index <= t.start_mark.index < closing.start_mark.index
        ]
        flows = [_flow(a) for a in articles]
        if not inner:  # `[` and `]` with only comments between them
            at = opening.end_mark.index
            return text[:at] + ", ".join(flows) + text[at:]
        trailing = isinstance(inner[-1], yaml.FlowEntryToken)
        entries = inner[:-1] if trailing else inner
        item_end = entries[-1].end_mark.index
        item_start = entries[0].start_mark.index
        depth = 0
        after_comma = False
        for t in entries:
            if after_comma:
                item_start, after_comma = t.start_mark.index, False
            if isinstance(t, (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)):
                depth += 1
            elif isinstance(t, (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)):
                depth -= 1
            elif isinstance(t, yaml.FlowEntryToken) and depth == 0:
                after_comma = True
        line_start = _line_start(text, item_start)
        indent = text[line_start:item_start]
        own_lines = not indent.strip() and "\n" in text[item_end : closing.start_mark.index]
        comma = "" if trailing else ","
        if not own_lines:
            return text[:item_end] + "".join(", " + f for f in flows) + text[item_end:]
        at = _after_line(text, item_end)
        lines = [indent + f + "," for f in flows]
        if not trailing:
            lines[-1] = lines[-1].removesuffix(",")
        return text[:item_end] + comma + text[item_end:at] + nl.join(lines) + nl + text[at:]

    def clear_leads(self) -> int:
        """Take ``lead: true`` off every article; returns how many had it."""
        text = self.text
        key, seq = self._articles()
        before = self._data(text)
        old = before.get("articles")
        if not isinstance(old, list):
            return 0
        spans: set[tuple[int, int, str]] = set()
        if isinstance(seq, yaml.SequenceNode):
            for item in seq.value:
                if not isinstance(item, yaml.MappingNode):
                    continue
                for k, v in item.value:
                    if not (k.value == "lead" and isinstance(v, yaml.ScalarNode)):
                        continue
                    line_start = _line_start(text, k.start_mark.index)
                    line_end = _after_line(text, v.end_mark.index)
                    whole = text[line_start:line_end]
                    own_line = (
                        whole.strip().startswith("lead")
                        and not item.flow_style
                        and text[line_start : k.start_mark.index].strip() == ""
                    )
                    if own_line:
                        spans.add((line_start, line_end, ""))
                    else:
                        spans.add((v.start_mark.index, v.end_mark.index, "false"))
        for start, end, new in sorted(spans, reverse=True):
            text = text[:start] + new + text[end:]

        def unmarked(items: list[Any]) -> list[Any]:
            return [
                {k: v for k, v in a.items() if k != "lead"} if isinstance(a, dict) else a
                for a in items
            ]

        expected = {**before, "articles": unmarked(old)}
        try:
            got = self._data(text)
        except (ValueError, InputError):
            got = {}
        now = got.get("articles")
        if not (
            isinstance(now, list)
            and not any(isinstance(a, dict) and a.get("lead") for a in now)
            and {**got, "articles": unmarked(now)} == expected
        ):
            line = key.start_mark.line + 1 if key else None
            raise IssueFileError(
                self.path,
                [
                    (
                        line,
                        "articles",
                        "digest cannot take the lead mark off without changing more; remove "
                        "`lead: true` by hand and run the command again; the file is unchanged",
                    )
                ],
            )
        self.text = text
        return sum(1 for a in old if isinstance(a, dict) and a.get("lead"))

    def save(self) -> Issue:
        """Validate the new text, then replace the file atomically; returns the issue.

        Refused when the file changed since it was read (the editor saved it while pages
        were fetched): writing would put back the old text under the new article.
        """
        issue = self.issue()
        target = Path(os.path.realpath(self.path))  # a symlink stays one, to the edited file
        try:
            with target.open(encoding="utf-8", newline="") as f:
                now = f.read()
        except FileNotFoundError:
            now = None
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{self.path}: cannot read it again: {e}") from None
        if now != self.original:
            gone = "was removed" if now is None else "changed"
            raise InputError(
                f"{self.path}: the file {gone} while digest was working on it; nothing "
                "written, so your edit is kept: run the command again"
            )
        try:
            mode = target.stat().st_mode & 0o777
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                    f.write(self.text)
                os.chmod(tmp, mode)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise InputError(f"{self.path}: cannot write it: {e.strerror or e}") from None
        self.original = self.text
        return issue


def read_issue_text(path: Path) -> IssueText:
    """The file's text as it is (line endings kept); an InputError if it cannot be read."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return IssueText(path, f.read())
    except FileNotFoundError:
        raise InputError(f"{path}: no such issue file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read it: {e}") from None
