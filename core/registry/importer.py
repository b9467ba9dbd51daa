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
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.audit.models import AccessEntry
from core.db import utcnow
from core.registry import codes
from core.registry.bulk import BulkWriter
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
from core.registry.pinyin import name_keys
from core.registry.present import ALL_SCOPES, check_reveal, real_actor
from core.registry.search import place_filter
from core.registry.validation import mask_id_number, mask_phone

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


def map_headers(headers: Sequence[Any]) -> tuple[dict[int, str], list[str]]:
    """(column index → field key, warnings); raises :class:`ImportFileError` when a
    required column is missing or a column appears twice."""
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
    missing = [c.zh + "/" + c.en for c in COLUMNS if c.required and c.key not in mapping.values()]
    if missing:
        raise ImportFileError("Required columns are missing: %(columns)s.", "header",
                              columns=", ".join(missing))
    return mapping, warnings


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
    to, looked up once and created in bulk when missing."""

    def __init__(self, session: Session, writer: BulkWriter):
        self.session = session
        self.writer = writer
        self.communities = {c: i for i, c in session.execute(select(Community.id,
                                                                    Community.code))}
        self.grids = {c: (i, cid) for i, c, cid in session.execute(
            select(Grid.id, Grid.code, Grid.community_id))}
        self.loaded: set[int] = set()
        self.buildings: dict[tuple[int, str, str], tuple[int, int | None, str]] = {}
        self.units: dict[tuple[int, str], int] = {}
        self.dwellings: dict[tuple[int, str, str, str, str], tuple[int, int | None]] = {}
        self.households: dict[str, list[Any]] = {}  # number → [id, head_id]
        self.pending: dict[str, list[dict[str, Any]]] = {"b": [], "u": [], "d": [], "h": []}
        self.pool: dict[str, list[int]] = {}

    def _load(self, cid: int) -> None:
        if cid in self.loaded:
            return
        self.loaded.add(cid)
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
            pool.extend(reversed(self.writer.ids(table, 1000)))
        return pool.pop()

    def dwelling(self, cid: int, gid: int | None, rec: dict[str, Any], role: str, *,
                 create: bool) -> tuple[int | None, int | None, bool]:
        """(dwelling id, grid id, created?) for a row; (None, grid, False) without a
        building. In a dry run a missing dwelling gets id -1 (counted, not created)."""
        building, room = rec["building"], rec["room"]
        if not building:
            return None, gid, False
        self._load(cid)
        estate, unit = rec["estate"], rec["unit"]
        key = (cid, estate, building, unit, room)
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
            b = (self._id(Building.__table__), gid, rec["road"])
            self.buildings[bkey] = b
            self.pending["b"].append({"id": b[0], "community_id": cid, "grid_id": gid,
                                      "estate": estate, "name": building, "address": rec["road"]})
        uid = self.units.get((b[0], unit))
        if uid is None:
            uid = self._id(Unit.__table__)
            self.units[(b[0], unit)] = uid
            self.pending["u"].append({"id": uid, "building_id": b[0], "name": unit})
        did = self._id(Dwelling.__table__)
        dgid = b[1]
        self.dwellings[key] = (did, dgid)
        self.pending["d"].append({
            "id": did, "unit_id": uid, "room": room, "floor": guess_floor(room),
            "area_m2": None, "use": "rented" if role == "tenant" else "self",
            "is_rental": role == "tenant", "community_id": cid, "grid_id": dgid,
            "address": format_address(b[2], estate, building, unit, room),
        })
        return did, dgid, True

    def preload_households(self, numbers: set[str]) -> None:
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
            self.pending["h"].append({
                "id": hid, "number": number, "kind": "family", "head_id": None,
                "dwelling_id": dwelling_id if dwelling_id and dwelling_id > 0 else None,
                "created_at": utcnow(),
            })
        return hid, True

    def flush(self) -> None:
        w = self.writer
        w.insert(Building.__table__, self.pending["b"])  # type: ignore[arg-type]
        w.insert(Unit.__table__, self.pending["u"])  # type: ignore[arg-type]
        w.insert(Dwelling.__table__, self.pending["d"])  # type: ignore[arg-type]
        w.insert(Household.__table__, self.pending["h"])  # type: ignore[arg-type]
        for rows in self.pending.values():
            rows.clear()


# ------------------------------------------------------------------------------ import

_COMPARED = ("name", "id_type", "sex", "birth_date", "phone", "ethnicity", "nationality",
             "hukou_type", "hukou_place")
#: What a re-import compares, read as plain rows (no ORM objects for a million persons).
_EXISTING = tuple(getattr(Person, c) for c in (
    "id", "id_number", "version", "status", "dwelling_id", "household_id", "relation",
    *_COMPARED))


def _masked(key: str, value: Any) -> str:
    text = "" if value is None else str(value)
    if key == "id_number":
        return mask_id_number(text)
    if key == "phone":
        return mask_phone(text)
    return text[:60]


def _validate_row(rec: dict[str, Any], places: _Places, today: date
                  ) -> tuple[dict[str, Any] | None, dict[str, str]]:
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
) -> ImportReport:
    """Import persons from a CSV or XLSX file (path or binary file object). Returns the
    report; when any row is rejected (and not in a dry run) the session is rolled back so
    nothing of the batch remains. The caller commits a successful import."""
    started = time.perf_counter()
    today = today or date.today()
    name = str(getattr(source, "name", source))
    report = ImportReport(source=name, dry_run=dry_run)
    headers, rows, estimate = read_table(source, fmt)
    mapping, report.warnings = map_headers(headers)
    writer = BulkWriter(session)
    places = _Places(session, writer)
    seen: dict[str, int] = {}
    heads: dict[str, int] = {}
    writing = not dry_run
    started_writing = False
    moves: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    first_id = last_id = None
    now = utcnow()

    def batches() -> Iterator[list[tuple[int, list[Any]]]]:
        buf: list[tuple[int, list[Any]]] = []
        for item in rows:
            buf.append(item)
            if len(buf) >= chunk:
                yield buf
                buf = []
        if buf:
            yield buf

    for batch in batches():
        valid: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        for rownum, cells in batch:
            rec = {key: (cells[i] if i < len(cells) else "") for i, key in mapping.items()}
            for key in COLUMN_KEYS:
                rec.setdefault(key, "")
            if not any(str(v).strip() for v in rec.values()):
                continue
            report.total += 1
            clean, errors = _validate_row(rec, places, today)
            if clean is not None:
                number = clean["id_number"]
                if number in seen:
                    errors["id_number"] = f"The same document number is in row {seen[number]}."
                else:
                    seen[number] = rownum
                if rec["relation"] == codes.HEAD:
                    hn = rec["household_no"]
                    if hn in heads:
                        errors["relation"] = (f"Household {hn} has its head in row "
                                              f"{heads[hn]} already.")
                    else:
                        heads[hn] = rownum
            if errors:
                label = str(rec.get("name") or "")[:50]
                for key, message in errors.items():
                    report.rejected.append(RowError(rownum, key, message, label,
                                                    _masked(key, rec.get(key))))
                continue
            valid.append((rownum, clean, rec))  # type: ignore[arg-type]
        if report.rejected:
            writing = False
        if not valid:
            if progress:
                progress(len(batch))
            continue

        existing: dict[str, Any] = {}
        numbers = [c["id_number"] for _, c, _ in valid]
        for i in range(0, len(numbers), 1000):
            for row in session.execute(select(*_EXISTING).where(
                    Person.id_number.in_(numbers[i:i + 1000]))):
                existing[row.id_number] = row
        places.preload_households({r["household_no"] for _, _, r in valid
                                   if r["household_no"]})
        if writing and not started_writing:
            started_writing = True
            writer.lock()
            report.indexes_rebuilt = writer.maybe_drop_indexes(max(estimate, len(valid)))

        new_rows: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []
        residences: list[dict[str, Any]] = []
        new_heads: list[tuple[int, int]] = []
        ids = writer.ids(Person.__table__, sum(  # type: ignore[arg-type]
            1 for _, c, _ in valid if c["id_number"] not in existing)) if writing else []
        id_iter = iter(ids)
        for rownum, clean, rec in valid:
            cid = places.communities[rec["community"]]
            gid = places.grids[rec["grid"]][0] if rec["grid"] else None
            role = rec["residence_role"]
            did, gid, made = places.dwelling(cid, gid, rec, role, create=writing)
            report.new_dwellings += made
            hid = None
            if rec["household_no"]:
                hid, made_h = places.household(rec["household_no"], did, create=writing)
                report.new_households += made_h
            person = existing.get(clean["id_number"])
            if person is not None:
                if person.status in ("deceased", "merged"):
                    report.rejected.append(RowError(
                        rownum, "id_number", f"This person's record is closed ({person.status}).",
                        clean["name"], mask_id_number(clean["id_number"])))
                    writing = False
                    continue
                change = _person_changes(person, clean, did, hid, rec)
                if change:
                    report.updated += 1
                    moves.append((person.id, change, rec))
                else:
                    report.unchanged += 1
                continue
            report.created += 1
            if not writing:
                continue
            pid = next(id_iter)
            first_id = pid if first_id is None else min(first_id, pid)
            last_id = pid if last_id is None else max(last_id, pid)
            full, initials, extra = name_keys(clean["name"])
            new_rows.append({
                **clean, "id": pid, "name_pinyin": full, "name_initials": initials,
                "status": "active", "died_on": None, "merged_into_id": None,
                "dwelling_id": did, "grid_id": gid, "community_id": cid,
                "household_id": hid, "relation": rec["relation"] or None, "version": 1,
                "created_at": now, "updated_at": now,
            })
            keys.extend({"person_id": pid, "key": k, "kind": kind} for k, kind in extra)
            if did is not None:
                residences.append({"person_id": pid, "dwelling_id": did, "role": role,
                                   "started_on": rec["moved_in"] or today, "ended_on": None})
            if rec["relation"] == codes.HEAD and hid is not None:
                new_heads.append((hid, pid))
        if writing:
            places.flush()
            writer.insert(Person.__table__, new_rows)  # type: ignore[arg-type]
            writer.insert(PersonKey.__table__, keys)  # type: ignore[arg-type]
            writer.insert(Residence.__table__, residences)  # type: ignore[arg-type]
            _assign_heads(session, places, new_heads, bus=bus, actor=actor, via=via)
        if progress:
            progress(len(batch))

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
        batch = session.execute(insert(Change).returning(Change.id), [{
            "entity": "import", "entity_id": first_id or 0, "field": "*",
            "old": None, "new": f"{report.created} created ({first_id}..{last_id}), "
                               f"{report.updated} updated from {Path(name).name}"[:1000],
            "actor_id": actor_id, "actor_name": actor_name, "via": via[:40], "at": now,
        }]).scalar_one()
        report.batch_id, report.first_person_id, report.last_person_id = batch, first_id, last_id
        bus.publish(session, "registry.import.completed", {
            "batch_id": batch, "created": report.created, "updated": report.updated,
            "unchanged": report.unchanged, "first_person_id": first_id,
            "last_person_id": last_id, "via": via,
        })
        session.flush()
        report.committed = True
    elif report.rejected and not dry_run:
        session.rollback()
    if dry_run:
        session.rollback()
    report.seconds = time.perf_counter() - started
    return report


def _person_changes(person: Person, clean: dict[str, Any], did: int | None, hid: int | None,
                    rec: dict[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = {}
    fields = {f: clean[f] for f in _COMPARED if getattr(person, f) != clean[f]}
    if fields:
        change["fields"] = fields
    if did is not None and did != person.dwelling_id:
        change["dwelling_id"] = did
    if hid is not None and (hid != person.household_id or rec["relation"] != person.relation):
        change["household"] = (hid, rec["relation"])
    if change:
        change["version"] = person.version
    return change


def _assign_heads(session: Session, places: _Places, heads: list[tuple[int, int]], *,
                  bus: Any, actor: Any, via: str) -> None:
    """Make the new persons marked 户主 the heads of their households."""
    from core.registry.services import set_head

    direct = []
    by_id = {v[0]: v for v in places.households.values()}
    for hid, pid in heads:
        entry = by_id.get(hid)
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
    """The rejected rows as CSV (row, field, message, name, masked value)."""
    with Path(target).open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["row", "field", "message", "name", "value"])
        for e in sorted(report.rejected, key=lambda e: (e.row, e.field)):
            out.writerow([e.row, e.field, e.message, e.name, e.value])


# ------------------------------------------------------------------------------ export


def write_template(target: str | Path, *, lang: str = "zh") -> None:
    """An empty template with the headers in ``lang`` ("zh" or "en")."""
    headers = [c.zh if lang == "zh" else c.en for c in COLUMNS]
    if _fmt(target, None) == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.append(headers)
        for col in ws.iter_cols(min_row=1, max_row=1):
            col[0].number_format = "@"
        wb.save(target)
        return
    with Path(target).open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerow(headers)


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
    ``reveal`` — which needs the permission and a purpose, and writes one access-log entry
    per exported person. Staff actors export only their communities and grids."""
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
    who = real_actor(actor)
    access: list[dict[str, Any]] = []
    count = 0
    now = utcnow()
    xlsx = _fmt(target, fmt) == "xlsx"
    if xlsx:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(headers)
        emit = ws.append
        fh = None
    else:
        fh = Path(target).open("w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        writer = csv.writer(fh)
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
            if reveal:
                access.append({
                    "at": now, "actor_id": getattr(who, "id", None),
                    "actor_name": (getattr(who, "username", "") or "")[:64],
                    "on_behalf_of_id": (facts or {}).get("on_behalf_of_id"),
                    "subject_person_id": p.id, "fields": fields, "via": via,
                    "purpose": purpose.strip()[:500],
                    "request_id": str((facts or {}).get("request_id", ""))[:64],
                })
                if len(access) >= 5000:
                    session.execute(insert(AccessEntry.__table__), access)
                    access.clear()
            if progress and count % 1000 == 0:
                progress(1000)
        if access:
            session.execute(insert(AccessEntry.__table__), access)
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
