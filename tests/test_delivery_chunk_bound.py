"""Skipping per-recipient byte estimates when a cheap upper bound fits never changes a cut.

``HTTPProvider.chunks`` returns a batch whole, without estimating each recipient, when an
upper bound of the estimates fits the provider's byte limit. For any recipients (long,
non-ASCII, control characters, HTML specials in their values), the cut must be exactly the
one the per-recipient estimates give, for every provider that cuts by bytes.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.servers.support import make_content, make_settings

from digest.delivery._http import HTTPProvider, chunk_by_size
from digest.delivery.base import load_provider_class
from digest.message import Batch, Recipient

EXAMPLES = 40 if os.environ.get("CI") else 200
KEYS = {"postmark": "POSTMARK_SERVER_TOKEN", "sendgrid": "SENDGRID_API_KEY",
        "brevo": "BREVO_API_KEY"}
seen = {"whole": 0, "estimated": 0}



def provider(name: str, limit: int) -> HTTPProvider:
    base = load_provider_class(name)
    assert issubclass(base, HTTPProvider)
    small = type(f"Small{base.__name__}", (base,), {"max_batch_bytes": limit, "max_batch": 40})
    made = small(make_settings(name, {}, {KEYS[name]: "key"}))
    assert isinstance(made, HTTPProvider)
    return made


def exact(p: HTTPProvider, batch: Batch) -> list[list[Recipient]]:
    """The cut as the per-recipient estimates make it."""
    assert p.max_batch_bytes is not None
    return chunk_by_size(
        batch.recipients,
        lambda r: p.recipient_bytes(batch, r),
        max_bytes=int(p.max_batch_bytes * p.bytes_margin),
        max_items=p.max_batch,
        overhead=p.shared_bytes(batch),
    )


value = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
"""Any body value, control characters and HTML specials included."""
header_value = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp", "Cn")),
    max_size=300,
)
"""Any value a header can carry (``check_header`` refuses the rest before any estimate)."""
person = st.builds(
    lambda email, name, link, extra: Recipient(
        email, name, {"unsubscribe_url": link, "city": extra}, "<digest.0abc@example.org>"
    ),
    st.from_regex(r"[a-z]{1,20}@example\.org", fullmatch=True),
    header_value,
    header_value,
    value,
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.sampled_from(sorted(KEYS)),
    st.lists(person, min_size=1, max_size=40),
    st.integers(min_value=20_000, max_value=3_000_000),
)
def test_whole_batch_shortcut_cuts_exactly_as_the_estimates(
    name: str, people: list[Recipient], limit: int
) -> None:
    p = provider(name, limit)
    batch = Batch(make_content(), people, "b")
    assert p.max_batch_bytes is not None
    whole = p._fits_whole(batch, int(p.max_batch_bytes * p.bytes_margin))
    seen["whole" if whole else "estimated"] += 1
    got = [list(c.recipients) for c in p.chunks(batch)]
    assert got == exact(p, batch)


def test_both_paths_were_taken() -> None:
    """The property above saw batches sent whole on the bound and batches estimated."""
    if not any(seen.values()):
        test_whole_batch_shortcut_cuts_exactly_as_the_estimates()
    assert seen["whole"] > 0
    assert seen["estimated"] > 0
