"""Link addresses as the desk compares and stores them: no fetching here, so the checks
every send runs can use it without loading an HTTP client."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_url"]

TRACKING_PREFIXES = ("utm_", "mc_")
TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "_hsenc"})


def canonical_url(url: str) -> str:
    """``url`` without tracking parameters (utm_*, fbclid, gclid, mc_*…), host lower-cased.

    UTM tags are added back at render time from ``[links] utm``; the issue file keeps the
    article's own address.
    """
    parts = urlsplit(url.strip())
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(TRACKING_PREFIXES) and k.lower() not in TRACKING_PARAMS
    ]
    netloc = parts.netloc.lower() if "@" not in parts.netloc else parts.netloc
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query), parts.fragment))
