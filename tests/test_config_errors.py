"""Config mistakes as good as issue-file mistakes (issue 12, point 10): ``file:line``, the
``[section] key``, and the nearest known name for a misspelling, through ``digest build``."""

from __future__ import annotations

import pytest
from tests.send_support import run_digest

from digest.config_problems import key_lines

ISSUE = (
    "number: 3\ndate: 2026-11-20\narticles:\n- {headline: A, summary: B, url: 'https://e.org/a'}\n"
)


def _build(tmp_path, toml: str):
    (tmp_path / "digest.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "issue-3.yaml").write_text(ISSUE, encoding="utf-8")
    return run_digest("build", "issue-3.yaml", cwd=tmp_path)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '# the sample\n[newsletter]\nnmae = "Weekly"\n',
            "digest.toml:3: [newsletter] nmae: unknown key; did you mean 'name'?",
        ),
        (
            '[newsleter]\nname = "Weekly"\n',
            "digest.toml:1: [newsleter]: unknown section; did you mean 'newsletter'?",
        ),
        (
            '[delivery]\nprovider = "postmak"\n',
            "digest.toml:2: [delivery] provider: no provider is called 'postmak'; "
            "did you mean 'postmark'?",
        ),
        (
            '[providers.fiel]\ndir = "out"\n',
            "digest.toml:1: [providers.fiel]: no provider is called 'fiel'; did you mean 'file'?",
        ),
        (
            "[delivery]\n\nrate = -1\n",
            "digest.toml:3: [delivery] rate: Input should be greater than or equal to 0",
        ),
        (
            '[newsletter]\nname = "W"\nfrom = "weekly at example.org"\n',
            "digest.toml:3: [newsletter] from: 'weekly at example.org' is not a mail address",
        ),
        (
            '[newsletter]\nreply_to = "editors"\n',
            "digest.toml:2: [newsletter] reply_to: 'editors' is not a mail address",
        ),
        (
            '[serve]\ntrusted_proxies = ["10.0.0.0/8", "not-an-ip"]\n',
            "digest.toml:2: [serve] trusted_proxies: 'not-an-ip' is not an IP address or network",
        ),
        (
            "[delivery\nrate = 1\n",
            "digest.toml:1: not valid TOML: Expected ']' at the end of a table declaration",
        ),
    ],
)
def test_a_config_mistake_names_file_line_key_and_the_likely_fix(tmp_path, toml, expected):
    done = _build(tmp_path, toml)
    assert done.returncode == 3
    assert expected in done.stderr, done.stderr
    assert "Extra inputs" not in done.stderr and "Traceback" not in done.stderr


def test_every_mistake_is_listed_in_line_order(tmp_path):
    done = _build(tmp_path, '[delivery]\nrate = -1\n[newsletter]\nfrm = "x"\n[sendng]\n')
    lines = done.stderr.removeprefix("error: ").splitlines()
    assert [line.split(":")[1] for line in lines] == ["2", "4", "5"]


def test_a_misspelt_provider_option_names_its_line(tmp_path):
    toml = (
        '[newsletter]\npostal_address = "1 Street"\n[links]\n'
        'unsubscribe_url = "https://e.org/u/{token}"\n'
        '[delivery]\nprovider = "postmark"\n[providers.postmark]\nmesage_stream = "broadcast"\n'
    )
    (tmp_path / "subs.csv").write_text("email\nann@example.org\n", encoding="utf-8")
    (tmp_path / "digest.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "issue-3.yaml").write_text(ISSUE, encoding="utf-8")
    from tests.send_support import cli_env

    env = cli_env(POSTMARK_SERVER_TOKEN="pm-token")
    done = run_digest("send", "issue-3", "--recipients", "subs.csv", cwd=tmp_path, env=env)
    assert done.returncode == 3
    assert (
        "digest.toml:8: [providers.postmark] mesage_stream: unknown key; "
        "did you mean 'message_stream'?" in done.stderr
    ), done.stderr


def test_key_lines_reads_dotted_keys_inline_tables_and_skips_multi_line_values():
    text = (
        "[links]\n"
        'utm = { source = "x" }\n'
        'note = """\n'
        "rate = 3\n"
        '"""\n'
        "[providers.'post mark']\n"
        "a.b = [\n"
        "  1,\n"
        "]\n"
        "c = 2\n"
    )
    lines = key_lines(text)
    assert lines[("links", "utm")] == 2
    assert ("links", "rate") not in lines
    assert lines[("providers", "post mark")] == 6
    assert lines[("providers", "post mark", "a", "b")] == 7
    assert lines[("providers", "post mark", "c")] == 10


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("A <a@b.org>, B <c@d.org>", "names 2 addresses"),
        ("Weekly, Inc. <a@b.org>", "names 2 addresses"),
        ("A <a@b.org> trailing junk", "is not a mail address (invalid address in address-list)"),
        ("<a@b.org", "is not a mail address (missing trailing '>' on angle-addr)"),
        ("A <a@b.org>\r\nBcc: x@y.org", "contains the control character U+000D"),
        ("r@b.org\nBcc: x@y.org", "contains the control character U+000A"),
        ("a@b.org\\nBcc: x@y.org", "is not a mail address (invalid address in address-list)"),
        ("Group: a@b.org;", "is a group, not one mailbox"),
        ("News <news@localhost>", "is not a mail address (The part after the @-sign"),
        ("=?utf-8?q?a?= @b.org", "is read as two different addresses ('a@b.org' and"),
        ("\\@[ ", "is not a mail address; write one address"),
    ],
)
@pytest.mark.parametrize("key", ["from", "reply_to"])
def test_from_and_reply_to_must_be_exactly_one_mailbox_on_one_line(tmp_path, key, value, why):
    """``parseaddr`` alone took the first of two addresses, or one with a header after it."""
    from digest.config import load_settings
    from digest.errors import ConfigError

    toml_value = value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
    config = tmp_path / "digest.toml"
    config.write_text(f'[newsletter]\nname = "W"\n{key} = "{toml_value}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    message = str(caught.value)
    assert message.startswith(f"{config}:3: [newsletter] {key}: {value!r} {why}"), message
    assert "write one address, e.g. 'Name <you@example.org>'" in message


def test_a_from_with_a_header_after_it_stops_the_build_without_a_traceback(tmp_path):
    done = _build(tmp_path, '[newsletter]\nfrom = "A <a@b.org>\\r\\nBcc: x@y.org"\n')
    assert done.returncode == 3, done.stdout + done.stderr
    assert "digest.toml:2: [newsletter] from: 'A <a@b.org>\\r\\nBcc: x@y.org' contains" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "value",
    [
        "Example Weekly <news@example.org>",
        "news@example.org",
        '"Weekly, Inc." <news@example.org>',
        "Zoë's Weekly <zoe@exämple.org>",
        "<news@example.org>",
    ],
)
def test_one_mailbox_with_or_without_a_name_is_accepted(tmp_path, value):
    from digest.config import load_settings

    toml_value = value.replace('"', '\\"')
    (tmp_path / "digest.toml").write_text(
        f'[newsletter]\nfrom = "{toml_value}"\nreply_to = "{toml_value}"\n', encoding="utf-8"
    )
    newsletter = load_settings(tmp_path / "digest.toml", environ={}).newsletter
    assert (newsletter.from_, newsletter.reply_to) == (value, value)
