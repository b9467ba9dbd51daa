"""Helpers the registry's API and pages share: the reader for the signed-in user, the
place checks (404 outside the caller's scope), the views of buildings and
organisations, and the data layer's refusals as API errors."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import abort, g
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Conflict, UnprocessableEntity
from werkzeug.exceptions import NotFound as NotFoundError

from core.audit.web import request_facts
from core.db import local_today
from core.identity.services import scope_allows
from core.registry import codes
from core.registry import services as registry
from core.registry.api.schemas import (
    SENSITIVE_KINDS,
)
from core.registry.errors import ConflictError, NotFound, RegistryError, ScopeError
from core.registry.models import (
    Building,
    Community,
    Dwelling,
    Grid,
    Household,
    Organisation,
    Person,
    Unit,
)
from core.registry.present import (
    ALL_SCOPES,
    display_entry,
    log_displays,
    real_actor,
)
from core.registry.reader import RegistryReader
from core.registry.search import parse_query
from core.rules import MAX_ID

# ------------------------------------------------------------------------------ helpers
#
# Shared with the pages (core.registry.views): the same reader, the same place checks.


def lang() -> str:
    return str(get_locale() or "zh")


def reader(session: Session, purpose: str = "") -> RegistryReader:
    """Core's own reader (every data scope) for the signed-in user: staff see their
    communities and grids, a resident their own record."""
    return RegistryReader(session, plugin="core", scopes=ALL_SCOPES, actor=current_user,
                          purpose=purpose, facts=request_facts())


def visible_person(session: Session, person_id: int, *, log: bool = True
                   ) -> tuple[Person, dict[str, Any]]:
    """The person and their masked view, when the signed-in user may see them (their
    place scope, or their own record); otherwise 404 — the same answer as for an id that
    does not exist. The display is queued for the person's access log unless ``log`` is
    false (a check before a change: what the change answers is logged)."""
    if not 0 < person_id <= MAX_ID:
        abort(404)
    try:
        # the person and their places: 1 select
        return reader(session)._person(person_id, log=log)
    except ScopeError:
        abort(404)


def log_names(session: Session, persons: Any, purpose: str = "") -> None:
    """Queue masked entries naming ``name`` for persons a page lists by name only (a
    building's residents, an organisation's representative, a review queue)."""
    facts = request_facts()
    log_displays(session, [display_entry(current_user, p, fields=["name"], revealed=(),
                                         purpose=purpose, via="core", facts=facts)
                           for p in persons])


def in_place(community: str | None, grid: str | None) -> bool:
    """Whether the signed-in staff member (the agent, in the assisted channel) is
    assigned to this community or grid."""
    return scope_allows(real_actor(current_user), community=community, grid=grid)


def place_codes(session: Session, community_id: int | None, grid_id: int | None
                ) -> tuple[str | None, str | None]:
    c = session.get(Community, community_id) if community_id else None
    gr = session.get(Grid, grid_id) if grid_id else None
    return (c.code if c else None), (gr.code if gr else None)


def visible_building(session: Session, building_id: int) -> Building:
    building = session.get(Building, building_id) if 0 < building_id <= MAX_ID else None
    if building is None:
        abort(404)
    community, grid = place_codes(session, building.community_id, building.grid_id)
    if not in_place(community, grid):
        abort(404)
    return building


def visible_household(session: Session, household_id: int) -> tuple[Household, Person]:
    """The household and a member through whom the signed-in user may see it (the head
    when visible): a household is as visible as its members."""
    household = session.get(Household, household_id) if 0 < household_id <= MAX_ID else None
    if household is None:
        abort(404)
    members = session.scalars(select(Person).where(Person.household_id == household.id)
                              .order_by(Person.id)).all()
    members = sorted(members, key=lambda p: p.id != household.head_id)
    rd = reader(session)
    for person in members:
        try:
            rd._person(person.id, log=False)
        except ScopeError:
            continue
        return household, person
    abort(404)


def building_view(session: Session, building: Building) -> dict[str, Any]:
    """Units, dwellings and their current residents (masked, in four queries)."""
    community, grid = place_codes(session, building.community_id, building.grid_id)
    comm = session.get(Community, building.community_id)
    units = session.scalars(select(Unit).where(Unit.building_id == building.id)
                            .order_by(Unit.name)).all()
    dwellings = session.scalars(
        select(Dwelling).where(Dwelling.unit_id.in_([u.id for u in units]))
        .order_by(Dwelling.floor, Dwelling.room)).all() if units else []
    residents: dict[int, list[dict[str, Any]]] = {d.id: [] for d in dwellings}
    if dwellings:
        from core.registry.models import Residence
        from core.registry.present import age_band, age_on

        rows = session.execute(
            select(Person, Residence.role)
            .outerjoin(Residence, (Residence.person_id == Person.id)
                       & (Residence.dwelling_id == Person.dwelling_id)
                       & Residence.ended_on.is_(None))
            .where(Person.dwelling_id.in_(list(residents)), Person.status == "active")
            .order_by(Person.dwelling_id, Person.relation, Person.id))

        today = local_today()
        rows = list(rows)
        log_names(session, [person for person, _role in rows])
        for person, role in rows:
            residents[person.dwelling_id].append({
                "id": person.id, "name": person.name, "sex": person.sex,
                "age_band": age_band(age_on(person.birth_date, today)),
                "hukou_type": person.hukou_type, "role": role,
                "hukou_label": codes.label(codes.HUKOU_TYPES, person.hukou_type, lang()),
                "role_label": codes.label(codes.RESIDENCE_ROLES, role, lang()),
            })
    by_unit: dict[int, list[Dwelling]] = {u.id: [] for u in units}
    for d in dwellings:
        by_unit[d.unit_id].append(d)
    return {
        "id": building.id, "community": community, "community_name": comm.name if comm
        else "", "grid": grid, "estate": building.estate, "name": building.name,
        "address": building.address,
        "units": [{
            "id": u.id, "name": u.name,
            "dwellings": [{
                "id": d.id, "room": d.room, "floor": d.floor, "area_m2": d.area_m2,
                "use": d.use, "use_label": codes.label(codes.DWELLING_USES, d.use, lang()),
                "is_rental": d.is_rental, "address": d.address, "residents": residents[d.id],
            } for d in by_unit[u.id]],
        } for u in units],
    }


def org_views(session: Session, orgs: list[Organisation]) -> list[dict[str, Any]]:
    """Organisations with their community code and legal representative's name, in two
    queries for the whole page."""
    cids = {o.community_id for o in orgs if o.community_id}
    rids = {o.legal_rep_id for o in orgs if o.legal_rep_id}
    comms = {i: c for i, c in session.execute(select(Community.id, Community.code)
                                              .where(Community.id.in_(cids)))} if cids else {}
    reps = {i: n for i, n in session.execute(select(Person.id, Person.name)
                                             .where(Person.id.in_(rids)))} if rids else {}
    log_names(session, sorted(reps))
    return [{
        "id": o.id, "name": o.name, "credit_code": o.credit_code, "type": o.type,
        "type_label": codes.label(codes.ORG_TYPES, o.type, lang()), "address": o.address,
        "status": o.status, "version": o.version, "community": comms.get(o.community_id),
        "legal_rep": ({"id": o.legal_rep_id, "name": reps[o.legal_rep_id]}
                      if o.legal_rep_id in reps else None),
    } for o in orgs]


def organisation_query(q: str | None, community: str | None, status: str | None) -> Any:
    query = select(Organisation)
    if q:
        query = query.where(Organisation.name.contains(q.strip(), autoescape=True))
    if community:
        query = query.where(Organisation.community_id.in_(
            select(Community.id).where(Community.code == community)))
    if status:
        query = query.where(Organisation.status == status)
    return query.order_by(Organisation.name, Organisation.id)


def sensitive_query(q: str | None) -> bool:
    """Whether a free-text query carries personal data (R26: never in a URL)."""
    return bool(q) and bool(set(parse_query(q)) & SENSITIVE_KINDS)


# ------------------------------------------------------------------------------ errors


def refuse(session: Session, exc: Exception) -> None:
    """A refusal of the data layer as an API error.

    * 422 is the schema's: the body or query does not have the documented shape (webargs,
      before the view runs);
    * 404: the object, or an object the body names (dwelling, household, community, legal
      representative), does not exist or is outside the caller's scope;
    * 409: the shape is right but the register refuses the values — a stale ``version``,
      a document number registered already or failing its check (check character, date,
      province), sex or birth date disagreeing with the ID number, a closed record.
      Rules a JSON schema cannot express land here, with ``fields`` naming each problem,
      so that every schema-valid request is either done or refused for a stated reason
      about the register's state (what the API fuzzer checks)."""
    session.rollback()
    if isinstance(exc, ScopeError):
        abort(404)
    if isinstance(exc, ConflictError):
        error: Any = Conflict(description=str(exc))
        error.data = {"messages": {"version": [str(exc)]}}
        raise error
    if isinstance(exc, RegistryError):
        messages = {k: [v] for k, v in (exc.errors or {}).items()} or {
            exc.field or "_schema": [str(exc)]}
        error = (NotFoundError if isinstance(exc, NotFound) else Conflict)(
            description=str(exc))
        error.data = {"messages": messages}
        raise error
    raise exc


def invalid(field: str, message: str) -> None:
    error = UnprocessableEntity(description="The request has invalid fields.")
    error.data = {"messages": {field: [message]}}
    raise error


def not_found(field: str, message: str) -> None:
    error = NotFoundError(description=message)
    error.data = {"messages": {field: [message]}}
    raise error


def conflict(field: str, message: str) -> None:
    error = Conflict(description=message)
    error.data = {"messages": {field: [message]}}
    raise error


def set_page_header(page: int, size: int, total: int) -> dict[str, Any]:
    meta = {"page": page, "page_size": size, "total": total,
            "pages": math.ceil(total / size) if size else 0}
    g.pagination_header = json.dumps(meta)
    return meta


def _search(session: Session, args: dict[str, Any]) -> dict[str, Any]:
    status = args.pop("status", "active")
    page, size = args.pop("page", 1), args.pop("page_size", 20)
    criteria = {k: v for k, v in args.items() if v not in (None, "")}
    query = criteria.pop("q", "")
    try:
        result = registry.search_persons(
            session, actor=current_user, query=query, status=None if status == "any"
            else status, page=page, per_page=size, lang=lang(), **criteria)
    except RegistryError as exc:
        refuse(session, exc)
    session.commit()  # the access-log entries of the persons on the page
    meta = set_page_header(page, size, result.total or 0)
    return {"items": result.items, **meta, "total_capped": result.total_capped}


def _json_person(session: Session, person_id: int, reveal: list[str] | None = None,
                 purpose: str = "") -> dict[str, Any]:
    """The person as the answer shows them, their access-log entry committed."""
    view = reader(session, purpose).person(person_id, reveal=reveal or ())
    session.commit()
    return view


# ------------------------------------------------------------------------------ corrections
#
# What the review page and the review API both need: the staff member's communities (the
# dashboard's and the export's filter). The decision's notice is core.registry.corrections'
# default_notice, told in the resident's language when read.


def scope_communities(session: Session) -> list[tuple[str, str]]:
    """(code, name) of the communities the signed-in staff member works in: those they
    are assigned to and those holding a grid they are assigned to (every community for a
    district-wide scope)."""
    from sqlalchemy import or_

    scopes = {(s.kind, s.code) for s in (getattr(current_user, "scopes", None) or [])}
    query = select(Community.code, Community.name).order_by(Community.code)
    if ("all", "") not in scopes:
        codes_ = [c for k, c in scopes if k == "community"]
        grids = [c for k, c in scopes if k == "grid"]
        if not codes_ and not grids:
            return []
        query = query.where(or_(
            Community.code.in_(codes_),
            Community.id.in_(select(Grid.community_id).where(Grid.code.in_(grids)))))
    return [(c, n) for c, n in session.execute(query)]


