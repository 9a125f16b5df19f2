"""The file and console backends: what a send with no account leaves behind."""

from __future__ import annotations

import email
import email.policy
import io
import json
from email.message import EmailMessage
from pathlib import Path

import pytest
from tests.servers.support import make_batch, make_content, recipients

from digest.config import Settings, load_settings
from digest.delivery.base import get_provider
from digest.delivery.local import ConsoleProvider, FileProvider, safe_file_name
from digest.errors import ConfigError
from digest.message import Address, Content, Recipient, build_mime


def file_settings(tmp_path: Path, **options: object) -> Settings:
    config = tmp_path / "digest.toml"
    lines = ["[delivery]", 'provider = "file"', "[providers.file]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(config, environ={})


def parse(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def parts(msg: EmailMessage) -> dict[str, str]:
    return {
        p.get_content_type(): p.get_content().replace("\r\n", "\n")
        for p in msg.walk()
        if not p.is_multipart()
    }


def test_file_is_the_default_and_needs_no_account() -> None:
    assert isinstance(get_provider(Settings.model_validate({"environ": {}})), FileProvider)


def test_one_eml_per_recipient_in_the_outbox_next_to_the_config(tmp_path: Path) -> None:
    content = make_content()
    people = recipients(3)
    provider = FileProvider(file_settings(tmp_path))
    results = provider.send_batch(make_batch(people, content))
    assert [r.ok for r in results] == [True, True, True]
    files = sorted((tmp_path / "outbox" / content.issue_id).glob("*.eml"))
    assert [f.name for f in files] == sorted(f"{r.email}.eml" for r in people)
    for r, result in zip(people, results, strict=True):
        msg = parse(provider.path_for(content.issue_id, r.email))
        assert str(msg["To"]) == f"{r.name} <{r.email}>"
        assert str(msg["Message-ID"]) == result.message_id == r.message_id
        assert parts(msg) == parts(build_mime(content, r))


def test_outbox_messages_are_owner_only_even_when_one_is_replaced(
    tmp_path: Path, umask_022: None
) -> None:
    """Each names its reader; the outbox folder keeps the mode the umask gives."""
    content = make_content()
    people = recipients(2)
    provider = FileProvider(file_settings(tmp_path))
    provider.send_batch(make_batch(people, content))
    first = provider.path_for(content.issue_id, people[0].email)
    first.chmod(0o644)
    provider.send_batch(make_batch(people[:1], content))
    files = sorted((tmp_path / "outbox" / content.issue_id).glob("*.eml"))
    assert len(files) == 2
    assert [f.stat().st_mode & 0o777 for f in files] == [0o600, 0o600]
    assert (tmp_path / "outbox" / content.issue_id).stat().st_mode & 0o777 == 0o755


def test_placeholders_are_filled_for_each_recipient(tmp_path: Path) -> None:
    content = make_content()
    a = Recipient("ann@example.com", "Ann", {"unsubscribe_url": "https://example.org/u/ann"})
    b = Recipient("bob@example.com", "", {"unsubscribe_url": "https://example.org/u/bob"})
    provider = FileProvider(file_settings(tmp_path))
    provider.send_batch(make_batch([a, b], content))
    ann = parse(provider.path_for(content.issue_id, a.email))
    bob = parse(provider.path_for(content.issue_id, b.email))
    assert str(ann["Subject"]) == "Weekly digest for Ann"
    assert str(bob["Subject"]) == "Weekly digest for you"
    assert str(ann["List-Unsubscribe"]) == "<https://example.org/u/ann>"
    assert "Hello Ann," in parts(ann)["text/plain"]
    assert "Hello reader," in parts(bob)["text/plain"]
    assert 'href="https://example.org/u/bob"' in parts(bob)["text/html"]
    assert "@@digest." not in (tmp_path / "outbox").joinpath(
        content.issue_id, "bob@example.com.eml").read_text()


def test_a_repeat_overwrites_instead_of_duplicating(tmp_path: Path) -> None:
    content = make_content()
    provider = FileProvider(file_settings(tmp_path))
    provider.send_batch(make_batch(recipients(2), content))
    first = sorted(p.name for p in (tmp_path / "outbox").rglob("*"))
    again = [Recipient(r.email, "Renamed", dict(r.fields), r.message_id) for r in recipients(2)]
    provider.send_batch(make_batch(again, content))
    assert sorted(p.name for p in (tmp_path / "outbox").rglob("*")) == first
    msg = parse(provider.path_for(content.issue_id, "reader0@example.com"))
    assert str(msg["To"]).startswith("Renamed <")


def test_dir_option_relative_to_the_config_folder(tmp_path: Path) -> None:
    provider = FileProvider(file_settings(tmp_path, dir="mail/out"))
    provider.send_batch(make_batch(recipients(1)))
    assert list((tmp_path / "mail" / "out").rglob("*.eml"))


def test_unknown_option_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[providers.file\]"):
        FileProvider(file_settings(tmp_path, folder="x"))


def test_unwritable_outbox_fails_the_batch_for_good_with_the_folder_named(
    tmp_path: Path,
) -> None:
    (tmp_path / "blocker").write_text("a file where the folder should be")
    provider = FileProvider(file_settings(tmp_path, dir="blocker"))
    results = provider.deliver(make_batch(recipients(2)))
    assert [(r.ok, r.retryable) for r in results] == [(False, False), (False, False)]
    assert "blocker" in (results[0].error or "")


@pytest.mark.parametrize(
    "address",
    ["Alice@Example.org", "a/b@example.org", "..@example.org", "con", "a b@example.org",
     "zoë@exämple.org", "x" * 300 + "@example.org"],
)
def test_file_names_are_safe_stable_and_distinct(address: str) -> None:
    name = safe_file_name(address)
    assert name == safe_file_name(address)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert len(name) <= 120
    assert name != safe_file_name(address.lower() + "x")
    if address != address.lower():
        assert name != safe_file_name(address.lower())


def test_a_bad_recipient_fails_alone(tmp_path: Path) -> None:
    provider = FileProvider(file_settings(tmp_path))
    bad = Recipient("eve@example.com", "Eve\nBcc: victim@example.com")
    results = provider.send_batch(make_batch([recipients(1)[0], bad]))
    assert [r.ok for r in results] == [True, False]
    assert "line break" in (results[1].error or "")


def test_console_prints_a_summary_per_message() -> None:
    out = io.StringIO()
    provider = ConsoleProvider(Settings.model_validate({"environ": {}}), stream=out)
    results = provider.send_batch(make_batch(recipients(2)))
    lines = out.getvalue().splitlines()
    assert all(r.ok for r in results)
    assert len(lines) == 2
    assert "To: Reader 0 <reader0@example.com>" in lines[0]
    assert "Subject: Weekly digest for Reader 0" in lines[0]
    assert "bytes)" in lines[0]


def test_console_full_prints_whole_messages(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.model_validate({"providers": {"console": {"full": True}}, "environ": {}})
    ConsoleProvider(settings).send_batch(make_batch(recipients(1)))
    out = capsys.readouterr().out
    msg = email.message_from_string(out, policy=email.policy.default)
    assert str(msg["To"]) == "Reader 0 <reader0@example.com>"
    assert "\r" not in out


def test_internationalised_address_is_written_raw_with_its_name_encoded(tmp_path: Path) -> None:
    from digest.delivery._mime import render_message

    content = Content("iss", "Hello", "<p>Hi</p>", "Hi", Address("news@example.org", "News"))
    message = render_message(content, Recipient("محمد@example.org", "محمد"))
    assert "To: =?utf-8?b?2YXYrdmF2K8=?= <محمد@example.org>\r\n".encode() in message.data
    parsed = email.message_from_string(message.data.decode("utf-8"), policy=email.policy.default)
    assert parsed["To"].addresses[0].addr_spec == "محمد@example.org"
