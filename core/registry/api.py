"""The ``registry`` API area (``/api/v1/registry``): persons (search, register, read,
change, reveal, move, death), households, buildings (who lives where), organisations and
imports.

Thin, like the pages (``core.registry.views``): every rule is in ``core.registry``'s data
layer — validation and history in ``services``, masking, reveal and the access log in
``present`` / ``reader``, staff place scope in ``search.place_filter``. Each operation
names its permission with :func:`core.identity.require`, outermost, so 401/403 come before
the body is read; then objects outside the caller's communities and grids answer 404, the
same as objects that do not exist (existence must not leak); then 422 for broken rules,
with the field named.

**Personal data never in a URL** (docs/requirements.md R26): ``GET /persons`` searches names and
pinyin only; a query that is an ID number, a phone number, the last four digits of an ID
number or an address is refused there and belongs in the JSON body of
``POST /persons/search``. Results are masked; ``POST /persons/{id}/reveal`` shows named
fields in full for a stated purpose and writes one access-log entry, which the resident
reads at ``/account/access-log``.
"""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

from flask import abort, current_app, g
from flask.views import MethodView
from flask_babel import get_locale
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Conflict, UnprocessableEntity
from werkzeug.exceptions import NotFound as NotFoundError

from core.api.endpoints import endpoint
from core.api.fields import AUTH, JsonBoolean, Strict, Text
from core.api.pagination import PageArgs, page_schema, paginate
from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session
from core.identity import check_access, require_login
from core.identity.services import scope_allows
from core.registry import codes
from core.registry import services as registry
from core.registry.errors import ConflictError, NotFound, RegistryError, ScopeError
from core.registry.importer import ImportFileError, ImportReport, RowError, import_persons
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
    REVEALABLE,
    display_entry,
    log_displays,
    real_actor,
)
from core.registry.reader import RegistryReader
from core.registry.search import AGE_BANDS, parse_query, place_filter
from core.registry.validation import normalise_document, normalise_id_number
from core.rules import MAX_ID

persons = Blueprint(
    "registry_persons",
    __name__,
    description="Persons: search (masked), register, read, change, reveal, move, death",
)
places = Blueprint(
    "registry_places", __name__, description="Households and buildings: who lives where"
)
organisations = Blueprint(
    "registry_organisations", __name__, description="Organisations (实有单位)"
)
imports = Blueprint(
    "registry_imports", __name__, description="Importing persons from CSV or XLSX files"
)

READ, WRITE, REVEAL = "registry.person.read", "registry.person.write", "registry.person.reveal"
ORG_READ, ORG_WRITE, IMPORT = "registry.org.read", "registry.org.write", "registry.import"
#: Query kinds that carry personal data and so never travel in a URL (R26).
SENSITIVE_KINDS = frozenset({"id_number", "phone", "id_last4", "address"})
COMMUNITY = validate.Regexp(r"^[0-9]{12}$", error="A community code has 12 digits.")
GRID = validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$", error="Not a grid code.")
STATUS_FILTER = [*codes.STATUSES, "any"]
#: A name has a letter (Han characters count) and no surrounding spaces.
#: Control characters (C0 and C1) spelled out: ``\s`` matches U+0085 in Python but not in the
#: ECMAScript regex an OpenAPI client validates with, so the document must not rely on it.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
NAME = validate.Regexp(rf"^[^\s\d_{_CONTROL}]([^{_CONTROL}]*[^\s{_CONTROL}])?$",
                       error="Enter the name.")
#: No digits at all: a name or pinyin, never an ID number, phone or address (R26).
NO_DIGITS = validate.Regexp(r"^[^0-9０-９]*$", error="Names and pinyin have no digits; "
                            "search by ID number, phone or address with POST "
                            "/persons/search.")
BASE64 = validate.Regexp(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
                         error="This is not base64.")


# ------------------------------------------------------------------------------ schemas


class PersonFields(Strict):
    """A person's recorded fields, checked by ``services.clean_person`` (the importer's
    rules): the schema says the shapes, the services the meaning (check digits, sex and
    birth date agreeing with the ID number …), answering 422 with the field named."""

    name = Text(one_line=True, validate=[validate.Length(min=1, max=50), NAME])
    id_type = fields.String(validate=validate.OneOf(list(codes.ID_TYPES)))
    id_number = fields.String(
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "18 characters for a resident ID (15-digit numbers are "
                                 "upgraded); other documents 5-20 letters and digits"},
    )
    sex = fields.String(allow_none=True, validate=validate.OneOf(list(codes.SEXES)))
    birth_date = fields.Date(allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Length(max=20))
    ethnicity = fields.String(
        allow_none=True, validate=validate.OneOf(list(codes.ETHNICITIES)),
        metadata={"description": "GB 3304 code (01 汉族)"},
    )
    nationality = fields.String(
        allow_none=True, validate=validate.Regexp(r"^[A-Z]{3}$"),
        metadata={"description": "ISO 3166 alpha-3; null for Chinese"},
    )
    hukou_type = fields.String(validate=validate.OneOf(list(codes.HUKOU_TYPES)))
    hukou_place = Text(allow_none=True, one_line=True, validate=validate.Length(max=200))


class PersonCreate(PersonFields):
    name = Text(required=True, one_line=True, validate=[validate.Length(min=1, max=50), NAME])
    community = fields.String(
        required=True, validate=COMMUNITY,
        metadata={"description": "The community (the dwelling's, when one is given)"},
    )
    dwelling_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    role = fields.String(
        load_default="other", validate=validate.OneOf(list(codes.RESIDENCE_ROLES))
    )
    since = fields.Date(metadata={"description": "Moved in on (default: today)"})
    household_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    relation = fields.String(
        validate=validate.OneOf([c for c in codes.RELATIONS if c != codes.HEAD]),
        metadata={"description": "GB/T 4761 relation to the head (with household_id)"},
    )


class PersonPatch(PersonFields):
    version = fields.Integer(
        required=True, validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "The version you read; a stale one answers 409"},
    )


class PersonSchema(Schema):
    """A person as the register shows them: sensitive values masked unless ``revealed``."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    sex = fields.String(allow_none=True)
    age_band = fields.String(required=True, metadata={"description": "Ten-year band"})
    status = fields.String(required=True)
    status_label = fields.String(required=True)
    hukou_type = fields.String(required=True)
    hukou_label = fields.String(required=True)
    community = fields.String(allow_none=True)
    community_name = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    grid_name = fields.String(allow_none=True)
    version = fields.Integer(required=True)
    revealed = fields.List(fields.String(), required=True,
                           metadata={"description": "Fields shown in full"})
    id_type = fields.String(allow_none=True)
    id_number = fields.String(allow_none=True, metadata={"description": "Masked unless "
                                                                        "revealed"})
    birth_date = fields.String(allow_none=True, metadata={"description": "1949-**-** unless "
                                                                         "revealed"})
    age = fields.Integer(allow_none=True)
    ethnicity = fields.String(allow_none=True)
    ethnicity_label = fields.String(allow_none=True)
    nationality = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "Masked unless revealed"})
    dwelling_id = fields.Integer(allow_none=True)
    address = fields.String(allow_none=True, metadata={"description": "Down to the building "
                                                                      "unless revealed"})
    hukou_place = fields.String(allow_none=True)
    household_id = fields.Integer(allow_none=True)
    relation = fields.String(allow_none=True)
    relation_label = fields.String(allow_none=True)


class PersonHit(PersonSchema):
    match = fields.String(
        required=True, metadata={"description": "Which rule matched (exact, name, pinyin, "
                                                "initials, reading, mixed, id_number …)"},
    )


class PersonQuery(PageArgs):
    q = Text(
        one_line=True, validate=[validate.Length(max=50), NO_DIGITS],
        metadata={"description": "A name, part of a name, full pinyin or initials (张三, "
                                 "张, zhangsan, zs, 张s). ID numbers, phones and addresses "
                                 "go in the body of POST /persons/search."},
    )
    community = fields.String(validate=COMMUNITY)
    grid = fields.String(validate=GRID)
    age_band = fields.String(validate=validate.OneOf(list(AGE_BANDS)))
    hukou_type = fields.String(validate=validate.OneOf(list(codes.HUKOU_TYPES)))
    status = fields.String(load_default="active", validate=validate.OneOf(STATUS_FILTER))


class PersonSearch(Strict):
    q = Text(one_line=True, validate=validate.Length(max=100),
             metadata={"description": "Free text: name, pinyin, ID number, phone, "
                                      "'name + last four digits', address"})
    name = Text(one_line=True, validate=validate.Length(max=50))
    id_number = fields.String(validate=validate.Length(max=32))
    phone = fields.String(validate=validate.Length(max=20))
    address = Text(one_line=True, validate=validate.Length(max=100))
    community = fields.String(validate=COMMUNITY)
    grid = fields.String(validate=GRID)
    age_band = fields.String(validate=validate.OneOf(list(AGE_BANDS)))
    hukou_type = fields.String(validate=validate.OneOf(list(codes.HUKOU_TYPES)))
    status = fields.String(load_default="active", validate=validate.OneOf(STATUS_FILTER))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RevealRequest(Strict):
    fields_ = fields.List(
        fields.String(validate=validate.OneOf(list(REVEALABLE))),
        required=True, data_key="fields", validate=validate.Length(min=1, max=4),
        metadata={"description": "id_number, birth_date, phone, address"},
    )
    purpose = Text(
        required=True, one_line=True, validate=validate.Length(min=4, max=500),
        metadata={"description": "Why: written to the access log the resident reads"},
    )


class MoveRequest(Strict):
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    to_dwelling_id = fields.Integer(
        required=True, allow_none=True, validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "null: the person left the area (moved out)"},
    )
    role = fields.String(load_default="other",
                         validate=validate.OneOf(list(codes.RESIDENCE_ROLES)))
    on = fields.Date(metadata={"description": "Default: today"})


class DeathRequest(Strict):
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    died_on = fields.Date(allow_none=True)


class HouseholdSchema(Schema):
    id = fields.Integer(required=True)
    number = fields.String(allow_none=True, metadata={"description": "户号"})
    kind = fields.String(required=True)
    head_id = fields.Integer(allow_none=True)
    dwelling_id = fields.Integer(allow_none=True)
    members = fields.List(fields.Nested(PersonSchema), required=True)


class ResidentSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    sex = fields.String(allow_none=True)
    age_band = fields.String(required=True)
    hukou_type = fields.String(required=True)
    role = fields.String(allow_none=True, metadata={"description": "owner, tenant, other"})


class DwellingSchema(Schema):
    id = fields.Integer(required=True)
    room = fields.String(required=True)
    floor = fields.Integer(allow_none=True)
    area_m2 = fields.Float(allow_none=True)
    use = fields.String(required=True)
    is_rental = fields.Boolean(required=True)
    address = fields.String(required=True)
    residents = fields.List(fields.Nested(ResidentSchema), required=True)


class UnitSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    dwellings = fields.List(fields.Nested(DwellingSchema), required=True)


class BuildingSchema(Schema):
    id = fields.Integer(required=True)
    community = fields.String(required=True)
    community_name = fields.String(required=True)
    grid = fields.String(allow_none=True)
    estate = fields.String(required=True)
    name = fields.String(required=True)
    address = fields.String(required=True)
    units = fields.List(fields.Nested(UnitSchema), required=True)


class LegalRepSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class OrganisationSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    credit_code = fields.String(required=True)
    type = fields.String(required=True)
    address = fields.String(required=True)
    status = fields.String(required=True)
    version = fields.Integer(required=True)
    community = fields.String(allow_none=True)
    legal_rep = fields.Nested(LegalRepSchema, allow_none=True)


class OrganisationQuery(PageArgs):
    q = Text(one_line=True, validate=validate.Length(max=100),
             metadata={"description": "Part of the name"})
    community = fields.String(validate=COMMUNITY)
    status = fields.String(validate=validate.OneOf(["active", "closed"]))


class OrganisationCreate(Strict):
    name = Text(required=True, one_line=True,
                validate=[validate.Length(min=1, max=200), validate.Regexp(r"\S")])
    credit_code = fields.String(
        required=True, validate=validate.Regexp(r"^[0-9A-Za-z]{18}$"),
        metadata={"description": "Unified social credit code (GB 32100), check character "
                                 "verified"},
    )
    type = fields.String(validate=validate.OneOf(list(codes.ORG_TYPES)))
    address = Text(one_line=True, validate=validate.Length(max=300))
    legal_rep_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=MAX_ID))
    community = fields.String(required=True, validate=COMMUNITY)
    grid = fields.String(validate=GRID)


class ImportRequest(Strict):
    filename = fields.String(
        required=True,
        validate=validate.Regexp(r"^[^/\\\x00-\x1f]{1,200}\.(csv|xlsx|CSV|XLSX)$"),
        metadata={"description": "Ends in .csv or .xlsx (the format)"},
    )
    content_base64 = fields.String(
        required=True, validate=[validate.Length(min=4), BASE64],
        metadata={"description": "The file, base64-encoded (CSV in UTF-8 or GB18030)"},
    )
    dry_run = JsonBoolean(
        load_default=True,
        metadata={"description": "Validate and say what would change, writing nothing "
                                 "(the default)"},
    )


class RowErrorSchema(Schema):
    row = fields.Integer(required=True, metadata={"description": "Spreadsheet row (header "
                                                                "= 1)"})
    field = fields.String(required=True)
    message = fields.String(required=True)
    name = fields.String(required=True)
    value = fields.String(required=True, metadata={"description": "Masked where sensitive"})


class ImportReportSchema(Schema):
    dry_run = fields.Boolean(required=True)
    committed = fields.Boolean(
        required=True, metadata={"description": "Written (false: nothing was written)"}
    )
    total = fields.Integer(required=True)
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    new_dwellings = fields.Integer(required=True)
    new_households = fields.Integer(required=True)
    rejected_rows = fields.List(fields.Integer(), required=True)
    rejected = fields.List(fields.Nested(RowErrorSchema), required=True)
    warnings = fields.List(fields.String(), required=True)
    batch_id = fields.Integer(allow_none=True)


#: A search page also says whether its total was capped (the component is named by the class).
PersonPage = type("RegistryPersonPage", (page_schema(PersonHit, "RegistryPersonPageBase"),), {
    "total_capped": fields.Boolean(
        required=True,
        metadata={"description": "More persons match than ``total`` "
                                 "(search totals are counted up to 1,000)"},
    ),
})
OrganisationPage = page_schema(OrganisationSchema, "RegistryOrganisationPage")


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
        from datetime import date

        today = date.today()
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


# ------------------------------------------------------------------------------ imports


class NamedBytes(io.BytesIO):
    """An uploaded file in memory with the name the importer reads its format from."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name


UNREADABLE = "The file cannot be read as CSV or XLSX."
OUTSIDE_COMMUNITY = "This community is outside the places you are assigned."
OUTSIDE_PERSON = ("This document number belongs to a person registered outside the places "
                  "you are assigned.")


def rows_outside_scope(session: Session, actor: Any, data: bytes, filename: str,
                       community: str | None = None) -> list[RowError]:
    """Rows a staff member may not import: a community (and grid) outside their
    assignment, or the document number of a person registered outside it (an upsert
    would change someone they may not even see). District staff (scope ``all``) pass."""
    from core.registry.importer import map_headers, read_table

    if place_filter(session, actor) is None:
        return []
    headers, rows, _ = read_table(NamedBytes(data, filename))
    mapping, _warnings = map_headers(headers, community=community)
    col = {key: i for i, key in mapping.items()}
    problems: list[RowError] = []
    numbers: dict[str, tuple[int, str]] = {}
    for rownum, cells in rows:
        def cell(key: str, cells: list[Any] = cells) -> str:
            i = col.get(key)
            return str(cells[i]).strip() if i is not None and i < len(cells) else ""

        name, code, grid, number = (cell("name"), cell("community") or (community or ""),
                                    cell("grid"), cell("id_number"))
        if not any(str(v).strip() for v in cells):
            continue
        if code and not scope_allows(actor, community=code, grid=grid or None):
            problems.append(RowError(rownum, "community", OUTSIDE_COMMUNITY, name[:50],
                                     code[:60]))
        if number:
            for candidate in {normalise_id_number(number), normalise_document(number)}:
                numbers[candidate] = (rownum, name[:50])
    found: set[str] = set()
    inside: set[str] = set()
    staff = place_filter(session, actor)
    keys = list(numbers)
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        found |= set(session.scalars(select(Person.id_number).where(
            Person.id_number.in_(chunk), Person.status != "merged")))
        inside |= set(session.scalars(select(Person.id_number).where(
            Person.id_number.in_(chunk), staff)))
    from core.registry.validation import mask_id_number

    for number in sorted(found - inside):
        rownum, name = numbers[number]
        problems.append(RowError(rownum, "id_number", OUTSIDE_PERSON, name,
                                 mask_id_number(number)))
    return sorted(problems, key=lambda e: (e.row, e.field))


def run_import(session: Session, data: bytes, filename: str, *, dry_run: bool,
               community: str | None = None, blank_clears: bool = False) -> ImportReport:
    """Import (or dry-run) an uploaded file for the signed-in user; rows outside their
    place scope are rejected like any other invalid row, so nothing is written. Raises
    :class:`ImportFileError` when the file as a whole cannot be read, or when
    ``community`` (the community of every row, for a file without that column) is
    outside the user's places. ``blank_clears``: see :func:`import_persons`."""
    community = (community or "").strip() or None
    if community and place_filter(session, current_user) is not None \
            and not scope_allows(current_user, community=community):
        raise ImportFileError(OUTSIDE_COMMUNITY, "community")
    try:
        outside = rows_outside_scope(session, current_user, data, filename, community)
    except RegistryError:
        raise
    except Exception:  # a damaged XLSX (zip), undecodable text, a broken CSV
        raise ImportFileError(UNREADABLE, "file") from None
    try:
        report = import_persons(session, NamedBytes(data, filename), bus=current_kernel().bus,
                                actor=current_user, dry_run=dry_run or bool(outside),
                                community=community, blank_clears=blank_clears)
    except RegistryError:
        raise
    except Exception as exc:  # a damaged XLSX (zip) or undecodable text
        current_app.logger.info("import of %s failed to read: %s", filename, exc)
        session.rollback()
        raise ImportFileError(UNREADABLE, "file") from None
    if outside:
        # A row naming a person outside the worker's places says only that: the import's
        # own checks of that row (a name that differs from the registered one, a closed
        # record) would describe someone the worker may not see.
        hidden = {e.row for e in outside if e.message == OUTSIDE_PERSON}
        kept = [e for e in report.rejected if e.row not in hidden]
        report.rejected = sorted([*kept, *outside], key=lambda e: (e.row, e.field))
        report.dry_run, report.committed = dry_run, False
    return report


def report_dict(report: ImportReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run, "committed": report.committed, "total": report.total,
        "created": report.created, "updated": report.updated, "unchanged": report.unchanged,
        "new_dwellings": report.new_dwellings, "new_households": report.new_households,
        "rejected_rows": report.rejected_rows,
        "rejected": [{"row": e.row, "field": e.field, "message": e.message, "name": e.name,
                      "value": e.value} for e in report.rejected],
        "warnings": list(report.warnings), "batch_id": report.batch_id,
    }


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


# ------------------------------------------------------------------------------ persons

REFUSED = "The register refuses these values (fields say why), or the record changed since " \
    "you read it (version)"
MISSING = "No such person within your scope"


@persons.route("/persons")
class Persons(MethodView):
    @endpoint(persons, READ, errors=(422,), descriptions={
        422: "Invalid filters or page, or digits in the query",
    })
    @persons.arguments(PersonQuery, location="query")
    @persons.response(200, PersonPage)
    def get(self, args):
        """Find persons by name or pinyin within your communities and grids (masked,
        paginated): exact name first, then names starting with it, full pinyin, initials
        and other readings. Active persons unless ``status`` says otherwise. ``q`` takes
        no digits: ID numbers, phones and addresses never go in a URL (docs/requirements.md R26),
        they go in the body of ``POST /persons/search``."""
        if sensitive_query(args.get("q")):  # the schema refuses digits already
            invalid("q", "ID numbers, phone numbers and addresses never go in a URL: "
                         "search with POST /persons/search.")
        return _search(current_session(), args)

    @endpoint(persons, WRITE, errors=(404, 409, 422), descriptions={
        403: "Lacks registry.person.write, or the place is not yours",
        404: "The community, dwelling or household named does not exist",
        409: REFUSED,
    })
    @persons.arguments(PersonCreate)
    @persons.response(201, PersonSchema)
    def post(self, data):
        """Register a person in a community (at ``dwelling_id`` when known), within the
        places you are assigned. Sex and birth date come from an 18-character ID number;
        given as well, they must agree with it. Without a document, the birth date is
        required."""
        session = current_session()
        place = {k: data.pop(k) for k in ("community", "dwelling_id", "role", "since",
                                          "household_id", "relation") if k in data}
        community, grid = place["community"], None
        if place.get("dwelling_id"):
            dwelling = session.get(Dwelling, place["dwelling_id"])
            if dwelling is None:
                not_found("dwelling_id", "There is no dwelling with this id.")
            at, grid = place_codes(session, dwelling.community_id, dwelling.grid_id)
            if at != community:
                conflict("dwelling_id", "The dwelling is in another community.")
        if not in_place(community, grid):
            abort(403, description="This place is outside the communities and grids you "
                                   "are assigned.")
        if place.get("household_id") and session.get(Household, place["household_id"]) is None:
            not_found("household_id", "There is no household with this id.")
        try:
            person = registry.register_person(
                session, data, bus=current_kernel().bus, actor=current_user,
                dwelling_id=place.get("dwelling_id"),
                community=None if place.get("dwelling_id") else community,
                role=place.get("role", "other"), since=place.get("since"),
                household_id=place.get("household_id"), relation=place.get("relation"))
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return _json_person(session, person.id)


@persons.route("/persons/search")
class PersonsSearch(MethodView):
    @endpoint(persons, READ, errors=(422,), descriptions={422: "Invalid criteria"})
    @persons.arguments(PersonSearch)
    @persons.response(200, PersonPage)
    def post(self, data):
        """Find persons by anything, personal data included, in the body (never in a URL,
        docs/requirements.md R26): ``q`` as typed in the search box (an ID number, a phone, a name
        with the last four digits of the ID number ``张三 002X``, an address, a name or
        pinyin), or the explicit criteria. Masked, within your communities and grids."""
        return _search(current_session(), data)


@persons.route("/persons/<int:person_id>")
class PersonItem(MethodView):
    # Gated by hand: a resident reads their own record, so the document lists no 403
    # (what a narrowed token must carry, issue 15); endpoint() would add one.
    @require_login("registry.person.read")
    @endpoint(persons, errors=(401, 404), descriptions={404: MISSING})
    @persons.doc(security=AUTH)
    @persons.response(200, PersonSchema)
    def get(self, person_id):
        """One person, masked. Staff with registry.person.read see the persons of their
        communities and grids; a resident sees only their own record. Anything else is
        404, as if it did not exist."""
        check_access(person_id=person_id, permission=READ)
        session = current_session()
        view = visible_person(session, person_id)[1]
        session.commit()  # its access-log entry
        return view

    @endpoint(persons, WRITE, errors=(404, 409, 422), descriptions={404: MISSING, 409: REFUSED})
    @persons.arguments(PersonPatch)
    @persons.response(200, PersonSchema)
    def patch(self, data, person_id):
        """Change recorded fields. Send the ``version`` you read: if someone changed the
        record since, 409 with the current version, instead of a silent overwrite. Every
        changed field goes to the history (ID numbers and phones masked there)."""
        session = current_session()
        visible_person(session, person_id, log=False)
        version = data.pop("version")
        try:
            registry.update_person(session, person_id, data, expected_version=version,
                                   bus=current_kernel().bus, actor=current_user)
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return _json_person(session, person_id)


@persons.route("/persons/<int:person_id>/reveal")
class PersonReveal(MethodView):
    @endpoint(persons, REVEAL, errors=(404, 422), descriptions={
        404: MISSING,
        422: "No fields or no purpose",
    })
    @persons.arguments(RevealRequest)
    @persons.response(200, PersonSchema)
    def post(self, data, person_id):
        """Show the named fields in full, once, for a stated purpose. One access-log entry
        is written (who, when, which fields, why — never the value); the resident reads
        it at /account/access-log."""
        session = current_session()
        if not 0 < person_id <= MAX_ID:
            abort(404)
        try:
            # the reader checks the place scope first (ScopeError: 404, as for a person
            # that does not exist), then the reveal, and writes the access-log entry
            view = _json_person(session, person_id, data["fields_"], data["purpose"])
        except (RegistryError, ScopeError) as exc:
            refuse(session, exc)
        session.commit()
        return view


@persons.route("/persons/<int:person_id>/move")
class PersonMove(MethodView):
    @endpoint(persons, WRITE, errors=(404, 409, 422), descriptions={
        404: "No such person within your scope, or no such dwelling",
        409: "Stale version, or the move is impossible (closed record, same dwelling, moved out "
             "already)",
    })
    @persons.arguments(MoveRequest)
    @persons.response(200, PersonSchema)
    def post(self, data, person_id):
        """Record a move: the current residence ends, one at ``to_dwelling_id`` starts
        (``null``: the person left the area). Publishes ``registry.person.moved``; an
        account bound to someone who left the community loses its verification."""
        session = current_session()
        visible_person(session, person_id, log=False)
        try:
            registry.move_person(session, person_id, to_dwelling_id=data["to_dwelling_id"],
                                 bus=current_kernel().bus, role=data["role"],
                                 on=data.get("on"),
                                 actor=current_user, expected_version=data.get("version"))
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return _json_person(session, person_id)


@persons.route("/persons/<int:person_id>/death")
class PersonDeath(MethodView):
    @endpoint(persons, WRITE, errors=(404, 409, 422), descriptions={
        404: MISSING,
        409: "Stale version, the record is closed already, or the date is impossible",
    })
    @persons.arguments(DeathRequest)
    @persons.response(200, PersonSchema)
    def post(self, data, person_id):
        """Record a death: the record closes, the residence ends, the person leaves their
        household. Publishes ``registry.person.deceased``."""
        session = current_session()
        visible_person(session, person_id, log=False)
        try:
            registry.record_death(session, person_id, bus=current_kernel().bus,
                                  died_on=data.get("died_on"), actor=current_user,
                                  expected_version=data.get("version"))
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return _json_person(session, person_id)


# ------------------------------------------------------------------------------ places


@places.route("/households/<int:household_id>")
class HouseholdItem(MethodView):
    @endpoint(places, READ, errors=(404,), descriptions={
        404: "No such household within your scope",
    })
    @places.response(200, HouseholdSchema)
    def get(self, household_id):
        """A household (户): its number, head and members with their relation (masked)."""
        session = current_session()
        _household, member = visible_household(session, household_id)
        view = reader(session).household(member.id)
        session.commit()  # the members' access-log entries
        return view


@places.route("/buildings/<int:building_id>")
class BuildingItem(MethodView):
    @endpoint(places, READ, errors=(404,), descriptions={404: "No such building within your scope"})
    @places.response(200, BuildingSchema)
    def get(self, building_id):
        """Who lives where: the building's units, dwellings (rental flags, use) and each
        dwelling's current residents, as owner, tenant or other."""
        session = current_session()
        view = building_view(session, visible_building(session, building_id))
        session.commit()  # the residents' access-log entries
        return view


# ------------------------------------------------------------------------------ organisations


@organisations.route("/organisations")
class Organisations(MethodView):
    @endpoint(organisations, ORG_READ, errors=(422,), descriptions={422: "Invalid filters or page"})
    @organisations.arguments(OrganisationQuery, location="query")
    @organisations.response(200, OrganisationPage)
    def get(self, args):
        """Organisations by name, community and status, in name order (paginated)."""
        session = current_session()
        query = organisation_query(args.pop("q", None), args.pop("community", None),
                                   args.pop("status", None))
        page = paginate(session, query, args)
        page["items"] = org_views(session, list(page["items"]))
        session.commit()  # the representatives' access-log entries
        return page

    @endpoint(organisations, ORG_WRITE, errors=(404, 409, 422), descriptions={
        403: "Lacks registry.org.write, or the place is not yours",
        404: "The community, grid or legal representative named does not exist",
        409: "The credit code is registered already or fails its check, or the grid is in another"
             " community",
    })
    @organisations.arguments(OrganisationCreate)
    @organisations.response(201, OrganisationSchema)
    def post(self, data):
        """Register an organisation by its unified social credit code, in a community
        (and grid) you are assigned."""
        session = current_session()
        if not in_place(data["community"], data.get("grid")):
            abort(403, description="This place is outside the communities and grids you "
                                   "are assigned.")
        try:
            org = registry.register_organisation(session, data, bus=current_kernel().bus,
                                                 actor=current_user)
        except RegistryError as exc:
            refuse(session, exc)
        view = org_views(session, [org])[0]
        session.commit()
        return view


@organisations.route("/organisations/<int:org_id>")
class OrganisationItem(MethodView):
    @endpoint(organisations, ORG_READ, errors=(404,), descriptions={404: "No such organisation"})
    @organisations.response(200, OrganisationSchema)
    def get(self, org_id):
        """One organisation with its legal representative."""
        session = current_session()
        org = session.get(Organisation, org_id) if 0 < org_id <= MAX_ID else None
        if org is None:
            abort(404)
        view = org_views(session, [org])[0]
        session.commit()  # the representative's access-log entry
        return view


# ------------------------------------------------------------------------------ imports


@imports.route("/imports")
class Imports(MethodView):
    @endpoint(imports, IMPORT, errors=(422,), descriptions={
        422: "Invalid fields (not base64, not .csv or .xlsx)",
    })
    @imports.arguments(ImportRequest)
    @imports.response(200, ImportReportSchema, description="A dry run, or rows were "
                                                           "rejected: nothing was written")
    @imports.alt_response(201, schema=ImportReportSchema, description="Imported")
    def post(self, data):
        """Import persons from a CSV or XLSX file (the template of docs/registry.md), sent
        as JSON ``{filename, content_base64, dry_run}``. Every row is validated and the
        report lists each rejected row with its reasons (values masked). All or nothing:
        when any row is rejected — including rows outside the places you are assigned —
        nothing is written. ``dry_run`` (the default) says what would change. A file that
        cannot be read at all (not CSV/XLSX, required columns missing) is reported as
        row 1 (the header row)."""
        session = current_session()
        content = base64.b64decode(data["content_base64"])
        try:
            report = run_import(session, content, data["filename"], dry_run=data["dry_run"])
        except RegistryError as exc:  # the file as a whole: unreadable, columns missing
            session.rollback()
            report = ImportReport(source=data["filename"], dry_run=data["dry_run"])
            report.rejected = [RowError(1, exc.field or "file", str(exc))]
        if report.committed and not report.dry_run:
            session.commit()
            return report_dict(report), 201
        session.rollback()
        return report_dict(report)


def blueprints() -> list[Blueprint]:
    """The ``registry`` area's blueprints, for ``core.api.core_api``."""
    return [persons, places, organisations, imports]

