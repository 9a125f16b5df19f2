"""Edits the desk makes to an editor's issue file: every article already there survives,
whatever the file's layout, and the rest of the file stays byte for byte; a layout the
edit cannot follow faithfully is refused with the file and line, and the file untouched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from tests.servers.kit import LoopbackServer, Reply, Request

from digest.cli import cli
from digest.desk.issuefile import IssueText
from digest.errors import InputError, IssueFileError
from digest.model import Article
from digest.sources import load_issue, parse_issue
from digest.sources.listing import issue_yaml

pytest_plugins = ["tests.servers.kit"]

Start = Callable[[Any], LoopbackServer]
PAGE = (
    "<html><head><title>Ferry Crews Join the Strike</title>"
    '<meta name="description" content="Crews on all three routes walked off at dawn.">'
    "</head><body></body></html>"
)
NEW = {"headline": "Ferry Crews Join the Strike", "url": "https://ferry.news/crews"}

FLOW_ISSUE = """\
number: 14
date: 2026-12-09
articles: [
  {headline: Dockers win, url: "https://harbour.news/dockers", summary: "They won."},
  {headline: Rent strike, url: "https://tenants.news/rent", summary: "Tenants strike."},
]
"""


def _site(req: Request) -> Reply:
    return Reply(200, PAGE.encode(), {"Content-Type": "text/html; charset=utf-8"})


def _edit(text: str, *articles: dict[str, Any]) -> str:
    doc = IssueText(Path("issues/i.yaml"), text)
    doc.append_articles(list(articles) or [NEW])
    return doc.text


def _headlines(text: str) -> list[str]:
    return [a.headline for a in parse_issue(text, "i.yaml").articles]


def test_add_to_a_flow_list_written_over_lines_keeps_both_picks_and_every_byte(
    loopback: Start, tmp_path: Path
) -> None:
    """The trial's report: both picks were gone after `digest add`, exit 0."""
    site = loopback(_site)
    issue = tmp_path / "i.yaml"
    issue.write_text(FLOW_ISSUE, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["add", "--allow-private", "--issue", str(issue), site.url + "/page.html"]
    )
    assert result.exit_code == 0, result.output
    assert [a.headline for a in load_issue(issue).articles] == [
        "Dockers win",
        "Rent strike",
        "Ferry Crews Join the Strike",
    ]
    new_line = (
        "  {headline: Ferry Crews Join the Strike, summary: Crews on all three routes walked "
        f"off at dawn., url: '{site.url}/page.html'}},\n"
    )
    assert issue.read_text(encoding="utf-8") == FLOW_ISSUE.replace("]\n", new_line + "]\n")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "number: 1\ndate: 2026-01-01\narticles: [{headline: A, url: 'https://a.test/'}]\n",
            "number: 1\ndate: 2026-01-01\narticles: [{headline: A, url: 'https://a.test/'}, "
            "{headline: Ferry Crews Join the Strike, url: 'https://ferry.news/crews'}]\n",
        ),
        (
            "number: 1\ndate: 2026-01-01\n"
            "articles: [{headline: A, url: 'https://a.test/'},]  # c\n",
            "number: 1\ndate: 2026-01-01\narticles: [{headline: A, url: 'https://a.test/'}, "
            "{headline: Ferry Crews Join the Strike, url: 'https://ferry.news/crews'},]  # c\n",
        ),
        (
            "number: 1\ndate: 2026-01-01\narticles: [\n"
            "  {headline: A, url: 'https://a.test/'},  # first\n"
            "  # between\n"
            "  {headline: B, url: 'https://b.test/'}   # second, no comma after it\n"
            "]  # end of the list\nsections: [News]\n",
            "number: 1\ndate: 2026-01-01\narticles: [\n"
            "  {headline: A, url: 'https://a.test/'},  # first\n"
            "  # between\n"
            "  {headline: B, url: 'https://b.test/'},   # second, no comma after it\n"
            "  {headline: Ferry Crews Join the Strike, url: 'https://ferry.news/crews'}\n"
            "]  # end of the list\nsections: [News]\n",
        ),
        (
            "number: 1\ndate: 2026-01-01\narticles: [  # none yet\n]\nintro: Hello\n",
            "number: 1\ndate: 2026-01-01\narticles: [{headline: Ferry Crews Join the Strike, "
            "url: 'https://ferry.news/crews'}  # none yet\n]\nintro: Hello\n",
        ),
    ],
    ids=["one-line", "trailing-comma", "comments-inside", "empty-with-a-comment"],
)
def test_a_flow_list_gets_one_more_entry_and_nothing_else_changes(
    before: str, after: str
) -> None:
    assert _edit(before) == after


def test_a_multi_line_summary_in_a_flow_list_is_one_escaped_line() -> None:
    """A literal block cannot go inside `[…]`; a quoted scalar that wraps would depend on
    the indentation the flow list happens to have."""
    text = _edit(FLOW_ISSUE, {**NEW, "summary": "First paragraph.\n\nSecond: yes, [two]."})
    assert '"First paragraph.\\n\\nSecond: yes, [two]."' in text
    assert parse_issue(text, "i.yaml").articles[-1].summary == (
        "First paragraph.\n\nSecond: yes, [two]."
    )


def test_only_an_empty_list_is_replaced_and_its_comment_kept() -> None:
    before = "number: 1\ndate: 2026-01-01\narticles: []  # picks go here\nintro: Hi\n"
    assert _edit(before) == (
        "number: 1\ndate: 2026-01-01\narticles:  # picks go here\n"
        "- headline: Ferry Crews Join the Strike\n  url: https://ferry.news/crews\nintro: Hi\n"
    )


@pytest.mark.parametrize(
    ("articles", "kind"),
    [
        ("{headline: A, url: 'https://a.test/'}", "a mapping (key: value)"),
        ("just some words", "text"),
        ("12", "one value"),
    ],
)
def test_articles_that_are_not_a_list_are_refused_and_kept(articles: str, kind: str) -> None:
    text = f"number: 1\ndate: 2026-01-01\narticles: {articles}\n"
    doc = IssueText(Path("issues/i.yaml"), text)
    with pytest.raises(IssueFileError) as e:
        doc.append_articles([NEW])
    assert str(e.value).startswith(
        f"issues/i.yaml:3: articles: is {kind}, not a list of articles; write `articles:` as "
        "a block list"
    )
    assert doc.text == text


def test_an_issue_with_an_alias_is_refused_at_its_line_before_any_edit() -> None:
    """Issue files refuse anchors and aliases (see ``read_issue_yaml``); the desk's edits
    read through the same reader, so an alias is never spliced around or written over."""
    appended = (
        "number: 1\ndate: 2026-01-01\narticles:\n"
        "  - &first\n    headline: A\n    url: https://a.test/\n"
        "  - *first   # the same again\n# end\n"
    )
    led = (
        "number: 1\ndate: 2026-01-01\nsubject: &yes true\n"
        "articles:\n- headline: A\n  url: https://a.test/\n  lead: *yes\n"
    )
    for text, line, edit in (
        (appended, 4, lambda d: d.append_articles([NEW])),
        (led, 3, lambda d: d.clear_leads()),
    ):
        doc = IssueText(Path("issues/i.yaml"), text)
        with pytest.raises(IssueFileError, match=rf"^issues/i\.yaml:{line}: .*anchors/aliases"):
            edit(doc)
        assert doc.text == text


def test_a_dash_on_its_own_line_sets_the_indentation_not_a_hyphen_in_a_link() -> None:
    before = (
        "number: 1\ndate: 2026-01-01\narticles:\n"
        "  -   # the first\n    headline: A\n    url: https://a-b.test/x-y\n"
    )
    assert _edit(before) == before + (
        "  - headline: Ferry Crews Join the Strike\n    url: https://ferry.news/crews\n"
    )


def test_an_issue_written_as_one_flow_mapping_is_refused_naming_its_line() -> None:
    text = "# picks\n{number: 1, date: 2026-01-01, articles: [], intro: Hello}\n"
    doc = IssueText(Path("issues/i.yaml"), text)
    with pytest.raises(InputError, match=r"^issues/i\.yaml:2: the issue is written as one flow"):
        doc.append_articles([NEW])
    assert doc.text == text


def test_new_articles_go_inside_a_document_closed_by_three_dots() -> None:
    before = "number: 1\ndate: 2026-01-01\n...\n"
    assert _edit(before) == (
        "number: 1\ndate: 2026-01-01\narticles:\n"
        "- headline: Ferry Crews Join the Strike\n  url: https://ferry.news/crews\n...\n"
    )


def test_an_edit_that_would_not_read_back_the_same_is_refused_and_the_text_kept() -> None:
    """Old Mac line ends (CR alone): the splice cannot find the lines, and the check that
    reads the result back refuses instead of writing the article after `intro:`."""
    text = (
        "number: 1\rdate: 2026-01-01\rarticles:\r- headline: A\r  url: https://a.test/\r"
        "intro: Hi\r"
    )
    doc = IssueText(Path("issues/i.yaml"), text)
    with pytest.raises(IssueFileError, match=r"issues/i\.yaml:3: articles: .*block list"):
        doc.append_articles([NEW])
    assert doc.text == text


def test_lead_marks_come_off_block_and_flow_articles_and_nothing_else_does() -> None:
    text = (
        "number: 1\ndate: 2026-01-01\narticles:\n"
        "- headline: A\n  lead: true  # for now\n  url: https://a.test/\n"
        "- {headline: B, url: 'https://b.test/', lead: false}\n"
    )
    doc = IssueText(Path("issues/i.yaml"), text)
    assert doc.clear_leads() == 1
    assert doc.text == (
        "number: 1\ndate: 2026-01-01\narticles:\n"
        "- headline: A\n  url: https://a.test/\n"
        "- {headline: B, url: 'https://b.test/', lead: false}\n"
    )


# --- any layout, any text: every article kept --------------------------------------------------

_TEXT = st.text(
    st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\ufeff"),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() != "")
_URL = st.from_regex(r"https://[a-z]{1,8}\.test/[a-z0-9/_-]{0,12}", fullmatch=True)
_PARAGRAPHS = st.lists(_TEXT, min_size=1, max_size=3).map("\n\n".join)


@st.composite
def _articles(draw: st.DrawFn, lines: bool, size: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(size):
        article: dict[str, Any] = {"headline": draw(_TEXT), "url": draw(_URL)}
        if draw(st.booleans()):
            article["summary"] = draw(_PARAGRAPHS if lines else _TEXT)
        if draw(st.booleans()):
            article["image"] = {"src": draw(_URL), "alt": draw(_TEXT)}
        out.append(article)
    return out


def _layout(kind: str, articles: list[dict[str, Any]], comment: bool) -> str:
    """An issue file with ``articles`` written the way editors write them."""
    head = "# picks\nnumber: 3\ndate: 2026-05-01\n"
    tail = "intro: Hello  # after the list\n"
    note = "  # a comment\n" if comment else ""
    if kind == "missing":
        return head + tail
    if kind == "empty":
        return head + "articles: []\n" + tail
    if kind == "block":
        return head + "articles:\n" + note + issue_yaml(articles) + tail  # type: ignore[arg-type]
    if kind == "block-indented":
        block = issue_yaml(articles)  # type: ignore[arg-type]
        return head + "articles:\n" + "".join(
            f"  {line}\n" if line else "\n" for line in block.splitlines()
        ) + note + tail
    flows = [json.dumps(a, ensure_ascii=False) for a in articles]
    if kind == "flow-inline":
        return head + "articles: [" + ", ".join(flows) + "]\n" + tail
    trailing = "," if comment else ""
    return head + "articles: [\n" + note + ",\n".join(f"  {f}" for f in flows) + (
        f"{trailing}\n]\n" + tail
    )


def _in_order(original: str, edited: str) -> bool:
    """Every character of ``original`` is in ``edited``, in order: only insertions."""
    rest = iter(edited)
    return all(c in rest for c in original)


@hsettings(max_examples=max(50, hsettings().max_examples // 4))
@given(
    kind=st.sampled_from(
        ["missing", "empty", "block", "block-indented", "flow-inline", "flow-lines"]
    ),
    comment=st.booleans(),
    crlf=st.booleans(),
    data=st.data(),
)
def test_any_edit_keeps_every_article_and_only_adds(
    kind: str, comment: bool, crlf: bool, data: st.DataObject
) -> None:
    """`digest add` (with `--lead` or not) and `import-feed --issue` on any layout: the
    articles before, then the new ones; only the lead mark taken off; nothing else lost."""
    old = (
        []
        if kind in ("missing", "empty")
        else data.draw(_articles(lines=kind.startswith("block"), size=data.draw(st.integers(1, 3))))
    )
    new = data.draw(_articles(lines=True, size=data.draw(st.integers(1, 2))))
    lead = data.draw(st.none() | st.integers(0, len(old) - 1)) if old else None
    if lead is not None:
        old[lead]["lead"] = True
    text = _layout(kind, old, comment)
    if crlf:
        text = text.replace("\n", "\r\n")
    doc = IssueText(Path("i.yaml"), text)
    if lead is not None:
        assert doc.clear_leads() == 1
        del old[lead]["lead"]
        new[-1]["lead"] = True
    doc.append_articles(new)
    got = parse_issue(doc.text, "i.yaml")
    assert list(got.articles) == [Article.model_validate(a) for a in [*old, *new]]
    assert got.intro == "Hello"
    if kind != "empty" and lead is None:  # `[]` and the lead mark are all that is replaced
        assert _in_order(text, doc.text)
    if crlf:  # the file's own line ends, on the new lines too
        assert doc.text.count("\n") == doc.text.count("\r\n")
    else:
        assert "\r" not in doc.text
