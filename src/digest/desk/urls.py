"""Link addresses as the desk compares and stores them: no fetching here, so the checks
every send runs can use it without loading an HTTP client."""

from __future__ import annotations

from contextlib import suppress
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_url", "page_key"]

TRACKING_PREFIXES = ("utm_", "mc_")
TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "_hsenc"})
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def canonical_url(url: str) -> str:
    """``url`` without tracking parameters (utm_*, fbclid, gclid, mc_*…), host lower-cased.

    User info (``user:password@``) is dropped and so is the scheme's default port: neither
    makes it another page, and a password must never be stored with the link. UTM tags are
    added back at render time from ``[links] utm``; the issue file keeps the article's own
    address.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(TRACKING_PREFIXES) and k.lower() not in TRACKING_PARAMS
    ]
    netloc = parts.netloc.rpartition("@")[2].lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default:
        netloc = netloc.removesuffix(default)
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query), parts.fragment))


def page_key(url: str) -> str:
    """What makes two links the same page, for spotting an article given twice.

    The :func:`canonical_url` without its fragment (a place on the page, not another page),
    with an internationalised host in the ASCII form a browser sends (``bücher.example`` and
    ``xn--bcher-kva.example`` are one site). Only compared, never stored: the issue keeps
    the address as the editor or the page gave it.
    """
    parts = urlsplit(canonical_url(url))
    netloc = parts.netloc
    if not netloc.isascii():  # a name, never an IPv6 address: a colon only before a port
        host, colon, port = netloc.partition(":")
        with suppress(UnicodeError):  # not a valid name: compared as written
            netloc = host.encode("idna").decode("ascii") + colon + port
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
