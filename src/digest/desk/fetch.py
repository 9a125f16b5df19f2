"""Polite fetching of the web pages an editor links to.

One :class:`Fetcher` (an httpx client) per command: a clear User-Agent naming digest, a
timeout, at most five redirects followed by hand so each hop is checked, a size cap (a huge
page is read up to the cap: the metadata is in its head), http and https only, and no
request to a private, loopback or otherwise non-public address unless ``allow_private``
(tests on 127.0.0.1, an intranet newsletter). That check is made where the connection is
opened (:class:`PublicOnly`): the name is resolved once and the socket goes to the address
checked, so a second DNS answer (rebinding) cannot send a request to the local network.
Text is decoded as browsers do: the
Content-Type charset, else a byte-order mark, else a ``<meta charset>``, with latin-1
read as windows-1252 (w3lib's ``html_to_unicode``).
"""

from __future__ import annotations

import ipaddress
import socket
import typing
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from ..errors import InputError

__all__ = [
    "MAX_PAGE_BYTES",
    "MAX_REDIRECTS",
    "FetchError",
    "Fetcher",
    "Page",
    "PublicOnly",
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


Resolver = Callable[..., list[tuple[typing.Any, ...]]]
"""``socket.getaddrinfo``'s shape."""
IsPublic = Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address], bool]


def _is_global(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_global


def _public_or_refused(
    url: str,
    allow_private: bool,
    resolve: Resolver = socket.getaddrinfo,
    public: IsPublic = _is_global,
) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise FetchError(url, f"not an address digest can read ({e})") from None
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "a relative address"
        raise FetchError(url, f"only http:// and https:// pages can be fetched, not {shown}")
    host = parts.hostname
    if not host:
        raise FetchError(url, "the address has no host")
    if allow_private:
        return
    try:
        _public_addresses(host, port or 443, resolve, public)
    except (OSError, UnicodeError) as e:
        raise FetchError(url, f"cannot resolve {host} ({e})") from None
    except PrivateAddressError as e:
        raise FetchError(url, _private_reason(e.host, e.address)) from None


def _public_addresses(host: str, port: int, resolve: Resolver, public: IsPublic) -> list[str]:
    """The addresses ``host`` resolves to; PrivateAddressError if any is not public."""
    addresses = [str(info[4][0]) for info in resolve(host, port, proto=socket.IPPROTO_TCP)]
    for address in addresses:
        if not public(ipaddress.ip_address(address.split("%")[0])):
            raise PrivateAddressError(host, address)
    return addresses


def _private_reason(host: str, address: str) -> str:
    return (
        f"{host} is a private or loopback address ({address}); digest fetches only "
        "public pages (pass --allow-private to fetch it anyway)"
    )




class PrivateAddressError(Exception):
    """Raised inside the transport: ``host`` resolved to the non-public ``address``."""

    def __init__(self, host: str, address: str) -> None:
        self.host = host
        self.address = address
        super().__init__(f"{host} is a private or loopback address ({address})")


class PublicOnly(httpcore.SyncBackend):
    """httpcore's network backend, connecting only to public addresses it resolved itself.

    Every address the name resolves to must be public, and the socket is opened to one of
    them by number: nothing resolves the name a second time, so a DNS answer that changes
    between the check and the connection (rebinding) cannot reach the local network.
    ``resolve`` (``socket.getaddrinfo``) and ``public`` (``is_global``) are for tests.
    """

    def __init__(
        self, resolve: Resolver = socket.getaddrinfo, public: IsPublic = _is_global
    ) -> None:
        self.resolve = resolve
        self.public = public

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _public_addresses(host, port, self.resolve, self.public)
        except (OSError, UnicodeError) as e:
            raise httpcore.ConnectError(f"cannot resolve {host} ({e})") from None
        failed: Exception | None = None
        for address in addresses:  # the next address when one cannot be reached
            try:
                return super().connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                failed = e
        raise failed or httpcore.ConnectError(f"{host} has no address")


def _public_transport(resolve: Resolver, public: IsPublic) -> httpx.HTTPTransport:
    """httpx's own transport (its TLS context, limits and keep-alive as the fetcher's), its
    connection pool opening sockets through PublicOnly."""
    context = httpx.create_ssl_context()
    transport = httpx.HTTPTransport(verify=context)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=context,
        max_connections=16,
        max_keepalive_connections=8,
        keepalive_expiry=5.0,
        network_backend=PublicOnly(resolve, public),
    )
    return transport


def _proxied() -> bool:
    """True when the environment sends requests through a proxy (``HTTPS_PROXY``…)."""
    found = urllib.request.getproxies()
    return any(found.get(scheme) for scheme in ("http", "https", "all"))


class Fetcher:
    """An httpx client that fetches politely; use it as a context manager."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = TIMEOUT,
        max_bytes: int = MAX_PAGE_BYTES,
        resolve: Resolver = socket.getaddrinfo,
        public: IsPublic = _is_global,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.resolve = resolve
        self.public = public
        # Through a proxy (HTTPS_PROXY and the like, which httpx honours) the proxy resolves
        # the name: only the check before each request applies there.
        guard = not allow_private and not _proxied()
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": user_agent()},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            transport=_public_transport(resolve, public) if guard else None,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def check_address(self, url: str) -> None:
        """Refuse what digest never fetches: other schemes, private addresses (checked again
        where the connection is opened)."""
        _public_or_refused(url, self.allow_private, self.resolve, self.public)

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
            try:
                request = self.client.build_request(method, current, headers={"Accept": accept})
                response = self.client.send(request, stream=True)
            except (httpx.InvalidURL, UnicodeError) as e:  # a host IDNA cannot encode, a NUL
                raise FetchError(url, f"not an address digest can read ({e})") from None
            except PrivateAddressError as e:
                raise FetchError(url, _private_reason(e.host, e.address)) from None
            except httpx.TimeoutException:
                raise FetchError(url, f"no answer within {self.timeout:g} s") from None
            except httpx.HTTPError as e:
                raise FetchError(url, f"cannot reach it ({type(e).__name__}: {e})") from None
            location = response.headers.get("location")
            if response.is_redirect and location:
                response.close()
                try:
                    target = urljoin(current, location)
                except ValueError:
                    raise FetchError(
                        url, f"redirected to an address that cannot be read ({location!r})"
                    ) from None
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
