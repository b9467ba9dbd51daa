"""How a person is shown to a reader: which fields each data scope allows, masked unless
revealed, and every display written to the access log.

The access-log rule (docs/registry.md, "The access log"): every person shown to someone
other than that person is an entry in that person's log — a masked display as a masked
entry naming the personal fields shown (name, ID number, phone, address, birth date), a
reveal as a full entry naming the fields revealed; one entry per person and request,
identical ones of a day aggregated (``core.audit.services.log_access``). Nothing is
logged for a person reading their own record, nor for a system job (``actor=None``)
reading masked — an eligibility check, a count — since nobody is shown anything; a system
job that reveals (an export, an exchange) is logged as "system".

In the assisted channel (``actor.agent`` set: a worker acting for a resident) nothing is
"own": the agent is the viewer, their own permission and place scope decide a reveal, and
every display is logged with the agent named and the resident's account as
``on_behalf_of_id``.

Shared by :func:`core.registry.search.search_persons` and
:class:`core.registry.reader.RegistryReader`, so a page, the API and a plugin see the same
masking (docs/requirements.md R09) and leave the same trace (R10).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, bindparam, literal, select
from sqlalchemy.orm import Session

from core.audit.services import access_row, log_accesses
from core.db import local_today
from core.registry import codes
from core.registry.errors import RegistryError, ScopeError
from core.registry.models import Building, Community, Dwelling, Grid, Person, Unit
from core.registry.scopes import SCOPES
from core.registry.validation import mask_id_number, mask_phone

ALL_SCOPES = frozenset(SCOPES)
#: Field that may be revealed → the data scope it needs.
REVEALABLE: dict[str, str] = {
    "id_number": "registry.person.identity",
    "birth_date": "registry.person.identity",
    "phone": "registry.person.contact",
    "address": "registry.dwelling",
}
REVEAL_PERMISSION = "registry.person.reveal"


def age_on(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def age_band(age: int | None) -> str:
    """Ten-year bands ("30-39", "90+"): what the basic scope may know about age."""
    if age is None:
        return ""
    if age >= 90:
        return "90+"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def mask_address(road: str, estate: str, building: str) -> str:
    """Down to the building: 幸福路88号 幸福小区3栋****."""
    return f"{road} {estate}{building}****".strip()


def mask_name(name: str | None) -> str:
    """Family name and stars (张** for 张三丰): how a resident is named outside the step
    that needs the full name."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * max(1, min(len(name) - 1, 3))


def real_actor(actor: Any) -> Any:
    """The agent in the assisted channel (``Principal.actor``), else the actor itself."""
    return getattr(actor, "actor", None) or actor


def _declared(obj: Any, name: str) -> Any:
    """``obj.name`` if the object or its class defines it, else ``None`` — without the
    ``Principal.__getattr__`` fallback, which would load the account row to find out."""
    if name in getattr(obj, "__dict__", {}):
        return obj.__dict__[name]
    return getattr(obj, name) if hasattr(type(obj), name) else None


def assisted(actor: Any) -> bool:
    """Whether a worker is acting for the account (``Principal.agent``)."""
    return getattr(actor, "agent", None) is not None


def is_self(actor: Any, person_id: int | None) -> bool:
    """The actor is the person, reading for themselves: never in an assisted session,
    where the one looking is the agent."""
    return (actor is not None and not assisted(actor) and person_id is not None
            and getattr(actor, "person_id", None) == person_id)


def actor_permissions(actor: Any) -> frozenset[str]:
    """The permissions that decide what ``actor`` may see: in the assisted channel the
    AGENT's (``agent_permissions`` when identity provides it, else the agent's roles as
    the kernel resolves them), never the resident's."""
    if actor is None:
        return frozenset()
    agent = getattr(actor, "agent", None)
    if agent is None:
        return frozenset(getattr(actor, "permissions", None) or ())
    perms = _declared(actor, "agent_permissions")
    if perms is None:
        perms = _declared(agent, "permissions")
    if perms is not None:
        return frozenset(perms)
    from flask import has_app_context

    from core.current import current_kernel

    try:  # outside an app, or in an app without the kernel: no roles to resolve
        kernel = current_kernel() if has_app_context() else None
    except KeyError:
        kernel = None
    if kernel is None or not hasattr(kernel, "roles_now"):
        return frozenset()
    roles = kernel.roles_now()
    return frozenset(p for role in getattr(agent, "role_names", ()) for p in roles.get(role, ()))


def actor_scopes(actor: Any) -> frozenset[tuple[str, str]]:
    """The ``(kind, code)`` places of ``actor`` — the agent's in the assisted channel."""
    if actor is None:
        return frozenset()
    agent = getattr(actor, "agent", None)
    rows = _declared(actor, "agent_scopes") if agent is not None else None
    if rows is None:
        rows = getattr(agent if agent is not None else actor, "scopes", None)
    return frozenset((s.kind, s.code) for s in (rows or ()))


def check_reveal(
    actor: Any, person_id: int, fields: Iterable[str], scopes: frozenset[str], purpose: str
) -> list[str]:
    """The fields to reveal, after checking scopes, permission and purpose.

    * each field's data scope must be among ``scopes`` (the plugin's declaration);
    * the actor must hold ``registry.person.reveal`` — or be the person reading their own
      record (never in the assisted channel: there the AGENT's permission counts), or be
      ``None`` (a system job, e.g. an export run from the command line);
    * a purpose must be stated: it goes to the access log the resident reads."""
    wanted = sorted(set(fields))
    if not wanted:
        return []
    unknown = [f for f in wanted if f not in REVEALABLE]
    if unknown:
        raise RegistryError("Cannot reveal %(fields)s.", "reveal", fields=", ".join(unknown))
    missing = sorted({REVEALABLE[f] for f in wanted} - scopes)
    if missing:
        raise ScopeError(f"outside the declared data scopes: {', '.join(missing)}")
    own = actor is None or is_self(actor, person_id)
    if not own and REVEAL_PERMISSION not in actor_permissions(actor):
        raise ScopeError(f"revealing {', '.join(wanted)} needs {REVEAL_PERMISSION}")
    if not (purpose or "").strip():
        raise RegistryError("State the purpose of revealing personal data.", "purpose")
    return wanted


#: The personal fields a view shows, and the data scope that shows each (``name`` with
#: the basic scope).
SHOWN_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "registry.person.basic"),
    ("id_number", "registry.person.identity"),
    ("birth_date", "registry.person.identity"),
    ("phone", "registry.person.contact"),
    ("address", "registry.dwelling"),
)


def shown_fields(person: Any, scopes: Iterable[str]) -> list[str]:
    """The personal fields of ``person`` a view within ``scopes`` shows (those with a
    value): what a masked entry names."""
    scopes = set(scopes)
    values = {"name": getattr(person, "name", None),
              "id_number": getattr(person, "id_number", None),
              "birth_date": getattr(person, "birth_date", None),
              "phone": getattr(person, "phone", None),
              "address": getattr(person, "dwelling_id", None)}
    return [f for f, scope in SHOWN_FIELDS if scope in scopes and values[f]]


def display_entry(
    actor: Any,
    person: Any,
    *,
    fields: Sequence[str],
    revealed: Sequence[str],
    purpose: str,
    via: str,
    facts: Mapping[str, Any] | None,
    system_shown: bool = False,
) -> dict[str, Any] | None:
    """The access-log row for showing ``person`` to ``actor`` (see the module docstring),
    or ``None`` when nothing is to be logged: the person themselves, a system job reading
    masked, or nothing personal shown. ``revealed`` non-empty makes it a full entry naming
    those fields; otherwise a masked one naming ``fields``. ``system_shown``: a system
    job's masked display does reach someone (an export file, an exchange delivery), so
    it is logged as "system" too."""
    pid = getattr(person, "id", person)
    if is_self(actor, pid):
        return None
    if revealed:
        return access_row(actor=actor, person_id=pid, fields=revealed,
                          purpose=purpose, via=via, facts=facts, masked=False)
    if (actor is None and not system_shown) or not fields:
        return None
    return access_row(actor=actor, person_id=pid, fields=fields, purpose=purpose, via=via,
                      facts=facts, masked=True)


def log_displays(session: Session, entries: Iterable[dict[str, Any] | None]) -> int:
    """Queue the rows :func:`display_entry` made (``None`` skipped): one upsert for the
    request when the session commits."""
    return log_accesses(session, [e for e in entries if e is not None])


def log_reveal(
    session: Session,
    *,
    actor: Any,
    person_id: int,
    fields: Sequence[str],
    purpose: str,
    via: str,
    facts: Mapping[str, Any] | None,
) -> None:
    """A full entry for ``fields`` revealed (kept for callers written before masked
    displays were logged; :func:`display_entry` is the general form)."""
    if fields:
        log_displays(session, [display_entry(actor, person_id, fields=(), revealed=fields,
                                             purpose=purpose, via=via, facts=facts)])


class Places:
    """Codes and names of the communities, grids and dwellings a page of persons refers
    to: one outer-joined select for a single person (a read, a reveal, the resident's own
    record), three small ``IN`` queries for a page — never one per person.

    Built before the place-scope check so that the check reads the codes from here
    (:meth:`codes`) instead of loading the community and grid again."""

    def __init__(self, session: Session, persons: Sequence[Person], *, addresses: bool):
        self.communities: dict[int, tuple[str, str]] = {}
        self.grids: dict[int, tuple[str, str]] = {}
        self.dwellings: dict[int, tuple[str, str]] = {}
        if len(persons) == 1:
            self._load_one(session, persons[0], addresses=addresses)
            return
        cids = {p.community_id for p in persons if p.community_id}
        gids = {p.grid_id for p in persons if p.grid_id}
        if cids:
            self.communities = {
                i: (c, n) for i, c, n in session.execute(
                    select(Community.id, Community.code, Community.name)
                    .where(Community.id.in_(cids)))
            }
        if gids:
            self.grids = {
                i: (c, n) for i, c, n in session.execute(
                    select(Grid.id, Grid.code, Grid.name).where(Grid.id.in_(gids)))
            }
        dids = {p.dwelling_id for p in persons if p.dwelling_id}
        if addresses and dids:
            rows = session.execute(
                select(Dwelling.id, Dwelling.address, Building.address, Building.estate,
                       Building.name)
                .join(Unit, Unit.id == Dwelling.unit_id)
                .join(Building, Building.id == Unit.building_id)
                .where(Dwelling.id.in_(dids))
            )
            self.dwellings = {i: (full, mask_address(road, est, b))
                              for i, full, road, est, b in rows}

    def _load_one(self, session: Session, person: Person, *, addresses: bool) -> None:
        """The community, grid and (with ``addresses``) dwelling of one person in one
        statement, matching the ids the object holds — written to its row or not."""
        cid, gid = person.community_id, person.grid_id
        did = person.dwelling_id if addresses else None
        if not (cid or gid or did):
            return
        row = session.execute(_PLACES_OF_IDS[bool(did)],
                              {"cid": cid, "gid": gid, "did": did}).one()
        self._take(row, did)

    def _take(self, row: Sequence[Any], did: int | None) -> None:
        """Community, grid and dwelling from one row of the single-person selects
        (columns in :data:`_PLACE_COLUMNS` order, ``None`` where nothing matched)."""
        c_id, c_code, c_name, g_id, g_code, g_name = row[:6]
        if c_id is not None:
            self.communities[c_id] = (c_code, c_name)
        if g_id is not None:
            self.grids[g_id] = (g_code, g_name)
        if did and len(row) > 6 and row[6] is not None:  # dwelling, unit, building exist
            full, road, est, b = row[7:11]
            self.dwellings[did] = (full, mask_address(road, est, b))

    def codes(self, person: Person) -> set[tuple[str, str]]:
        """The ``(kind, code)`` places a staff scope must name to see ``person``:
        ``("community", code)`` and ``("grid", code)``, as ``UserScope`` stores them."""
        out = set()
        comm = self.communities.get(person.community_id) if person.community_id else None
        if comm:
            out.add(("community", comm[0]))
        grid = self.grids.get(person.grid_id) if person.grid_id else None
        if grid:
            out.add(("grid", grid[0]))
        return out


#: Columns of the single-person place selects, in the order :meth:`Places._take` reads.
_PLACE_COLUMNS = (Community.id, Community.code, Community.name, Grid.id, Grid.code, Grid.name)
_ADDRESS_COLUMNS = (Building.id, Dwelling.address, Building.address, Building.estate,
                    Building.name)


def _places_of_ids(addresses: bool) -> Select:
    """Places by the ids a person holds, outer-joined to a one-row ``SELECT 1`` so that
    a missing community, grid or dwelling is a row of nulls, not no row."""
    one = select(literal(1).label("one")).subquery("one")
    query = select(*_PLACE_COLUMNS).select_from(one) \
        .outerjoin(Community, Community.id == bindparam("cid")) \
        .outerjoin(Grid, Grid.id == bindparam("gid"))
    if addresses:
        query = query.add_columns(*_ADDRESS_COLUMNS) \
            .outerjoin(Dwelling, Dwelling.id == bindparam("did")) \
            .outerjoin(Unit, Unit.id == Dwelling.unit_id) \
            .outerjoin(Building, Building.id == Unit.building_id)
    return query


def _person_with_places(addresses: bool) -> Select:
    """One person and their places in one statement (a read, a reveal)."""
    query = select(Person, *_PLACE_COLUMNS) \
        .outerjoin(Community, Community.id == Person.community_id) \
        .outerjoin(Grid, Grid.id == Person.grid_id)
    if addresses:
        query = query.add_columns(*_ADDRESS_COLUMNS) \
            .outerjoin(Dwelling, Dwelling.id == Person.dwelling_id) \
            .outerjoin(Unit, Unit.id == Dwelling.unit_id) \
            .outerjoin(Building, Building.id == Unit.building_id)
    return query.where(Person.id == bindparam("person_id"))


# Built once: a statement object is compiled and its cache key computed once, not per read.
_PLACES_OF_IDS = {False: _places_of_ids(False), True: _places_of_ids(True)}
_PERSON_WITH_PLACES = {False: _person_with_places(False), True: _person_with_places(True)}


def load_person(session: Session, person_id: int, *, addresses: bool
                ) -> tuple[Person | None, Places]:
    """The person (``None`` if there is none) and their :class:`Places`, in one
    statement: what a single read needs for both the place-scope check and the view."""
    places = Places(session, (), addresses=addresses)
    row = session.execute(_PERSON_WITH_PLACES[addresses], {"person_id": person_id}).first()
    if row is None:
        return None, places
    person = row[0]
    places._take(row[1:], person.dwelling_id if addresses else None)
    return person, places


def person_view(
    person: Person,
    *,
    scopes: frozenset[str] = ALL_SCOPES,
    reveal: Iterable[str] = (),
    places: Places | None = None,
    today: date | None = None,
    lang: str = "zh",
) -> dict[str, Any]:
    """A dict of what ``scopes`` allow, sensitive values masked unless in ``reveal``
    (already checked and logged by the caller: :func:`check_reveal`, :func:`log_reveal`)."""
    today = today or local_today()
    shown = set(reveal)
    comm = places.communities.get(person.community_id) if places and person.community_id else None
    grid = places.grids.get(person.grid_id) if places and person.grid_id else None
    age = age_on(person.birth_date, today) if person.status != "deceased" else None
    out: dict[str, Any] = {
        "id": person.id,
        "name": person.name,
        "sex": person.sex,
        "age_band": age_band(age),
        "status": person.status,
        "status_label": codes.label(codes.STATUSES, person.status, lang),
        "hukou_type": person.hukou_type,
        "hukou_label": codes.label(codes.HUKOU_TYPES, person.hukou_type, lang),
        "community": comm[0] if comm else None,
        "community_name": comm[1] if comm else None,
        "grid": grid[0] if grid else None,
        "grid_name": grid[1] if grid else None,
        "version": person.version,
        "revealed": sorted(shown),
    }
    if "registry.person.identity" in scopes:
        birth = person.birth_date
        out.update(
            id_type=person.id_type,
            id_number=(person.id_number if "id_number" in shown
                       else mask_id_number(person.id_number)) or None,
            birth_date=(birth.isoformat() if "birth_date" in shown
                        else f"{birth.year}-**-**") if birth else None,
            age=age,
            ethnicity=person.ethnicity,
            ethnicity_label=codes.ethnicity_label(person.ethnicity, lang),
            nationality=person.nationality,
        )
    if "registry.person.contact" in scopes:
        out["phone"] = (person.phone if "phone" in shown else mask_phone(person.phone)) or None
    if "registry.dwelling" in scopes:
        full, masked = (places.dwellings.get(person.dwelling_id, (None, None))
                        if places and person.dwelling_id else (None, None))
        out["dwelling_id"] = person.dwelling_id
        out["address"] = full if "address" in shown else masked
        out["hukou_place"] = person.hukou_place if "address" in shown else (
            "****" if person.hukou_place else None)
    if "registry.household" in scopes:
        out["household_id"] = person.household_id
        out["relation"] = person.relation
        out["relation_label"] = codes.label(codes.RELATIONS, person.relation, lang)
    return out
