"""Validated rows → database rows: the places a batch names (looked up once, created in
bulk) and the persons, search keys, residences and heads, in the driver's form for
``BulkWriter.insert_rows``.

Its own module because the same code runs in the writing process or, for a load into an
empty registry, in the validating process (:mod:`.parallel`) — so nothing here may need a
session except through :class:`_Places`' optional one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from core.registry import codes
from core.registry.bulk import BulkWriter, converter
from core.registry.importer.reading import DIFF_LIMIT, RowDiff, RowError
from core.registry.importer.validate import (
    _BLANKABLE,
    _COMPARED,
    _NO,
    _NONE_IS_BLANK,
    _V_BLANKS,
    _V_PERSON,
    _same,
)
from core.registry.models import (
    Building,
    Community,
    Dwelling,
    Grid,
    Household,
    Person,
    Residence,
    Unit,
)
from core.registry.present import (
    mask_name,
)
from core.registry.validation import mask_id_number, mask_phone

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
        # declarative types __table__ as FromClause; it is a Table
        table: Table = Person.__table__  # type: ignore[assignment]
        self.as_date = converter(dialect, table, "birth_date") or _same
        self.dates: dict[Any, Any] = {None: None}  # ordinal → driver's form
        #: The person fields the file has a column for (an update writes no other), and
        #: whether a blank cell in one of them clears the field (``blank_clears``).
        self.present: tuple[str, ...] = _COMPARED
        self.blank_clears = False
        #: A correction run: a registered person's name is changed from the file too.
        self.correction = False
        #: A dry run's per-row diff (None: not collected — the committed fast path).
        self.diffs: list[RowDiff] | None = None
        self.diffs_capped = False
        #: Conflicts (a registered ID number under another name), collected always.
        self.conflicts: list[RowDiff] = []

    def _diff(self, d: RowDiff) -> None:
        if self.diffs is None:
            return
        if len(self.diffs) < DIFF_LIMIT:
            self.diffs.append(d)
        else:
            self.diffs_capped = True

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
                    renamed = person.name != pname
                    if renamed and not self.correction:
                        conflict = RowDiff(rownum, person.id, "conflict",
                                           [("name", mask_name(person.name), pname)])
                        self.conflicts.append(conflict)
                        self._diff(conflict)
                        out.rejected.append(RowError(
                            rownum, "name", _renamed(number, person.name, pname), pname,
                            mask_id_number(number)))
                        out.closed = True
                        writing = False
                        continue
                    rec = {"relation": relation, "residence_role": role,
                           "moved_in": moved_in and date.fromordinal(moved_in)}
                    compared = self.fields(v)
                    if renamed:  # a correction run: the name comes from the file too
                        compared = ("name", *compared)
                    change = _person_changes(person, _clean(v), did, hid, rec, compared)
                    if change:
                        out.updated += 1
                        out.moves.append((person.id, change, rec))
                        if self.diffs is not None:
                            self._diff(RowDiff(rownum, person.id, "update",
                                               _change_list(person, change, household_no)))
                    else:
                        out.unchanged += 1
                    continue
            created += 1
            if self.diffs is not None:
                self._diff(RowDiff(rownum, None, "create", [
                    (f, None, _shown(f, value)) for f, value in _clean(v).items()
                    if value not in (None, "")] + (
                    [("dwelling", None, " ".join(p for p in (estate, building, unit, room)
                                                 if p))] if building else []) + (
                    [("household", None, household_no)] if household_no else [])))
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



def _clean(v: tuple[Any, ...]) -> dict[str, Any]:
    from core.registry.services import PERSON_FIELDS

    clean = dict(zip(PERSON_FIELDS, v[_V_PERSON], strict=True))
    if clean["birth_date"] is not None:
        clean["birth_date"] = date.fromordinal(clean["birth_date"])
    return clean


def _shown(f: str, value: Any) -> Any:
    """A value as a diff shows it: ID numbers and phones masked, dates as text."""
    if value is None:
        return None
    if f == "id_number":
        return mask_id_number(value)
    if f == "phone":
        return mask_phone(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _change_list(person: Any, change: dict[str, Any], household_no: str
                 ) -> list[tuple[str, Any, Any]]:
    """``[(field, old, new)]`` of one update for the dry run's diff (the registered name
    masked, as in the conflict message)."""
    out: list[tuple[str, Any, Any]] = []
    for f, new in change.get("fields", {}).items():
        old = getattr(person, f)
        out.append((f, mask_name(old) if f == "name" else _shown(f, old), _shown(f, new)))
    if "dwelling_id" in change:
        did = change["dwelling_id"]
        out.append(("dwelling_id", person.dwelling_id, did if did and did > 0 else "new"))
    if "household" in change:
        hid, relation = change["household"]
        if hid != person.household_id:
            out.append(("household_id", person.household_id,
                        hid if hid and hid > 0 else f"new ({household_no})"))
        if relation != person.relation:
            out.append(("relation", person.relation, relation))
    return out


def _renamed(number: str, registered: str, given: str) -> str:
    """Why a row whose ID number is registered under another name is not applied."""
    return (f"ID number {mask_id_number(number)} is registered to {mask_name(registered)}, "
            f"not {given}: a name change is a correction request, not an import.")


def _person_changes(person: Person, clean: dict[str, Any], did: int | None, hid: int | None,
                    rec: dict[str, Any], compared: Sequence[str] = ()) -> dict[str, Any]:
    """What a row changes of an existing person: only the ``compared`` fields (the
    columns the file has, with a value unless blank cells clear), the name only in a
    correction run."""
    change: dict[str, Any] = {}
    fields = {f: clean[f] for f in compared if getattr(person, f) != clean[f]}
    # (``name`` is in ``compared`` only in a correction run, for a renamed row)
    if fields:
        change["fields"] = fields
    if did is not None and did != person.dwelling_id:
        change["dwelling_id"] = did
    if hid is not None and (hid != person.household_id or rec["relation"] != person.relation):
        change["household"] = (hid, rec["relation"])
    if change:
        change["version"] = person.version
    return change

