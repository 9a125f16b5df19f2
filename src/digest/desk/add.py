"""``digest add URL…``: fetch each page and append it to the issue as an article.

Every page is fetched and read before the file is touched: if one cannot be fetched, the
file stays exactly as it was. A link already in the issue (compared without tracking
parameters) is refused, and so is an address carrying a user name and password: digest
neither sends them nor writes them into the issue (the message shows ``user:***@``). The
stored link is the page's canonical address on its own host (else the address after
redirects), without tracking parameters. The summary is plain text written where Markdown
is read, so a leading list or quote marker is escaped as ``import-feed`` escapes it. The new
article is checked as the issue file will
be, so a page that cannot make a valid article is named, not a line of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import InputError
from ..model import article_problem, has_login, masked_login
from ..sources.feed import as_markdown, shorten
from .extract import PageMeta, extract_meta
from .fetch import Fetcher, Page
from .issuefile import read_issue_text
from .urls import canonical_url, page_key

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["AddResult", "add_articles", "article_from_page"]


@dataclass
class AddResult:
    path: Path
    added: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _checked_address(given: str) -> str:
    """``given`` as the duplicate check compares it; an InputError for an address that
    carries login details or cannot be read at all (nothing is fetched before this)."""
    url = given.strip()
    if has_login(url):
        raise InputError(
            f"{masked_login(url)}: the address carries login details; digest never sends them "
            "or writes them into the issue file: give the address without them"
        )
    try:
        _ = urlsplit(url).port
    except ValueError as e:
        raise InputError(f"{url}: not a web address digest can read ({e})") from None
    return canonical_url(url)


def _stored_url(page: Page, meta: PageMeta) -> str:
    final = page.url
    if meta.canonical and urlsplit(meta.canonical).hostname == urlsplit(final).hostname:
        final = meta.canonical
    return canonical_url(final)


def article_from_page(
    page: Page, *, summary_max: int, section: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """An article mapping for the issue file, and what the editor should look at."""
    meta = extract_meta(page.text, page.url)
    url = _stored_url(page, meta)
    notes: list[str] = []
    if not meta.headline:
        raise InputError(f"{page.url}: the page has no title or headline to use")
    article: dict[str, Any] = {"headline": meta.headline}
    if meta.summary:
        article["summary"] = as_markdown(shorten(meta.summary, summary_max))
    else:
        notes.append(f"{url}: no description or paragraph found; write a summary")
    article["url"] = url
    if section:
        article["section"] = section
    if meta.author:
        article["author"] = meta.author
    if meta.site_name:
        article["site"] = meta.site_name
    if meta.image:
        alt = meta.image_alt
        if not alt:
            alt = meta.headline
            notes.append(f"{url}: the image has no alt text; the headline stands in: check it")
        article["image"] = {"src": meta.image, "alt": alt}
    if page.truncated:
        notes.append(f"{url}: the page is larger than the size cap; read its first part only")
    problem = article_problem(article)
    if problem:
        raise InputError(f"{page.url}: the page does not make a valid article ({problem})")
    return article, notes


def add_articles(
    settings: Settings,
    issue_path: Path,
    urls: list[str],
    *,
    section: str | None = None,
    lead: bool = False,
    allow_private: bool = False,
    fetcher: Fetcher | None = None,
) -> AddResult:
    """Fetch ``urls`` and append them to the issue at ``issue_path`` (all or nothing)."""
    doc = read_issue_text(issue_path)
    have = {page_key(u) for u in doc.urls()}
    asked_for = [(given, _checked_address(given)) for given in urls]
    result = AddResult(issue_path)
    own = fetcher is None
    client = fetcher or Fetcher(allow_private=allow_private)
    try:
        for given, asked in asked_for:
            if page_key(asked) in have:
                raise InputError(f"{given}: already in {issue_path}; nothing added")
            article, notes = article_from_page(
                client.page(given), summary_max=settings.issues.summary_max, section=section
            )
            if page_key(article["url"]) in have:
                raise InputError(
                    f"{given}: already in {issue_path} as {article['url']}; nothing added"
                )
            have.update({page_key(asked), page_key(article["url"])})
            result.added.append(article)
            result.warnings += notes
    finally:
        if own:
            client.close()
    if lead:
        doc.clear_leads()
        result.added[-1]["lead"] = True
    doc.append_articles(result.added)
    doc.save()
    return result
