"""``digest check``: the pre-send check, and the gate ``send``/``send-due`` pass through.

It loads and renders the issue, runs the content rules (:mod:`digest.desk.rules`), the
compliance rules shared with the send job (:mod:`digest.sending.compliance`) and, unless
offline, checks every link online (:mod:`digest.desk.links`). The report groups findings
by article; errors make the exit status 6 (:data:`~digest.errors.EXIT_CHECK`), warnings
alone leave it 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import EXIT_CHECK, CheckFailedError, DigestError, IssueFileError
from ..sending.compliance import LOCAL_PROVIDERS, compliance_findings
from ..text import plural, shown
from .rules import IMAGE_WARN_BYTES, Finding, content_findings, issue_links, placeholder_reason

if TYPE_CHECKING:
    from ..config import Settings
    from ..model import Issue
    from ..render import Rendered
    from .fetch import Fetcher

__all__ = [
    "DRAFT_CODES",
    "CheckReport",
    "check_issue",
    "gate_report",
    "link_cache_path",
]

DRAFT_CODES = frozenset({"no-articles", "no-link", "does-not-load"})
"""Findings that make an issue a draft: a real send refuses them even with --skip-check."""


@dataclass
class CheckReport:
    path: Path
    findings: list[Finding] = field(default_factory=list)
    issue: Issue | None = None
    rendered: Rendered | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def exit_code(self) -> int:
        return EXIT_CHECK if self.errors else 0

    def summary(self) -> str:
        e, w = len(self.errors), len(self.warnings)
        verdict = "ready to send" if not e else "not ready to send"
        return f"{self.path}: {plural(e, 'error')}, {plural(w, 'warning')}: {verdict}"

    def text(self) -> str:
        """A readable report, grouped: the issue as a whole first, then article by article."""
        lines = [self.summary()]
        groups: dict[int | None, list[Finding]] = {}
        for f in self.findings:
            groups.setdefault(f.article, []).append(f)
        for article in sorted(groups, key=lambda a: -1 if a is None else a):
            if article is None:
                lines.append("  The issue")
            else:
                headline = self.headline(article)
                lines.append(f"  Article {article}: {shown(headline)}")
            for f in groups[article]:
                fix = f" Fix: {f.fix}" if f.fix else ""
                lines.append(f"    {f.severity:<7} {f.code}: {f.message}{fix}")
        return "\n".join(lines)

    def json_lines(self) -> list[str]:
        """One JSON object per finding, then a summary object."""
        out = []
        for f in self.findings:
            data = asdict(f)
            if f.article is not None:
                data["headline"] = self.headline(f.article)
            out.append(json.dumps({"event": "finding", **data}, ensure_ascii=False))
        summary = {
            "event": "summary",
            "issue": str(self.path),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "exit_code": self.exit_code,
        }
        out.append(json.dumps(summary, ensure_ascii=False))
        return out

    def headline(self, article: int) -> str:
        """The headline of article number ``article`` (1-based), for grouping and JSON."""
        if self.issue is not None and 0 < article <= len(self.issue.articles):
            return self.issue.articles[article - 1].headline
        return "?"


def _load_findings(path: Path, settings: Settings, report: CheckReport) -> None:
    from ..render import render_issue
    from ..sources import load_issue

    try:
        report.issue = load_issue(path)
    except IssueFileError as e:
        for line, field_name, message in e.problems:
            # the file named as every other error names it: the preview shows this alone
            where = f"{e.path}:{line}" if line else e.path
            what = f"{field_name}: {message}" if field_name else message
            report.findings.append(
                Finding("error", "does-not-load", f"{where}: {what}", "fix the file.")
            )
        return
    try:
        report.rendered = render_issue(report.issue, settings)
    except DigestError as e:
        report.findings.append(Finding("error", "does-not-render", str(e), "fix it first."))


def _per_recipient_findings(settings: Settings, allow_private: bool) -> list[Finding]:
    """The unsubscribe and view-online links are checked for form only, never fetched."""
    found = []
    for name, url in (
        ("unsubscribe_url", settings.links.unsubscribe_url),
        ("view_online_url", settings.links.view_online_url),
    ):
        reason = placeholder_reason(url, allow_private) if url else None
        if url and reason:
            found.append(
                Finding(
                    "error",
                    "placeholder-link",
                    f"[links] {name} {url} is a placeholder: {reason}.",
                    f"set [links] {name} to your site's address.",
                )
            )
    return found


def _online_findings(
    issue: Issue,
    settings: Settings,
    fetcher: Fetcher,
    cache_path: Path | None,
) -> list[Finding]:
    from .links import LinkCache, check_links

    links = [
        link
        for link in issue_links(issue, settings)
        if urlsplit(link.url).scheme in ("http", "https")
        and not placeholder_reason(link.url, fetcher.allow_private)
    ]
    cache = LinkCache(cache_path) if cache_path is not None else None
    results = check_links([link.url for link in links], fetcher, cache)
    found: list[Finding] = []
    for link in links:
        r = results[link.url]
        where = {"article": "The link", "image": "The image"}.get(
            link.kind, f"The {link.kind} link"
        )
        if r.error is not None:
            found.append(
                Finding(
                    "error",
                    "unreachable-link",
                    f"{where} {link.url}: {r.error}.",
                    "check the address, or try again later.",
                    link.article,
                )
            )
            continue
        if r.status is not None and r.status >= 400:
            found.append(
                Finding(
                    "error",
                    "broken-link",
                    f"{where} {link.url} answers {r.status}.",
                    "fix or drop the link.",
                    link.article,
                )
            )
            continue
        final = r.final_url or link.url
        if urlsplit(final).hostname != urlsplit(link.url).hostname:
            found.append(
                Finding(
                    "warning",
                    "redirects-elsewhere",
                    f"{where} {link.url} redirects to another site: {final}.",
                    "link to the final address if that is the right page.",
                    link.article,
                )
            )
        if link.kind in ("image", "logo") and r.size is not None and r.size > IMAGE_WARN_BYTES:
            found.append(
                Finding(
                    "warning",
                    "large-image",
                    f"{where} {link.url} is {r.size / 1024 / 1024:.1f} MB; readers on phones "
                    "wait for it.",
                    "use a smaller file (under 1 MB).",
                    link.article,
                )
            )
    return found


def link_cache_path(settings: Settings) -> Path:
    """Where the online check keeps an hour of answers: beside digest.toml."""
    return settings.base_dir / ".digest-cache" / "links.json"


def check_issue(
    settings: Settings,
    path: Path,
    *,
    offline: bool = False,
    provider: str | None = None,
    skip_content: bool = False,
    allow_private: bool = False,
    fetcher: Fetcher | None = None,
    use_cache: bool = True,
    compliance: bool = True,
) -> CheckReport:
    """Run every rule on the issue at ``path``; nothing is changed or sent.

    ``compliance=False`` leaves out the bulk-sender rules, for a caller that runs them
    itself (the send job's preflight does, with the same function).
    """
    cache_path = link_cache_path(settings) if use_cache else None
    report = CheckReport(Path(path))
    _load_findings(report.path, settings, report)
    if compliance:
        found = compliance_findings(settings, provider or settings.delivery.provider)
        report.findings += [Finding(f.severity, f.code, f.message, f.fix) for f in found]
    if report.issue is None or report.rendered is None:
        return report
    content = content_findings(report.issue, report.rendered, settings, allow_private=allow_private)
    content += _per_recipient_findings(settings, allow_private)
    if not offline:
        from .fetch import Fetcher as _Fetcher

        own = fetcher is None
        client = fetcher or _Fetcher(allow_private=allow_private)
        try:
            content += _online_findings(report.issue, settings, client, cache_path)
        finally:
            if own:
                client.close()
    if skip_content:
        content = [f for f in content if f.code in DRAFT_CODES]
    report.findings += content
    return report


def gate_report(
    settings: Settings, path: Path, *, skip_content: bool = False, refuse: bool = True
) -> CheckReport:
    """The offline check before a real send: raise CheckFailedError (exit 6) on errors.

    With the ``file`` and ``console`` backends, which mail nobody, and with ``refuse``
    False (test sends, dry runs), errors come back as warnings instead: every finding of
    the returned report is a warning. ``skip_content`` skips the content rules, never the
    draft rules (no articles, an article without a link). The compliance rules are not
    repeated here: the send job's preflight runs the same
    :func:`~digest.sending.compliance.compliance_findings` and no flag skips it. The report
    keeps the issue it loaded and rendered: the send takes its rendering from here
    (``Prepared.of``) instead of rendering again.
    """
    provider = settings.delivery.provider
    report = check_issue(
        settings, path, offline=True, skip_content=skip_content, compliance=False
    )
    if report.errors and not (provider in LOCAL_PROVIDERS or not refuse):
        raise CheckFailedError(
            report.text()
            + f"\nThe pre-send check found errors: nothing was sent. Run `digest check {path}` "
            "after fixing them"
            + ("" if skip_content else " (--skip-check skips the content rules, not compliance)")
            + "."
        )
    report.findings = [
        Finding("warning", f.code, f.message, f.fix, f.article) for f in report.findings
    ]
    return report
