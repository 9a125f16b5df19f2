"""Paths the app answers, taken from the same ``[links]`` templates the mail's links use.

``[links] unsubscribe_url = "https://example.org/u/{token}"`` makes the app answer
``/u/<token>``, so the link in every mail and the app cannot drift apart. The token may also
sit in the query (``https://example.org/unsubscribe?t={token}``). ``{slug}``, ``{number}``,
``{date}`` match one path segment each, ``{email}`` (URL-quoted, so it may hold a ``/`` once
decoded) anything up to the next literal part.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from ..errors import ConfigError

__all__ = ["DEFAULT_ARCHIVE_PATH", "DEFAULT_UNSUBSCRIBE_PATH", "PathTemplate"]

DEFAULT_UNSUBSCRIBE_PATH = "/unsubscribe/{token}"
DEFAULT_ARCHIVE_PATH = "/issues/{slug}"


@dataclass(frozen=True)
class PathTemplate:
    """A compiled URL template: matches a request's path (and query) and pulls out ``key``."""

    template: str
    pattern: re.Pattern[str]
    key: str
    query_name: str | None = None
    """When the key travels in the query: the parameter's name."""
    root: str = "/"
    """The path up to the last ``/`` before the first field (``/issues/`` of ``/issues/{slug}``)."""

    @classmethod
    def parse(cls, url: str, key: str, setting: str) -> PathTemplate:
        """Compile the path part of ``url``; ``key`` (``token`` or ``slug``) must be in it."""
        parts = urlsplit(url)
        path = parts.path or "/"
        query_name = None
        field = "{" + key + "}"
        if field not in path:
            query = parse_qsl(parts.query, keep_blank_values=True)
            query_name = next((n for n, v in query if v == field), None)
            if query_name is None:
                raise ConfigError(
                    f"{setting} = {url!r} has no {{{key}}}; digest serve needs it in the path "
                    f"(e.g. /unsubscribe/{{{key}}}) or as a whole query value (?t={{{key}}})."
                )
        regex = []
        try:
            fields = list(string.Formatter().parse(path))
        except ValueError as e:
            raise ConfigError(f"{setting} is not a valid URL template: {e}.") from None
        for literal, name, _, _ in fields:
            regex.append(re.escape(literal))
            if name == key:
                regex.append(f"(?P<{key}>[^/]+)")
            elif name == "email":
                regex.append(".+?")
            elif name is not None:
                regex.append("[^/]+")
        head = fields[0][0] if fields and fields[0][1] is not None else path
        root = head[: head.rfind("/") + 1] or "/"
        return cls(url, re.compile("".join(regex)), key, query_name, root)

    def match(self, path: str, query: dict[str, str]) -> str | None:
        """The key's value when ``path`` (and ``query``) fit the template, else None."""
        m = self.pattern.fullmatch(path)
        if m is None:
            return None
        value = query.get(self.query_name) if self.query_name else m.group(self.key)
        return value or None
