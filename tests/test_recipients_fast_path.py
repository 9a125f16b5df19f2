"""The plain-ASCII fast path of address validation agrees exactly with email-validator.

Whenever the fast path answers, the normalised address (and so the dedupe key) must be the
one email-validator gives; whenever email-validator refuses an address, the fast path must
not answer. Checked on arbitrary strings (hypothesis) and on 10,000 list-like addresses.
"""

from __future__ import annotations

import os
import random

from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.address import _fast_normalise, email_key, normalise_address

EXAMPLES = 200 if os.environ.get("CI") else 3000

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
ODD = ' ."(),:;<>@[\\]éß\t'


def slow(address: str) -> str | None:
    """email-validator's own answer, with the options digest uses; None when it refuses."""
    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    return str(result.normalized)


def agree(address: str) -> bool:
    """Check one address; True when the fast path answered it."""
    fast = _fast_normalise(address)
    if fast is None:
        return False
    expected = slow(address)
    assert expected is not None, f"fast path accepted {address!r}, email-validator refuses it"
    assert fast == expected, address
    assert email_key(fast) == email_key(expected)
    return True


label = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=0,
                max_size=70)
local = st.text(ATEXT + ".", min_size=0, max_size=80)
domain = st.lists(
    st.one_of(label, st.sampled_from(["com", "org", "xn--bcher-kva", "localhost", "test",
                                      "invalid", "co", "uk", "123", "ab--cd", "xn--x"])),
    min_size=1, max_size=5,
).map(".".join)
structured = st.builds(lambda a, b: f"{a}@{b}", local, domain)
anything = st.text(ATEXT + ODD + "x", max_size=90)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.one_of(structured, anything))
def test_fast_path_gives_email_validators_normalised_address(address: str) -> None:
    agree(address)


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(structured)
def test_normalise_address_matches_email_validator_on_accept_and_refusal(address: str) -> None:
    expected = slow(address.strip())
    try:
        got: str | None = normalise_address(address)
    except ValueError:
        got = None
    assert got == expected


def list_addresses(n: int, seed: int = 13) -> list[str]:
    """Addresses as mailing lists hold them: names, tags, case, sub-domains, some broken."""
    rnd = random.Random(seed)
    firsts = ["ann", "Bob", "carla", "DMITRI", "eve", "o'neil", "zoe", "li", "x", "jean-luc"]
    lasts = ["smith", "Nguyen", "mueller", "da.silva", "o", "k", "ROBERTS", "lee"]
    good = ["gmail.com", "Example.ORG", "mail.example.co.uk", "GMX.de", "sub-1.example.net",
            "yahoo.co.jp", "x.io", "students.uni.example.edu", "mx.ExAmPlE.Com"]
    odd = ["example.test", "localhost", "xn--bcher-kva.example", "ex--ample.com", "-bad.com",
           "bad-.com", "a..b.com", "example.123", "toolong" + "g" * 60 + ".com", "x.org."]
    out = []
    for i in range(n):
        first, last = rnd.choice(firsts), rnd.choice(lasts)
        shape = rnd.random()
        if shape < 0.4:
            local_part = f"{first}.{last}"
        elif shape < 0.6:
            local_part = f"{first[0]}{last}{rnd.randrange(100)}"
        elif shape < 0.75:
            local_part = f"{first}+news{i % 7}"
        elif shape < 0.8:
            local_part = rnd.choice(["postmaster", "Info", "SALES", "noreply", "abuse"])
        elif shape < 0.85:
            local_part = rnd.choice([f"{first}..{last}", f".{first}", f"{first}.", f'"{first}"',
                                     f"{first} {last}", f"{first}@{last}"])
        else:
            local_part = f"{first}_{last}-{i}"
        out.append(f"{local_part}@{rnd.choice(good if rnd.random() < 0.85 else odd)}")
    return out


def test_ten_thousand_list_addresses_agree_and_most_take_the_fast_path() -> None:
    addresses = list_addresses(10_000)
    fast = 0
    for address in addresses:
        fast += agree(address)
        expected = slow(address)
        try:
            got: str | None = normalise_address(address)
        except ValueError:
            got = None
        assert got == expected, address
    assert fast >= 0.6 * len(addresses)
