"""Identifier rules: the worked examples of docs/requirements.md, domain §1, normalisation, and
hypothesis properties (every generated valid number passes; any single-character change
fails). python-stdnum is used only where it is right: its check-character functions."""

from __future__ import annotations

import string
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.registry.validation import (
    USCC_CHARS,
    IdentifierError,
    id_check_char,
    is_valid_credit_code,
    is_valid_id_number,
    mask_id_number,
    mask_phone,
    normalise_id_number,
    normalise_phone,
    org_code_check_char,
    parse_credit_code,
    parse_id_number,
    upgrade_id15,
    uscc_check_char,
    validate_community_code,
    validate_document,
    validate_mobile,
    validate_phone,
)

# ------------------------------------------------------------------------------ ID numbers


def test_the_standards_own_sample():
    parsed = parse_id_number("11010519491231002X")
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "F"  # 002 is even
    assert parsed.region == "110105"
    assert parsed.kind == "resident_id"
    # 167 mod 11 = 2 → "X"
    assert sum(int(d) * w for d, w in zip("11010519491231002",
                                          [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2],
                                          strict=True)) == 167
    assert id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize("raw", [
    "11010519491231002x",  # lower-case x
    " 11010519491231002X ",  # spaces
    "１１０１０５１９４９１２３１００２Ｘ",  # full-width
    "110105 19491231 002X",  # grouped
    "110105-19491231-002x",
])
def test_normalisation(raw):
    assert normalise_id_number(raw) == "11010519491231002X"
    assert is_valid_id_number(raw)


def test_fifteen_digit_numbers_are_upgraded():
    assert upgrade_id15("610104620927690") == "610104196209276908"
    parsed = parse_id_number("610104620927690")
    assert parsed.number == "610104196209276908"
    assert parsed.upgraded_from == "610104620927690"
    assert parsed.birth_date == date(1962, 9, 27)
    assert parsed.sex == "F"


@pytest.mark.parametrize(("raw", "code"), [
    ("1101051949123100", "format"),  # too short
    ("01010519491231002X", "format"),  # leading zero
    ("1101051949123100XX", "format"),
    ("110105194902300021", "date"),  # 30 February
    ("110105203001010011", "date"),  # the future
    ("991051194912310020", "province"),  # 99 is no province
    ("101051194912310020", "province"),  # 10 neither
    ("110105194912310021", "checksum"),
])
def test_each_rule_names_what_failed(raw, code):
    with pytest.raises(IdentifierError) as info:
        parse_id_number(raw, today=date(2026, 1, 1))
    assert info.value.code == code


def test_residence_permits_and_foreign_cards():
    # HK/Macao/Taiwan residence permits: prefixes 810000/820000/830000, same checksum
    for prefix in ("810000", "820000", "830000"):
        first17 = f"{prefix}19900101001"
        number = first17 + id_check_char(first17)
        assert parse_id_number(number).kind == "hmt_residence_permit"
        # filed under the wrong type in a spreadsheet: corrected, not refused
        assert validate_document("resident_id", number) == ("hmt_residence_permit", number)
    first17 = "9" + "11" + "840" + "19850615" + "123"
    number = first17 + id_check_char(first17)
    assert parse_id_number(number).kind == "foreign_permanent"
    assert validate_document("foreign_permanent", "USA123456789012")[1] == "USA123456789012"
    assert validate_document("passport", "e1234567 8") == ("passport", "E12345678")
    assert validate_document("hk_macao_permit", "h12345678")[1] == "H12345678"
    with pytest.raises(IdentifierError):
        validate_document("passport", "??")


def test_stdnum_rejects_numbers_we_accept():
    """docs/requirements.md, domain §1: python-stdnum checks the county code against
    today's list, but an ID keeps the code of its year of issue. We must accept such numbers."""
    assert is_valid_id_number("610481196406217762")


VALID_PREFIXES = ["110105", "310101", "440305", "610104", "654301", "710000", "810000",
                  "820000", "830000", "130102", "510104"]


@st.composite
def valid_ids(draw):
    prefix = draw(st.sampled_from(VALID_PREFIXES))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    seq = draw(st.integers(0, 999))
    first17 = f"{prefix}{born:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


@settings(max_examples=300, deadline=None)
@given(valid_ids())
def test_generated_valid_ids_pass(number):
    parsed = parse_id_number(number, today=date(2026, 1, 1))
    assert parsed.number == number
    assert parsed.sex == ("M" if int(number[16]) % 2 else "F")
    assert is_valid_id_number(number.lower(), today=date(2026, 1, 1))


@settings(max_examples=300, deadline=None)
@given(valid_ids(), st.integers(0, 17), st.sampled_from(list(string.digits + "X")))
def test_any_single_character_change_fails(number, pos, char):
    if number[pos] == char:
        char = "0" if char != "0" else "1"
    changed = number[:pos] + char + number[pos + 1:]
    assert not is_valid_id_number(changed, today=date(2026, 1, 1))


@settings(max_examples=200, deadline=None)
@given(valid_ids())
def test_check_character_agrees_with_stdnum(number):
    ric = pytest.importorskip("stdnum.cn.ric")
    assert ric.calc_check_digit(number) == number[17]


# ------------------------------------------------------------------------------ credit codes


def test_credit_code_worked_examples():
    code = parse_credit_code("91110000600037341L")
    assert (code.authority, code.category, code.region, code.org_code) == (
        "9", "1", "110000", "600037341")
    assert code.warnings == ()
    assert org_code_check_char("60003734") == "1"  # S = 109 → 1
    assert uscc_check_char("91110000600037341") == "L"  # 538 → 11 → 20 → L
    assert uscc_check_char("91110108551385082") == "Q"  # 999 → 7 → 24 → Q
    assert is_valid_credit_code(" 91110108551385082q ")


def test_credit_codes_of_other_authorities_are_valid():
    # python-stdnum refuses these (it wants digits in positions 1–8): we must not.
    assert is_valid_credit_code("N2330108MA21111104")
    for prefix in ("A1", "Y1", "51", "52", "N3"):
        first17 = f"{prefix}110105MA0000000"
        assert is_valid_credit_code(first17 + uscc_check_char(first17))


def test_bad_credit_codes():
    for bad in ("91110000600037341A", "9111000060003734", "91110000600037341I",
                "9I110000600037341L", "91ABCDEF600037341L"):
        assert not is_valid_credit_code(bad), bad
    with pytest.raises(IdentifierError) as info:
        parse_credit_code("91110000600037341A")
    assert info.value.code == "checksum"


@st.composite
def valid_codes(draw):
    head = draw(st.sampled_from(list(USCC_CHARS)))
    cat = draw(st.sampled_from(list(USCC_CHARS)))
    region = draw(st.text(alphabet=string.digits, min_size=6, max_size=6))
    body = "".join(draw(st.lists(st.sampled_from(list(USCC_CHARS)), min_size=9, max_size=9)))
    first17 = head + cat + region + body
    return first17 + uscc_check_char(first17)


@settings(max_examples=300, deadline=None)
@given(valid_codes(), st.integers(0, 17), st.sampled_from(list(USCC_CHARS)))
def test_credit_code_properties(code, pos, char):
    assert is_valid_credit_code(code)
    if code[pos] == char:
        return
    changed = code[:pos] + char + code[pos + 1:]
    assert not is_valid_credit_code(changed)


@settings(max_examples=200, deadline=None)
@given(valid_codes())
def test_credit_check_agrees_with_stdnum_where_it_applies(code):
    uscc = pytest.importorskip("stdnum.cn.uscc")
    assert uscc.calc_check_digit(code[:17]) == code[17]


# ------------------------------------------------------------------------------ phones, codes


@pytest.mark.parametrize(("raw", "want"), [
    ("+86 139-1234-5678", "13912345678"),
    ("0086 13912345678", "13912345678"),
    ("8613912345678", "13912345678"),
    ("139 1234 5678", "13912345678"),
    ("１３９１２３４５６７８", "13912345678"),
])
def test_mobile_normalisation(raw, want):
    assert normalise_phone(raw) == want
    assert validate_mobile(raw) == want


def test_mobile_rules():
    for bad in ("12345678901", "1391234567", "23912345678"):
        with pytest.raises(IdentifierError):
            validate_mobile(bad)
    # allocated prefixes (2019) only with strict=True
    assert validate_mobile("19412345678") == "19412345678"
    with pytest.raises(IdentifierError):
        validate_mobile("19412345678", strict=True)
    assert validate_mobile("19212345678", strict=True)
    assert validate_phone("010-6512 3456") == "01065123456"


def test_community_codes():
    assert validate_community_code("220581102001") == "220581102001"
    assert validate_community_code("220581102200")  # a village committee
    for bad in ("22058110200", "220581102000", "220581102400", "990581102001"):
        with pytest.raises(IdentifierError):
            validate_community_code(bad)


def test_masking():
    assert mask_id_number("11010519491231002X") == "1101**********002X"
    assert mask_phone("13812341234") == "138****1234"
    assert mask_id_number("E12345678") == "E123*5678"
    assert mask_id_number(None) == ""
    assert mask_phone("") == ""
