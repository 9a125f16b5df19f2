"""Every .eml digest writes — `digest build`'s and the file backend's, ASCII and
internationalised, with and without a per-recipient unsubscribe link — parsed back and held to
RFC 2045, 2047, 2369, 2919 and 8058 (tests/eml_checks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.eml_checks import check_eml
from tests.paths import SAMPLE_ISSUE

from digest.build import build_issue
from digest.config import Settings, load_settings
from digest.delivery.local import FileProvider
from digest.message import Batch, Recipient
from digest.render import Rendered


def test_built_eml_meets_the_standards_and_drops_the_unfilled_unsubscribe_entry(
    tmp_path: Path, sample_settings: Settings
) -> None:
    result = build_issue(SAMPLE_ISSUE, tmp_path, sample_settings)
    msg = check_eml(result.eml_path.read_bytes())
    assert str(msg["List-Unsubscribe"]) == "<mailto:unsubscribe@example.org?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None
    assert " ".join(str(msg["List-Id"]).split()) == (
        "Socialist Revolution Weekly <socialist-revolution-weekly.example.org>"
    )


def _outbox(tmp_path: Path) -> FileProvider:
    config = tmp_path / "digest.toml"
    config.write_text('[providers.file]\ndir = "outbox"\n', encoding="utf-8")
    return FileProvider(load_settings(config, environ={}))


PEOPLE = {
    "ascii": Recipient("ann@example.net", "Ann Example"),
    "latin-name": Recipient("zoe@example.net", "Zoë Ångström"),
    "international": Recipient("مريم@example.net", "مريم الحسن"),
    "long-name": Recipient("long@example.net", "Ĳsbrand Ŵolfgang Ÿves-Ørjan Þórðarson " * 3),
}


@pytest.mark.parametrize("who", list(PEOPLE))
@pytest.mark.parametrize("with_url", [True, False], ids=["with-url", "mailto-only"])
def test_outbox_eml_meets_the_standards(
    tmp_path: Path, sample_rendered: Rendered, who: str, with_url: bool
) -> None:
    base = PEOPLE[who]
    fields = {"unsubscribe_url": f"https://example.org/unsubscribe/tok-{who}"} if with_url else {}
    person = Recipient(base.email, base.name, fields, message_id=f"<digest.{who}@example.org>")
    provider = _outbox(tmp_path)
    [result] = provider.send_batch(Batch(sample_rendered.content, [person], key="k"))
    assert result.ok
    data = provider.path_for(sample_rendered.content.issue_id, person.email).read_bytes()
    msg = check_eml(data)
    assert msg["To"].addresses[0].addr_spec == person.email
    assert msg["To"].addresses[0].display_name.split() == person.name.split()
    assert str(msg["Subject"]) == sample_rendered.subject
    entries = " ".join(str(msg["List-Unsubscribe"]).split())
    if with_url:
        assert entries.startswith(f"<{fields['unsubscribe_url']}>, <mailto:")
        assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    else:
        assert entries == "<mailto:unsubscribe@example.org?subject=unsubscribe>"
        assert msg["List-Unsubscribe-Post"] is None
    assert str(msg["List-Id"]).strip().endswith("<socialist-revolution-weekly.example.org>")


def test_checker_catches_what_the_issue_reported() -> None:
    """The checks can fail: the first release's headers and 78-character lines are caught."""
    base = (
        "From: a@example.org\nTo: b@example.org\nSubject: s\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n"
    )
    bad_list = base + "List-Unsubscribe: <>, <mailto:u@example.org>\n\nbody\n"
    with pytest.raises(AssertionError, match="not <scheme"):
        check_eml(bad_list.encode())
    bad_post = base + (
        "List-Unsubscribe: <mailto:u@example.org>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n\nbody\n"
    )
    with pytest.raises(AssertionError, match="One-Click without https"):
        check_eml(bad_post.encode())
    long_qp = base + "\n" + "x" * 77 + "=\nend\n"
    with pytest.raises(AssertionError, match="over 76"):
        check_eml(long_qp.encode())
    raw_subject = base.replace("Subject: s", "Subject: Grüße") + "\nbody\n"
    with pytest.raises(AssertionError, match="raw UTF-8 subject"):
        check_eml(raw_subject.encode())
    raw_name = base.replace("To: b@example.org", "To: Zoë <zoë@example.org>") + "\nbody\n"
    with pytest.raises(AssertionError, match="raw UTF-8 display name"):
        check_eml(raw_name.encode())
    check_eml((base + "\nbody\n").encode())
