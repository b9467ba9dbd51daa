"""The rules for one row, and the fast path for the common row.

:func:`_validate_row` is the general path (``services.clean_person`` plus the place and
household columns) and has the final word on every error; :class:`_FastRows` accepts the
common, already-clean row from tables of verdicts, a million times faster per cell.
:func:`_checked_batches` runs both over a file, batch by batch. A validated row travels as
a plain tuple (the ``_V_*`` layout below), the same in this process or the validating one.
"""

from __future__ import annotations

import operator
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from core.registry import codes
from core.registry.errors import RegistryError
from core.registry.importer.reading import _PLACE_FIELDS, COLUMN_KEYS, RowError
from core.registry.models import (
    Person,
)
from core.registry.pinyin import compute_name_keys
from core.registry.validation import id_number_checker, mask_id_number, mask_phone

if TYPE_CHECKING:
    from core.registry.importer.assemble import _Assembled, _Places


# ------------------------------------------------------------------------------ import

_COMPARED = ("name", "id_type", "sex", "birth_date", "phone", "ethnicity", "nationality",
             "hukou_type", "hukou_place")
#: What a re-import compares, read as plain rows (no ORM objects for a million persons).
_EXISTING = tuple(getattr(Person, c) for c in (
    "id", "id_number", "version", "status", "dwelling_id", "household_id", "relation",
    *_COMPARED))
#: The columns of a new person, in the order :func:`import_persons` builds them.
_PERSON_COLUMNS = ("id", "name", "name_pinyin", "name_initials", "id_type", "id_number", "sex",
                   "birth_date", "phone", "ethnicity", "nationality", "hukou_type",
                   "hukou_place", "status", "died_on", "merged_into_id", "dwelling_id",
                   "grid_id", "community_id", "household_id", "relation", "version",
                   "created_at", "updated_at")

# A validated row is a plain tuple (a million of them go through one import):
# (row number, *clean person fields in services.PERSON_FIELDS order, community id,
#  grid id, road, estate, building, unit, room, residence role, moved in, household no,
#  relation code or "", pinyin.name_keys of the name, the blank mask). Dates (birth,
# moved in) travel as proleptic ordinals: a tuple of ints and strings pickles twice as
# fast as one with dates.
_V_PERSON = slice(1, 11)
(_V_ROW, _V_NAME, _V_ID_TYPE, _V_ID_NUMBER, _V_SEX, _V_BIRTH, _V_PHONE, _V_ETHNICITY,
 _V_NATIONALITY, _V_HUKOU, _V_HUKOU_PLACE, _V_CID, _V_GID, _V_ROAD, _V_ESTATE, _V_BUILDING,
 _V_UNIT, _V_ROOM, _V_ROLE, _V_MOVED_IN, _V_HOUSEHOLD, _V_RELATION, _V_KEYS,
 _V_BLANKS) = range(24)
assert (_V_ID_NUMBER, _V_RELATION) == (3, 21)  # spelled out in _checked_batches' loop


def _masked(key: str, value: Any) -> str:
    text = "" if value is None else str(value)
    if key == "id_number":
        return mask_id_number(text)
    if key == "phone":
        return mask_phone(text)
    return text[:60]


def _validate_row(rec: dict[str, Any], places: _Places, today: date
                  ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The rules, written once: :func:`services.clean_person` plus the place and
    household columns. ``rec`` (field → cell) is normalised in place. Every row whose
    cells :class:`_FastRows` cannot vouch for comes here, and so does every error."""
    from core.registry.services import clean_person, parse_date

    errors: dict[str, str] = {}
    clean: dict[str, Any] | None = None
    raw_id = rec.get("id_number")
    if isinstance(raw_id, int | float) and len(str(int(raw_id))) > 15:
        errors["id_number"] = ("Excel stored this ID number as a number and lost digits; "
                               "format the column as text and enter it again.")
    elif not str(raw_id or "").strip():
        errors["id_number"] = "The document number is required."
    try:
        clean = clean_person(rec, today=today)
    except RegistryError as exc:
        for k, v in exc.errors.items():
            errors.setdefault(k, v)
    for k in _PLACE_FIELDS:
        rec[k] = str(rec.get(k) or "").strip()
    code = rec["community"]
    if not code:
        errors["community"] = "The community code is required."
    elif code not in places.communities:
        errors["community"] = f"No community with code {code}."
    if rec["grid"]:
        g = places.grids.get(rec["grid"])
        if g is None:
            errors["grid"] = f"No grid with code {rec['grid']}."
        elif code in places.communities and g[1] != places.communities[code]:
            errors["grid"] = "The grid belongs to another community."
    if rec["room"] and not rec["building"]:
        errors["building"] = "A room number needs a building."
    if rec["building"] and not rec["room"]:
        errors["room"] = "Give the room number (房号)."
    try:
        rec["residence_role"] = codes.parse_code(
            rec["residence_role"], codes.RESIDENCE_ROLES, codes.RESIDENCE_ALIASES) or "other"
    except KeyError:
        errors["residence_role"] = "A residence is as owner, tenant or other."
    try:
        rec["moved_in"] = parse_date(rec["moved_in"], "moved_in")
        if rec["moved_in"] and rec["moved_in"] > today:
            errors["moved_in"] = "The moving-in date is in the future."
    except RegistryError as exc:
        errors["moved_in"] = str(exc)
    if rec["relation"]:
        try:
            rec["relation"] = codes.parse_code(rec["relation"], codes.RELATIONS,
                                               codes.RELATION_ALIASES)
        except KeyError:
            errors["relation"] = "Unknown relation to the head of household."
        if not rec["household_no"]:
            errors["household_no"] = "A relation needs the household number (户号)."
    elif rec["household_no"]:
        errors["relation"] = "Give the relation to the head of household."
    return (clean if not errors else None), errors


def _as_valid(rownum: int, clean: dict[str, Any], rec: dict[str, Any], places: Any
              ) -> tuple[Any, ...]:
    """A row :func:`_validate_row` accepted, as the validated-row tuple."""
    from core.registry.services import PERSON_FIELDS

    values = [clean[f] for f in PERSON_FIELDS]
    values[_V_BIRTH - 1] = _ordinal(values[_V_BIRTH - 1])
    return (rownum, *values, places.communities[rec["community"]],
            places.grids[rec["grid"]][0] if rec["grid"] else None, rec["road"], rec["estate"],
            rec["building"], rec["unit"], rec["room"], rec["residence_role"],
            _ordinal(rec["moved_in"]), rec["household_no"], rec["relation"],
            compute_name_keys(clean["name"]), _blanks(rec))


#: The person fields whose blank cell does not read as "no value" (a default or a value
#: derived from the ID number takes its place): which of them were blank travels with
#: the row as a bit mask (``_V_BLANKS``), so that an update leaves them alone. Phone,
#: ethnicity and hukou place are blank exactly when their clean value is None.
_BLANKABLE = ("id_type", "sex", "ethnicity", "nationality", "hukou_type")
_NONE_IS_BLANK = {"phone": _V_PHONE, "ethnicity": _V_ETHNICITY, "hukou_place": _V_HUKOU_PLACE}


def _is_blank(value: Any) -> bool:
    return value is None or not str(value).strip()


def _blanks(rec: dict[str, Any]) -> int:
    """The bit mask of the :data:`_BLANKABLE` cells of a row that are blank."""
    return sum(1 << i for i, key in enumerate(_BLANKABLE) if _is_blank(rec.get(key)))


def _ordinal(value: date | None) -> int | None:
    return None if value is None else value.toordinal()


_NO = object()  # "not cached yet"


@dataclass
class _PlaceCodes:
    """What validation needs of the registry: community code → id, grid code → (id,
    community id). Plain data, so a validating process can have it."""

    communities: dict[str, int]
    grids: dict[str, tuple[int, int]]


class _FastRows:
    """The common row, validated with tables instead of the general functions.

    Most cells of a large file repeat (a few spellings of sex, ethnicity, hukou type,
    relation; a few hundred communities and grids; given names and surnames): each
    distinct cell value is checked **once by the general functions** (``codes``,
    ``services.parse_date``, ``services._clean_name`` …) and the verdict is kept. ID numbers
    go through :func:`validation.id_number_checker` (precomputed partial check sums and the
    set of valid birth dates), mobile numbers through a character test. A row is accepted
    here only when every cell is in the form the general path would accept unchanged;
    anything else — any error, any cell that needs normalising, landlines, other documents
    — returns None and the row goes to :func:`_validate_row`, which has the final word and
    writes the messages. ``tests/core/test_registry_import.py`` checks that both paths
    agree.
    """

    _CACHED = ("id_type", "sex", "birth_date", "ethnicity", "nationality", "hukou_type",
               "community", "grid", "residence_role", "moved_in", "relation")

    def __init__(self, mapping: dict[int, str], width: int, places: Any, today: date, *,
                 text_only: bool = True):
        from core.registry.codes import GB11643_TYPES

        self.width = width  # cells per row; index ``width`` is an appended ""
        position = {key: i for i, key in mapping.items()}
        self.get = operator.itemgetter(*(position.get(k, width) for k in COLUMN_KEYS))
        self.places = places
        self.today = today
        self.text_only = text_only
        self.ids = id_number_checker(today)
        self.gb11643 = GB11643_TYPES
        self.names: dict[str, Any] = {}
        self.caches: tuple[dict[Any, Any], ...] = tuple({} for _ in self._CACHED)
        self.births = self.caches[self._CACHED.index("birth_date")]
        self.combos: dict[tuple[Any, ...], Any] = {}
        self.pairs: dict[tuple[Any, Any], Any] = {}
        self._check = self._make_check()

    def _name(self, raw: Any) -> Any:
        """The name's search keys when the name is valid and already clean, else False."""
        from core.registry.services import _NAME_OK, _clean_name

        ok = (isinstance(raw, str) and _clean_name(raw) == raw and bool(_NAME_OK.search(raw))
              and len(raw) <= 50)
        value = compute_name_keys(raw) if ok else False
        if len(self.names) < 1_000_000:
            self.names[raw] = value
        return value

    def _miss(self, cache: dict[Any, Any], key: str, raw: Any) -> Any:
        value = self._verdict(key, raw)
        if len(cache) < 50_000:
            cache[raw] = value
        return value

    def _verdict(self, key: str, raw: Any) -> Any:
        """The clean value of one cell as the general path computes it; False when that
        path would reject it or change it in a way the fast path does not follow."""
        from core.registry.services import parse_date

        try:
            if key == "id_type":
                return codes.parse_code(raw, codes.ID_TYPES) or "resident_id"
            if key == "sex":
                return codes.parse_code(raw, codes.SEXES, codes.SEX_ALIASES)
            if key == "ethnicity":
                return codes.parse_ethnicity(raw)
            if key == "hukou_type":
                return codes.parse_code(raw, codes.HUKOU_TYPES, codes.HUKOU_ALIASES)
            if key == "nationality":
                value = unicodedata.normalize("NFKC", str(raw or "")).strip().upper()
                if value in ("", "CHN", "CN", "中国", "中华人民共和国"):
                    return None
                return value if len(value) == 3 and value.isascii() and value.isalpha() \
                    else False
            if key == "birth_date":
                born = parse_date(raw, key)
                return False if born and born > self.today else born
            text = str(raw or "").strip()
            if key == "community":
                return self.places.communities.get(text, False) if text else False
            if key == "grid":
                return self.places.grids.get(text, False) if text else (None, None)
            if key == "residence_role":
                return codes.parse_code(text, codes.RESIDENCE_ROLES,
                                        codes.RESIDENCE_ALIASES) or "other"
            if key == "moved_in":
                moved = parse_date(text, key)
                return False if moved and moved > self.today else moved
            if key == "relation":
                return codes.parse_code(text, codes.RELATIONS, codes.RELATION_ALIASES) \
                    if text else ""
        except (KeyError, RegistryError):
            return False
        raise AssertionError(key)

    def _codes(self, key: tuple[Any, ...]) -> Any:
        """The verdicts on one combination of the coded cells (document type, sex,
        ethnicity, nationality, hukou type, residence role, moving-in date, relation):
        a file has a few thousand combinations at most, so a row needs one lookup."""
        verdicts = tuple(self._cached(name, raw) for name, raw in zip(
            ("id_type", "sex", "ethnicity", "nationality", "hukou_type", "residence_role",
             "moved_in", "relation"), key, strict=True))
        ok = False not in verdicts and verdicts[0] in self.gb11643
        value = (*verdicts, _blanks(dict(zip(_BLANKABLE, key[:5], strict=True)))) if ok \
            else False
        if len(self.combos) < 100_000:
            self.combos[key] = value
        return value

    def _place(self, key: tuple[Any, Any]) -> Any:
        """(community id, grid id or None) for a (community, grid) pair of cells."""
        cid = self._cached("community", key[0])
        g = self._cached("grid", key[1])
        value = False if cid is False or g is False or (g[0] is not None and g[1] != cid) \
            else (cid, g[0])
        if len(self.pairs) < 100_000:
            self.pairs[key] = value
        return value

    def _cached(self, key: str, raw: Any) -> Any:
        cache = self.caches[self._CACHED.index(key)]
        value = cache.get(raw, _NO)
        return self._miss(cache, key, raw) if value is _NO else value

    def check(self, rownum: int, cells: list[Any]) -> tuple[Any, ...] | None:
        """The validated-row tuple, or None (then ask :func:`_validate_row`). ``cells``
        is padded to the header's width plus one "" (the cell of absent columns)."""
        return self._check(rownum, cells)

    def _make_check(self) -> Callable[[int, list[Any]], tuple[Any, ...] | None]:
        # A closure: a million calls read these as cell variables, not attributes.
        text_only, get, names, name_of = self.text_only, self.get, self.names, self._name
        combos, codes_of, ids, births = self.combos, self._codes, self.ids, self.births
        miss, pairs, place_of, no = self._miss, self.pairs, self._place, _NO

        def check(rownum: int, cells: list[Any]) -> tuple[Any, ...] | None:
            if not text_only and any(type(c) is not str for c in cells):
                return None  # spreadsheet numbers and dates: the general path converts
            (name, id_type, id_number, sex, birth, ethnicity, nationality, phone, hukou,
             place, community, grid, road, estate, building, unit, room, role, moved_in,
             household_no, relation) = get(cells)
            keys = names.get(name)
            if keys is None:
                keys = name_of(name)
            if keys is False:
                return None
            key = (id_type, sex, ethnicity, nationality, hukou, role, moved_in, relation)
            verdicts = combos.get(key)
            if verdicts is None:
                verdicts = codes_of(key)
            if verdicts is False:
                return None  # an error, or another document: the general path
            _type, sex_code, eth, nat, huk, rol, moved, rel, blanks = verdicts
            parsed = ids(id_number)
            if parsed is None:
                return None
            kind, born, derived_sex = parsed
            if sex_code and sex_code != derived_sex:
                return None
            given = births.get(birth, no)
            if given is no:
                given = miss(births, "birth_date", birth)
            if given is False or (given and given != born):
                return None
            if phone:
                if not (len(phone) == 11 and phone[0] == "1" and phone[1] in "3456789"
                        and phone.isdigit() and phone.isascii()):
                    return None
            else:
                phone = None
            if huk is None:
                huk = "overseas" if (kind != "resident_id" or nat) else "local"
            at = pairs.get((community, grid))
            if at is None:
                at = place_of((community, grid))
            if at is False:
                return None
            building = building.strip()
            room = room.strip()
            if bool(building) != bool(room):
                return None
            household_no = household_no.strip()
            if bool(rel) != bool(household_no):
                return None
            return (rownum, name, kind, id_number, derived_sex, born.toordinal(), phone, eth,
                    nat, huk, place.strip()[:200] or None, at[0], at[1], road.strip(),
                    estate.strip(), building, unit.strip(), room, rol,
                    moved and moved.toordinal(), household_no, rel, keys, blanks)

        return check


@dataclass
class _Checked:
    """One batch of rows, validated: how many rows it had, how many counted (not blank),
    the valid ones as validated-row tuples, the rejected ones' errors (in row order) —
    or, from a validating process that assembles, the rows for the database instead of
    the validated ones."""

    rows: int
    counted: int
    valid: list[tuple[Any, ...]]
    rejected: list[RowError]
    assembled: _Assembled | None = None


def _checked_batches(rows: Iterator[tuple[int, list[Any]]], mapping: dict[int, str],
                     width: int, places: Any, today: date, chunk: int, *, text_only: bool
                     ) -> Iterator[_Checked]:
    """Validate the rows, ``chunk`` at a time: every rule that needs nothing but the file
    and the community and grid codes — the person and place rules, and the same document
    number or household head twice in the file. Rules that need the registry's persons
    (closed records) are checked when writing."""
    fast = _FastRows(mapping, width, places, today, text_only=text_only)
    check = fast._check
    seen: dict[str, int] = {}
    heads: dict[str, int] = {}
    head_code = codes.HEAD
    name_at = _cell_index(mapping, "name", width)
    id_at = _cell_index(mapping, "id_number", width)
    # Rows are streamed, not collected into a list per batch first: holding a batch of a
    # million short-lived row lists at a time cost ~3 s of allocator time more.
    out = _Checked(0, 0, [], [])
    valid = out.valid
    n = blank = 0
    for rownum, cells in rows:
        if n == chunk:
            out.rows, out.counted = n, n - blank
            yield out
            out = _Checked(0, 0, [], [])
            valid = out.valid
            n = blank = 0
        n += 1
        if len(cells) != width:
            cells = [*cells[:width], *([""] * (width - len(cells)))]
        cells.append("")
        v = check(rownum, cells)
        if v is None:
            rec = {key: cells[i] for i, key in mapping.items()}
            for key in COLUMN_KEYS:
                rec.setdefault(key, "")
            if not any(str(x).strip() for x in rec.values()):
                blank += 1
                continue
            clean, errors = _validate_row(rec, places, today)
            if errors:
                label = str(rec.get("name") or "")[:50]
                for key, message in errors.items():
                    out.rejected.append(RowError(rownum, key, message, label,
                                                 _masked(key, rec.get(key))))
                continue
            assert clean is not None  # no errors: the general path cleaned the row
            v = _as_valid(rownum, clean, rec, places)
        number = v[3]  # _V_ID_NUMBER
        if number not in seen and v[21] != head_code:  # _V_RELATION
            seen[number] = rownum
            valid.append(v)
            continue
        errors = {}
        if number in seen:
            errors["id_number"] = f"The same document number is in row {seen[number]}."
        else:
            seen[number] = rownum
        if v[_V_RELATION] == head_code:
            hn = v[_V_HOUSEHOLD]
            if hn in heads:
                errors["relation"] = (f"Household {hn} has its head in row "
                                      f"{heads[hn]} already.")
            else:
                heads[hn] = rownum
        if not errors:
            valid.append(v)
            continue
        # As the general path reports them: the name and ID number cells as given (a
        # valid row's are), the relation as its code.
        label = str(cells[name_at] or "")[:50]
        for key, message in errors.items():
            value = cells[id_at] if key == "id_number" else v[_V_RELATION]
            out.rejected.append(RowError(rownum, key, message, label, _masked(key, value)))
    if n:
        out.rows, out.counted = n, n - blank
        yield out


def _same(value: Any) -> Any:
    return value


def _cell_index(mapping: dict[int, str], key: str, width: int) -> int:
    return next((i for i, k in mapping.items() if k == key), width)

