"""``digest providers``: what each backend needs, whether or not every module is there."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from digest.cli import cli
from digest.delivery import base


@pytest.fixture(autouse=True)
def empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where there is no digest.toml, so only what a test writes is read."""
    monkeypatch.chdir(tmp_path)


def run(tmp_path: Path, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
    """Run ``digest providers`` with only the given environment extras."""
    environ: dict[str, str | None] = {"DIGEST_CONFIG": None, "SMTP_PASSWORD": None,
                                      "DKIM_PRIVATE_KEY": None}
    environ.update(env or {})
    result = CliRunner().invoke(cli, ["providers", *args], env=environ, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def as_json(tmp_path: Path, *args: str, env: Mapping[str, str | None] | None = None) -> (
    dict[str, Any]
):
    rows = json.loads(run(tmp_path, "--json", *args, env=env).output)
    return {row["name"]: row for row in rows}


def test_lists_the_local_backends_with_options_limits_and_environment(tmp_path: Path) -> None:
    out = run(tmp_path, env={"SMTP_PASSWORD": "pw-value-123"}).output
    for name in ("file", "console", "smtp"):
        assert f"\n{name}" in f"\n{out}"
    assert "file  (in use)" in out
    assert 'dir = "outbox"' in out
    assert "batch: up to 1000 recipients a call; idempotent: yes" in out
    assert "SMTP_PASSWORD  set" in out
    assert "DKIM_PRIVATE_KEY  not set" in out
    assert "pw-value-123" not in out


def test_json_lists_every_registered_provider(tmp_path: Path) -> None:
    rows = as_json(tmp_path)
    assert set(rows) == set(base.available_providers())
    smtp = rows["smtp"]
    assert smtp["available"] is True and smtp["idempotent"] is False
    assert smtp["reconciles"] is False
    assert {n for n, r in rows.items() if r["reconciles"]} == {"postmark", "mailgun", "mailjet"}
    options = {o["name"]: o for o in smtp["options"]}
    assert options["security"]["default"] == "starttls"
    assert options["host"]["default"] == "localhost"
    assert {e["name"]: e["set"] for e in smtp["environment"]} == {
        "SMTP_PASSWORD": False, "DKIM_PRIVATE_KEY": False,
    }
    assert rows["file"]["options"][0] == {
        "name": "dir", "type": "Path", "default": "outbox", "required": False,
        "description": "folder for the .eml files, relative to the config file",
    }


def test_configured_provider_and_values_are_marked(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(textwrap.dedent("""
        [delivery]
        provider = "smtp"
        [providers.smtp]
        host = "mail.example.org"
        port = 2525
    """))
    rows = as_json(tmp_path, "--config", str(config))
    assert rows["smtp"]["in_use"] and not rows["file"]["in_use"]
    options = {o["name"]: o for o in rows["smtp"]["options"]}
    assert options["host"]["configured"] == "mail.example.org"
    assert options["port"]["configured"] == 2525
    assert "configured" not in options["username"]


def test_missing_module_is_listed_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Providers still being written (no module yet) must not break the listing."""
    monkeypatch.setitem(base.BUILTIN, "ghost", "digest.delivery.ghost_not_written:Ghost")
    rows = as_json(tmp_path)
    assert rows["ghost"]["available"] is False
    assert "not installed" in rows["ghost"]["notes"][0]
    assert rows["file"]["available"] is True


def test_provider_needing_a_missing_package_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "pkgs"
    pkg.mkdir()
    (pkg / "needs_extra_provider.py").write_text("import not_installed_package_7f3a\n")
    (pkg / "broken_provider.py").write_text("raise RuntimeError('half-written module')\n")
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.setitem(base.BUILTIN, "fancy", "needs_extra_provider:FancyProvider")
    monkeypatch.setitem(base.BUILTIN, "ses", "needs_extra_provider:SESProvider")
    monkeypatch.setitem(base.BUILTIN, "broken", "broken_provider:BrokenProvider")
    out = run(tmp_path).output
    assert "not_installed_package_7f3a: pip install 'digest[ses]'" in out
    assert "not_installed_package_7f3a: pip install not_installed_package_7f3a" in out
    assert "cannot be loaded: RuntimeError: half-written module" in out
    assert "smtp" in out


def test_missing_dkimpy_is_a_note_on_smtp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dkim", None)
    rows = as_json(tmp_path)
    assert rows["smtp"]["available"] is True
    assert any("pip install 'digest[dkim]'" in n for n in rows["smtp"]["notes"])


def test_installed_dkimpy_adds_no_note(tmp_path: Path) -> None:
    pytest.importorskip("dkim")
    assert as_json(tmp_path)["smtp"]["notes"] == []


def test_help_lists_the_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "providers" in result.output
    assert "--json" in CliRunner().invoke(cli, ["providers", "--help"]).output


def test_every_option_of_every_provider_says_what_it_is_for(tmp_path: Path) -> None:
    """A user reading ``digest providers`` learns each setting without opening the code."""
    rows = as_json(tmp_path)
    missing = [f"{name}.{o['name']}" for name, row in rows.items() if row["available"]
               for o in row["options"] if not o["description"].strip()]
    assert missing == []
    assert all(row["options"] for name, row in rows.items() if name in base.BUILTIN)


def test_json_says_which_providers_keep_our_message_id_and_refuse_whole_batches(
    tmp_path: Path,
) -> None:
    """What differs between providers is visible before choosing one."""
    rows = {name: row for name, row in as_json(tmp_path).items() if name in base.BUILTIN}
    keeps = {name for name, row in rows.items() if row.get("keeps_message_id")}
    assert keeps == {"file", "console", "smtp", "postmark"}
    whole = {name for name, row in rows.items() if row.get("rejects_whole_batch")}
    assert whole == {"sendgrid", "mailgun", "resend", "brevo"}


def test_text_says_whose_message_id_and_what_one_bad_address_does(tmp_path: Path) -> None:
    out = run(tmp_path).output
    blocks = {b.split("\n", 1)[0].split()[0]: b for b in out.strip().split("\n\n")}
    assert "Message-ID: digest's stable one; one bad address: fails only that recipient" in (
        blocks["postmark"]
    )
    assert "Message-ID: the provider's own; one bad address: refuses the whole call" in (
        blocks["sendgrid"]
    )


def test_a_mistyped_configured_provider_is_flagged(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[delivery]\nprovider = "fiel"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["providers", "--config", str(config)])
    assert result.exit_code == 3
    assert "digest.toml:2: [delivery] provider: no provider is called 'fiel'" in result.output
    assert "did you mean 'file'?" in result.output


def test_providers_that_forget_idempotency_keys_say_for_how_long_a_resume_is_safe(
    tmp_path: Path,
) -> None:
    rows = as_json(tmp_path)
    windows = {name: row["idempotency_window"] for name, row in rows.items() if row["idempotent"]}
    assert windows == {"file": None, "resend": 23 * 3600, "brevo": 25 * 60}
    assert all(row["idempotency_window"] is None for row in rows.values() if not row["idempotent"])
    out = run(tmp_path).output
    assert "idempotent: yes, for a resume within 23 hours" in out
    assert "idempotent: yes, for a resume within 25 minutes" in out
