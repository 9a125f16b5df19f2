"""The HTML email: content, escaping, accessibility basics, and the MJML/premailer traps."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.paths import SEED_LISTING
from tests.servers.kit import Reply, serve

from digest.config import Settings, load_settings
from digest.errors import IssueFileError, TemplateError
from digest.model import Issue
from digest.render import Rendered, render_issue
from digest.render.html import inline_css
from digest.sources import parse_issue, read_listing


def _issue(**overrides: object) -> Issue:
    data: dict[str, object] = {
        "number": 1,
        "date": "2026-11-27",
        "articles": [
            {
                "headline": "Plain headline",
                "summary": "Plain summary.",
                "url": "https://example.org/a",
            },
        ],
    }
    data.update(overrides)
    return Issue.model_validate(data)


class _Collector(HTMLParser):
    """Collects tags, attributes and visible text with the stdlib parser."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    return c


def test_every_headline_and_summary_is_in_the_html(sample_rendered: Rendered) -> None:
    text = " ".join(" ".join(_parse(sample_rendered.html).text).split())
    for article in sample_rendered.issue.articles:
        assert article.headline in text
        assert article.summary in text


def test_every_seed_headline_is_a_link_to_its_article(sample_rendered: Rendered) -> None:
    html = sample_rendered.html
    for article in sample_rendered.issue.articles:
        pattern = (
            r"<h[23][^>]*>\s*<a [^>]*href=\""
            + re.escape(article.url)
            + r"\?utm_[^\"]*\"[^>]*>"
            + re.escape(article.headline.replace("&", "&amp;"))
            + "</a>"
        )
        assert re.search(pattern, html), article.headline
    assert len(read_listing(SEED_LISTING)) == len(sample_rendered.issue.articles)


def test_document_basics_doctype_lang_dir_title_preheader(sample_rendered: Rendered) -> None:
    html = sample_rendered.html
    assert html.lower().startswith("<!doctype html>")
    tags = _parse(html).tags
    html_attrs = next(a for t, a in tags if t == "html")
    assert html_attrs["lang"] == "en" and html_attrs["dir"] == "ltr"
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert title and title.group(1) == sample_rendered.subject.replace("’", "’")
    assert sample_rendered.preheader in html
    hidden = re.search(r'<div style="display:none[^"]*"[^>]*>([^<]*)</div>', html)
    assert hidden and hidden.group(1).startswith(sample_rendered.preheader)
    filler = hidden.group(1)[len(sample_rendered.preheader) :]
    assert filler.count("\u034f") >= 30, "invisible filler keeps body text out of the preview"


def test_layout_tables_are_presentational_and_images_have_alt(sample_rendered: Rendered) -> None:
    tags = _parse(sample_rendered.html).tags
    tables = [a for t, a in tags if t == "table"]
    assert tables and all(a.get("role") == "presentation" for a in tables)
    images = [a for t, a in tags if t == "img"]
    assert images and all((a.get("alt") or "").strip() for a in images)


def test_width_600_single_column_and_phone_media_rules(sample_rendered: Rendered) -> None:
    html = sample_rendered.html
    assert "max-width:600px" in html
    assert "@media only screen and (max-width: 480px)" in html
    assert 'name="viewport"' in html


def test_dark_mode_rules_keep_important_and_outlook_selectors(sample_rendered: Rendered) -> None:
    html = sample_rendered.html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert '<meta name="supported-color-schemes" content="light dark">' in html
    dark = re.search(r"@media \(prefers-color-scheme: dark\) \{(.*?)\n      \}", html, re.S)
    assert dark and "!important" in dark.group(1)
    assert "[data-ogsc] .dg-body p.dg-kicker" in html and "[data-ogsb]" in html


def test_no_google_fonts_and_no_remote_css(sample_rendered: Rendered) -> None:
    assert "fonts.googleapis" not in sample_rendered.html
    assert "<link" not in sample_rendered.html


def test_inline_styles_are_applied_to_elements(sample_rendered: Rendered) -> None:
    m = re.search(r'<h3 class="dg-headline" style="([^"]*)"', sample_rendered.html)
    assert m and "font-size:20px" in m.group(1).replace(" ", "")


def _balanced_conditionals(html: str) -> tuple[int, int]:
    opens = len(re.findall(r"<!--\[if [^\]]+\]>", html))
    closes = len(re.findall(r"<!\[endif\]-->", html))
    return opens, closes


def test_outlook_conditional_comments_survive_inlining_balanced(sample_rendered: Rendered) -> None:
    opens, closes = _balanced_conditionals(sample_rendered.html)
    assert opens > 10 and opens == closes
    assert "<!--[if mso | IE]><table" in sample_rendered.html
    depth = 0
    for m in re.finditer(r"<!--\[if [^\]]+\]>|<!\[endif\]-->", sample_rendered.html):
        depth += 1 if m.group().startswith("<!--[if") else -1
        assert depth in (0, 1)


def test_footer_has_postal_address_unsubscribe_and_view_online(sample_rendered: Rendered) -> None:
    html = sample_rendered.html
    assert "PO Box 1234, New York" in html
    assert ">Unsubscribe</a>" in html and "@@digest.unsubscribe_url|" in html
    assert 'href="https://example.org/issues/issue-12"' in html
    preview = sample_rendered.preview_html()
    assert 'href="mailto:unsubscribe@example.org?subject=unsubscribe"' in preview
    assert "unsubscribe/preview" not in preview, "a made-up token would reach an error page"


def test_editor_markup_is_shown_not_obeyed(sample_settings: Settings) -> None:
    issue = _issue(
        intro="Hello <b>bold</b> & <img src=x onerror=alert(1)>",
        articles=[
            {
                "headline": "<script>alert('x')</script> & co",
                "summary": "A <em>tag</em> and [ok](https://ok.example)",
                "url": "https://example.org/a?x=1&y=2",
                "kicker": "<i>k</i>",
            }
        ],
    )
    r = render_issue(issue, sample_settings)
    for html in (r.html, r.preview_html()):
        assert "<script>" not in html and "<img src=x" not in html and "<i>k</i>" not in html
        assert "&lt;script&gt;alert" in html
        assert "&lt;b&gt;bold&lt;/b&gt; &amp;" in html
        assert 'href="javascript:' not in html
        assert 'href="https://ok.example?utm_' in html or 'href="https://ok.example"' in html
        assert "x=1&amp;y=2" in html


def test_javascript_and_relative_article_links_are_refused() -> None:
    for bad in (
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,x",
        "/relative",
        "ftp://x.org/f",
    ):
        with pytest.raises(
            IssueFileError, match="url: links must start with http:, https:, mailto:"
        ):
            parse_issue(
                f"number: 1\ndate: 2026-01-01\narticles:\n  - headline: h\n    summary: s\n"
                f"    url: '{bad}'\n",
                "x.yaml",
            )


def test_non_ascii_and_right_to_left_text(sample_settings: Settings) -> None:
    issue = _issue(
        lang="ar",
        dir="rtl",
        subject="النشرة الأسبوعية — العدد ١",
        articles=[
            {
                "headline": "مرحبا بالعالم",
                "summary": "نص عربي قصير مع “علامات” و—شرطات.",
                "url": "https://example.org/ar",
            },
            {
                "headline": "Ünïcödé 😀 日本語",
                "summary": "Ça va? Ø æ ß.",
                "url": "https://example.org/u",
            },
        ],
    )
    r = render_issue(issue, sample_settings)
    attrs = next(a for t, a in _parse(r.html).tags if t == "html")
    assert attrs["lang"] == "ar" and attrs["dir"] == "rtl"
    for s in ("مرحبا بالعالم", "“علامات” و—شرطات", "Ünïcödé 😀 日本語", "Ça va? Ø æ ß."):
        assert s in r.html and s in r.text
    assert "&#" not in r.text


def test_user_template_folder_overrides_one_file(tmp_path: Path, sample_settings: Settings) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "_footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>Custom footer for {{ newsletter.name }}</mj-text>"
        "</mj-column></mj-section>",
        encoding="utf-8",
    )
    settings = sample_settings.model_copy(
        update={"templates": sample_settings.templates.model_copy(update={"dir": tmp_path / "tpl"})}
    )
    r = render_issue(_issue(), settings)
    assert "Custom footer for Socialist Revolution Weekly" in r.html
    assert "Plain headline" in r.html


def test_undefined_template_variable_is_an_error(tmp_path: Path, sample_settings: Settings) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "_footer.mjml.j2").write_text("{{ no_such_thing }}", encoding="utf-8")
    settings = sample_settings.model_copy(
        update={"templates": sample_settings.templates.model_copy(update={"dir": tmp_path / "tpl"})}
    )
    with pytest.raises(TemplateError, match="no_such_thing"):
        render_issue(_issue(), settings)


def test_inlining_never_fetches_remote_stylesheets() -> None:
    with serve(
        lambda req: Reply(200, "p { color: blue; }", {"Content-Type": "text/css"})
    ) as server:
        url = f"{server.url}/remote.css"
        html = (
            f'<!doctype html><html><head><link rel="stylesheet" href="{url}">'
            '<style type="text/css">/* digest:inline */ p { color: red; }</style></head>'
            "<body><p>x</p></body></html>"
        )
        out = inline_css(html)
        assert server.requests == []
    assert 'style="color:red"' in out


def test_size_warning_when_html_nears_gmail_clipping(sample_settings: Settings) -> None:
    many = [
        {
            "headline": f"Headline number {i}",
            "summary": "A fairly ordinary summary sentence. " * 6,
            "url": f"https://example.org/{i}",
            "section": f"S{i % 4}",
        }
        for i in range(90)
    ]
    r = render_issue(_issue(articles=many), sample_settings)
    assert any("Gmail clips" in w or "clipping limit" in w for w in r.warnings)
    small = render_issue(_issue(), sample_settings)
    assert not any("Gmail" in w or "clipping" in w for w in small.warnings)


def test_no_config_at_all_still_renders_with_compliance_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = render_issue(_issue(), load_settings(None, environ={}))
    assert "Plain headline" in r.html
    assert any("unsubscribe" in w for w in r.warnings)
    assert any("postal address" in w for w in r.warnings)


def test_markdown_renderer_itself_never_links_a_refused_scheme() -> None:
    """Defence in depth: the model refuses such links, and the renderer would not link them."""
    from digest.render.markdown import md_html, md_inline_html

    for render in (md_html, md_inline_html):
        html = render(
            "[a](javascript:alert(1)) [b](data:text/html,x) [c](/rel) [d](https://ok.org)"
        )
        assert 'href="javascript:' not in html and 'href="data:' not in html
        assert 'href="/rel"' not in html and 'href="https://ok.org"' in html


def test_missing_user_template_folder_is_a_config_error(
    tmp_path: Path, sample_settings: Settings
) -> None:
    from digest.errors import ConfigError

    settings = sample_settings.model_copy(
        update={"templates": sample_settings.templates.model_copy(update={"dir": tmp_path / "no"})}
    )
    with pytest.raises(ConfigError, match=r"\[templates\] dir: no such folder: .*no\. "):
        render_issue(_issue(), settings)


def test_a_template_folder_that_is_not_there_is_named_with_its_line(tmp_path: Path) -> None:
    from digest.config import load_settings
    from digest.errors import ConfigError

    config = tmp_path / "digest.toml"
    config.write_text(
        '[newsletter]\nname = "Test Weekly"\n\n[templates]\ndir = "my-templates"\n',
        encoding="utf-8",
    )
    (tmp_path / "my-templates").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        render_issue(_issue(), load_settings(config, environ={}))
    assert str(err.value).startswith(f"{config}:5: [templates] dir: not a folder: ")
    assert "remove it to use the built-in ones" in str(err.value)


def test_outlook_alone_gets_a_safe_font_instead_of_times_new_roman(
    sample_rendered: Rendered,
) -> None:
    """Word's engine skips a stack starting with -apple-system; an mso-only style names one."""
    head = sample_rendered.html.split("</head>", 1)[0]
    blocks = re.findall(r"<!--\[if mso\]>(.*?)<!\[endif\]-->", head, re.S)
    fonts = [m for b in blocks for m in re.findall(r"font-family:\s*([^;!}]+)", b)]
    assert fonts, "no Outlook-only font rule in <head>"
    assert all("apple-system" not in f and "Arial" in f for f in fonts)


def test_default_preheader_comes_from_the_intro_without_emphasis_marks(
    sample_settings: Settings,
) -> None:
    issue = _issue(intro="This week we have _good news for night owls_ and **more** [here](https://e.org/).")
    rendered = render_issue(issue, sample_settings)
    assert rendered.preheader == "This week we have good news for night owls and more here."
    hidden = re.search(r'<div style="display:none;[^"]*">([^<]*)', rendered.html)
    assert hidden and hidden.group(1).startswith(rendered.preheader)


def test_default_subject_leads_with_the_headline_and_fits_a_phone(
    sample_rendered: Rendered, sample_settings: Settings
) -> None:
    lead = sample_rendered.issue.lead.headline
    assert sample_rendered.subject == lead
    assert len(sample_rendered.subject) <= 60
    assert not any("subject" in w for w in sample_rendered.warnings)
    long = render_issue(_issue(subject="S" * 61), sample_settings)
    assert any("The subject is 61 characters" in w for w in long.warnings)


def test_subject_template_from_config(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(
        '[newsletter]\nname = "Weekly"\nsubject = "{headline} · {newsletter} #{number}"\n',
        encoding="utf-8",
    )
    rendered = render_issue(_issue(), load_settings(config, environ={}))
    assert rendered.subject == "Plain headline · Weekly #1"


def test_unknown_field_in_the_subject_template_names_the_key(tmp_path: Path) -> None:
    from digest.errors import ConfigError

    config = tmp_path / "digest.toml"
    config.write_text('[newsletter]\nsubject = "{title}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="subject"):
        load_settings(config, environ={})


def test_list_id_header_from_the_newsletter_id(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(
        '[newsletter]\nname = "Die Woche: Ü"\nid = "woche.example.de"\n', encoding="utf-8"
    )
    rendered = render_issue(_issue(), load_settings(config, environ={}))
    assert rendered.content.headers["List-Id"] == "<woche.example.de>"
    config.write_text('[newsletter]\nname = "The Weekly"\nid = "weekly.example.org"\n')
    rendered = render_issue(_issue(), load_settings(config, environ={}))
    assert rendered.content.headers["List-Id"] == "The Weekly <weekly.example.org>"
