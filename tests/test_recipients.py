"""Recipients CSV: streamed, validated, bad rows reported by line while the rest go on."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import RecipientsError
from digest.sending.recipients import BadRow, Row, read_recipients


def _rows(path: Path) -> tuple[list[Row], list[BadRow]]:
    good: list[Row] = []
    bad: list[BadRow] = []
    for item in read_recipients(path):
        (good if isinstance(item, Row) else bad).append(item)  # type: ignore[arg-type]
    return good, bad


def test_bad_rows_are_reported_with_their_line_numbers_and_the_rest_go_on(write):
    path = write(
        "subs.csv",
        "email,name,city\n"
        "ann@example.org,Ann,Rome\n"
        "not-an-address,Nobody,\n"
        "bob@example.org,Bob,Oslo\n"
        ",Empty,\n"
        "carol@example,Carol,\n"
        "dan@example.org,Dan,Lima,extra\n"
        "erin@example.org,Erin,\n",
    )
    good, bad = _rows(path)
    assert [r.email for r in good] == ["ann@example.org", "bob@example.org", "erin@example.org"]
    assert [(b.line, b.value) for b in bad] == [
        (3, "not-an-address"),
        (5, ""),
        (6, "carol@example"),
        (7, "dan@example.org"),
    ]
    assert "more cells" in bad[-1].reason


def test_a_row_after_blank_lines_is_reported_with_its_own_line(write):
    """Blank lines are skipped, and the rows after them keep their own line numbers; a
    short row's missing cells are empty, a long row's extra cells make it a bad row."""
    path = write(
        "subs.csv",
        "email,name\n"
        "ann@example.org,Ann\n"
        "\n"
        "\n"
        "not-an-address,Nobody\n"
        "bob@example.org,Bob,extra\n"
        "carol@example.org\n",
    )
    good, bad = _rows(path)
    assert [(b.line, b.value) for b in bad] == [(5, "not-an-address"), (6, "bob@example.org")]
    assert [(r.line, r.email, r.name) for r in good] == [
        (2, "ann@example.org", "Ann"),
        (7, "carol@example.org", ""),
    ]


def test_line_numbers_count_physical_lines_of_quoted_multiline_cells(write):
    path = write(
        "subs.csv",
        'email,name,note\nann@example.org,Ann,"two\nlines"\nbroken,X,\n',
    )
    _, bad = _rows(path)
    assert [b.line for b in bad] == [4]


def test_extra_columns_become_merge_fields_and_reserved_names_do_not(write):
    path = write(
        "subs.csv",
        "Email,Name,City,Plan Tier,unsubscribe_url\nann@example.org, Ann ,Rome,gold,http://evil\n",
    )
    (row,), _ = _rows(path)
    assert row.name == "Ann"
    assert row.fields == {"city": "Rome", "plan_tier": "gold"}


def test_addresses_are_normalised_domain_lower_cased_local_part_kept(write):
    path = write("subs.csv", "email\n  Ann.Lee@Example.ORG \n")
    (row,), _ = _rows(path)
    assert row.email == "Ann.Lee@example.org"
    assert row.key == "ann.lee@example.org"


def test_internationalised_addresses_are_accepted(write):
    path = write("subs.csv", "email\njosé@exämple.org\n用户@例子.广告\n")
    good, bad = _rows(path)
    assert not bad
    assert [r.email for r in good] == ["josé@exämple.org", "用户@例子.广告"]


def test_byte_order_mark_from_spreadsheet_exports_is_ignored(tmp_path: Path):
    path = tmp_path / "subs.csv"
    path.write_bytes("email,name\r\nann@example.org,Ann\r\n".encode("utf-8-sig"))
    (row,), _ = _rows(path)
    assert row.email == "ann@example.org"


def test_a_name_with_a_line_break_is_a_bad_row_not_a_header_injection(write):
    path = write("subs.csv", 'email,name\nann@example.org,"Ann\nBcc: x@evil.org"\n')
    good, bad = _rows(path)
    assert not good and "line break" in bad[0].reason


def test_file_without_email_column_is_refused_as_a_whole(write):
    path = write("subs.csv", "mail,name\nann@example.org,Ann\n")
    with pytest.raises(RecipientsError, match="no 'email' column"):
        list(read_recipients(path))


def test_missing_file_is_a_recipients_error(tmp_path: Path):
    with pytest.raises(RecipientsError, match="no such recipients file"):
        list(read_recipients(tmp_path / "nope.csv"))


def test_non_utf8_file_is_refused_with_a_hint(tmp_path: Path):
    path = tmp_path / "subs.csv"
    path.write_bytes("email,name\nann@example.org,J\xfcrgen\n".encode("latin-1"))
    with pytest.raises(RecipientsError, match="UTF-8"):
        list(read_recipients(path))


def test_rows_are_streamed_not_read_whole(write):
    path = write("subs.csv", "email\n" + "".join(f"r{i}@example.org\n" for i in range(1000)))
    rows = read_recipients(path)
    first = next(rows)
    assert isinstance(first, Row) and first.email == "r0@example.org"


def test_an_unclosed_quote_that_swallows_later_rows_is_reported_with_the_lines_lost(write):
    """A stray quote in a merge column must not make the rows after it vanish silently."""
    path = write(
        "subs.csv",
        "email,name,city\n"
        "ann@example.org,Ann,Rome\n"
        'bob@example.org,Bob,"Paris\n'
        "cat@example.org,Cat,Oslo\n"
        'dan@example.org,Dan,"Lima"\n'
        "eve@example.org,Eve,Kyiv\n",
    )
    good, bad = _rows(path)
    assert [r.email for r in good] == ["ann@example.org", "eve@example.org"]
    ((line, value, reason),) = [(b.line, b.value, b.reason) for b in bad]
    assert (line, value) == (3, "bob@example.org")
    assert "lines 3 to 5" in reason and "quote" in reason


def test_a_quoted_cell_on_one_line_is_still_a_good_row(write):
    path = write("subs.csv", 'email,name,city\nann@example.org,"Lee, Ann","Rome, Italy"\n')
    good, bad = _rows(path)
    assert bad == [] and good[0].name == "Lee, Ann" and good[0].fields == {"city": "Rome, Italy"}


def test_a_name_with_a_control_character_is_a_bad_row_with_its_line(tmp_path: Path) -> None:
    """Caught when the list is read, not by the provider call that would refuse the header."""
    p = tmp_path / "r.csv"
    p.write_text('email,name\na@example.org,"Ann\x1fX"\nb@example.org,Bob\n', encoding="utf-8")
    rows = list(read_recipients(p))
    bad = [r for r in rows if isinstance(r, BadRow)]
    assert [(b.line, b.reason) for b in bad] == [
        (2, "the name contains the control character U+001F")
    ]
    assert [r.email for r in rows if isinstance(r, Row)] == ["b@example.org"]


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("email,email", "'email' twice"),
        ("email,name,unsubscribe_url,token,email", "'email' twice"),
        ("Email,Name,email", "'email' twice (as 'Email' and 'email')"),
        ("email,City,Plan Tier,plan-tier", "'plan_tier' twice (as 'Plan Tier' and 'plan-tier')"),
    ],
)
def test_a_header_naming_a_column_twice_is_refused_naming_the_file_line_and_column(
    write, header: str, named: str
) -> None:
    """One of the two cells would be read and the other dropped without a word."""
    cells = ",".join(f"r{i}@real-mail.org" for i in range(header.count(",") + 1))
    path = write("subs.csv", f"{header}\n{cells}\n")
    with pytest.raises(RecipientsError) as caught:
        list(read_recipients(path))
    assert str(caught.value).startswith(f"{path}:1: the header row names the column {named}")


def test_blank_headings_of_trailing_empty_columns_are_not_a_repeated_column(write) -> None:
    path = write("subs.csv", "email,name,,\nann@example.org,Ann,,\n")
    (row,), bad = _rows(path)
    assert bad == [] and (row.email, row.name) == ("ann@example.org", "Ann")


def test_of_two_address_aliases_the_first_in_the_documented_order_is_the_address(write) -> None:
    """docs/subscriber-csv.md: ``email`` before ``E-Mail``, wherever each stands."""
    path = write("subs.csv", "E-Mail,email\nother@real-mail.org,ann@real-mail.org\n")
    (row,), _ = _rows(path)
    assert row.email == "ann@real-mail.org"
    assert row.fields == {"e_mail": "other@real-mail.org"}
