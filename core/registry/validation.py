"""Identifier rules, written here rather than taken from python-stdnum or id-validator:
both reject numbers that are valid (stdnum checks county codes against today's list, but
an ID keeps the county code of the year it was issued; its USCC check refuses codes that
start with A, N or Y). See docs/requirements.md, domain §1 for the sources and worked examples.

* ID numbers (GB 11643-1999): normalise (trim, full-width → ASCII, ``x`` → ``X``, 15-digit
  legacy numbers upgraded), then format, date, province prefix and the ISO 7064 MOD 11-2
  check character — in that order, so the error names the first thing wrong.
* Unified social credit codes (GB 32100-2015): 31-character alphabet, MOD 31 check; the
  nested GB 11714 organisation-code check only warns.
* Mainland mobile numbers: ``+86``/``0086``/``86`` and separators stripped; lenient
  ``1[3-9]`` + 9 digits by default, the 2019 prefix allocation with ``strict=True``.
* Division codes: 12-digit NBS statistical codes for communities.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from core.db import local_today

# ------------------------------------------------------------------------------ ID number

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2^(18-i) mod 11
ID_CHECK = "10X98765432"
#: ASCII digits only: ``\d`` alone also matches full-width and other Unicode digits, which
#: would let an un-normalised number through as "already normal".
ID_RE = re.compile(r"^[1-9]\d{16}[\dX]$", re.ASCII)
ID15_RE = re.compile(r"^[1-9]\d{14}$", re.ASCII)
#: Province-level prefixes [K]: 11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81, 82.
PROVINCES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55),
     *range(61, 66), 71, 81, 82]
)
#: Residence permits of Hong Kong, Macao and Taiwan residents share the format [V].
HMT_PREFIXES = ("810000", "820000", "830000")
EARLIEST_BIRTH = date(1890, 1, 1)

_SEPARATORS = re.compile(r"[\s\-_.·•()（）]+")


class IdentifierError(ValueError):
    """A value that is not a valid identifier. ``code`` says which rule failed (stable,
    for tests and translations); the message is English, for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class IdNumber:
    """A valid, normalised 18-character number and what it says about its holder."""

    number: str
    birth_date: date
    sex: str  # "M" (digit 17 odd) or "F"
    region: str  # the 6-digit address code at issue (never changes afterwards)
    kind: str  # resident_id | hmt_residence_permit | foreign_permanent
    upgraded_from: str | None = None  # the 15-digit original, when upgraded


def _ascii(raw: str) -> str:
    """Full-width digits and letters to ASCII (NFKC), separators and spaces removed."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(map(operator.mul, map(int, first17[:17]), ID_WEIGHTS))
    return ID_CHECK[total % 11]


def upgrade_id15(number15: str) -> str:
    """A legacy 15-digit number (YYMMDD, no check digit; all issued before 2000, so the
    century is 19) → its 18-character form."""
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + id_check_char(first17)


def normalise_id_number(raw: str) -> str:
    """Trim, full-width → ASCII, separators out, ``x`` → ``X``; 15 digits → 18."""
    value = _ascii(str(raw)).upper()
    if ID15_RE.match(value):
        value = upgrade_id15(value)
    return value


def id_kind(number: str) -> str:
    if number.startswith(HMT_PREFIXES):
        return "hmt_residence_permit"
    if number.startswith("9"):
        return "foreign_permanent"
    return "resident_id"


def parse_id_number(raw: str, *, today: date | None = None) -> IdNumber:
    """Validate and describe an ID number; raises :class:`IdentifierError`."""
    raw = str(raw)
    if len(raw) == 18 and ID_RE.match(raw):  # already normal: the common case in imports
        value, upgraded = raw, None
    else:
        original = _ascii(raw).upper()
        value = normalise_id_number(raw)
        upgraded = original if ID15_RE.match(original) else None
    if not ID_RE.match(value):
        raise IdentifierError(
            "format", "An ID number has 18 characters: 17 digits and a digit or X."
        )
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdentifierError("date", "The birth date in the ID number is not a real date.") \
            from None
    if born > (today or local_today()) or born < EARLIEST_BIRTH:
        raise IdentifierError("date", "The birth date in the ID number is out of range.")
    kind = id_kind(value)
    # Foreign permanent-residence IDs (2023) start with 9, then the issuing province [K].
    province = int(value[1:3]) if kind == "foreign_permanent" else int(value[:2])
    if kind != "hmt_residence_permit" and province not in PROVINCES:
        raise IdentifierError("province", "The ID number does not start with a province code.")
    if value[17] != id_check_char(value[:17]):
        raise IdentifierError("checksum", "The check character of the ID number is wrong.")
    return IdNumber(
        number=value,
        birth_date=born,
        sex="M" if int(value[16]) % 2 else "F",
        region=value[:6],
        kind=kind,
        upgraded_from=upgraded,
    )


#: The fast check's tables: partial MOD 11-2 sums of the region (digits 1–6), the birth
#: date (7–14) and the sequence (15–17), so the check character is three lookups and an
#: addition instead of 17 multiplications.
_REGIONS: dict[str, tuple[str, int] | None] = {}
_SEQUENCES: dict[str, tuple[int, str]] = {
    f"{n:03d}": (sum(w * int(d) for w, d in zip(ID_WEIGHTS[14:17], f"{n:03d}", strict=True)),
                 "M" if n % 2 else "F")
    for n in range(1000)
}


def _region(prefix: str) -> tuple[str, int] | None:
    """(kind, partial sum) for the first six characters of an 18-character number, or
    None when no valid number starts with them (not six ASCII digits, a leading 0, no
    province)."""
    found = _REGIONS.get(prefix, False)
    if found is not False:
        return found  # type: ignore[return-value]  # mypy keeps bool in: False is excluded
    value: tuple[str, int] | None = None
    if len(prefix) == 6 and prefix.isascii() and prefix.isdigit() and prefix[0] != "0":
        kind = id_kind(prefix)
        province = int(prefix[1:3]) if kind == "foreign_permanent" else int(prefix[:2])
        if kind == "hmt_residence_permit" or province in PROVINCES:
            value = kind, sum(w * int(d) for w, d in zip(ID_WEIGHTS[:6], prefix, strict=True))
    if len(_REGIONS) < 100_000:
        _REGIONS[prefix] = value
    return value


@lru_cache(maxsize=4)
def _birth_dates(today: date) -> dict[str, tuple[date, int]]:
    """``"YYYYMMDD"`` → (date, partial sum) for every birth date an ID number may have on
    ``today``: 1890-01-01 to today (about 50,000 entries)."""
    years = {y: sum(w * int(d) for w, d in zip(ID_WEIGHTS[6:10], f"{y:04d}", strict=True))
             for y in range(EARLIEST_BIRTH.year, today.year + 1)}
    out: dict[str, tuple[date, int]] = {}
    day = EARLIEST_BIRTH
    step = timedelta(days=1)
    md_sums: dict[str, int] = {}
    while day <= today:
        md = f"{day.month:02d}{day.day:02d}"
        md_sum = md_sums.get(md)
        if md_sum is None:
            md_sum = md_sums[md] = sum(w * int(d) for w, d in zip(ID_WEIGHTS[10:14], md,
                                                                   strict=True))
        out[f"{day.year:04d}{md}"] = (day, years[day.year] + md_sum)
        day += step
    return out


def id_number_checker(today: date) -> Callable[[str], tuple[str, date, str] | None]:
    """A fast check for bulk imports: ``check(value)`` is ``(kind, birth date, sex)``
    when ``value`` is an 18-character number **already in normal form** that
    :func:`parse_id_number` accepts on ``today`` (same rules: format, date from 1890 to
    today, province, check character), and None otherwise — None is no verdict: call
    :func:`parse_id_number` for the error (or for a number that needs normalising)."""
    births = _birth_dates(today)
    regions = _REGIONS
    sequences = _SEQUENCES
    check_chars = ID_CHECK

    def check(value: str) -> tuple[str, date, str] | None:
        if len(value) != 18:
            return None
        prefix = value[:6]
        region = regions[prefix] if prefix in regions else _region(prefix)
        born = births.get(value[6:14])
        seq = sequences.get(value[14:17])
        if region is None or born is None or seq is None:
            return None
        if check_chars[(region[1] + born[1] + seq[0]) % 11] != value[17]:
            return None
        return region[0], born[0], seq[1]

    return check


def is_valid_id_number(raw: str, *, today: date | None = None) -> bool:
    try:
        parse_id_number(raw, today=today)
    except IdentifierError:
        return False
    return True


# ------------------------------------------------------------------------------ other documents

#: Patterns for documents that are not GB 11643 numbers [K]. Lenient on purpose: a wrong
#: rejection blocks a real person's registration, a wrong acceptance is caught on review.
OTHER_DOCUMENT_RES = {
    "foreign_permanent": re.compile(r"^[A-Z]{3}\d{12}$"),  # the 2017 card
    "hk_macao_permit": re.compile(r"^[HM]\d{8}(\d{2})?$"),
    "taiwan_permit": re.compile(r"^\d{8}(\d{2})?$"),
    "passport": re.compile(r"^[A-Z0-9]{5,20}$"),
    "other": re.compile(r"^[A-Z0-9]{3,32}$"),
}


def normalise_document(raw: str) -> str:
    return _ascii(str(raw)).upper()


def check_document(
    id_type: str, raw: str, *, today: date | None = None
) -> tuple[str, str, IdNumber | None]:
    """``(type, normalised number, parsed GB 11643 number or None)``; raises
    :class:`IdentifierError`.

    An 18-character GB 11643 number says itself which kind it is (810000/820000/830000 →
    residence permit, leading 9 → foreign permanent-residence card), so for those types the
    returned type comes from the number: a spreadsheet that files a residence permit under
    "居民身份证" is corrected rather than rejected."""
    from core.registry.codes import GB11643_TYPES, ID_TYPES

    if id_type not in ID_TYPES:
        raise IdentifierError("type", f"Unknown document type '{id_type}'.")
    value = raw if len(raw) == 18 and ID_RE.match(raw) else normalise_document(raw)
    if id_type in GB11643_TYPES and (id_type != "foreign_permanent" or value[:1].isdigit()):
        parsed = parse_id_number(value, today=today)
        return parsed.kind, parsed.number, parsed
    pattern = OTHER_DOCUMENT_RES.get(id_type)
    if pattern is None or not pattern.match(value):
        raise IdentifierError("format", "The document number has an unexpected format.")
    return id_type, value, None


def validate_document(id_type: str, raw: str, *, today: date | None = None) -> tuple[str, str]:
    """``(type, normalised number)``: :func:`check_document` without the parsed details."""
    kind, number, _ = check_document(id_type, raw, today=today)
    return kind, number


# ------------------------------------------------------------------------------ credit code

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3^(i-1) mod 31
USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_USCC_INDEX = {c: i for i, c in enumerate(USCC_CHARS)}


@dataclass(frozen=True)
class CreditCode:
    code: str
    authority: str  # position 1: 1 编制, 5 民政, 9 工商 (market regulation), N, Y ...
    category: str  # position 2
    region: str  # positions 3–8: GB/T 2260 code of the registering authority
    org_code: str  # positions 9–17: the old GB 11714 organisation code
    warnings: tuple[str, ...] = field(default=())


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_INDEX[c] * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """GB 11714 check character (letters count A=10 … Z=35)."""
    total = sum(int(c, 36) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def normalise_credit_code(raw: str) -> str:
    return _ascii(str(raw)).upper()


def parse_credit_code(raw: str) -> CreditCode:
    """Validate a unified social credit code; raises :class:`IdentifierError`. The nested
    organisation-code check is reported in ``warnings`` only (docs/requirements.md,
    domain §1: not confirmed to hold for every issued code)."""
    value = normalise_credit_code(raw)
    if not USCC_RE.match(value):
        raise IdentifierError(
            "format",
            "A credit code has 18 characters: digits and capital letters except I, O, Z, S, V.",
        )
    if value[17] != uscc_check_char(value[:17]):
        raise IdentifierError("checksum", "The check character of the credit code is wrong.")
    warnings: tuple[str, ...] = ()
    org = value[8:17]
    if org[:8].isalnum() and org[8] != org_code_check_char(org[:8]):
        warnings = ("organisation code check character does not match",)
    return CreditCode(value, value[0], value[1], value[2:8], org, warnings)


def is_valid_credit_code(raw: str) -> bool:
    try:
        parse_credit_code(raw)
    except IdentifierError:
        return False
    return True


# ------------------------------------------------------------------------------ phones

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
LANDLINE_RE = re.compile(r"^0[1-9]\d{8,10}$", re.ASCII)
#: Prefixes allocated as of 2019 [S: docs/requirements.md, domain §1.4].
MOBILE_PREFIXES = frozenset(
    [f"13{d}" for d in range(10)]
    + [f"{p}" for p in (*range(145, 150), *range(150, 154), *range(155, 160), 162,
                        *range(165, 168), *range(170, 179), *range(180, 190),
                        *range(190, 194), *range(195, 200))]
)


def normalise_phone(raw: str) -> str:
    """Separators out, ``+86`` / ``0086`` / ``86`` in front of a mobile number stripped."""
    raw = str(raw)
    if len(raw) == 11 and raw.isascii() and raw.isdigit():
        return raw
    value = _ascii(raw).replace("+", "")
    for prefix in ("0086", "86"):
        n = len(prefix)
        if value.startswith(prefix) and len(value) == n + 11 and value[n] == "1":
            value = value[n:]
            break
    return value


def validate_mobile(raw: str, *, strict: bool = False) -> str:
    value = normalise_phone(raw)
    if not MOBILE_RE.match(value):
        raise IdentifierError("format", "A mainland mobile number has 11 digits starting 13–19.")
    if strict and value[:3] not in MOBILE_PREFIXES:
        raise IdentifierError("prefix", "This mobile prefix is not allocated.")
    return value


def validate_phone(raw: str, *, strict: bool = False) -> str:
    """A mobile number, or a landline with its area code (0 + 9–11 digits, no separators)."""
    value = normalise_phone(raw)
    if value.startswith("0"):
        if not LANDLINE_RE.match(value):
            raise IdentifierError("format", "A landline is 0, the area code and 7–8 digits.")
        return value
    return validate_mobile(value, strict=strict)


def is_valid_mobile(raw: str, *, strict: bool = False) -> bool:
    try:
        validate_mobile(raw, strict=strict)
    except IdentifierError:
        return False
    return True


# ------------------------------------------------------------------------------ divisions

COMMUNITY_CODE_RE = re.compile(r"^[1-9]\d{11}$")


def validate_community_code(raw: str) -> str:
    """A 12-digit statistical division code whose last three digits name a residents'
    committee (001–199) or a villagers' committee (200–399)."""
    value = _ascii(str(raw))
    if not COMMUNITY_CODE_RE.match(value) or not 1 <= int(value[9:]) <= 399:
        raise IdentifierError(
            "format", "A community is its 12-digit division code (last three digits 001–399)."
        )
    if int(value[:2]) not in PROVINCES:
        raise IdentifierError("province", "The division code does not start with a province.")
    return value


def validate_street_code(raw: str) -> str:
    value = _ascii(str(raw))
    if not re.fullmatch(r"[1-9]\d{8}", value) or int(value[:2]) not in PROVINCES:
        raise IdentifierError("format", "A street is its 9-digit township code.")
    return value


# ------------------------------------------------------------------------------ masking


def mask_id_number(value: str | None) -> str:
    """``11010519491231002X`` → ``1101**********002X`` (docs/requirements.md R09); shorter document
    numbers keep their first and last two characters."""
    if not value:
        return ""
    if len(value) > 8:
        return value[:4] + "*" * (len(value) - 8) + value[-4:]
    if len(value) > 4:
        return value[:1] + "*" * (len(value) - 3) + value[-2:]
    return "*" * len(value)


def mask_phone(value: str | None) -> str:
    """``13812341234`` → ``138****1234``; landlines keep the first three and last four."""
    if not value:
        return ""
    if len(value) >= 8:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    return "*" * len(value)
