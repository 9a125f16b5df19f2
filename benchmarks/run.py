"""digest's benchmarks: each measure against a reference measured in the same run.

Run from the repository root::

    .venv/bin/python -m benchmarks            # 10k and 100k recipients, 3 rounds
    .venv/bin/python -m benchmarks --quick    # 300 recipients, 2 rounds: CI's smoke run
    .venv/bin/python -m benchmarks --full     # also 200k, and one 1,000,000-recipient run

One table comes out: each measure, digest's median, the reference's median, their ratio,
the ratio's min/median/max over the rounds, and the target. Sends run the real CLI
(``digest send``) in a fresh process against loopback sinks (:mod:`benchmarks.sinks`); the
references (:mod:`benchmarks.references`) run as processes too, so wall time, CPU and peak
RSS (``os.wait4``) are measured the same way for both, start-up included. Machine noise
hits both sides of a ratio alike; a number never fails the run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from benchmarks.floor import STARTUP_FILE

ROOT = Path(__file__).resolve().parents[1]
ISSUE = ROOT / "sample_issues" / "issue-12.yaml"
NODE_MJML = ROOT / ".cache" / "npm" / "node_modules" / "mjml"
ENV = {
    "POSTMARK_SERVER_TOKEN": "bench-postmark-token",
    "SENDGRID_API_KEY": "bench-sendgrid-key",
    "MAILGUN_API_KEY": "bench-mailgun-key",
    "DIGEST_SECRET": "bench-secret-0123456789abcdef",
}
PROVIDER_OPTIONS = {
    "postmark": 'base_url = "http://127.0.0.1:{port}"\n',
    "sendgrid": 'base_url = "http://127.0.0.1:{port}"\n',
    "mailgun": 'base_url = "http://127.0.0.1:{port}"\ndomain = "mg.example.org"\n',
    "smtp": 'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\n',
    "file": 'dir = "outbox"\n',
}


@dataclass(frozen=True)
class Usage:
    """One process's cost, from the kernel (``os.wait4``)."""

    wall: float
    cpu: float
    rss_mb: float


def run_process(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Usage:
    """Run ``args`` to its end; its wall time, CPU seconds and peak RSS. Fails loudly.

    Through :mod:`benchmarks.measure`, a small parent, so the peak RSS is the command's own.
    """
    full_env = {**os.environ, **ENV, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    full_env.update(env or {})
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.measure", *args], cwd=cwd,
                              env=full_env, stdout=subprocess.PIPE, stderr=err, check=False)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-3000:]
            raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{tail}")
    wall, cpu, rss = (float(x) for x in proc.stdout.split()[-3:])
    return Usage(wall, cpu, rss)


@contextmanager
def sink(kind: str) -> Iterator[int]:
    """A loopback sink process (``benchmarks.sinks``); yields its port."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.sinks", kind],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        SINK_PID[kind] = proc.pid
        yield port
    finally:
        SINK_PID.pop(kind, None)
        SINK_CPU[kind] = _cpu_of(proc.pid)
        proc.terminate()
        proc.wait(10)


SINK_CPU: dict[str, float | None] = {}
"""CPU seconds each sink used over the run: the evidence that it is cheaper than the client."""

SINK_PID: dict[str, int] = {}
"""The running sinks' process ids."""


def sink_cpu(kind: str) -> float | None:
    """CPU seconds the running ``kind`` sink has used so far (None where unknown)."""
    pid = SINK_PID.get(kind)
    return None if pid is None else _cpu_of(pid)


def _cpu_of(pid: int) -> float | None:
    """User + system CPU seconds of a running process (Linux ``/proc``), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unique(n: int) -> int:
    """Recipients left in a list of ``n`` rows made by :func:`make_csv` once merged."""
    return n - n // 50


def make_csv(path: Path, n: int) -> Path:
    """``n`` rows (every 50th a case-variant of the row before it: a duplicate to merge)."""
    if not path.exists():
        with path.open("w", encoding="utf-8") as f:
            f.write("email,name,city\n")
            for i in range(n):
                address = f"READER{i - 1}@EXAMPLE.ORG" if i % 50 == 49 else f"reader{i}@example.org"
                f.write(f"{address},Reader {i},City {i % 97}\n")
    return path


def config_text(provider: str, port: int = 0) -> str:
    """The repository's sample settings, delivering with ``provider``."""
    base = (ROOT / "digest.toml").read_text(encoding="utf-8").split("[delivery]")[0]
    options = PROVIDER_OPTIONS[provider].format(port=port)
    return (
        f'{base}[delivery]\nprovider = "{provider}"\n\n[providers.{provider}]\n{options}'
        '\n[sending]\nledger = "ledger.sqlite3"\n'
    )


@dataclass
class Prebuilt:
    """What the references send: one batch body per HTTP provider, one MIME message."""

    bodies: dict[str, tuple[Path, str, int]] = field(default_factory=dict)
    message: Path | None = None


def prebuild(folder: Path, csv_path: Path) -> Prebuilt:
    """Build, with digest's own adapters, one full batch per provider and one message."""
    from digest.config import load_settings
    from digest.delivery._http import HTTPProvider, json_bytes
    from digest.delivery._mime import render_message
    from digest.delivery.base import get_provider
    from digest.message import Batch
    from digest.sending.job import prepare_issue
    from digest.sending.personalise import Personaliser
    from digest.sending.recipients import Row, read_recipients

    out = Prebuilt()
    for name in ("postmark", "sendgrid", "mailgun"):
        cfg = folder / f"{name}.toml"
        cfg.write_text(config_text(name, 1), encoding="utf-8")
        settings = load_settings(cfg, environ=ENV)
        prepared = prepare_issue(settings, ISSUE)
        content = prepared.content
        people = Personaliser(settings, prepared.issue_id, content.sender.email)
        provider = get_provider(settings)
        assert isinstance(provider, HTTPProvider)
        rows = []
        for item in read_recipients(csv_path):
            if isinstance(item, Row):
                rows.append(people.recipient(item.email, item.name, item.fields))
            if len(rows) == provider.batch_size():
                break
        chunk = provider.chunks(Batch(content, rows, "bench"))[0]
        req = provider.build_request(chunk)
        if req.json is not None:
            body, ctype = json_bytes(req.json), "application/json"
        else:
            assert req.data is not None
            body = urlencode(req.data, doseq=True).encode()
            ctype = "application/x-www-form-urlencoded"
        path = folder / f"{name}.body"
        path.write_bytes(body)
        out.bodies[name] = (path, ctype, len(chunk.recipients))
        if out.message is None:
            out.message = folder / "message.eml"
            out.message.write_bytes(render_message(content, rows[0]).data)
    return out


@dataclass
class Measure:
    """One row of the table: digest's figure and its reference's, per round."""

    name: str
    unit: str
    higher_is_better: bool
    target: str = ""
    check: Callable[[float, float], bool] | None = None
    """(digest median, median ratio) → met?"""
    digest: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)

    def add(self, digest: float, reference: float) -> None:
        self.digest.append(digest)
        self.reference.append(reference)
        print(f"  {self.name}: {_fmt(digest, self.unit)} (reference {_fmt(reference, self.unit)})",
              file=sys.stderr, flush=True)

    def ratios(self) -> list[float]:
        return [d / r for d, r in zip(self.digest, self.reference, strict=False) if r]


class Bench:
    def __init__(self, work: Path, sizes: list[int], rounds: int, quick: bool) -> None:
        self.work = work
        self.sizes = sizes
        self.rounds = rounds
        self.quick = quick
        self.rows: dict[str, Measure] = {}
        self.notes: list[str] = []

    def row(self, name: str, unit: str, higher: bool, target: str = "",
            check: Callable[[float, float], bool] | None = None) -> Measure:
        if name not in self.rows:
            self.rows[name] = Measure(name, unit, higher, target, check)
        return self.rows[name]

    # -- sends -------------------------------------------------------------------------

    def digest_send(self, provider: str, port: int, csv_path: Path,
                    dry_run: bool = False, network: bool = True,
                    floor: bool = False, env: dict[str, str] | None = None) -> tuple[Usage, int]:
        """``digest send`` in a fresh folder; its usage and the ledger's size in bytes.

        ``network=False`` runs it through :mod:`benchmarks.nowire`: every call answered in
        the process, no byte written to a socket. ``floor=True`` runs it through
        :mod:`benchmarks.floor`: nothing personalised, built or sent either."""
        network = network and not floor
        ws = Path(tempfile.mkdtemp(dir=self.work, prefix=f"{provider}-"))
        try:
            # with no network the provider points at a closed port: were the in-process
            # answers ever bypassed, the run would fail instead of measuring the sink
            (ws / "digest.toml").write_text(config_text(provider, port if network else 9),
                                            encoding="utf-8")
            main = "digest" if network else "benchmarks.floor" if floor else "benchmarks.nowire"
            args = [sys.executable, "-m", main, "send", str(ISSUE), "--recipients",
                    str(csv_path), "--config", str(ws / "digest.toml"),
                    "--skip-check"]  # the sample's example.org links are sample data
            usage = run_process(args + (["--dry-run"] if dry_run else []), ws, env)
            ledger = ws / "ledger.sqlite3"
            size = ledger.stat().st_size if ledger.exists() else 0
            return usage, size
        finally:
            shutil.rmtree(ws, ignore_errors=True)

    def reference(self, *args: str) -> Usage:
        return run_process([sys.executable, "-m", "benchmarks.references", *args], self.work)

    def ceiling(self, pre: Prebuilt, provider: str, port: int, n: int) -> Usage:
        body, ctype, per_call = pre.bodies[provider]
        calls = -(-n // per_call)
        url = f"http://127.0.0.1:{port}" + {
            "postmark": "/email/batch", "sendgrid": "/v3/mail/send",
            "mailgun": "/v3/mg.example.org/messages",
        }[provider]
        return self.reference("http", str(body), url, ctype, str(calls))

    def sends(self, pre: Prebuilt, csvs: dict[int, Path], http_port: int) -> None:
        for n, csv_path in csvs.items():
            k = _k(n)
            sent = unique(n)
            for _ in range(self.rounds):
                ceiling = self.ceiling(pre, "postmark", http_port, sent)
                rate_ref = sent / ceiling.wall
                for provider, target, check in (
                    ("postmark", ">= 0.7", lambda d, r: r >= 0.7),
                    ("sendgrid", "> 1.0", lambda d, r: r > 1.0),
                    ("mailgun", "> 1.0", lambda d, r: r > 1.0),
                ):
                    sink_before = sink_cpu("http")
                    usage, _ = self.digest_send(provider, http_port, csv_path)
                    sink_after = sink_cpu("http")
                    self.row(f"{provider} {k}: msg/s vs pre-built Postmark ceiling", "msg/s",
                             True, target, check).add(sent / usage.wall, rate_ref)
                    self.row(f"{provider} {k}: CPU s per 1k", "s", False).add(
                        usage.cpu / sent * 1000, ceiling.cpu / sent * 1000)
                    self.row(f"{provider} {k}: peak RSS", "MB", False, "<= 150",
                             lambda d, r: d <= 150).add(usage.rss_mb, ceiling.rss_mb)
                    # the same send with the network at zero cost: the most any change to
                    # how bytes are written could give
                    bound, _ = self.digest_send(provider, http_port, csv_path, network=False)
                    self.row(f"{provider} {k}, no network (upper bound): msg/s vs ceiling",
                             "msg/s", True).add(sent / bound.wall, rate_ref)
                    # what one process must do in order whatever runs beside it: start-up,
                    # the list into the ledger, the ledger's record of each batch
                    marks = self.work / "startup.txt"
                    floor, _ = self.digest_send(provider, http_port, csv_path, floor=True,
                                                env={STARTUP_FILE: str(marks)})
                    startup_cpu, after_startup = map(float, marks.read_text().split())
                    marks.unlink()
                    self.row(f"{provider} {k}, list and ledger only (serial part): msg/s vs "
                             "ceiling", "msg/s", True).add(sent / floor.wall, rate_ref)
                    # the best wall time any design doing this same work could reach here:
                    # start-up first (nothing can be built before the issue is rendered),
                    # then the longer of the rest of the serial part and all the CPU left
                    # (this send's and the sink's) spread perfectly over every core
                    if sink_before is not None and sink_after is not None:
                        startup = floor.wall - after_startup
                        rest = usage.cpu + (sink_after - sink_before) - startup_cpu
                        best = startup + max(floor.wall - startup,
                                             rest / (os.cpu_count() or 1))
                        self.row(f"{provider} {k}, any parallel design of this work (bound): "
                                 "msg/s vs ceiling", "msg/s", True).add(sent / best, rate_ref)
                dry, _ = self.digest_send("postmark", http_port, csv_path, dry_run=True)
                db = self.work / "ref.sqlite3"
                ref = self.reference("csv", str(csv_path), str(db))
                db.unlink()
                check_dry = (lambda d, r: d < 2.0) if n == 100_000 else None
                self.row(f"dry-run {k}: wall", "s", False,
                         "< 2 s" if n == 100_000 else "", check_dry).add(dry.wall, ref.wall)
                self.row(f"dry-run {k}: CPU", "s", False).add(dry.cpu, ref.cpu)

    def file_and_smtp(self, pre: Prebuilt, smtp_port: int) -> None:
        """The file backend and SMTP, at the smallest list size up to 10k (a file is ~50 KB
        on disk; SMTP is judged on the client's CPU, which 10k messages make plain)."""
        assert pre.message is not None
        for _ in range(self.rounds):
            n = min(min(self.sizes), 10_000)
            sent = unique(n)
            # each side starts with nothing left to write back from the run before it (the
            # other side's ~500 MB of files would otherwise be flushed during its run)
            csv_path = make_csv(self.work / f"list-{n}.csv", n)
            os.sync()
            usage, _ = self.digest_send("file", 0, csv_path)
            out = self.work / "ref-outbox"
            os.sync()
            ref = self.reference("files", str(pre.message), str(out), str(sent))
            shutil.rmtree(out)
            self.row(f"file {_k(n)}: msg/s vs atomic write loop", "msg/s", True, ">= 0.5",
                     lambda d, r: r >= 0.5).add(sent / usage.wall, sent / ref.wall)
            usage, _ = self.digest_send("smtp", smtp_port, make_csv(self.work / f"list-{n}.csv", n))
            ref = self.reference("smtp", str(pre.message), str(smtp_port), str(sent))
            self.row(f"smtp {_k(n)}: client CPU s per 1k vs smtplib loop", "s", False, "<= 1.2",
                     lambda d, r: r <= 1.2).add(usage.cpu / sent * 1000, ref.cpu / sent * 1000)

    def million(self, pre: Prebuilt, csv_path: Path, http_port: int) -> None:
        n = unique(1_000_000)
        ceiling = self.ceiling(pre, "postmark", http_port, n)
        usage, ledger = self.digest_send("postmark", http_port, csv_path)
        self.row("postmark 1M: msg/s vs pre-built Postmark ceiling", "msg/s", True).add(
            n / usage.wall, n / ceiling.wall)
        self.row("postmark 1M: wall", "s", False).add(usage.wall, ceiling.wall)
        self.row("postmark 1M: CPU", "s", False).add(usage.cpu, ceiling.cpu)
        self.row("postmark 1M: peak RSS", "MB", False, "<= 150",
                 lambda d, r: d <= 150).add(usage.rss_mb, ceiling.rss_mb)
        self.row("postmark 1M: ledger size", "MB", False).add(ledger / 1e6, 0)
        dry, _ = self.digest_send("postmark", http_port, csv_path, dry_run=True)
        db = self.work / "ref.sqlite3"
        ref = self.reference("csv", str(csv_path), str(db))
        db.unlink()
        self.row("dry-run 1M: wall", "s", False).add(dry.wall, ref.wall)
        self.row("dry-run 1M: peak RSS", "MB", False).add(dry.rss_mb, ref.rss_mb)

    def growth(self) -> None:
        """Peak RSS of the largest Postmark send over the smallest's."""
        rss = {n: self.rows.get(f"postmark {_k(n)}: peak RSS") for n in self.sizes}
        small, large = min(self.sizes), max(self.sizes)
        a, b = rss[small], rss[large]
        if a is None or b is None or small == large:
            return
        m = self.row(f"postmark peak RSS {_k(large)} / {_k(small)}", "x", False, "<= 1.2",
                     lambda d, r: d <= 1.2)
        for x, y in zip(b.digest, a.digest, strict=False):
            m.add(x / y, 1.0)

    # -- render ------------------------------------------------------------------------

    def render(self) -> None:
        from digest import render as render_pkg
        from digest.config import load_settings
        from digest.render import render_issue
        from digest.sending.personalise import Personaliser
        from digest.sources import load_issue

        settings = load_settings(ROOT / "digest.toml", environ=ENV)
        issue = load_issue(ISSUE)
        seen: list[str] = []
        real = render_pkg.compile_mjml

        def capture(source: str) -> str:
            seen.append(source)
            return real(source)

        render_pkg.compile_mjml = capture  # type: ignore[attr-defined]
        try:
            rendered = render_issue(issue, settings)
        finally:
            render_pkg.compile_mjml = real  # type: ignore[attr-defined]
        mjml_file = self.work / "issue.mjml"
        mjml_file.write_text(seen[0], encoding="utf-8")
        repeat = 5 if self.quick else 30
        node = shutil.which("node")
        use_node = node is not None and NODE_MJML.exists()
        label = "node mjml" if use_node else "mjml-python compile"
        for _ in range(self.rounds):
            warm = []
            for _ in range(repeat):
                t = time.perf_counter()
                render_issue(issue, settings)
                warm.append(time.perf_counter() - t)
            if use_node:
                ref_ms = self._node_compile(mjml_file, repeat)
            else:
                from mjml import mjml2html

                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    mjml2html(seen[0], fonts={})
                    times.append(time.perf_counter() - t)
                ref_ms = statistics.median(times) * 1000
            self.row(f"render, warm: ms vs {label} in-process", "ms", False).add(
                statistics.median(warm) * 1000, ref_ms)
            out = self.work / "build"
            build = run_process([sys.executable, "-m", "digest", "build", str(ISSUE), "--out",
                                 str(out), "--config", str(ROOT / "digest.toml")], self.work)
            if use_node:
                ref = run_process([str(NODE_MJML.parent / ".bin" / "mjml"), str(mjml_file),
                                   "-o", str(self.work / "node.html")], self.work)
            else:
                ref = run_process([sys.executable, "-c", "import sys; from mjml import mjml2html;"
                                   " mjml2html(open(sys.argv[1]).read(), fonts={})",
                                   str(mjml_file)], self.work)
            self.row(f"cold build: s vs {'node mjml CLI' if use_node else 'python + mjml'}", "s",
                     False).add(build.wall, ref.wall)
            shutil.rmtree(out, ignore_errors=True)
            # personalisation: Recipient (token, link, Message-ID) and every filled part
            content = rendered.content
            people = Personaliser(settings, rendered.slug, content.sender.email)
            count = 2000 if self.quick else 10_000
            t = time.perf_counter()
            for i in range(count):
                r = people.recipient(f"reader{i}@example.org", f"Reader {i}", {"city": "X"})
                content.html_for(r)
                content.text_for(r)
                content.subject_for(r)
                content.headers_for(r)
            mine = (time.perf_counter() - t) / count * 1e6
            self.row("personalisation: µs/recipient vs str.replace + HMAC", "µs", False).add(
                mine, _naive_fill(content, people, count))

    def _node_compile(self, mjml_file: Path, repeat: int) -> float:
        script = (
            "const mjml = require(process.argv[1]);"
            "const src = require('fs').readFileSync(process.argv[2], 'utf8');"
            "const n = +process.argv[3]; const t = [];"
            "for (let i = 0; i < n + 3; i++) { const s = process.hrtime.bigint();"
            " mjml(src, {validationLevel: 'skip', minify: false});"
            " t.push(Number(process.hrtime.bigint() - s) / 1e6); }"
            "t.splice(0, 3); t.sort((a, b) => a - b); console.log(t[t.length >> 1]);"
        )
        out = subprocess.run(["node", "-e", script, str(NODE_MJML), str(mjml_file), str(repeat)],
                             capture_output=True, text=True, check=True)
        return float(out.stdout.strip())

    # -- output ------------------------------------------------------------------------

    def table(self) -> str:
        head = ("measure", "digest", "reference", "ratio", "ratio min/med/max", "target", "met")
        lines = [head]
        for m in self.rows.values():
            if not m.digest:
                continue
            d = statistics.median(m.digest)
            r = statistics.median(m.reference) if any(m.reference) else 0.0
            ratios = m.ratios()
            ratio = statistics.median(ratios) if ratios else None
            spread = (f"{min(ratios):.2f}/{statistics.median(ratios):.2f}/{max(ratios):.2f}"
                      if ratios else "-")
            met = "-"
            if m.check is not None:
                met = "yes" if m.check(d, ratio if ratio is not None else 0.0) else "NO"
            lines.append((
                m.name, _fmt(d, m.unit), _fmt(r, m.unit) if r else "-",
                f"{ratio:.2f}" if ratio is not None else "-", spread, m.target or "-", met,
            ))
        widths = [max(len(x[i]) for x in lines) for i in range(len(head))]
        out = []
        for j, line in enumerate(lines):
            out.append("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
                       + " |")
            if j == 0:
                out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(out)


def _naive_fill(content: object, people: object, count: int) -> float:
    """µs per recipient for the obvious way: an HMAC token, then ``str.replace`` per
    placeholder over HTML, text, subject and headers."""
    import hashlib
    import hmac

    from digest.message import PLACEHOLDER_RE, Content

    assert isinstance(content, Content)
    texts = [content.html, content.text, content.subject, *content.headers.values()]
    marks = sorted({m.group(0) for t in texts for m in PLACEHOLDER_RE.finditer(t)})
    names = [PLACEHOLDER_RE.fullmatch(m).group(1) for m in marks]  # type: ignore[union-attr]
    key = b"bench-secret"
    t = time.perf_counter()
    for i in range(count):
        email = f"reader{i}@example.org"
        token = hmac.new(key, email.encode(), hashlib.sha256).hexdigest()
        values = {"email": email, "name": f"Reader {i}", "city": "X",
                  "unsubscribe_url": f"https://example.org/unsubscribe/{token}",
                  "unsubscribe_token": token}
        for text in texts:
            for mark, name in zip(marks, names, strict=True):
                text = text.replace(mark, values.get(name, ""))
    return (time.perf_counter() - t) / count * 1e6


def _fmt(value: float, unit: str) -> str:
    if unit in ("msg/s",):
        return f"{value:,.0f} {unit}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.3g} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def _k(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


def machine() -> str:
    cpu = "?"
    try:
        info = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.+)", info)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}, load average {load}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="300 recipients, 2 rounds (CI)")
    mode.add_argument("--full", action="store_true", help="also 200k, and one 1M run")
    ap.add_argument("--rounds", type=int, help="rounds per measure (default 3; quick 2)")
    ap.add_argument("--sizes", type=int, nargs="+", help="list sizes (default 10000 100000)")
    ap.add_argument("--only", choices=["render", "send", "local"],
                    help="run one group only (local: the file backend and SMTP alone)")
    args = ap.parse_args(argv)
    sizes = args.sizes or ([300] if args.quick else [10_000, 100_000])
    if args.full and not args.sizes:
        sizes = [10_000, 100_000, 200_000]
    rounds = args.rounds or (2 if args.quick else 3)
    print(f"machine: {machine()}", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        work = Path(tmp)
        bench = Bench(work, sizes, rounds, args.quick)
        if args.only not in ("send", "local"):
            bench.render()
        if args.only != "render":
            csvs = {n: make_csv(work / f"list-{n}.csv", n) for n in sizes}
            pre = prebuild(work, csvs[min(sizes)])
            with sink("http") as http_port, sink("smtp") as smtp_port:
                if args.only != "local":
                    bench.sends(pre, csvs, http_port)
                bench.file_and_smtp(pre, smtp_port)
                if args.only != "local":
                    bench.growth()
                if args.full:
                    bench.million(pre, make_csv(work / "list-1M.csv", 1_000_000), http_port)
        print(bench.table())
    used = ", ".join(f"{k} {v:.2f} s" for k, v in SINK_CPU.items() if v is not None)
    if used:
        print(f"CPU of the sinks over the whole run: {used}")
    print(f"{rounds} rounds, sizes {', '.join(_k(n) for n in sizes)}"
          f"{', plus 1M' if args.full else ''}; {time.perf_counter() - started:.0f} s; "
          f"load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0
