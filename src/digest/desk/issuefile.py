"""Changing an issue file the editor wrote, touching nothing but the lines that change.

Round-trip YAML libraries keep comments and key order but re-flow a multi-line plain
scalar onto one line (or re-wrap it), and editors' summaries are full of those. So edits
here are splices at the positions the YAML parser reports: a new article is written after
the last one with the same indentation, a lead mark is taken off its line, and every other
byte of the file (comments, quoting, blank lines, line breaks) stays as it was. The result
is validated before it replaces the file, atomically, so a failed edit leaves it untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..model import Issue
from ..sources.issue_file import parse_issue, read_issue_yaml
from ..sources.listing import issue_yaml

__all__ = ["IssueText", "read_issue_text"]


def _leaves(node: yaml.Node) -> Iterable[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield k
            yield from _leaves(v)
    elif isinstance(node, yaml.SequenceNode):
        if node.flow_style:
            yield node
        for item in node.value:
            yield from _leaves(item)
    else:
        yield node


def _end_offset(node: yaml.Node, text: str) -> int:
    """Where the text of ``node`` ends: the end of its last line (after its newline)."""
    end = max(leaf.end_mark.index for leaf in _leaves(node))
    # a block scalar's mark may already sit at the start of the next line
    if end > 0 and text[end - 1] == "\n":
        return end
    newline = text.find("\n", end)
    return len(text) if newline < 0 else newline + 1


@dataclass
class IssueText:
    """An issue file's text, with splicing edits that keep the rest byte for byte."""

    path: Path
    text: str

    def _root(self) -> yaml.MappingNode:
        node, _ = read_issue_yaml(self.text, str(self.path))
        if node is None:
            return yaml.MappingNode("tag:yaml.org,2002:map", [])
        if not isinstance(node, yaml.MappingNode):
            raise InputError(f"{self.path}: an issue file is a YAML mapping (key: value)")
        return node

    def _articles(self) -> tuple[yaml.ScalarNode | None, yaml.Node | None]:
        for key, value in self._root().value:
            if isinstance(key, yaml.ScalarNode) and key.value == "articles":
                return key, value
        return None, None

    def issue(self) -> Issue:
        return parse_issue(self.text, str(self.path))

    def urls(self) -> set[str]:
        """Every article link in the file, as written."""
        return {a.url for a in self.issue().articles if a.url}

    def append_articles(self, articles: Sequence[Mapping[str, Any]]) -> None:
        """Write ``articles`` after the last one, in the file's own indentation."""
        if not articles:
            return
        nl = "\r\n" if "\r\n" in self.text else "\n"
        text = self.text.replace("\r\n", "\n")
        self.text = text
        block = issue_yaml(list(articles))  # type: ignore[arg-type]
        key, seq = self._articles()
        if key is None:
            prefix = "" if not text or text.endswith("\n") else "\n"
            self.text = text + prefix + "articles:\n" + block
        elif isinstance(seq, yaml.SequenceNode) and seq.value and not seq.flow_style:
            first = seq.value[0]
            line_start = text.rfind("\n", 0, first.start_mark.index) + 1
            dash = text.index("-", line_start)
            indent = dash - line_start
            at = _end_offset(seq.value[-1], text)
            lines = "".join(" " * indent + line + "\n" for line in block.splitlines())
            sep = "" if at == 0 or text[at - 1] == "\n" else "\n"
            self.text = text[:at] + sep + lines + text[at:]
        else:
            # `articles:` with nothing (null) or an empty flow list `[]`: replace the value
            indent = key.start_mark.column
            lines = "".join(" " * indent + line + "\n" for line in block.splitlines())
            start = key.end_mark.index
            end = start if seq is None else seq.end_mark.index
            rest = text[end:]
            eol = rest.find("\n")
            comment = rest[: eol if eol >= 0 else len(rest)].strip()
            after = rest[eol + 1 :] if eol >= 0 else ""
            head = ":" + (f"  {comment}" if comment.startswith("#") else "") + "\n"
            self.text = text[:start] + head + lines + after
        if nl != "\n":
            self.text = self.text.replace("\n", nl)

    def clear_leads(self) -> int:
        """Take ``lead: true`` off every article; returns how many had it."""
        nl = "\r\n" if "\r\n" in self.text else "\n"
        text = self.text.replace("\r\n", "\n")
        _, seq = self._articles()
        spans: list[tuple[int, int, str]] = []
        if isinstance(seq, yaml.SequenceNode):
            for item in seq.value:
                if not isinstance(item, yaml.MappingNode):
                    continue
                for k, v in item.value:
                    if not (k.value == "lead" and isinstance(v, yaml.ScalarNode)):
                        continue
                    line_start = text.rfind("\n", 0, k.start_mark.index) + 1
                    line_end = text.find("\n", v.end_mark.index)
                    line_end = len(text) if line_end < 0 else line_end + 1
                    whole = text[line_start:line_end]
                    own_line = (
                        whole.strip().startswith("lead")
                        and not item.flow_style
                        and text[line_start : k.start_mark.index].strip() == ""
                    )
                    if own_line:
                        spans.append((line_start, line_end, ""))
                    else:
                        spans.append((v.start_mark.index, v.end_mark.index, "false"))
        for start, end, new in sorted(spans, reverse=True):
            text = text[:start] + new + text[end:]
        self.text = text.replace("\n", nl) if nl != "\n" else text
        return len(spans)

    def save(self) -> Issue:
        """Validate the new text, then replace the file atomically; returns the issue."""
        issue = self.issue()
        folder = self.path.parent
        try:
            mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o644
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                    f.write(self.text)
                os.chmod(tmp, mode)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise InputError(f"{self.path}: cannot write it: {e.strerror or e}") from None
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
