"""Every event type each provider documents, signed and forged, posted to a real server.

One ``digest serve`` (the real app on the real server, on loopback) and one SNS stand-in
serve the whole module; each sample gets its own issue and recipient in the real SQLite
ledger, so the samples stay independent. For batch providers (Mailgun, SendGrid) a second
recipient shares the provider's message id and must stay untouched.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.event_samples import SAMPLES, UNKNOWN_TYPES, Sample, Target
from tests.events_wire import Wire, env
from tests.test_web_app import BASE_TOML, Site, logged, seed_sent, serve_site
from tests.test_web_webhooks_more import running_fake_sns

from digest.sending.personalise import digest_id_for

_numbers = itertools.count(1)
SHARED_ID = {"mailgun", "sendgrid"}


@pytest.fixture(scope="module")
def wire_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Wire]]:
    folder = tmp_path_factory.mktemp("events")
    with running_fake_sns() as sns, serve_site(Path(folder), BASE_TOML, env(sns.url)) as site:
        yield site, Wire(site.url, sns)


def provider_message_id(provider: str, n: int) -> str:
    """A message id shaped like the one each provider's send API answers."""
    return {
        "postmark": f"b7bc2f4a-e38e-4336-af7d-e6c392c2{n:04d}",
        "sendgrid": f"LRzXl_NHStOGhQ4kofSm{n:04d}",
        "mailgun": f"<20261124132638.{n:06d}@mg.example.org>",
        "resend": f"4ef9a417-02e9-4d39-ad75-9611e0fc{n:04d}",
        "brevo": f"<202611241328.{n:011d}@smtp-relay.mailin.fr>",
        "mailjet": str(288230376151700000 + n),
        "ses": f"0102019a8f1c2d3e-{n:06d}-000000",
    }[provider]


def seed(site: Site, provider: str) -> tuple[str, Target, str]:
    """A finished send of a new issue to a reader (and a bystander): (issue, target, other)."""
    n = next(_numbers)
    issue, email, other = f"catalog-{n}", f"reader{n}@example.org", f"other{n}@example.org"
    mid = provider_message_id(provider, n)
    other_mid = mid if provider in SHARED_ID else provider_message_id(provider, n + 50_000)
    seed_sent(site, {email: mid, other: other_mid}, issue)
    return issue, Target(email, "Ann Example", mid, digest_id_for(issue, email)), other


def ledger_view(site: Site, issue: str, email: str) -> tuple[str, list[str], tuple[str, ...]]:
    """(send state, recorded event kinds, (suppression reason, source) or ())."""
    with site.ledger() as ledger:
        state = ledger.db.execute(
            "SELECT state FROM recipients WHERE issue_id = ? AND email = ?", (issue, email)
        ).fetchone()[0]
        kinds = [
            r[0]
            for r in ledger.db.execute(
                "SELECT kind FROM events WHERE email = ? ORDER BY id", (email,)
            )
        ]
        row = ledger.db.execute(
            "SELECT reason, source FROM suppressions WHERE email = ?", (email,)
        ).fetchone()
    return state, kinds, tuple(row) if row else ()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_documented_event_signed_is_recorded_and_forged_changes_nothing(
    wire_site: tuple[Site, Wire], sample: Sample
) -> None:
    site, wire = wire_site
    issue, target, other = seed(site, sample.provider)
    payload = sample.build(target)

    forged = wire.post(sample.provider, payload, forged=True)
    assert forged.status_code == 401
    assert ledger_view(site, issue, target.email) == ("sent", [], ())

    response = wire.post(sample.provider, payload)
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    expected_suppression = (
        (sample.suppression, f"provider:{sample.provider}") if sample.suppression else ()
    )
    assert ledger_view(site, issue, target.email) == (
        sample.state,
        [sample.kind],
        expected_suppression,
    )
    assert ledger_view(site, issue, other) == ("sent", [], ())

    again = wire.post(sample.provider, payload)
    assert again.status_code == 200
    assert ledger_view(site, issue, target.email)[1] == [sample.kind]


@pytest.mark.parametrize("provider", sorted(UNKNOWN_TYPES))
def test_an_event_type_digest_does_not_know_is_acknowledged_and_logged(
    wire_site: tuple[Site, Wire], provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    site, wire = wire_site
    issue, target, _ = seed(site, provider)
    caplog.set_level("INFO", logger="digest.web")
    response = wire.post(provider, UNKNOWN_TYPES[provider](target))
    assert response.status_code == 200, response.text
    assert logged(caplog, rf"webhook {provider}: event type .* acknowledged, not acted on")
    state, kinds, suppression = ledger_view(site, issue, target.email)
    assert (state, suppression) == ("sent", ())
    assert kinds == ["unknown"]


def test_every_provider_has_samples_for_hard_bounce_complaint_and_unsubscribe() -> None:
    """The catalogue itself: no provider is left without the events that clean a list."""
    for provider in UNKNOWN_TYPES:
        kinds = {s.kind for s in SAMPLES if s.provider == provider}
        reasons = {s.suppression for s in SAMPLES if s.provider == provider}
        assert {"delivered", "open", "click"} <= kinds, provider
        assert {"bounced", "complained", "unsubscribed"} <= reasons, provider
