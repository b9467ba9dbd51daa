"""Importing residents from CSV or XLSX, and exporting them.

The rules (docs/registry.md has the template):

* **Template.** One header row; Chinese or English headers (:data:`COLUMNS`), in any
  order; unknown columns are reported and ignored. Required: name, document number,
  community code.
* **Every row is validated** with the same rules as one-by-one registration
  (``services.clean_person``) plus the place and household columns; the report lists each
  rejected row (its spreadsheet row number) with every reason.
* **All or nothing.** If any row is rejected, nothing of the batch is written (the session
  is rolled back; run imports in a session of their own). Validation goes on to the end so
  the report is complete.
* **Dry run** reads and validates everything and says what would be created, updated or
  left unchanged, writing nothing.
* **Idempotent.** Rows are matched to persons by document number: a re-import of the
  same file changes nothing; a changed row updates the person through the services
  (history, ``registry.person.updated``/``moved`` events).
* **Fast.** New persons go in through :class:`core.registry.bulk.BulkWriter` (Core
  executemany in chunks, ids allocated up front, indexes rebuilt after a large load) and
  one ``registry.import.completed`` event per batch instead of one per person.
"""

from __future__ import annotations

import csv
import io
import operator
import os
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from core.audit.services import write_access_log
from core.db import utcnow
from core.exports import csv_writer, xlsx_row
from core.registry import codes
from core.registry.bulk import BulkWriter, converter
from core.registry.errors import RegistryError, ScopeError
from core.registry.models import (
    Building,
    Change,
    Community,
    Dwelling,
    Grid,
    Household,
    Person,
    PersonKey,
    Residence,
    Unit,
)
from core.registry.pinyin import compute_name_keys
from core.registry.present import (
    ALL_SCOPES,
    check_reveal,
    display_entry,
    log_displays,
    mask_name,
)
from core.registry.search import place_filter
from core.registry.validation import id_number_checker, mask_id_number, mask_phone

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    required: bool = False
    note: str = ""
    aliases: tuple[str, ...] = ()


#: The import/export template. Headers match case-insensitively, ignoring spaces.
COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", "name", True, "as on the document"),
    Column("id_type", "证件类型", "id_type", False,
           "居民身份证 (default), 港澳台居民居住证, 外国人永久居留身份证, 港澳居民来往内地通行证, "
           "台湾居民来往大陆通行证, 护照, 其他证件 — or the English code"),
    Column("id_number", "证件号码", "id_number", True,
           "18 characters (15-digit legacy numbers are upgraded); keep the column as text "
           "in Excel", ("身份证号", "身份证号码", "公民身份号码", "id_no")),
    Column("sex", "性别", "sex", False, "男/女 or M/F; must agree with the ID number"),
    Column("birth_date", "出生日期", "birth_date", False,
           "YYYY-MM-DD; required without an ID number; must agree with it"),
    Column("ethnicity", "民族", "ethnicity", False, "汉族 / 汉 / 01 (GB 3304)"),
    Column("nationality", "国籍", "nationality", False, "ISO 3166 alpha-3; empty = China"),
    Column("phone", "联系电话", "phone", False, "mobile or landline with area code",
           ("手机号", "手机号码", "电话")),
    Column("hukou_type", "人口类型", "hukou_type", False,
           "户籍/流动/境外/未落户 or local/floating/overseas/unregistered", ("户籍类型",)),
    Column("hukou_place", "户籍地址", "hukou_place", False, "for floating residents",
           ("户籍地",)),
    Column("community", "社区代码", "community", True, "12-digit division code",
           ("社区编码", "community_code")),
    Column("grid", "网格编码", "grid", False, "grid code", ("网格", "网格代码", "grid_code")),
    Column("road", "门牌地址", "road", False, "road and number, e.g. 和平路88号", ("道路门牌",)),
    Column("estate", "小区", "estate", False, "residential estate"),
    Column("building", "楼栋", "building", False, "e.g. 3栋"),
    Column("unit", "单元", "unit", False, "e.g. 2单元"),
    Column("room", "房号", "room", False, "e.g. 1502 (needs a building)", ("室",)),
    Column("residence_role", "居住类型", "residence_role", False,
           "产权人/租户/其他 or owner/tenant/other", ("居住方式",)),
    Column("moved_in", "入住日期", "moved_in", False, "YYYY-MM-DD (default: today)"),
    Column("household_no", "户号", "household_no", False, "household book number"),
    Column("relation", "与户主关系", "relation", False,
           "户主/配偶/子/女/... or GB/T 4761 code; needs a household number"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
_PLACE_FIELDS = ("community", "grid", "road", "estate", "building", "unit", "room",
                 "residence_role", "moved_in", "household_no", "relation")


class ImportFileError(RegistryError):
    """The file as a whole cannot be imported (unreadable, missing required columns)."""


@dataclass
class RowError:
    row: int  # the spreadsheet row number (the header is row 1)
    field: str
    message: str
    name: str = ""
    value: str = ""  # masked where sensitive


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    new_dwellings: int = 0
    new_households: int = 0
    rejected: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    committed: bool = False
    batch_id: int | None = None
    first_person_id: int | None = None
    last_person_id: int | None = None
    indexes_rebuilt: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.rejected

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({e.row for e in self.rejected})

    def summary(self) -> str:
        mode = "dry run: would create" if self.dry_run else "created"
        line = (f"{self.total} rows: {mode} {self.created}, updated {self.updated}, "
                f"unchanged {self.unchanged}, rejected {len(self.rejected_rows)}")
        if self.rejected and not self.dry_run:
            line += " — nothing was written (all or nothing)"
        return line


# ------------------------------------------------------------------------------ reading


def _norm_header(text: Any) -> str:
    return str(text or "").strip().lower().replace(" ", "").replace("_", "")


_HEADER_INDEX: dict[str, str] = {}
for _c in COLUMNS:
    for _h in (_c.key, _c.zh, _c.en, *_c.aliases):
        _HEADER_INDEX[_norm_header(_h)] = _c.key


#: How to import a roster without a community column (part of the missing-column message).
COMMUNITY_HINT = ("Add the column, or say which community every row is for: "
                  "--community CODE on the command line, or the community field on the "
                  "import page.")


def map_headers(headers: Sequence[Any], *, community: str | None = None
                ) -> tuple[dict[int, str], list[str]]:
    """(column index → field key, warnings); raises :class:`ImportFileError` when a
    required column is missing or a column appears twice. ``community``: the community
    every row is for, given instead of the column (then the file must not have one)."""
    mapping: dict[int, str] = {}
    warnings: list[str] = []
    for i, header in enumerate(headers):
        if header is None or not str(header).strip():
            continue
        key = _HEADER_INDEX.get(_norm_header(header))
        if key is None:
            warnings.append(f"column '{header}' is not in the template and was ignored")
            continue
        if key in mapping.values():
            raise ImportFileError("The column %(column)s appears twice.", "header",
                                  column=str(header))
        mapping[i] = key
    present = set(mapping.values())
    if community and "community" in present:
        raise ImportFileError(
            "The file has a community column already; import it without choosing a "
            "community, or remove the column.", "community")
    missing = [c for c in COLUMNS if c.required and c.key not in present
               and not (c.key == "community" and community)]
    if missing:
        names = ", ".join(c.zh + "/" + c.en for c in missing)
        if any(c.key == "community" for c in missing):
            raise ImportFileError("Required columns are missing: %(columns)s. " + COMMUNITY_HINT,
                                  "header", columns=names)
        raise ImportFileError("Required columns are missing: %(columns)s.", "header",
                              columns=names)
    return mapping, warnings


def _supply(rows: Iterator[tuple[int, list[Any]]], width: int, value: str
            ) -> Iterator[tuple[int, list[Any]]]:
    """The rows with ``value`` as one more cell (index ``width``): the community given
    for a file without that column. Blank rows stay blank (they are skipped)."""
    for rownum, cells in rows:
        if len(cells) != width:
            cells = [*cells[:width], *([""] * (width - len(cells)))]
        else:
            cells = list(cells)
        if any(c is not None and str(c).strip() for c in cells):
            cells.append(value)
        yield rownum, cells


def _fmt(source: Any, fmt: str | None) -> str:
    if fmt:
        return fmt.lower()
    name = str(getattr(source, "name", source) or "")
    return "xlsx" if name.lower().endswith((".xlsx", ".xlsm")) else "csv"


def _cell(value: Any) -> Any:
    """Spreadsheet cell → text, except numbers that may have lost digits (kept as-is so
    the ID check can say so) and dates."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _open_text(source: str | Path | IO[Any]) -> IO[str]:
    """UTF-8 (with or without BOM), else GB18030 (Excel on Chinese Windows saves CSV as
    GBK): decided from the first 64 KiB."""
    if hasattr(source, "read"):
        data = source.read()  # type: ignore[union-attr]
        if isinstance(data, bytes):
            try:
                return io.StringIO(data.decode("utf-8-sig"))
            except UnicodeDecodeError:
                return io.StringIO(data.decode("gb18030"))
        return io.StringIO(data)
    path = Path(source)
    with path.open("rb") as fh:
        head = fh.read(65536)
    try:
        head.decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        encoding = "utf-8-sig" if exc.start >= len(head) - 3 else "gb18030"
    return path.open("r", encoding=encoding, newline="")


def estimate_rows(source: str | Path | IO[Any], fmt: str | None = None) -> int:
    """About how many data rows a file has (for progress bars and the index decision),
    without parsing it: newlines for CSV, the sheet's dimension for XLSX."""
    if not isinstance(source, str | Path):
        return 0
    if _fmt(source, fmt) == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(source, read_only=True)
        try:
            return max(0, (wb.worksheets[0].max_row or 1) - 1)
        finally:
            wb.close()
    count = 0
    with Path(source).open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            count += block.count(b"\n")
    return max(0, count - 1)


def read_table(source: str | Path | IO[Any], fmt: str | None = None
               ) -> tuple[list[Any], Iterator[tuple[int, list[Any]]], int]:
    """(headers, iterator of (row number, cells), estimated data rows)."""
    if _fmt(source, fmt) == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(source, read_only=True, data_only=True)
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        headers = list(next(rows, ()) or ())
        estimate = max(0, (ws.max_row or 1) - 1)

        def xlsx_rows() -> Iterator[tuple[int, list[Any]]]:
            try:
                for n, row in enumerate(rows, start=2):
                    yield n, [_cell(v) for v in row]
            finally:
                wb.close()

        return headers, xlsx_rows(), estimate
    fh = _open_text(source)
    estimate = estimate_rows(source, "csv")
    reader = csv.reader(fh)
    headers = next(reader, [])

    def csv_rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            yield from enumerate(reader, start=2)
        finally:
            fh.close()

    return headers, csv_rows(), estimate


# ------------------------------------------------------------------------------ places


class _Places:
    """Communities, grids, buildings, units, dwellings and households the batch refers
    to, looked up once and created in bulk when missing. New rows are kept in ``pending``
    in the driver's form (see :class:`_Forms`); ids come from ``allocate(table, n)``.

    Without a session it works from what it was given (a registry with no building and
    no household yet: every place the file names is new) — so the validating process can
    assemble the rows too."""

    def __init__(self, communities: dict[str, int], grids: dict[str, tuple[int, int]], *,
                 allocate: Callable[[Any, int], list[int]], forms: _Forms,
                 session: Session | None = None, no_buildings: bool = True,
                 no_households: bool = True):
        self.session = session
        self.allocate = allocate
        self.rental = forms.rental
        self.now = forms.stamp
        self.floors: dict[str, int | None] = {}
        self.communities = communities
        self.grids = grids
        self.loaded: set[int] = set()
        # With no building (household) in the database yet there is nothing to look up:
        # every one the file names is new, and known once created here.
        self.no_buildings = no_buildings
        self.no_households = no_households
        self.buildings: dict[tuple[int, str, str], tuple[int, int | None, str]] = {}
        self.units: dict[tuple[int, str], int] = {}
        self.dwellings: dict[tuple[int, str, str, str, str], tuple[int, int | None]] = {}
        self.households: dict[str, list[Any]] = {}  # number → [id, head_id]
        self.pending: dict[str, list[tuple[Any, ...]]] = {"b": [], "u": [], "d": [], "h": []}
        self.pool: dict[str, list[int]] = {}

    @classmethod
    def from_session(cls, session: Session, writer: BulkWriter, forms: _Forms) -> _Places:
        return cls(
            {c: i for i, c in session.execute(select(Community.id, Community.code))},
            {c: (i, cid) for i, c, cid in session.execute(
                select(Grid.id, Grid.code, Grid.community_id))},
            allocate=writer.ids, forms=forms, session=session,
            no_buildings=session.scalar(select(Building.id).limit(1)) is None,
            no_households=session.scalar(select(Household.id).limit(1)) is None)

    def take_pending(self) -> dict[str, list[tuple[Any, ...]]]:
        out = self.pending
        self.pending = {"b": [], "u": [], "d": [], "h": []}
        return out

    def _load(self, cid: int) -> None:
        if cid in self.loaded:
            return
        self.loaded.add(cid)
        if self.no_buildings or self.session is None:
            return
        names: dict[int, tuple[str, str]] = {}
        for bid, gid, estate, name, road in self.session.execute(
                select(Building.id, Building.grid_id, Building.estate, Building.name,
                       Building.address).where(Building.community_id == cid)):
            self.buildings[(cid, estate, name)] = (bid, gid, road)
            names[bid] = (estate, name)
        for uid, bid, name, did, room, dgid in self.session.execute(
                select(Unit.id, Unit.building_id, Unit.name, Dwelling.id, Dwelling.room,
                       Dwelling.grid_id)
                .join(Building, Building.id == Unit.building_id)
                .outerjoin(Dwelling, Dwelling.unit_id == Unit.id)
                .where(Building.community_id == cid)):
            self.units[(bid, name)] = uid
            if did is not None:
                self.dwellings[(cid, *names[bid], name, room)] = (did, dgid)

    def _id(self, table: Any) -> int:
        pool = self.pool.setdefault(table.name, [])
        if not pool:
            pool.extend(reversed(self.allocate(table, 5000)))
        return pool.pop()

    def dwelling(self, cid: int, gid: int | None, road: str, estate: str, building: str,
                 unit: str, room: str, role: str, *, create: bool
                 ) -> tuple[int | None, int | None, bool]:
        """(dwelling id, grid id, created?) for a row; (None, grid, False) without a
        building. In a dry run a missing dwelling gets id -1 (counted, not created)."""
        if not building:
            return None, gid, False
        key = (cid, estate, building, unit, room)
        found = self.dwellings.get(key)
        if found is not None:
            return found[0], found[1] or gid, False
        if cid not in self.loaded:
            self._load(cid)
            found = self.dwellings.get(key)
            if found is not None:
                return found[0], found[1] or gid, False
        if not create:
            self.dwellings[key] = (-1, gid)
            return -1, gid, True
        from core.registry.services import format_address, guess_floor

        bkey = (cid, estate, building)
        b = self.buildings.get(bkey)
        if b is None:
            b = (self._id(Building.__table__), gid, road)
            self.buildings[bkey] = b
            self.pending["b"].append((b[0], cid, gid, estate, building, road))
        uid = self.units.get((b[0], unit))
        if uid is None:
            uid = self._id(Unit.__table__)
            self.units[(b[0], unit)] = uid
            self.pending["u"].append((uid, b[0], unit))
        did = self._id(Dwelling.__table__)
        dgid = b[1]
        self.dwellings[key] = (did, dgid)
        floor = self.floors.get(room, _NO)
        if floor is _NO:
            floor = self.floors[room] = guess_floor(room)
        self.pending["d"].append((did, uid, room, floor, None,
                                  "rented" if role == "tenant" else "self",
                                  self.rental[role == "tenant"], cid, dgid,
                                  format_address(b[2], estate, building, unit, room)))
        return did, dgid, True

    def preload_households(self, numbers: set[str]) -> None:
        if self.no_households or self.session is None:
            return
        wanted = [n for n in numbers if n not in self.households]
        for i in range(0, len(wanted), 1000):
            for hid, number, head in self.session.execute(
                    select(Household.id, Household.number, Household.head_id)
                    .where(Household.number.in_(wanted[i:i + 1000]))):
                self.households[number] = [hid, head]

    def household(self, number: str, dwelling_id: int | None, *, create: bool
                  ) -> tuple[int, bool]:
        found = self.households.get(number)
        if found is not None:
            return found[0], False
        hid = self._id(Household.__table__) if create else -1
        self.households[number] = [hid, None]
        if create:
            self.pending["h"].append((hid, number, "family", None,
                                      dwelling_id if dwelling_id and dwelling_id > 0 else None,
                                      self.now))
        return hid, True


_PLACE_TABLES: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("b", Building.__table__, ("id", "community_id", "grid_id", "estate", "name", "address")),
    ("u", Unit.__table__, ("id", "building_id", "name")),
    ("d", Dwelling.__table__, ("id", "unit_id", "room", "floor", "area_m2", "use", "is_rental",
                               "community_id", "grid_id", "address")),
    ("h", Household.__table__, ("id", "number", "kind", "head_id", "dwelling_id", "created_at")),
)


@dataclass
class _Forms:
    """What new rows need in the driver's form (``BulkWriter.insert_rows`` takes them as
    they are): this import's timestamp, today as a residence's start, the two booleans,
    and the dialect whose bind processors convert dates (by name, so that the validating
    process can build rows too)."""

    dialect: str
    stamp: Any
    since_today: Any
    rental: dict[bool, Any]

    @classmethod
    def make(cls, dialect: Any, now: datetime, today: date) -> _Forms:
        def conv(table: Any, key: str) -> Callable[[Any], Any]:
            return converter(dialect, table, key) or _same

        rental = conv(Dwelling.__table__, "is_rental")
        return cls(dialect.name, conv(Person.__table__, "created_at")(now),
                   conv(Residence.__table__, "started_on")(today),
                   {True: rental(True), False: rental(False)})


@dataclass
class _Assembled:
    """One batch's rows for the database, in the driver's form, and what it counted."""

    places: dict[str, list[tuple[Any, ...]]]
    persons: list[tuple[Any, ...]]
    keys: list[tuple[Any, ...]]
    residences: list[tuple[Any, ...]]
    heads: list[tuple[int, int, str]]
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    new_dwellings: int = 0
    new_households: int = 0
    rejected: list[RowError] = field(default_factory=list)
    moves: list[tuple[int, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    closed: bool = False  # a row named a closed record: nothing may be written


class _Assembler:
    """Validated rows → places, persons, search keys, residences and heads: the same code
    in the writing process or, for a bulk load into an empty registry, in the validating
    process (which then sends rows ready for ``insert_rows``)."""

    def __init__(self, places: _Places, forms: _Forms):
        from sqlalchemy.engine import URL

        self.places = places
        self.forms = forms
        dialect = URL.create(forms.dialect).get_dialect()()
        self.as_date = converter(dialect, Person.__table__, "birth_date") or _same  # type: ignore[arg-type]
        self.dates: dict[Any, Any] = {None: None}  # ordinal → driver's form
        #: The person fields the file has a column for (an update writes no other), and
        #: whether a blank cell in one of them clears the field (``blank_clears``).
        self.present: tuple[str, ...] = _COMPARED
        self.blank_clears = False

    def fields(self, v: tuple[Any, ...]) -> tuple[str, ...]:
        """The fields an update of an existing person from row ``v`` may change: those
        with a column in the file, and — unless blank cells clear — a value in the row."""
        if self.blank_clears:
            return self.present
        mask = v[_V_BLANKS]
        return tuple(f for f in self.present if not (
            (f in _BLANKABLE and mask >> _BLANKABLE.index(f) & 1)
            or (f in _NONE_IS_BLANK and v[_NONE_IS_BLANK[f]] is None)))

    def assemble(self, valid: list[tuple[Any, ...]], ids: list[int], *, writing: bool,
                 existing: dict[str, Any]) -> _Assembled:
        """``ids``: fresh person ids, one per new person (none when not writing)."""
        places = self.places
        dwellings = places.dwellings
        households = places.households
        dates = self.dates
        as_date = self.as_date
        stamp = self.forms.stamp
        since_today = self.forms.since_today
        head_code = codes.HEAD
        out = _Assembled({}, [], [], [], [])
        persons, keys, residences, heads = out.persons, out.keys, out.residences, out.heads
        id_iter = iter(ids)
        created = new_dwellings = new_households = 0
        for v in valid:
            (rownum, pname, id_type, number, sex, born, phone, ethnicity, nationality, hukou,
             hukou_place, cid, gid, road, estate, building, unit, room, role, moved_in,
             household_no, relation, name_keys, _blank) = v
            did = None
            if building:
                found = dwellings.get((cid, estate, building, unit, room))
                if found is None:
                    did, gid, made = places.dwelling(cid, gid, road, estate, building, unit,
                                                     room, role, create=writing)
                    new_dwellings += made
                else:
                    did = found[0]
                    gid = found[1] or gid
            hid = None
            if household_no:
                h = households.get(household_no)
                if h is None:
                    hid, made_h = places.household(household_no, did, create=writing)
                    new_households += made_h
                else:
                    hid = h[0]
            if existing:
                person = existing.get(number)
                if person is not None:
                    if person.status in ("deceased", "merged"):
                        out.rejected.append(RowError(
                            rownum, "id_number",
                            f"This person's record is closed ({person.status}).",
                            pname, mask_id_number(number)))
                        out.closed = True
                        writing = False
                        continue
                    if person.name != pname:
                        out.rejected.append(RowError(
                            rownum, "name", _renamed(number, person.name, pname), pname,
                            mask_id_number(number)))
                        out.closed = True
                        writing = False
                        continue
                    rec = {"relation": relation, "residence_role": role,
                           "moved_in": moved_in and date.fromordinal(moved_in)}
                    change = _person_changes(person, _clean(v), did, hid, rec,
                                             self.fields(v))
                    if change:
                        out.updated += 1
                        out.moves.append((person.id, change, rec))
                    else:
                        out.unchanged += 1
                    continue
            created += 1
            if not writing:
                continue
            pid = next(id_iter)
            full, initials, extra = name_keys
            born_as = dates.get(born, _NO)
            if born_as is _NO:
                born_as = dates[born] = as_date(date.fromordinal(born))
            persons.append((pid, pname, full, initials, id_type, number, sex, born_as, phone,
                            ethnicity, nationality, hukou, hukou_place, "active", None, None,
                            did, gid, cid, hid, relation or None, 1, stamp, stamp))
            if extra:
                keys.extend([(pid, k, kind) for k, kind in extra])
            if did is not None:
                if moved_in is None:
                    residences.append((pid, did, role, since_today, None))
                else:
                    since = dates.get(moved_in, _NO)
                    if since is _NO:
                        since = dates[moved_in] = as_date(date.fromordinal(moved_in))
                    residences.append((pid, did, role, since, None))
            if relation == head_code and hid is not None:
                heads.append((hid, pid, household_no))
        out.created, out.new_dwellings, out.new_households = (created, new_dwellings,
                                                              new_households)
        out.places = places.take_pending()
        return out


class _Counter:
    """Ids for a validating process that assembles rows: consecutive from the bases the
    writer read under the write lock (no one else inserts into these tables meanwhile)."""

    def __init__(self, bases: dict[str, int]):
        self.next = dict(bases)

    def __call__(self, table: Any, n: int) -> list[int]:
        start = self.next[table.name]
        self.next[table.name] = start + n
        return list(range(start, start + n))


#: The tables whose ids a validating process allocates when it assembles the rows.
_ASSEMBLED_TABLES = ("registry_person", "registry_building", "registry_unit",
                     "registry_dwelling", "registry_household")


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
            v = _as_valid(rownum, clean, rec, places)  # type: ignore[arg-type]
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


#: From this many rows (estimated) up, a CSV file is read and validated in a second
#: process while this one writes (when the machine has a second CPU).
PARALLEL_MIN_ROWS = 50_000


#: The validating process: a fresh interpreter (nothing of this one — threads, open
#: connections, the ``__main__`` module — is inherited or re-run), told the interpreter's
#: import path first, then its arguments, on stdin.
_CHILD = ("import pickle, sys; sys.path[:0] = pickle.load(sys.stdin.buffer); "
          "from core.registry.importer import _validate_child; _validate_child()")


def _validate_child() -> None:
    """In the validating process: :func:`_checked_batches` over the file — and, for a
    load into an empty registry, :class:`_Assembler` too — each batch pickled to stdout as
    soon as it is ready, then None (or the error, as text)."""
    import gc
    import pickle
    import sys
    import traceback

    gc.disable()  # a million rows of short-lived tuples; nothing here makes cycles
    out = sys.stdout.buffer
    try:
        # Our own parent's arguments, on our own pipe.
        args = pickle.load(sys.stdin.buffer)  # noqa: S301
        source, fmt, mapping, width, codes_, today, chunk, assemble, community = args
        _headers, rows, _estimate = read_table(source, fmt)
        if community:
            rows = _supply(rows, width - 1, community)
        assembler = None
        if assemble is not None:
            forms, bases = assemble
            places = _Places(codes_.communities, codes_.grids, allocate=_Counter(bases),
                             forms=forms)
            assembler = _Assembler(places, forms)
            new_ids = _Counter(bases)
        writing = True
        for checked in _checked_batches(rows, mapping, width, codes_, today, chunk,
                                        text_only=True):
            if assembler is not None:
                writing = writing and not checked.rejected
                ids = new_ids(Person.__table__, len(checked.valid)) if writing else []
                checked.assembled = assembler.assemble(checked.valid, ids, writing=writing,
                                                       existing={})
                checked.valid = []
            pickle.dump(checked, out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(None, out)
    except BaseException:  # the writer re-raises it
        pickle.dump(traceback.format_exc(), out)
    out.flush()


class _Validator:
    """:func:`_checked_batches` in a second process, read as an iterator. The batches
    arrive in file order, so the report is the same as in one process; the process is
    stopped (by its id) when the import ends early. ``assemble``: (forms, id bases) to
    have it build the rows too (an empty registry, ids read under the write lock)."""

    def __init__(self, source: str, fmt: str | None, mapping: dict[int, str], width: int,
                 places: _PlaceCodes, today: date, chunk: int,
                 assemble: tuple[_Forms, dict[str, int]] | None = None,
                 community: str | None = None) -> None:
        import pickle
        import subprocess
        import sys

        self.process = subprocess.Popen(  # this interpreter, our own code
            [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        stdin = self.process.stdin
        assert stdin is not None and self.process.stdout is not None
        path = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
        pickle.dump(path, stdin)
        pickle.dump((str(Path(source).resolve()), fmt, mapping, width, places, today, chunk,
                     assemble, community), stdin)
        stdin.close()
        self.stdout = self.process.stdout

    def __iter__(self) -> Iterator[_Checked]:
        import pickle

        while True:
            try:
                item = pickle.load(self.stdout)  # noqa: S301 - our child, our pipe
            except EOFError:
                raise RuntimeError("the validating process ended without a result") from None
            if item is None:
                return
            if isinstance(item, str):
                raise RuntimeError(f"the validating process failed:\n{item}")
            yield item

    def close(self) -> None:
        self.stdout.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _use_process(source: Any, fmt: str | None, estimate: int, parallel: bool | None) -> bool:
    if parallel is not None:
        return parallel and isinstance(source, str | Path) and _fmt(source, fmt) == "csv"
    if not isinstance(source, str | Path) or _fmt(source, fmt) != "csv":
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return cpus >= 2 and estimate >= PARALLEL_MIN_ROWS


def import_persons(
    session: Session,
    source: str | Path | IO[Any],
    *,
    bus: Any,
    actor: Any = None,
    via: str = "import",
    dry_run: bool = False,
    fmt: str | None = None,
    progress: Progress | None = None,
    today: date | None = None,
    chunk: int = 5000,
    parallel: bool | None = None,
    community: str | None = None,
    blank_clears: bool = False,
) -> ImportReport:
    """Import persons from a CSV or XLSX file (path or binary file object). Returns the
    report; when any row is rejected (and not in a dry run) the session is rolled back so
    nothing of the batch remains. The caller commits a successful import.

    ``parallel``: validate in a second process while this one writes (a CSV file given
    by path); default: when the file has at least :data:`PARALLEL_MIN_ROWS` rows and the
    machine a second CPU. Into an empty SQLite registry that process also builds the rows
    (ids from the bases read under the write lock). The result is the same either way.

    Updates of persons already registered (matched by document number) change only the
    fields the file has a column for, and of those only the cells with a value — unless
    ``blank_clears``, when a blank cell clears the field (to its default where it has
    one). A row whose document number is registered under another name is rejected: a
    name change is a correction, not an import. ``community``: the community code of
    every row, for a file without the community column (a file with one is refused)."""
    import gc

    started = time.perf_counter()
    today = today or date.today()
    name = str(getattr(source, "name", source))
    report = ImportReport(source=name, dry_run=dry_run)
    headers, rows, estimate = read_table(source, fmt)
    community = (community or "").strip() or None
    mapping, report.warnings = map_headers(headers, community=community)
    width = len(headers)
    if community:
        mapping[width] = "community"
        width += 1
        rows = _supply(rows, width - 1, community)
    now = utcnow()
    writer = BulkWriter(session)
    if not dry_run:
        writer.serialise_imports()  # before reading what exists
    forms = _Forms.make(session.get_bind().dialect, now, today)
    places = _Places.from_session(session, writer, forms)
    codes_ = _PlaceCodes(places.communities, places.grids)
    if community and community not in places.communities:
        rows.close()  # type: ignore[attr-defined]
        raise ImportFileError("No community with code %(code)s.", "community", code=community)
    validator = None
    fresh: bool | None = None
    if _use_process(source, fmt, estimate, parallel):
        rows.close()  # type: ignore[attr-defined]
        assemble = None
        if not dry_run and writer.dialect == "sqlite" and places.no_buildings \
                and places.no_households:
            writer.lock()  # before reading the bases: nobody inserts until we commit
            fresh = session.scalar(select(Person.id).limit(1)) is None
            if fresh:
                assemble = (forms, {t: writer.next_id(t) for t in _ASSEMBLED_TABLES})
        validator = _Validator(str(source), fmt, mapping, width, codes_, today, chunk,
                               assemble, community=community)
        checked: Iterator[_Checked] | _Validator = validator
    else:
        checked = _checked_batches(rows, mapping, width, codes_, today, chunk,
                                   text_only=_fmt(source, fmt) == "csv")
    # A load allocates millions of objects and frees none of them in cycles: the cyclic
    # collector would walk the growing dictionaries again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    assembler = _Assembler(places, forms)
    present = set(mapping.values())
    assembler.present = tuple(f for f in _COMPARED if f != "name" and f in present)
    assembler.blank_clears = blank_clears
    try:
        _write(session, report, checked, assembler, writer, estimate, today,
               now, fresh, bus=bus, actor=actor, via=via, dry_run=dry_run, progress=progress)
    finally:
        writer.restore_cache()
        if validator is not None:
            validator.close()
        if gc_was_enabled:
            gc.enable()
    report.seconds = time.perf_counter() - started
    if not dry_run:  # shequ_registry_import_rows_total (/metrics); all or nothing
        from core.metrics import rows_imported

        rows_imported(0 if report.rejected else report.total, len(report.rejected_rows))
    return report


def _write(session: Session, report: ImportReport, checked: Iterable[_Checked],
           assembler: _Assembler, writer: BulkWriter, estimate: int, today: date,
           now: datetime, fresh: bool | None, *, bus: Any, actor: Any, via: str,
           dry_run: bool, progress: Progress | None) -> None:
    """The writing half of :func:`import_persons`: places, persons, search keys,
    residences and heads for each validated batch, all or nothing."""
    writing = not dry_run
    started_writing = False
    moves: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    first_id = last_id = None
    places = assembler.places
    person_table: Table = Person.__table__  # type: ignore[assignment]

    for batch in checked:
        report.total += batch.counted
        report.rejected += batch.rejected
        if report.rejected:
            writing = False
        asm = batch.assembled
        if asm is None and not batch.valid:
            if progress:
                progress(batch.rows)
            continue
        first = writing and not started_writing
        if first:
            started_writing = True
            writer.lock()
        if fresh is None:
            # Under the write lock (or, in a dry run, as read): with no person in the
            # registry, every row is new — the unique constraint still guards that.
            fresh = session.scalar(select(Person.id).limit(1)) is None
        if first:
            report.indexes_rebuilt = writer.maybe_drop_indexes(
                max(estimate, len(batch.valid), batch.counted))
        if asm is None:
            valid = batch.valid
            existing: dict[str, Any] = {}
            if not fresh:
                numbers = [v[_V_ID_NUMBER] for v in valid]
                for i in range(0, len(numbers), 1000):
                    for row in session.execute(select(*_EXISTING).where(
                            Person.id_number.in_(numbers[i:i + 1000]))):
                        existing[row.id_number] = row
            if not places.no_households:
                places.preload_households({v[_V_HOUSEHOLD] for v in valid
                                           if v[_V_HOUSEHOLD]})
            count = len(valid) if fresh else sum(1 for v in valid
                                                 if v[_V_ID_NUMBER] not in existing)
            ids = writer.ids(person_table, count) if writing else []
            asm = assembler.assemble(valid, ids, writing=writing, existing=existing)
        report.created += asm.created
        report.updated += asm.updated
        report.unchanged += asm.unchanged
        report.new_dwellings += asm.new_dwellings
        report.new_households += asm.new_households
        report.rejected += asm.rejected
        moves += asm.moves
        if asm.closed:
            writing = False
        if writing:
            if asm.persons:
                if first_id is None:
                    first_id = asm.persons[0][0]
                last_id = asm.persons[-1][0]
            for key, table, columns in _PLACE_TABLES:
                writer.insert_rows(table, columns, asm.places[key])
            writer.insert_rows(person_table, _PERSON_COLUMNS, asm.persons)
            writer.insert_rows(PersonKey.__table__, ("person_id", "key", "kind"),  # type: ignore[arg-type]
                               asm.keys)
            writer.insert_rows(Residence.__table__,  # type: ignore[arg-type]
                               ("person_id", "dwelling_id", "role", "started_on", "ended_on"),
                               asm.residences)
            _assign_heads(session, places, asm.heads, bus=bus, actor=actor, via=via)
        if progress:
            progress(batch.rows)

    if writing and started_writing and not (report.created or report.updated):
        if report.indexes_rebuilt:
            writer.restore_indexes()
        report.committed = True  # a re-import that changes nothing writes nothing
    elif writing and started_writing:
        if report.indexes_rebuilt:
            writer.restore_indexes()
        for pid, change, rec in moves:
            _apply_changes(session, pid, change, rec, bus=bus, actor=actor, via=via,
                           today=today)
        from core.registry.services import _who

        actor_id, actor_name = _who(actor)
        batch_id = session.execute(insert(Change).returning(Change.id), [{
            "entity": "import", "entity_id": first_id or 0, "field": "*",
            "old": None, "new": f"{report.created} created ({first_id}..{last_id}), "
                               f"{report.updated} updated from {Path(report.source).name}"
                               [:1000],
            "actor_id": actor_id, "actor_name": actor_name, "via": via[:40], "at": now,
        }]).scalar_one()
        report.batch_id = batch_id
        report.first_person_id, report.last_person_id = first_id, last_id
        bus.publish(session, "registry.import.completed", {
            "batch_id": batch_id, "created": report.created, "updated": report.updated,
            "unchanged": report.unchanged, "first_person_id": first_id,
            "last_person_id": last_id, "via": via,
        })
        session.flush()
        report.committed = True
    elif report.rejected and not dry_run:
        writer.restore_cache()
        session.rollback()
    if dry_run:
        session.rollback()


def _same(value: Any) -> Any:
    return value


def _cell_index(mapping: dict[int, str], key: str, width: int) -> int:
    return next((i for i, k in mapping.items() if k == key), width)


def _clean(v: tuple[Any, ...]) -> dict[str, Any]:
    from core.registry.services import PERSON_FIELDS

    clean = dict(zip(PERSON_FIELDS, v[_V_PERSON], strict=True))
    if clean["birth_date"] is not None:
        clean["birth_date"] = date.fromordinal(clean["birth_date"])
    return clean


def _renamed(number: str, registered: str, given: str) -> str:
    """Why a row whose ID number is registered under another name is not applied."""
    return (f"ID number {mask_id_number(number)} is registered to {mask_name(registered)}, "
            f"not {given}: a name change is a correction request, not an import.")


def _person_changes(person: Person, clean: dict[str, Any], did: int | None, hid: int | None,
                    rec: dict[str, Any], compared: Sequence[str] = ()) -> dict[str, Any]:
    """What a row changes of an existing person: only the ``compared`` fields (the
    columns the file has, with a value unless blank cells clear), never the name."""
    change: dict[str, Any] = {}
    fields = {f: clean[f] for f in compared if getattr(person, f) != clean[f]}
    if fields:
        change["fields"] = fields
    if did is not None and did != person.dwelling_id:
        change["dwelling_id"] = did
    if hid is not None and (hid != person.household_id or rec["relation"] != person.relation):
        change["household"] = (hid, rec["relation"])
    if change:
        change["version"] = person.version
    return change


def _assign_heads(session: Session, places: _Places, heads: list[tuple[int, int, str]], *,
                  bus: Any, actor: Any, via: str) -> None:
    """Make the new persons marked 户主 the heads of their households."""
    from core.registry.services import set_head

    direct = []
    for hid, pid, number in heads:
        entry = places.households.get(number)
        if entry is not None and entry[1] not in (None, pid):
            set_head(session, hid, pid, bus=bus, actor=actor, via=via)
        else:
            direct.append({"id": hid, "head_id": pid})
        if entry is not None:
            entry[1] = pid
    BulkWriter(session).update(Household.__table__, direct)  # type: ignore[arg-type]


def _apply_changes(session: Session, pid: int, change: dict[str, Any], rec: dict[str, Any], *,
                   bus: Any, actor: Any, via: str, today: date) -> None:
    """Updates of existing persons go through the services: history and events."""
    from core.registry import services

    session.expire_all()
    if "fields" in change:
        services.update_person(session, pid, change["fields"],
                               expected_version=change["version"], bus=bus, actor=actor,
                               via=via)
    if "dwelling_id" in change:
        services.move_person(session, pid, to_dwelling_id=change["dwelling_id"], bus=bus,
                             role=rec["residence_role"], on=rec["moved_in"] or today,
                             actor=actor, via=via)
    if "household" in change:
        hid, relation = change["household"]
        if relation == codes.HEAD:
            person = session.get(Person, pid)
            if person is not None and person.household_id != hid:
                services.add_member(session, hid, pid, "99", bus=bus, actor=actor, via=via)
            services.set_head(session, hid, pid, bus=bus, actor=actor, via=via)
        else:
            services.add_member(session, hid, pid, relation, bus=bus, actor=actor, via=via)


def write_report(report: ImportReport, target: str | Path) -> None:
    """The rejected rows as CSV (row, field, message, name, masked value); cells that a
    spreadsheet would run as formulas are neutralised (core.exports)."""
    with Path(target).open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv_writer(fh)
        out.writerow(["row", "field", "message", "name", "value"])
        for e in sorted(report.rejected, key=lambda e: (e.row, e.field)):
            out.writerow([e.row, e.field, e.message, e.name, e.value])


# ------------------------------------------------------------------------------ export

#: The access-log purpose of an export made without one (a masked export needs none).
EXPORT_PURPOSE = "registry export"
#: Access-log entries written per statement while an export runs (memory stays bounded).
ACCESS_BATCH = 5000


def write_template(target: str | Path, *, lang: str = "zh") -> None:
    """An empty template with the headers in ``lang`` ("zh" or "en")."""
    headers = [c.zh if lang == "zh" else c.en for c in COLUMNS]
    if _fmt(target, None) == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.append(xlsx_row(ws, headers))
        for col in ws.iter_cols(min_row=1, max_row=1):
            col[0].number_format = "@"
        wb.save(target)
        return
    with Path(target).open("w", encoding="utf-8-sig", newline="") as fh:
        csv_writer(fh).writerow(headers)


def export_persons(
    session: Session,
    target: str | Path,
    *,
    actor: Any = None,
    reveal: bool = False,
    purpose: str = "",
    community: str | None = None,
    status: str | None = "active",
    lang: str = "zh",
    fmt: str | None = None,
    via: str = "export",
    facts: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> int:
    """Write persons in the template's columns (so a revealed export re-imports as
    unchanged). ID numbers, phones, birth dates and room-level addresses are masked unless
    ``reveal`` — which needs the permission and a purpose. Every exported person gets an
    access-log entry either way: a masked one naming what the file shows of them (name,
    and the masked values), or a full one naming the revealed fields. Staff actors export
    only their communities and grids. Cells that a spreadsheet would run as formulas are
    neutralised (core.exports: an apostrophe in CSV, a plain-text cell in XLSX)."""
    fields = ["id_number", "birth_date", "phone", "address"]
    if reveal:
        check_reveal(actor, -1, fields, ALL_SCOPES, purpose)
    query = (
        select(Person, Community.code, Grid.code, Building.address, Building.estate,
               Building.name, Unit.name, Dwelling.room, Household.number, Residence.role,
               Residence.started_on)
        .outerjoin(Community, Community.id == Person.community_id)
        .outerjoin(Grid, Grid.id == Person.grid_id)
        .outerjoin(Dwelling, Dwelling.id == Person.dwelling_id)
        .outerjoin(Unit, Unit.id == Dwelling.unit_id)
        .outerjoin(Building, Building.id == Unit.building_id)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(Residence, (Residence.person_id == Person.id)
                   & (Residence.dwelling_id == Person.dwelling_id)
                   & Residence.ended_on.is_(None))
        .order_by(Person.id)
    )
    staff = place_filter(session, actor)
    if staff is not None:
        query = query.where(staff)
    if status:
        query = query.where(Person.status == status)
    if community:
        query = query.where(Community.code == community)
    headers = [c.zh if lang == "zh" else c.en for c in COLUMNS]
    why = purpose.strip() or EXPORT_PURPOSE
    access: list[dict[str, Any] | None] = []
    count = 0
    xlsx = _fmt(target, fmt) == "xlsx"
    if xlsx:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(xlsx_row(ws, headers))

        def emit(row: list[Any]) -> None:
            ws.append(xlsx_row(ws, row))

        fh = None
    else:
        fh = Path(target).open("w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        writer = csv_writer(fh)
        writer.writerow(headers)
        emit = writer.writerow
    try:
        for row in session.execute(query.execution_options(yield_per=2000)):
            (p, ccode, gcode, road, estate, bname, uname, room, hno, role, since) = row
            birth = p.birth_date.isoformat() if p.birth_date else ""
            values = {
                "name": p.name, "id_type": codes.label(codes.ID_TYPES, p.id_type, lang),
                "id_number": p.id_number if reveal else mask_id_number(p.id_number),
                "sex": codes.label(codes.SEXES, p.sex, lang),
                "birth_date": birth if reveal else birth[:4] + ("-**-**" if birth else ""),
                "ethnicity": codes.ETHNICITIES.get(p.ethnicity or "", ""),
                "nationality": p.nationality or "", "phone": (p.phone if reveal
                                                              else mask_phone(p.phone)) or "",
                "hukou_type": codes.label(codes.HUKOU_TYPES, p.hukou_type, lang),
                "hukou_place": (p.hukou_place if reveal else
                                ("****" if p.hukou_place else "")) or "",
                "community": ccode or "", "grid": gcode or "", "road": road or "",
                "estate": estate or "", "building": bname or "",
                "unit": (uname or "") if reveal else "", "room": (room or "") if reveal
                else ("****" if room else ""),
                "residence_role": codes.label(codes.RESIDENCE_ROLES, role, lang),
                "moved_in": since.isoformat() if since else "",
                "household_no": hno or "",
                "relation": codes.label(codes.RELATIONS, p.relation, lang),
            }
            emit([values[c.key] for c in COLUMNS])
            count += 1
            shown = [f for f, v in (("id_number", p.id_number), ("birth_date", p.birth_date),
                                    ("phone", p.phone), ("address", room or p.hukou_place))
                     if v]
            access.append(display_entry(
                actor, p, fields=["name", *shown], revealed=shown if reveal else (),
                purpose=why, via=via, facts=facts))
            if len(access) >= ACCESS_BATCH:
                log_displays(session, access)
                write_access_log(session)  # in this transaction; bounded memory
                access.clear()
            if progress and count % 1000 == 0:
                progress(1000)
        log_displays(session, access)
    finally:
        if xlsx:
            wb.save(target)
        elif fh is not None:
            fh.close()
    return count


__all__ = [
    "COLUMNS",
    "Column",
    "ImportFileError",
    "ImportReport",
    "RowError",
    "ScopeError",
    "export_persons",
    "import_persons",
    "map_headers",
    "read_table",
    "write_report",
    "write_template",
]
