"""The shared base of HTTP API providers: one pooled client, error mapping, rate limits.

An adapter subclasses :class:`HTTPProvider` and writes two hooks, in the spirit of
django-anymail's backends:

* ``build_request(batch)`` maps a batch to one :class:`HTTPRequest` (method, path, JSON or
  form body, extra headers);
* ``parse_response(batch, response)`` maps the provider's 2xx answer (or a status listed in
  ``HTTPRequest.accept``) to one :class:`~digest.delivery.base.RecipientResult` per recipient.

Everything else is here: the ``httpx.Client`` (created once per provider instance, shared by
threads), the mapping of failures to :mod:`digest.errors` by what they say was done: *not sent*
(a refused connection, 429, 408, a 5xx the provider documents as not processed) is
transient; *ambiguous* (no answer after the request went, a dropped connection, any other
5xx) may have been taken; 401/403 are account errors that stop the run; other 4xx are
permanent and carry the provider's own message,
and waits from ``Retry-After`` and the rate-limit headers (``X-RateLimit-*``, the IETF
``RateLimit-*`` and ``RateLimit``, Brevo's ``x-sib-ratelimit-*``: :func:`read_rate_limit`),
and splitting a batch that would exceed ``max_batch_bytes``.

Secrets taken with :meth:`~digest.delivery.base.Provider.secret` are scrubbed from every
error and log line.
"""

from __future__ import annotations

import email.utils
import html
import json
import logging
import re
import secrets
import threading
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx
from pydantic import field_validator

from ..errors import (
    AccountDeliveryError,
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from ..message import PLACEHOLDER_RE, Batch, Content, Recipient
from ..text import plural
from .base import Options, Provider, RecipientResult

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "Bodies",
    "EncodedText",
    "HTTPOptions",
    "HTTPProvider",
    "HTTPRequest",
    "MergeTokens",
    "RateLimit",
    "RawJSON",
    "chunk_by_size",
    "issue_tags",
    "json_bytes",
    "json_pairs",
    "json_pieces",
    "json_str",
    "multipart_pieces",
    "parse_retry_after",
    "read_rate_limit",
]

log = logging.getLogger("digest.delivery")

T = TypeVar("T")

FormValue = str | Sequence[str]

_BODY_LIMIT = 2000
"""Most characters of a provider's answer kept in an error."""


class HTTPOptions(Options):
    """Options every HTTP provider takes; subclasses set ``base_url``'s real default."""

    base_url: str
    """The API's address; change it for a region, a proxy or a test server."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, not {v!r}")
        return v.rstrip("/")


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    """One call to a provider's API, as an adapter's ``build_request`` describes it.

    Give at most one body: ``json`` (any JSON value, encoded once as compact UTF-8),
    ``data`` (form fields; a list value repeats the field) or ``content`` (raw bytes).
    ``accept`` lists non-2xx statuses handed to ``parse_response`` instead of raised.
    """

    method: str
    path: str
    json: Any = None
    data: Mapping[str, FormValue] | None = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    accept: frozenset[int] = frozenset()


class RawJSON:
    """Bytes that are already one encoded JSON value; :func:`json_pieces` splices them in.

    How a body shared by a batch is encoded once and only its merge values per recipient
    (see :class:`EncodedText`). The value may be held as several pieces: they are written
    one after another, never joined, so a batch's shared text is never copied per recipient.
    """

    __slots__ = ("parts",)

    def __init__(self, data: bytes | Sequence[bytes]) -> None:
        self.parts: tuple[bytes, ...] = (data,) if isinstance(data, bytes) else tuple(data)

    @property
    def data(self) -> bytes:
        """The encoded value as one bytes object."""
        return b"".join(self.parts)

    @property
    def size(self) -> int:
        return sum(map(len, self.parts))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawJSON) and self.data == other.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return f"RawJSON({self.data!r})"


def json_pieces(value: Any) -> list[bytes]:
    """Compact UTF-8 JSON of ``value`` as pieces to write in order (what goes on the wire).

    :class:`RawJSON` values anywhere in ``value`` are written as their bytes, unchanged. The
    structure around them is encoded by the C encoder in one call, each RawJSON standing in
    as a marker string, then cut at the markers.
    """
    if isinstance(value, list) and all(isinstance(v, RawJSON) for v in value):
        array = [b"["]  # an array of encoded values (a batch of messages): no encoder at all
        for i, v in enumerate(value):
            if i:
                array.append(b",")
            array += v.parts
        array.append(b"]")
        return array
    raws: list[RawJSON] = []
    nonce: list[str] = []

    def raw_marker(o: object) -> str:
        if isinstance(o, RawJSON):
            if not nonce:  # made on the first RawJSON only: a value without any needs none
                nonce.append(f"\0{uuid.uuid4().hex}:")
            raws.append(o)
            return f"{nonce[0]}{len(raws) - 1}\0"
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    out = json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), default=raw_marker
    ).encode("utf-8")
    if not raws:
        return [out]
    # Each marker is encoded as "\u0000<nonce>:<n>\u0000"; the random nonce never occurs
    # in encoded text by chance.
    marker = re.compile(rb'"\\u0000' + nonce[0][1:].encode() + rb'(\d+)\\u0000"')
    cut = marker.split(out)
    pieces: list[bytes] = []
    for i, piece in enumerate(cut):
        if i % 2:
            pieces.extend(raws[int(piece)].parts)
        elif piece:
            pieces.append(piece)
    return pieces


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON: the wire form, and what batch sizes are measured in.

    :class:`RawJSON` values anywhere in ``value`` are written as their bytes, unchanged.
    """
    return b"".join(json_pieces(value))


def multipart_pieces(fields: Mapping[str, FormValue]) -> tuple[list[bytes], str]:
    """``fields`` as a ``multipart/form-data`` body (RFC 7578): its pieces, its Content-Type.

    Values go as their UTF-8 bytes, with nothing to escape: a form of 1,000 recipients'
    variables costs one encode, where percent-encoding it (``urlencode``) walks every byte
    in Python, ~27 µs a recipient. A list value repeats the field. Names are quoted as
    browsers quote them (``"`` and line breaks percent-encoded).
    """
    encoded = [
        (name, value.encode("utf-8"))
        for name, values in fields.items()
        for value in ([values] if isinstance(values, str) else values)
    ]
    boundary = secrets.token_hex(16)
    while any(boundary.encode() in v for _, v in encoded):  # never in practice; cheap to know
        boundary = secrets.token_hex(16)
    dash = f"--{boundary}".encode()
    pieces: list[bytes] = []
    for name, value in encoded:
        quoted = name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        head = f'\r\nContent-Disposition: form-data; name="{quoted}"\r\n\r\n'
        pieces += (dash, head.encode("utf-8"), value, b"\r\n")
    pieces += (dash, b"--\r\n")
    return pieces, f"multipart/form-data; boundary={boundary}"


_WRITE_CHUNK = 1 << 20
"""Bytes handed to the socket at a time when a request body is streamed."""


def _in_chunks(pieces: Iterable[bytes], size: int = _WRITE_CHUNK) -> Iterator[bytes]:
    """``pieces`` joined into writes of about ``size`` bytes (few calls, no whole-body copy).

    A join this large runs without the interpreter lock.
    """
    buf: list[bytes] = []
    held = 0
    for piece in pieces:
        buf.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(buf)
            buf, held = [], 0
    if held:
        yield b"".join(buf)


def _json_str(text: str) -> bytes:
    """``text`` as the inside of a JSON string (no quotes), UTF-8."""
    return json_str(text)[1:-1]


def json_str(text: str) -> bytes:
    """``text`` as one JSON string value, UTF-8: the bytes ``json_bytes(text)`` gives.

    Most values (addresses, ids, URLs, subjects) need no escape, and are quoted without
    going through the encoder: printable text without ``"`` or ``\\`` holds nothing that
    compact JSON with ``ensure_ascii=False`` escapes (control characters are not printable).
    """
    if text.isprintable() and '"' not in text and "\\" not in text:
        return b'"' + text.encode("utf-8") + b'"'
    return json.dumps(text, ensure_ascii=False).encode("utf-8")


def json_pairs(pairs: Iterable[tuple[str, str]]) -> list[bytes]:
    """The pieces of a JSON object of string keys and string values, in order."""
    out: list[bytes] = []
    for k, v in pairs:
        out += (b"," if out else b"{", json_str(k), b":", json_str(v))
    out.append(b"}" if out else b"{}")
    return out


class EncodedText:
    """A text shared by a batch, JSON-encoded once, filled per recipient as bytes.

    The text is cut at its merge placeholders; each fixed piece is encoded once, so a
    recipient costs the encoding of their own values and one join. ``fill`` gives exactly
    ``json_bytes(content.html_for(recipient))`` (or ``text_for``): values HTML-escaped in
    HTML, a placeholder's default where the value is empty.
    """

    __slots__ = ("_escape", "_pieces", "fixed_bytes")

    def __init__(self, text: str, *, escape: bool) -> None:
        self._escape = escape
        pieces: list[bytes | tuple[str, bytes]] = [b'"']
        pos = 0
        for m in PLACEHOLDER_RE.finditer(text):
            pieces.append(_json_str(text[pos : m.start()]))
            pieces.append((m.group(1), _json_str(m.group(2) or "")))
            pos = m.end()
        pieces.append(_json_str(text[pos:]) + b'"')
        self._pieces = pieces
        self.fixed_bytes = sum(len(p) for p in pieces if isinstance(p, bytes))
        """Encoded bytes of the text without its placeholders."""

    @property
    def varies(self) -> bool:
        """True when the text holds a placeholder (so it differs between recipients)."""
        return len(self._pieces) > 2

    def fill(self, values: Mapping[str, str]) -> RawJSON:
        out: list[bytes] = []
        for p in self._pieces:
            if isinstance(p, bytes):
                out.append(p)
                continue
            v = values.get(p[0])
            if v:
                out.append(_json_str(html.escape(v) if self._escape else v))
            else:
                out.append(p[1])
        return RawJSON(out)

    def size(self, values: Mapping[str, str]) -> int:
        """Bytes ``fill(values)`` takes, counted without joining the shared pieces."""
        size = self.fixed_bytes
        for p in self._pieces:
            if isinstance(p, tuple):
                v = values.get(p[0])
                size += len(_json_str(html.escape(v) if self._escape else v)) if v else len(p[1])
        return size


@dataclass(frozen=True)
class Bodies:
    """A batch's HTML and text, each :class:`EncodedText` once."""

    html: EncodedText
    text: EncodedText

    @classmethod
    def of(cls, content: Content) -> Bodies:
        return cls(EncodedText(content.html, escape=True), EncodedText(content.text, escape=False))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


RATE_LIMIT_FAMILIES = ("x-ratelimit-", "ratelimit-", "x-sib-ratelimit-")
"""Header prefixes of ``<prefix>remaining`` / ``<prefix>reset`` pairs, in the order read:
the de facto ``X-RateLimit-*`` (SendGrid, Postmark), the IETF draft's ``RateLimit-*``
(Resend) and Brevo's ``x-sib-ratelimit-*``."""

_IETF_ITEM = re.compile(r"(?:^|;)\s*([rt])\s*=\s*(-?\d+(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """What a provider's answer says about its quota: requests left, seconds to the reset."""

    remaining: float | None
    reset: float | None


def _seconds_until(value: str, *, now: float | None) -> float | None:
    """A reset value: seconds from now, a Unix time (past one billion) or an HTTP date."""
    try:
        number = float(value.strip())
    except ValueError:
        return parse_retry_after(value, now=now)
    if number > 1_000_000_000:
        current = time.time() if now is None else now
        return max(number - current, 0.0)
    return max(number, 0.0)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def read_rate_limit(headers: httpx.Headers, *, now: float | None = None) -> RateLimit | None:
    """The quota an answer reports, from whichever header family the provider sends.

    Reads the ``remaining``/``reset`` pairs of :data:`RATE_LIMIT_FAMILIES`, then the IETF
    draft's structured ``RateLimit: "policy";r=0;t=5`` (``r`` left, ``t`` seconds). The
    family that says the least is left wins, so two families never hide an exhausted quota.
    """
    found: list[RateLimit] = []
    for prefix in RATE_LIMIT_FAMILIES:
        remaining = _number(headers.get(prefix + "remaining"))
        reset_raw = headers.get(prefix + "reset")
        reset = _seconds_until(reset_raw, now=now) if reset_raw is not None else None
        if remaining is not None or reset is not None:
            found.append(RateLimit(remaining, reset))
    structured = headers.get("ratelimit")
    if structured:
        items = {k: float(v) for k, v in _IETF_ITEM.findall(structured)}
        if items:
            found.append(RateLimit(items.get("r"), max(items["t"], 0.0) if "t" in items else None))
    if not found:
        return None
    return min(found, key=lambda r: (r.remaining is None, r.remaining or 0.0, -(r.reset or 0.0)))


def chunk_by_size(
    items: Iterable[T],
    size_of: Callable[[T], int],
    *,
    max_bytes: int,
    max_items: int | None = None,
    overhead: int = 0,
) -> list[list[T]]:
    """Consecutive groups whose sizes plus ``overhead`` stay within ``max_bytes``.

    An item too big on its own still gets a group of its own: the provider will refuse it,
    and only that recipient fails.
    """
    groups: list[list[T]] = []
    current: list[T] = []
    used = overhead
    for item in items:
        size = size_of(item)
        full = max_items is not None and len(current) >= max_items
        if current and (used + size > max_bytes or full):
            groups.append(current)
            current, used = [], overhead
        current.append(item)
        used += size
    if current:
        groups.append(current)
    return groups


_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def issue_tags(content: Content) -> list[tuple[str, str]]:
    """The issue id, metadata and tags as (name, value) pairs for name/value tag APIs.

    Resend and SES take only ASCII letters, digits, ``_`` and ``-`` (up to 256 each): other
    characters become ``_``. Each tag of the message is a name with the value ``true``.
    """

    def clean(text: str) -> str:
        return _TAG_UNSAFE.sub("_", text)[:256] or "_"

    pairs = [("issue", clean(content.issue_id))]
    pairs += [(clean(k), clean(v)) for k, v in content.metadata.items()]
    pairs += [(clean(t), "true") for t in content.tags]
    return pairs


class MergeTokens:
    """Rewrite ``@@digest.NAME|default@@`` placeholders into a provider's own merge tokens.

    For providers that fill one shared body per recipient on their side (Mailgun's
    ``%recipient.KEY%``, SendGrid's substitutions). Each distinct (name, default, escaping)
    gets its own key: HTML needs escaped values and text raw ones, so the same field has a
    key per kind (``h_name`` and ``t_name``). ``values(recipient)`` gives each key's value,
    filled exactly as :class:`~digest.message.Content` would fill it.
    """

    def __init__(self, token: Callable[[str], str]) -> None:
        self._token = token
        self._keys: dict[tuple[str, str, bool], str] = {}

    def rewrite(self, text: str, *, escape: bool) -> str:
        """``text`` with every placeholder replaced by its provider token."""

        def sub(m: re.Match[str]) -> str:
            return self._token(self._key(m.group(1), m.group(2) or "", escape))

        return PLACEHOLDER_RE.sub(sub, text)

    def _key(self, name: str, default: str, escape: bool) -> str:
        slot = (name, default, escape)
        key = self._keys.get(slot)
        if key is None:
            base = f"{'h' if escape else 't'}_{name}"
            taken = set(self._keys.values())
            key, n = base, 1
            while key in taken:
                n += 1
                key = f"{base}_{n}"
            self._keys[slot] = key
        return key

    def values(self, recipient: Recipient) -> dict[str, str]:
        """Key → this recipient's value (escaped for HTML keys; the default when empty)."""
        given = recipient.values()
        out: dict[str, str] = {}
        for (name, default, escape), key in self._keys.items():
            v = given.get(name)
            out[key] = (html.escape(v) if escape else v) if v else default
        return out


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:_BODY_LIMIT] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "Message", "ErrorMessage", "error", "Error", "errors"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else json.dumps(value)[:_BODY_LIMIT]
    return json.dumps(body)[:_BODY_LIMIT]


class HTTPProvider(Provider):
    """A provider reached over an HTTP API. Subclasses write the two hooks below."""

    options_model: ClassVar[type[Options]] = HTTPOptions
    key_env: ClassVar[str | None] = None
    """The environment variable holding the API key: read (and masked) when the provider
    is made, so a missing key is a config error before anything is sent."""
    key_header: ClassVar[tuple[str, str] | None] = None
    """The header the key travels in and its form, e.g. ``("Authorization", "Bearer {key}")``;
    None when ``auth`` does it (HTTP Basic)."""
    error_code_field: ClassVar[str | None] = None
    """The field of an error answer naming the error (Resend's ``name``, Brevo's ``code``);
    its value goes in front of the message."""
    unprocessed_statuses: ClassVar[frozenset[int]] = frozenset({503})
    """5xx answers that mean the request was not processed (safe to send again). RFC 9110
    gives 503 that meaning ("unable to handle the request"); every other 5xx is ambiguous."""
    form_encoding: ClassVar[str] = "urlencoded"
    """How ``HTTPRequest.data`` goes: ``urlencoded``, or ``multipart`` (form-data, for big
    forms: nothing to percent-encode)."""
    bytes_margin: ClassVar[float] = 0.95
    """Share of ``max_batch_bytes`` a batch is planned to fill (estimates are not exact)."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(settings, sleep=sleep)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._not_before = 0.0
        self._bodies: tuple[Content, Bodies] | None = None
        self.log = logging.getLogger(f"digest.delivery.{self.name}")
        self.api_key = self.secret(self.key_env) if self.key_env else ""

    # -- what subclasses write -------------------------------------------------------------

    @abstractmethod
    def build_request(self, batch: Batch) -> HTTPRequest:
        """The documented request for this batch."""

    @abstractmethod
    def parse_response(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        """One result per recipient, in order, from the provider's answer."""

    def auth(self) -> httpx.Auth | None:
        """Client-wide authentication (e.g. ``httpx.BasicAuth``); None when headers do it."""
        return None

    def auth_headers(self) -> dict[str, str]:
        """Headers sent with every request: by default the key as ``key_header`` says."""
        if self.key_header is None:
            return {}
        name, form = self.key_header
        return {name: form.format(key=self.api_key)}

    def base_url(self) -> str:
        url: str = getattr(self.options, "base_url")  # noqa: B009 - set by every HTTPOptions
        return url

    def error_code(self, response: httpx.Response) -> str:
        """The provider's name for the error in an answer (``error_code_field``), or ''."""
        if self.error_code_field is None:
            return ""
        try:
            body = response.json()
        except ValueError:
            return ""
        code = body.get(self.error_code_field) if isinstance(body, dict) else None
        return str(code) if isinstance(code, (str, int)) and code != "" else ""

    def error_message(self, response: httpx.Response) -> str:
        """The provider's own words from an error answer, after its error code if any."""
        message = _error_text(response)
        code = self.error_code(response)
        return f"{code}: {message}" if code and code not in message else message

    def recipient_bytes(self, batch: Batch, recipient: Recipient) -> int:
        """Estimated request bytes one recipient adds (used only with ``max_batch_bytes``).

        Counted from the batch's bodies encoded once, not by filling them per recipient.
        """
        c = batch.content
        bodies = self.bodies(c)
        values = recipient.values()
        size = bodies.html.size(values) + bodies.text.size(values)
        size += len(c.subject_for(recipient).encode("utf-8"))
        size += sum(len(k) + len(v.encode("utf-8")) for k, v in c.headers_for(recipient).items())
        return int(size * 1.05) + 512

    def bodies(self, content: Content) -> Bodies:
        """``content``'s HTML and text JSON-encoded once (kept for the latest content)."""
        last = self._bodies
        if last is not None and last[0] is content:
            return last[1]
        bodies = Bodies.of(content)
        self._bodies = (content, bodies)
        return bodies

    def shared_bytes(self, batch: Batch) -> int:
        """Estimated request bytes shared by the whole batch (sent once per call)."""
        return 1024

    # -- the parts every adapter shares ----------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """The pooled client, created on first use; safe to share between threads."""
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = self._client = self._make_client()
        return client

    def _make_client(self) -> httpx.Client:
        n = self.delivery.concurrency
        return httpx.Client(
            base_url=self.base_url(),
            auth=self.auth(),
            headers={"User-Agent": "digest", **self.auth_headers()},
            timeout=httpx.Timeout(self.delivery.timeout),
            limits=httpx.Limits(max_connections=n * 2, max_keepalive_connections=n * 2),
            trust_env=False,
        )

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.base_url()}>"

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """One call: the adapter's request, sent; its answer, read. The base retries."""
        response = self.request(self.build_request(batch))
        results = self.parse_response(batch, response)
        if len(results) != len(batch.recipients):
            raise PermanentDeliveryError(
                f"answered with {plural(len(results), 'result')} for "
                f"{plural(len(batch.recipients), 'recipient')}",
                provider=self.name,
                status=response.status_code,
            )
        return results

    def chunks(self, batch: Batch) -> list[Batch]:
        """``batch`` cut where ``max_batch`` and ``max_batch_bytes`` say (deterministically)."""
        if self.max_batch_bytes is None:
            return super().chunks(batch)
        limit = int(self.max_batch_bytes * self.bytes_margin)
        if self._fits_whole(batch, limit):
            return [batch]
        groups = chunk_by_size(
            batch.recipients,
            lambda r: self.recipient_bytes(batch, r),
            max_bytes=limit,
            max_items=self.max_batch,
            overhead=self.shared_bytes(batch),
        )
        if len(groups) == 1:
            return [batch]
        return [Batch(batch.content, g, f"{batch.key}.{i}") for i, g in enumerate(groups)]

    def _fits_whole(self, batch: Batch, limit: int) -> bool:
        """True when an upper bound of the batch's estimated bytes is within ``limit``.

        Then the estimate per recipient (which fills every part) would cut nothing, and is
        skipped. The bound: each estimate is the one of a blank recipient, grown by at most
        6 bytes (a JSON ``\\uXXXX`` escape) per character of the recipient's values, address,
        name and Message-ID, for each placeholder they fill plus two, times a margin above
        the estimates' own. It costs a sum of lengths.
        """
        rs = batch.recipients
        if len(rs) > self.max_batch:
            return False
        c = batch.content
        texts = (c.html, c.text, c.subject, *c.headers.values())
        fills = sum(len(PLACEHOLDER_RE.findall(t)) for t in texts)
        blank = self.recipient_bytes(batch, Recipient(email=""))
        chars = sum(
            len(r.email) + len(r.name) + len(r.message_id or "") + sum(map(len, r.fields.values()))
            for r in rs
        )
        bound = self.shared_bytes(batch) + len(rs) * (blank + 2) + 6.6 * (fills + 2) * chars
        return bound <= limit

    def read(self, req: HTTPRequest) -> httpx.Response:
        """:meth:`request` for a call that changes nothing (a look-up of what was sent): a
        lost answer or a transient failure is simply asked again, up to ``max_retries``
        times with the usual backoff, since reading twice is harmless."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.request(req)
            except TransientDeliveryError as e:
                if attempt > self.delivery.max_retries:
                    raise
                self._sleep(self._backoff(attempt, e.retry_after))
            except AmbiguousDeliveryError:
                if attempt > self.delivery.max_retries:
                    raise
                self._sleep(self._backoff(attempt, None))

    def request(self, req: HTTPRequest) -> httpx.Response:
        """Send one request; a 2xx (or accepted) answer comes back, anything else raises."""
        self._honour_rate_limit()
        body: dict[str, Any] = {}
        headers = dict(req.headers)
        if req.json is not None:
            # Streamed in large writes with its length given: the body is never joined whole
            # (a Postmark batch of 500 issues is ~25 MB).
            pieces = json_pieces(req.json)
            body["content"] = _in_chunks(pieces)
            headers["Content-Length"] = str(sum(map(len, pieces)))
            headers.setdefault("Content-Type", "application/json")
        elif req.data is not None and self.form_encoding == "multipart":
            pieces, headers["Content-Type"] = multipart_pieces(req.data)
            body["content"] = _in_chunks(pieces)
            headers["Content-Length"] = str(sum(map(len, pieces)))
        elif req.data is not None:
            body["data"] = req.data
        elif req.content is not None:
            body["content"] = req.content
        headers.setdefault("Accept", "application/json")
        try:
            response = self.client.request(req.method, req.path, headers=headers, **body)
        except (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout) as e:
            raise TransientDeliveryError(
                f"not sent: no connection or the request could not be written within "
                f"{self.delivery.timeout:g}s ({type(e).__name__})",
                provider=self.name,
            ) from None
        except httpx.TimeoutException as e:
            raise AmbiguousDeliveryError(
                f"answer lost: no answer within {self.delivery.timeout:g}s after the request "
                f"went ({type(e).__name__})",
                provider=self.name,
            ) from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as e:
            raise PermanentDeliveryError(
                f"cannot send to {self.base_url()}: {self.scrub(str(e))}", provider=self.name
            ) from None
        except (httpx.ConnectError, httpx.ProxyError, httpx.WriteError) as e:
            raise TransientDeliveryError(
                f"not sent: connection failed: {self.scrub(str(e)) or type(e).__name__}",
                provider=self.name,
            ) from None
        except httpx.TransportError as e:
            raise AmbiguousDeliveryError(
                f"answer lost: the connection dropped after the request went: "
                f"{self.scrub(str(e)) or type(e).__name__}",
                provider=self.name,
            ) from None
        self.log.debug("%s %s -> %s", req.method, req.path, response.status_code)
        self._note_rate_limit(response)
        status = response.status_code
        if 200 <= status < 300 or status in req.accept:
            return response
        raise self.status_error(response)

    def status_error(self, response: httpx.Response) -> DeliveryError:
        """The error for a refused call, classified by what the status says was done.

        429, 408 and ``unprocessed_statuses`` were not processed (retry); 401/403 are the
        key or the account (stop); any other 5xx may have been processed (ambiguous); the
        rest of 4xx are permanent.
        """
        status = response.status_code
        message = self.scrub(self.error_message(response))
        body_text = self.scrub(response.text[:_BODY_LIMIT])
        if status == 429:
            wait = parse_retry_after(response.headers.get("retry-after"))
            if wait is None:
                quota = self.rate_limit(response)
                wait = quota.reset if quota is not None else None
            return TransientDeliveryError(
                f"rate limited: {message}",
                provider=self.name,
                status=status,
                body=body_text,
                retry_after=wait,
            )
        if status == 408 or status in self.unprocessed_statuses:
            return TransientDeliveryError(
                f"not processed: {message}",
                provider=self.name,
                status=status,
                body=body_text,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if status >= 500:
            return AmbiguousDeliveryError(
                f"server error, the call may have been processed: {message}",
                provider=self.name,
                status=status,
                body=body_text,
            )
        if status in (401, 403):
            return self.account_error(message, status=status, body=body_text)
        return PermanentDeliveryError(message, provider=self.name, status=status, body=body_text)

    def account_error(self, message: str, *, status: int, body: str = "") -> AccountDeliveryError:
        """A refused key or account: names the environment variables to check."""
        names = ", ".join(self.env_vars) or "the provider's settings"
        return AccountDeliveryError(
            f"{message}. The provider refused the credentials or the account: check {names}. "
            "Nothing was sent by this call; everyone not yet sent stays pending",
            provider=self.name,
            status=status,
            body=body,
        )

    def rate_limit(self, response: httpx.Response) -> RateLimit | None:
        """The quota this answer reports; a provider with headers of its own reads them here."""
        return read_rate_limit(response.headers)

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """Remember when the provider said the quota runs out, so the next call waits."""
        if response.status_code == 429:
            return
        quota = self.rate_limit(response)
        if quota is None or quota.remaining is None or quota.remaining > 0 or not quota.reset:
            return
        wait = min(quota.reset, self.delivery.max_backoff)
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + wait)
        self.log.info("%s: rate limit reached; next call waits %.1fs", self.name, wait)

    def _honour_rate_limit(self) -> None:
        with self._lock:
            wait = self._not_before - time.monotonic()
        if wait > 0:
            self._sleep(wait)
