"""``digest preview``: the issue as readers will see it, updated as the editor types.

A small Starlette app served by uvicorn on 127.0.0.1. The page shows the subject, the
preheader and the offline ``check`` findings above four panes side by side: the email at
600 px, at 375 px (a phone), in dark mode and as plaintext. The dark pane is an iframe
whose embedding element has ``color-scheme: dark``: that is how Chromium decides what
``prefers-color-scheme`` a frame's document sees, so the email's own dark-mode CSS runs,
as in a dark-mode mail client (no filter). watchfiles watches the issue file, the config
and the templates folder; each change re-renders (in a thread) and a server-sent event
tells the page, which swaps the panes without a reload. A broken file shows its errors
above the last good render; nothing an editor types stops the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["PreviewState", "make_preview_app", "serve_preview"]

log = logging.getLogger("digest.preview")
KEEPALIVE_SECONDS = 15.0
DEBOUNCE_MS = 150


@dataclass
class PreviewState:
    """The latest render (kept while the file is broken) and what is wrong now."""

    issue_path: Path
    config_path: Path | None
    version: int = 0
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    watched: list[Path] = field(default_factory=list)
    stamp: tuple[tuple[str, int, int], ...] = ()
    """The watched files' (path, mtime, size) as last read: a save in progress since shows."""

    def _stamp(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for path in self.watched:
            try:
                st = path.stat()
            except OSError:
                continue
            if not path.is_dir():
                found.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(found)

    @property
    def stale(self) -> bool:
        """True when a watched file changed after the last refresh read it."""
        return self._stamp() != self.stamp

    def refresh(self) -> None:
        """Load the config and the issue, render and check them; never raises."""
        from ..config import DEFAULT_CONFIG_NAME, load_settings
        from ..errors import DigestError
        from .check import check_issue

        if not self.watched:
            config = self.config_path or Path(DEFAULT_CONFIG_NAME)
            self.watched = [self.issue_path.resolve(), config.resolve()]
        self.stamp = self._stamp()
        try:
            settings = load_settings(self.config_path)
            report = check_issue(settings, self.issue_path, offline=True)
            self.watched = self._watch_list(settings)
        except DigestError as e:
            self.errors = str(e).splitlines()
        except Exception as e:  # the preview must outlive any mistake in what it shows
            log.exception("preview render failed")
            self.errors = [f"{type(e).__name__}: {e}"]
        else:
            broken = {"does-not-load", "does-not-render"}
            self.errors = [f.message for f in report.findings if f.code in broken]
            if report.rendered is not None:
                r = report.rendered
                self.subject, self.preheader = r.subject, r.preheader
                self.html, self.text = r.preview_html(), r.preview_text()
                self.findings = [
                    {**asdict(f), "headline": report.headline(f.article) if f.article else None}
                    for f in report.findings
                ]
        self.version += 1

    def _watch_list(self, settings: Any) -> list[Path]:
        paths = [self.issue_path.resolve()]
        if settings.source is not None:
            paths.append(Path(settings.source).resolve())
        if settings.templates.dir is not None:
            paths.append(settings.path(settings.templates.dir).resolve())
        return paths

    def public(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "issue": str(self.issue_path),
            "subject": self.subject,
            "preheader": self.preheader,
            "text": self.text,
            "findings": self.findings,
            "errors": self.errors,
        }


class _Changes:
    """Wakes every open event stream when the state's version moves on."""

    def __init__(self) -> None:
        self.cond = asyncio.Condition()

    async def notify(self) -> None:
        async with self.cond:
            self.cond.notify_all()

    async def wait(self, timeout: float) -> bool:
        async with self.cond:
            try:
                await asyncio.wait_for(self.cond.wait(), timeout)
            except TimeoutError:
                return False
            return True


def _relevant(path: str, watched: list[Path]) -> bool:
    p = Path(path).resolve()
    return any(p == w or w in p.parents for w in watched)


async def _watch(state: PreviewState, changes: _Changes, stop: asyncio.Event) -> None:
    """Re-render on every relevant change; start over when the list of watched paths moves."""
    from watchfiles import awatch

    while not stop.is_set():
        watched = list(state.watched)
        folders = sorted({w if w.is_dir() else w.parent for w in watched if w.parent.exists()})
        async for batch in awatch(*folders, debounce=DEBOUNCE_MS, step=50, stop_event=stop):
            if any(_relevant(path, watched) for _, path in batch):
                await asyncio.to_thread(state.refresh)
                while state.stale:  # read mid-save: read the finished file too
                    await asyncio.sleep(DEBOUNCE_MS / 1000)
                    await asyncio.to_thread(state.refresh)
                await changes.notify()
                if state.watched != watched:
                    break


def make_preview_app(state: PreviewState) -> Starlette:
    """The preview's routes; the watcher runs for the app's lifetime."""
    changes = _Changes()
    stop = asyncio.Event()
    page = files("digest.desk").joinpath("preview.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def email(request: Request) -> Response:
        return HTMLResponse(state.html, headers={"Cache-Control": "no-store"})

    async def state_json(request: Request) -> Response:
        return JSONResponse(state.public(), headers={"Cache-Control": "no-store"})

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            seen = state.version
            yield f"retry: 1000\ndata: {json.dumps({'version': seen})}\n\n"
            while not stop.is_set() and not await request.is_disconnected():
                if await changes.wait(KEEPALIVE_SECONDS) or state.version != seen:
                    seen = state.version
                    yield f"data: {json.dumps({'version': seen})}\n\n"
                else:
                    yield ": keepalive\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(_watch(state, changes, stop))
        try:
            yield
        finally:
            stop.set()
            await changes.notify()
            task.cancel()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/email.html", email),
            Route("/state.json", state_json),
            Route("/events", events),
        ],
        lifespan=lifespan,
    )


def serve_preview(
    issue_path: Path,
    config_path: Path | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8026,
    open_browser: bool = False,
) -> None:
    """Serve the preview until Ctrl-C; a taken port is a ConfigError."""
    import socket

    import uvicorn

    from ..errors import ConfigError

    state = PreviewState(issue_path, config_path)
    state.refresh()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}; pick --port") from None
    url = f"http://{host}:{sock.getsockname()[1]}/"
    print(f"Preview of {issue_path} at {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(
        make_preview_app(state),
        log_level="warning",
        timeout_graceful_shutdown=1,
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])
