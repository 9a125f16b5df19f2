"""The online half of ``digest check``: is every link alive, and where does it lead?

Links are fetched concurrently but politely: a few workers, at most two requests at a time
to one host, ``HEAD`` first and ``GET`` when a server refuses ``HEAD``, the fetcher's
timeout, redirects followed and checked hop by hop. Good answers are cached for an hour in a
small JSON file, so checking again while editing costs nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .fetch import Fetcher, FetchError

__all__ = ["CACHE_SECONDS", "LinkCache", "LinkResult", "check_links", "probe"]

CACHE_SECONDS = 3600
WORKERS = 8
PER_HOST = 2
_HEAD_REFUSED = frozenset({403, 405, 501})


@dataclass(frozen=True)
class LinkResult:
    url: str
    status: int | None
    """The final answer's HTTP status; None when there was none."""
    error: str | None = None
    final_url: str | None = None
    size: int | None = None
    """Content-Length of the final answer, when given."""
    checked_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 400


class LinkCache:
    """Results of the last hour, in a JSON file; a damaged file is simply started afresh."""

    def __init__(self, path: Path, *, max_age: float = CACHE_SECONDS) -> None:
        self.path = path
        self.max_age = max_age
        self._lock = threading.Lock()
        self._items: dict[str, LinkResult] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self._items = {k: LinkResult(**v) for k, v in data.items()}
        except (OSError, ValueError, TypeError):
            self._items = {}

    def get(self, url: str, now: float | None = None) -> LinkResult | None:
        with self._lock:
            hit = self._items.get(url)
        if hit is None or (now or time.time()) - hit.checked_at > self.max_age:
            return None
        return hit

    def put(self, result: LinkResult) -> None:
        with self._lock:
            self._items[result.url] = result

    def save(self) -> None:
        now = time.time()
        with self._lock:
            fresh = {
                k: asdict(v) for k, v in self._items.items() if now - v.checked_at <= self.max_age
            }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(fresh), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            pass  # a cache that cannot be written only costs a re-check


def probe(fetcher: Fetcher, url: str) -> LinkResult:
    """``HEAD`` the link (``GET`` if the server will not answer ``HEAD``), body unread."""
    try:
        response, redirects = fetcher.open("HEAD", url)
        response.close()
        if response.status_code in _HEAD_REFUSED or response.status_code >= 500:
            response, redirects = fetcher.open("GET", url)
            response.close()
    except FetchError as e:
        return LinkResult(url, None, error=e.reason, checked_at=time.time())
    length = response.headers.get("content-length", "")
    return LinkResult(
        url,
        response.status_code,
        final_url=redirects[-1] if redirects else url,
        size=int(length) if length.isdigit() else None,
        checked_at=time.time(),
    )


def check_links(
    urls: Iterable[str], fetcher: Fetcher, cache: LinkCache | None = None
) -> dict[str, LinkResult]:
    """Every distinct URL checked once; the answers by URL."""
    todo: list[str] = []
    results: dict[str, LinkResult] = {}
    for url in dict.fromkeys(urls):
        hit = cache.get(url) if cache else None
        if hit is not None:
            results[url] = hit
        else:
            todo.append(url)
    hosts: dict[str, threading.Semaphore] = {}
    for url in todo:
        hosts.setdefault(urlsplit(url).netloc.lower(), threading.Semaphore(PER_HOST))

    def one(url: str) -> LinkResult:
        with hosts[urlsplit(url).netloc.lower()]:
            return probe(fetcher, url)

    if todo:
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(todo))) as pool:
            for result in pool.map(one, todo):
                results[result.url] = result
                if cache is not None and result.ok:
                    cache.put(result)  # failures are checked again next time
        if cache is not None:
            cache.save()
    return results
