"""Polite fetching of the web pages an editor links to.

One :class:`Fetcher` (an httpx client) per command: a clear User-Agent naming digest, a
timeout, at most five redirects followed by hand so each hop is checked, a size cap (a huge
page is read up to the cap: the metadata is in its head), http and https only, and no
request to a private, loopback or otherwise non-public address unless ``allow_private``
(tests on 127.0.0.1, an intranet newsletter). Text is decoded as browsers do: the
Content-Type charset, else a byte-order mark, else a ``<meta charset>``, with latin-1
read as windows-1252 (w3lib's ``html_to_unicode``).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from ..errors import InputError

__all__ = [
    "MAX_PAGE_BYTES",
    "MAX_REDIRECTS",
    "FetchError",
    "Fetcher",
    "Page",
    "user_agent",
]

MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = 10.0
HTML_TYPES = ("text/html", "application/xhtml+xml")


class FetchError(InputError):
    """A page could not be fetched; the message names it and says why."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        super().__init__(f"{url}: {reason}")


def user_agent() -> str:
    """The desk's User-Agent: digest's one format, naming the link fetcher."""
    from ..sources.feed import user_agent as feed_user_agent

    return feed_user_agent("newsletter editor's link fetcher")


@dataclass(frozen=True)
class Page:
    """A fetched HTML page, decoded."""

    url: str
    """The final URL, after redirects."""
    status: int
    content_type: str
    text: str
    encoding: str
    redirects: tuple[str, ...] = field(default=())
    truncated: bool = False


def _public_or_refused(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "a relative address"
        raise FetchError(url, f"only http:// and https:// pages can be fetched, not {shown}")
    host = parts.hostname
    if not host:
        raise FetchError(url, "the address has no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise FetchError(url, f"cannot resolve {host} ({e})") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise FetchError(
                url,
                f"{host} is a private or loopback address ({address}); digest fetches only "
                "public pages (pass --allow-private to fetch it anyway)",
            )


class Fetcher:
    """An httpx client that fetches politely; use it as a context manager."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = TIMEOUT,
        max_bytes: int = MAX_PAGE_BYTES,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": user_agent()},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def check_address(self, url: str) -> None:
        """Refuse what digest never fetches: other schemes, private addresses."""
        _public_or_refused(url, self.allow_private)

    def open(
        self, method: str, url: str, *, accept: str = "*/*"
    ) -> tuple[httpx.Response, tuple[str, ...]]:
        """Send ``method`` and follow redirects by hand (each hop checked), at most five.

        The response is streamed and still open: the caller reads (or not) and closes it.
        """
        seen = [url]
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self.check_address(current)
            request = self.client.build_request(method, current, headers={"Accept": accept})
            try:
                response = self.client.send(request, stream=True)
            except httpx.TimeoutException:
                raise FetchError(url, f"no answer within {self.timeout:g} s") from None
            except httpx.HTTPError as e:
                raise FetchError(url, f"cannot reach it ({type(e).__name__}: {e})") from None
            location = response.headers.get("location")
            if response.is_redirect and location:
                response.close()
                target = urljoin(current, location)
                if target in seen:
                    raise FetchError(url, f"redirect loop ({' → '.join([*seen, target])})")
                seen.append(target)
                current = target
                continue
            return response, tuple(seen[1:])
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects; check the address")

    def page(self, url: str) -> Page:
        """GET an HTML page and decode it; a FetchError for anything else."""
        from w3lib.encoding import html_to_unicode

        response, redirects = self.open(
            "GET", url, accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
        )
        try:
            if not response.is_success:
                raise FetchError(
                    url,
                    f"the server answered {response.status_code} {response.reason_phrase}",
                    status=response.status_code,
                )
            content_type = response.headers.get("content-type", "")
            kind = content_type.split(";")[0].strip().lower()
            if kind and kind not in HTML_TYPES:
                raise FetchError(url, f"not a web page but {kind}; link to the page about it")
            chunks: list[bytes] = []
            size = 0
            truncated = False
            try:
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= self.max_bytes:
                        truncated = True
                        break
            except httpx.TimeoutException:
                raise FetchError(url, f"the page stalled for over {self.timeout:g} s") from None
            except httpx.HTTPError as e:
                raise FetchError(url, f"the page broke off ({type(e).__name__})") from None
        finally:
            response.close()
        body = b"".join(chunks)[: self.max_bytes]
        encoding, text = html_to_unicode(content_type or None, body)
        return Page(
            url=str(response.url),
            status=response.status_code,
            content_type=content_type,
            text=text,
            encoding=encoding,
            redirects=redirects,
            truncated=truncated,
        )
