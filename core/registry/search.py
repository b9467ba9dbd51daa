"""Finding persons: by Chinese name, full pinyin, initials, ID number (full, or the last
four with a name), phone or address, within filters, one page at a time.

Every text match is an index range scan (``col >= p AND col < p'``; docs/requirements.md,
floors: prefix search: SQLite cannot serve ``LIKE p || '%'`` from an index, and PostgreSQL
walked the whole index for it). Matches come in ranked classes — exact name, name prefix,
full pinyin, initials, other readings — each read in its index's order and merged, so a
page costs a few short index walks rather than sorting every match.

Who sees what: a staff actor only finds persons in the communities and grids their scope
rows name (``identity_user_scope``; deny by default), ``actor=None`` is a system caller
(CLI, jobs); in the assisted channel the agent's scope counts. Results are masked;
revealing a field needs the permission and a purpose. Every person on the page is an entry
in their access log (masked or full, :mod:`core.registry.present`), the page's entries
one upsert at the commit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from core.db import local_today
from core.registry import codes
from core.registry.errors import RegistryError
from core.registry.models import Community, Dwelling, Grid, Person, PersonKey
from core.registry.pinyin import name_keys, prefix_end, split_query
from core.registry.present import (
    ALL_SCOPES,
    Places,
    actor_scopes,
    check_reveal,
    display_entry,
    log_displays,
    person_view,
    shown_fields,
)
from core.registry.validation import (
    ID15_RE,
    ID_RE,
    normalise_id_number,
    normalise_phone,
)

#: Named age bands for the filter (inclusive years).
AGE_BANDS: dict[str, tuple[int | None, int | None]] = {
    "child": (0, 13),
    "minor": (0, 17),
    "youth": (14, 34),
    "adult": (18, 59),
    "working": (16, 59),
    "elder": (60, None),
    "elder80": (80, None),
}
MAX_PER_PAGE = 100
#: Totals are counted up to this many matches. Counting every one of 180,000 persons whose
#: initials start with "zh" costs a row visit each (about 170 ms on PostgreSQL with a
#: million persons) and tells a worker nothing "more than 1,000" does not: past the cap
#: the answer is "more than TOTAL_CAP, narrow the search" (``SearchPage.total_capped``).
TOTAL_CAP = 1000
#: SQLite: map this much of the database file into memory for reads. A count over
#: thousands of matches reads one row (page) per match for the status filter; mapped, a
#: page costs a memory access instead of a read() call and a copy: on a million persons
#: the initials searches' p95 went from ~60 to ~40 ms (docs/performance.md). Set once per
#: connection, on its first search. 0 leaves the connection as it is.
SQLITE_MMAP_BYTES = 1 << 30
_ADDRESS_HINT = re.compile(r"[栋幢单元室号楼路街巷弄村区苑园里]")
_LAST4 = re.compile(r"^\d{3}[\dX]$")


def format_total(total: int | None, capped: bool = False) -> str:
    """A count as people read it: ``1,705``, and ``1,000+`` when it was capped at
    :data:`TOTAL_CAP` (``SearchPage.total_capped``) — a capped count is never shown as an
    exact number. Thousands are grouped with commas, as both Chinese and English pages
    write them. ``None`` (not counted) is an empty string."""
    if total is None:
        return ""
    return f"{int(total):,}+" if capped else f"{int(total):,}"


@dataclass
class SearchPage:
    items: list[dict[str, Any]]
    total: int | None
    page: int
    per_page: int
    #: What the query was understood as: name | pinyin | mixed | id_number | id_last4 |
    #: phone | address | all
    kind: str = "all"
    matched: list[str] = field(default_factory=list)
    #: ``total`` is :data:`TOTAL_CAP` and more persons match.
    total_capped: bool = False

    @property
    def pages(self) -> int | None:
        return None if self.total is None else max(1, math.ceil(self.total / self.per_page))


def prefix(col: Any, value: str) -> ColumnElement[bool]:
    """``col`` starts with ``value``, as an index-friendly range."""
    return and_(col >= value, col < prefix_end(value))


def place_filter(session: Session, actor: Any) -> ColumnElement[bool] | None:
    """The staff-scope restriction for ``actor`` (None: no restriction); in the assisted
    channel, the agent's scope."""
    if actor is None:
        return None
    scopes = actor_scopes(actor)
    if ("all", "") in scopes:
        return None
    communities = [c for k, c in scopes if k == "community"]
    grids = [c for k, c in scopes if k == "grid"]
    conds = []
    if communities:
        cids = list(session.scalars(select(Community.id).where(Community.code.in_(communities))))
        if cids:
            conds.append(Person.community_id.in_(cids))
    if grids:
        gids = list(session.scalars(select(Grid.id).where(Grid.code.in_(grids))))
        if gids:
            conds.append(Person.grid_id.in_(gids))
    return or_(*conds) if conds else false()


def _years_ago(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def parse_query(text: str) -> dict[str, str]:
    """What a free-text query asks for: ``{"id_number": ...}``, ``{"phone": ...}``,
    ``{"name": ..., "id_last4": ...}``, ``{"address": ...}`` or ``{"name": ...}``."""
    raw = (text or "").strip()
    if not raw:
        return {}
    compact = normalise_id_number(raw)
    if ID_RE.match(compact) or ID15_RE.match(compact):
        return {"id_number": compact}
    phone = normalise_phone(raw)
    if re.fullmatch(r"1[3-9]\d{9}|0[1-9]\d{8,10}", phone):
        return {"phone": phone}
    tokens = raw.split()
    if len(tokens) == 2:
        for i in (0, 1):
            tail = normalise_id_number(tokens[i])
            if _LAST4.match(tail):
                return {"name": tokens[1 - i], "id_last4": tail}
    if _ADDRESS_HINT.search(raw) and re.search(r"\d", raw):
        return {"address": raw}
    return {"name": raw}


def _name_classes(text: str) -> tuple[str, list[tuple[str, ColumnElement[bool], Any]]]:
    """(kind, [(class name, condition, order column)]) for a name query, best first."""
    han, rest = split_query(text)
    if han and not rest:
        return "name", [
            ("exact", Person.name == han, Person.id),
            ("name", prefix(Person.name, han), Person.name),
        ]
    if rest and not han:
        alt = Person.id.in_(select(PersonKey.person_id).where(prefix(PersonKey.key, rest)))
        return "pinyin", [
            ("pinyin", prefix(Person.name_pinyin, rest), Person.name_pinyin),
            ("initials", prefix(Person.name_initials, rest), Person.name_initials),
            ("reading", alt, Person.id),
        ]
    if han and rest:
        # The letters narrow more than the characters (张 alone is 7% of a city), so each
        # class walks the pinyin or initials index and checks the characters on the way.
        full, initials, _ = name_keys(han)
        return "mixed", [
            ("mixed", and_(prefix(Person.name_pinyin, full + rest), prefix(Person.name, han)),
             Person.name_pinyin),
            ("mixed", and_(prefix(Person.name_initials, initials + rest),
                           prefix(Person.name, han)), Person.name_initials),
        ]
    return "name", []


def _count(session: Session, base: ColumnElement[bool],
           classes: list[tuple[str, ColumnElement[bool], Any]], name_query: str,
           cap: int) -> int:
    """How many persons match any class, counting no further than ``cap + 1``.

    Each class is read on its own, at most ``cap + 1`` ids, and the ids are merged here:
    every read is one index range that stops early. One query with an OR of the classes
    cannot stop early on either database (PostgreSQL ORs bitmaps over every match, or
    with a LIMIT scans the table testing each row against the other-readings id list:
    1.1 s for "zh" on a million persons instead of 30 ms).
    """
    has_prefix = any(label == "name" for label, _, _ in classes)
    seen: set[int] = set()
    for label, cond, _order in classes:
        if label == "exact" and has_prefix:
            continue  # a subset of the name-prefix class
        if label == "reading":
            _han, rest = split_query(name_query)
            # the key table has the person id: range over it, join for the filters
            ids = (select(PersonKey.person_id).join(Person, Person.id == PersonKey.person_id)
                   .where(prefix(PersonKey.key, rest), base))
        else:
            ids = select(Person.id).where(base, cond)
        seen.update(session.scalars(ids.limit(cap + 1)))
        if len(seen) > cap:
            break
    return len(seen)


def _tune_reads(session: Session) -> None:
    """:data:`SQLITE_MMAP_BYTES` on this SQLite connection, once (the pool keeps the
    connection, and with it the setting and the mark in its ``info``)."""
    if not SQLITE_MMAP_BYTES:
        return
    conn = session.connection()
    if conn.dialect.name != "sqlite" or conn.info.get("shequ.mmap"):
        return
    conn.exec_driver_sql(f"PRAGMA mmap_size = {int(SQLITE_MMAP_BYTES)}")
    conn.info["shequ.mmap"] = True


def search_persons(
    session: Session,
    *,
    actor: Any,
    query: str = "",
    name: str | None = None,
    id_number: str | None = None,
    id_last4: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    community: str | None = None,
    grid: str | None = None,
    age_band: str | tuple[int | None, int | None] | None = None,
    age_min: int | None = None,
    age_max: int | None = None,
    hukou_type: str | None = None,
    sex: str | None = None,
    status: str | None = "active",
    page: int = 1,
    per_page: int = 20,
    reveal: Iterable[str] = (),
    purpose: str = "",
    via: str = "core",
    scopes: frozenset[str] = ALL_SCOPES,
    facts: Mapping[str, Any] | None = None,
    today: date | None = None,
    with_total: bool = True,
    lang: str = "zh",
    restrict_place: bool = True,
) -> SearchPage:
    """One page of persons matching ``query`` (free text, see :func:`parse_query`) and/or
    the explicit criteria, within the filters and the actor's staff scope. Items are
    :func:`core.registry.present.person_view` dicts (masked); ``reveal`` names fields to
    show in full (each shown person is logged with ``purpose``). ``sex`` is a code of
    :data:`core.registry.codes.SEXES` (``M``/``F``), combinable with ``age_band`` ("women
    15–49"); it is shown in the basic view, so filtering by it needs no further scope."""
    today = today or local_today()
    page = max(1, int(page))
    per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    _tune_reads(session)
    criteria = parse_query(query)
    for key, value in (("name", name), ("id_number", id_number), ("id_last4", id_last4),
                       ("phone", phone), ("address", address)):
        if value:
            criteria[key] = value

    filters: list[ColumnElement[bool]] = []
    staff = place_filter(session, actor) if restrict_place else None
    if staff is not None:
        filters.append(staff)
    if status:
        filters.append(Person.status == status)
    if hukou_type:
        filters.append(Person.hukou_type == hukou_type)
    if sex:
        if sex not in codes.SEXES:
            raise RegistryError("Unknown sex code %(sex)s.", "sex", sex=sex)
        filters.append(Person.sex == sex)
    if community:
        cid = session.scalar(select(Community.id).where(Community.code == community))
        filters.append(Person.community_id == cid if cid is not None else false())
    if grid:
        gid = session.scalar(select(Grid.id).where(Grid.code == grid))
        filters.append(Person.grid_id == gid if gid is not None else false())
    if isinstance(age_band, str):
        if age_band not in AGE_BANDS:
            raise RegistryError("Unknown age band %(band)s.", "age_band", band=age_band)
        age_min, age_max = AGE_BANDS[age_band]
    elif age_band is not None:
        age_min, age_max = age_band
    if age_min is not None:
        filters.append(Person.birth_date <= _years_ago(today, age_min))
    if age_max is not None:
        filters.append(Person.birth_date > _years_ago(today, age_max + 1))

    classes: list[tuple[str, ColumnElement[bool], Any]] = []
    exact: list[ColumnElement[bool]] = []
    kind = "all"
    if "id_number" in criteria:
        kind = "id_number"
        exact.append(Person.id_number == normalise_id_number(criteria["id_number"]))
    if "phone" in criteria:
        kind = "phone"
        exact.append(Person.phone == normalise_phone(criteria["phone"]))
    if "address" in criteria:
        kind = "address"
        text = re.sub(r"\s+", "", criteria["address"])
        exact.append(Person.dwelling_id.in_(
            select(Dwelling.id).where(func.replace(Dwelling.address, " ", "")
                                      .contains(text, autoescape=True))))
    if "name" in criteria:
        name_kind, classes = _name_classes(criteria["name"])
        if not classes:
            return SearchPage([], 0, page, per_page, name_kind)
        kind = name_kind
    if "id_last4" in criteria:
        kind = "id_last4"
        exact.append(Person.id_number.endswith(normalise_id_number(criteria["id_last4"]),
                                               autoescape=True))
        if not classes:
            raise RegistryError("The last four digits need a name with them.", "id_last4")
    base = and_(*filters, *exact) if (filters or exact) else true()
    if not classes:
        classes = [(kind, true(), Person.name_pinyin)]

    need = page * per_page
    ordered: list[int] = []
    matched: dict[int, str] = {}
    # Every class read to its end (fewer rows than asked for): then ``ordered`` is the
    # whole answer and its length the total — no count query.
    complete = True
    for label, cond, order in classes:
        if len(ordered) >= need:
            complete = False
            break
        limit = need + len(ordered)
        rows = session.scalars(
            select(Person.id).where(base, cond).order_by(order, Person.id).limit(limit)
        ).all()
        complete = complete and len(rows) < limit
        for pid in rows:
            if pid not in matched:
                matched[pid] = label
                ordered.append(pid)
    ids = ordered[(page - 1) * per_page: need]
    total = None
    capped = False
    if with_total and complete:
        total = len(ordered)
    elif with_total:
        total = _count(session, base, classes, criteria.get("name", ""), TOTAL_CAP)
        capped = total > TOTAL_CAP
        total = min(total, TOTAL_CAP)

    persons = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(ids)))} \
        if ids else {}
    rows = [persons[i] for i in ids if i in persons]
    wanted = list(reveal)
    places = Places(session, rows, addresses="registry.dwelling" in scopes)
    items, entries = [], []
    for person in rows:
        shown = check_reveal(actor, person.id, wanted, scopes, purpose) if wanted else []
        item = person_view(person, scopes=scopes, reveal=shown, places=places, today=today,
                           lang=lang)
        item["match"] = matched[person.id]
        items.append(item)
        entries.append(display_entry(actor, person, fields=shown_fields(person, scopes),
                                     revealed=shown, purpose=purpose, via=via, facts=facts))
    log_displays(session, entries)
    return SearchPage(items, total, page, per_page, kind, [matched[i] for i in ids],
                      total_capped=capped)
