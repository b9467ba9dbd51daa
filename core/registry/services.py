"""The registry's business rules: plain functions over a session, no Flask. Pages, the API,
the CLI, importers and event handlers all call these; callers commit.

Every write function

* validates with the same rules as the importer (:func:`clean_person`),
* records each changed field in ``registry_change`` (old → new, who, when, ``via``),
* publishes its event on ``bus`` in the same transaction (``registry.person.moved`` ...),
  so the change and the event commit or roll back together.

Reads by plugins go through :class:`RegistryReader` (scopes, purpose, access log) and
:func:`search_persons`; identity uses :func:`match_person`, :func:`find_by_id_number`
and :func:`person_community`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.db import utcnow
from core.registry import codes
from core.registry.errors import ConflictError, NotFound, RegistryError, ScopeError
from core.registry.models import (
    Building,
    Change,
    Community,
    Dwelling,
    Grid,
    Household,
    Organisation,
    Person,
    PersonKey,
    Residence,
    Street,
    Unit,
)
from core.registry.pinyin import name_keys
from core.registry.reader import RegistryReader, person_view
from core.registry.search import AGE_BANDS, SearchPage, place_filter, search_persons
from core.registry.validation import (
    IdentifierError,
    check_document,
    mask_id_number,
    mask_phone,
    normalise_document,
    normalise_id_number,
    normalise_phone,
    parse_credit_code,
    validate_community_code,
    validate_phone,
    validate_street_code,
)

__all__ = [
    "AGE_BANDS",
    "ConflictError",
    "NotFound",
    "RegistryError",
    "RegistryReader",
    "ScopeError",
    "SearchPage",
    "add_member",
    "clean_person",
    "create_community",
    "create_grid",
    "create_household",
    "create_street",
    "ensure_dwelling",
    "find_by_id_number",
    "mask_id_number",
    "mask_phone",
    "match_person",
    "merge_persons",
    "move_person",
    "person_community",
    "person_view",
    "record_death",
    "register_organisation",
    "register_person",
    "remove_member",
    "search_persons",
    "set_head",
    "update_organisation",
    "update_person",
]

#: Fields a caller may set on a person directly (place, household and status change
#: through their own functions, which keep history and publish the right events).
PERSON_FIELDS = (
    "name",
    "id_type",
    "id_number",
    "sex",
    "birth_date",
    "phone",
    "ethnicity",
    "nationality",
    "hukou_type",
    "hukou_place",
)
#: Stored masked in ``registry_change`` (see ``models.Change``).
MASKED_HISTORY = {"id_number": mask_id_number, "phone": mask_phone}
ORG_FIELDS = ("name", "credit_code", "type", "address", "legal_rep_id", "community", "grid",
              "status")
_NAME_OK = re.compile(r"[^\W\d_]", re.UNICODE)


def N_(message: str) -> str:
    """Mark a message for extraction; pages translate it with ``gettext``."""
    return message


# ------------------------------------------------------------------------------ helpers


def _who(actor: Any) -> tuple[int | None, str]:
    """(id, name) of who really acts: the agent in the assisted channel, else the user."""
    real = getattr(actor, "actor", None) or actor
    return getattr(real, "id", None), (getattr(real, "username", "") or "")[:64]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def record_change(
    session: Session,
    entity: str,
    entity_id: int,
    changes: Mapping[str, tuple[Any, Any]],
    *,
    actor: Any = None,
    via: str = "core",
) -> None:
    """One ``registry_change`` row per changed field (``{field: (old, new)}``)."""
    actor_id, actor_name = _who(actor)
    now = utcnow()
    for name, (old, new) in changes.items():
        if old == new:
            continue
        mask = MASKED_HISTORY.get(name)
        old_s, new_s = _text(old), _text(new)
        if mask is not None:
            old_s = mask(old_s) if old_s else old_s
            new_s = mask(new_s) if new_s else new_s
        session.add(
            Change(entity=entity, entity_id=entity_id, field=name, old=old_s, new=new_s,
                   actor_id=actor_id, actor_name=actor_name, via=via[:40], at=now)
        )


def history(session: Session, entity: str, entity_id: int) -> list[Change]:
    """The change history of one entity, oldest first."""
    return list(
        session.scalars(
            select(Change)
            .where(Change.entity == entity, Change.entity_id == entity_id)
            .order_by(Change.id)
        )
    )


def _get(session: Session, model: type, ident: int, what: str) -> Any:
    obj = session.get(model, ident) if ident is not None else None
    if obj is None:
        raise NotFound(N_("No such %(what)s."), what, what=what)
    return obj


def _flush(session: Session, entity: Any) -> None:
    """Flush, turning a lost optimistic-lock race into :class:`ConflictError`."""
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise ConflictError(
            N_("Someone else changed this record meanwhile; reload it and try again.")
        ) from None


def parse_date(value: Any, field: str = "date") -> date | None:
    """A date from a ``date``, ``datetime`` or text ("2024-03-01", "2024/3/1", "20240301",
    "2024年3月1日"); None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    text = unicodedata.normalize("NFKC", str(value)).strip()
    text = re.sub(r"[年月/.]", "-", text).rstrip("日").strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        y, m, d = (int(p) for p in text.split("-"))
        return date(y, m, d)
    except ValueError:
        raise RegistryError(N_("Enter a date as YYYY-MM-DD."), field) from None


# ------------------------------------------------------------------------------ validation


def _clean_name(value: Any) -> str:
    """NFC, single spaces, trimmed (names are compared exactly by ``match_person``)."""
    name = str(value or "")
    if not unicodedata.is_normalized("NFC", name):
        name = unicodedata.normalize("NFC", name)
    if not name.isprintable() or "  " in name or name != name.strip():
        name = re.sub(r"\s+", " ", name).strip()
    return name


def clean_person(data: Mapping[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """Normalise and validate a person's fields (the rules the forms, the API and the
    importer share). Returns the clean values of :data:`PERSON_FIELDS`; raises
    :class:`RegistryError` with ``errors`` naming every field that is wrong.

    Sex and birth date come from an 18-character ID number; when they are given as well
    they must agree with it. Without a document, a birth date is required."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = dict.fromkeys(PERSON_FIELDS)
    today = today or date.today()

    name = _clean_name(data.get("name"))
    if not name or not _NAME_OK.search(name):
        errors["name"] = N_("Enter the name.")
    elif len(name) > 50:
        errors["name"] = N_("A name has at most 50 characters.")
    out["name"] = name

    try:
        id_type = codes.parse_code(data.get("id_type"), codes.ID_TYPES) or "resident_id"
    except KeyError:
        errors["id_type"] = N_("Unknown document type.")
        id_type = "resident_id"
    derived_sex = derived_birth = None
    raw_id = data.get("id_number")
    if raw_id is not None and str(raw_id).strip():
        try:
            id_type, number, parsed = check_document(id_type, str(raw_id), today=today)
            out["id_number"] = number
            if parsed is not None:
                derived_sex, derived_birth = parsed.sex, parsed.birth_date
        except IdentifierError as exc:
            errors["id_number"] = exc.message
    out["id_type"] = id_type

    try:
        sex = codes.parse_code(data.get("sex"), codes.SEXES, codes.SEX_ALIASES)
    except KeyError:
        errors["sex"] = N_("Sex is M or F (男/女).")
        sex = None
    if derived_sex and sex and sex != derived_sex:
        errors["sex"] = N_("The sex does not agree with the ID number.")
    out["sex"] = derived_sex or sex

    try:
        birth = parse_date(data.get("birth_date"), "birth_date")
    except RegistryError as exc:
        errors["birth_date"] = str(exc)
        birth = None
    if birth and birth > today:
        errors["birth_date"] = N_("The birth date is in the future.")
    if derived_birth and birth and birth != derived_birth:
        errors["birth_date"] = N_("The birth date does not agree with the ID number.")
    out["birth_date"] = derived_birth or birth
    if out["birth_date"] is None and "id_number" not in errors and "birth_date" not in errors:
        errors["birth_date"] = N_("Without an ID number, the birth date is required.")

    phone = data.get("phone")
    if phone is not None and str(phone).strip():
        try:
            out["phone"] = validate_phone(str(phone))
        except IdentifierError as exc:
            errors["phone"] = exc.message

    try:
        out["ethnicity"] = codes.parse_ethnicity(data.get("ethnicity"))
    except KeyError:
        errors["ethnicity"] = N_("Unknown ethnic group.")

    nationality = unicodedata.normalize("NFKC", str(data.get("nationality") or "")).strip()
    nationality = nationality.upper()
    if nationality in ("", "CHN", "CN", "中国", "中华人民共和国"):
        out["nationality"] = None
    elif re.fullmatch(r"[A-Z]{3}", nationality):
        out["nationality"] = nationality
    else:
        errors["nationality"] = N_("Nationality is a three-letter ISO 3166 code.")

    try:
        hukou = codes.parse_code(data.get("hukou_type"), codes.HUKOU_TYPES, codes.HUKOU_ALIASES)
    except KeyError:
        errors["hukou_type"] = N_("Unknown hukou type.")
        hukou = None
    if hukou is None:
        foreign_doc = id_type not in ("resident_id", "other") or out["nationality"]
        hukou = "overseas" if foreign_doc else "local"
    out["hukou_type"] = hukou
    place = str(data.get("hukou_place") or "").strip()
    out["hukou_place"] = place[:200] or None

    if errors:
        first = next(iter(errors))
        raise RegistryError(errors[first], first, errors=errors)
    return out


def _apply_name(session: Session, person: Person) -> None:
    """Search columns and extra pinyin keys for the person's (new) name; the person must
    have an id (flushed)."""
    full, initials, extra = name_keys(person.name)
    person.name_pinyin, person.name_initials = full, initials
    session.execute(delete(PersonKey).where(PersonKey.person_id == person.id))
    for key, kind in extra:
        session.add(PersonKey(person_id=person.id, key=key, kind=kind))


def _id_taken(session: Session, number: str | None, person_id: int | None = None, *,
              actor: Any = None) -> None:
    """Refuse a document number another record has. Only an ``actor`` who may see that
    record is told its number (to open it); for anyone else the answer names no id and
    no community, so a conflict cannot be used to find out where someone lives."""
    if number is None:
        return
    other = session.scalar(select(Person.id).where(Person.id_number == number))
    if other is None or other == person_id:
        return
    staff = place_filter(session, actor)
    if staff is None or session.scalar(
            select(Person.id).where(Person.id == other, staff)) is not None:
        raise RegistryError(
            N_("A person with this document number is registered already (no. %(other)s)."),
            "id_number",
            other=other,
        )
    raise RegistryError(
        N_("A person with this document number is registered already, outside the places "
           "you are assigned: ask the district registry office to look into it."),
        "id_number",
    )


# ------------------------------------------------------------------------------ places


def create_street(session: Session, *, code: str, name: str, actor: Any = None) -> Street:
    code = _valid(validate_street_code, code, "code")
    if session.scalar(select(Street.id).where(Street.code == code)) is not None:
        raise RegistryError(N_("This street exists already."), "code")
    street = Street(code=code, name=name.strip())
    session.add(street)
    session.flush()
    record_change(session, "street", street.id, {"*": (None, "created")}, actor=actor)
    return street


def create_community(
    session: Session,
    *,
    code: str,
    name: str,
    street: Street | int,
    urban_rural: str | None = None,
    actor: Any = None,
) -> Community:
    code = _valid(validate_community_code, code, "code")
    street_obj = street if isinstance(street, Street) else _get(session, Street, street, "street")
    if not code.startswith(street_obj.code):
        raise RegistryError(N_("A community's code starts with its street's code."), "code")
    if session.scalar(select(Community.id).where(Community.code == code)) is not None:
        raise RegistryError(N_("This community exists already."), "code")
    community = Community(code=code, name=name.strip(), street_id=street_obj.id,
                          urban_rural=urban_rural)
    session.add(community)
    session.flush()
    record_change(session, "community", community.id, {"*": (None, "created")}, actor=actor)
    return community


def create_grid(
    session: Session, *, code: str, name: str, community: Community | str, actor: Any = None
) -> Grid:
    comm = community if isinstance(community, Community) else community_by_code(session, community)
    code = unicodedata.normalize("NFKC", code).strip()
    if not re.fullmatch(r"[A-Za-z0-9\-_]{1,32}", code):
        raise RegistryError(N_("A grid code has 1 to 32 letters, digits, '-' or '_'."), "code")
    if session.scalar(select(Grid.id).where(Grid.code == code)) is not None:
        raise RegistryError(N_("This grid exists already."), "code")
    grid = Grid(code=code, name=name.strip(), community_id=comm.id)
    session.add(grid)
    session.flush()
    record_change(session, "grid", grid.id, {"*": (None, "created")}, actor=actor)
    return grid


def _valid(check: Any, value: str, field: str) -> str:
    try:
        return check(value)
    except IdentifierError as exc:
        raise RegistryError(exc.message, field) from None


def community_by_code(session: Session, code: str) -> Community:
    community = session.scalar(select(Community).where(Community.code == str(code).strip()))
    if community is None:
        raise NotFound(N_("No community with code %(code)s."), "community", code=code)
    return community


def grid_by_code(session: Session, code: str) -> Grid:
    grid = session.scalar(select(Grid).where(Grid.code == str(code).strip()))
    if grid is None:
        raise NotFound(N_("No grid with code %(code)s."), "grid", code=code)
    return grid


def format_address(road: str, estate: str, building: str, unit: str, room: str) -> str:
    """The standard address: 幸福路88号 幸福小区3栋2单元1502室."""
    place = f"{estate}{building}{unit}{room}{'室' if room and room[-1].isdigit() else ''}"
    return f"{road} {place}".strip()


def ensure_dwelling(
    session: Session,
    *,
    community: Community | str,
    building: str,
    room: str,
    estate: str = "",
    unit: str = "",
    grid: Grid | str | None = None,
    road: str = "",
    floor: int | None = None,
    use: str = "self",
    is_rental: bool = False,
    actor: Any = None,
) -> Dwelling:
    """The dwelling at this address, created (with its building and unit) when missing.
    Floors default to the room number's leading digits (1502 → 15)."""
    comm = community if isinstance(community, Community) else community_by_code(session, community)
    grid_obj = grid if isinstance(grid, Grid) or grid is None else grid_by_code(session, grid)
    if grid_obj is not None and grid_obj.community_id != comm.id:
        raise RegistryError(N_("The grid belongs to another community."), "grid")
    building, room, estate, unit = (s.strip() for s in (building, room, estate, unit))
    if not building or not room:
        raise RegistryError(N_("A dwelling needs a building and a room number."), "room")
    b = session.scalar(select(Building).where(
        Building.community_id == comm.id, Building.estate == estate, Building.name == building))
    if b is None:
        b = Building(community_id=comm.id, grid_id=grid_obj.id if grid_obj else None,
                     estate=estate, name=building, address=road.strip())
        session.add(b)
        session.flush()
    u = session.scalar(select(Unit).where(Unit.building_id == b.id, Unit.name == unit))
    if u is None:
        u = Unit(building_id=b.id, name=unit)
        session.add(u)
        session.flush()
    d = session.scalar(select(Dwelling).where(Dwelling.unit_id == u.id, Dwelling.room == room))
    if d is None:
        d = Dwelling(
            unit_id=u.id, room=room, floor=floor if floor is not None else guess_floor(room),
            use=use, is_rental=is_rental, community_id=comm.id, grid_id=b.grid_id,
            address=format_address(b.address, estate, building, unit, room),
        )
        session.add(d)
        session.flush()
        record_change(session, "dwelling", d.id, {"*": (None, "created")}, actor=actor)
    return d


def guess_floor(room: str) -> int | None:
    digits = re.match(r"\d+", room or "")
    if digits is None or len(digits.group()) < 3:
        return None
    return int(digits.group()[:-2]) or None


def _place_codes(session: Session, community_id: int | None, grid_id: int | None
                 ) -> tuple[str | None, str | None]:
    c = session.get(Community, community_id) if community_id else None
    g = session.get(Grid, grid_id) if grid_id else None
    return (c.code if c else None), (g.code if g else None)


# ------------------------------------------------------------------------------ persons


def register_person(
    session: Session,
    data: Mapping[str, Any],
    *,
    bus: Any,
    actor: Any = None,
    via: str = "core",
    dwelling_id: int | None = None,
    community: str | None = None,
    role: str = "other",
    since: date | None = None,
    household_id: int | None = None,
    relation: str | None = None,
) -> Person:
    """Register one person (at ``dwelling_id``, or only in ``community`` when the dwelling
    is not known yet). Publishes ``registry.person.registered``."""
    clean = clean_person(data)
    _id_taken(session, clean["id_number"], actor=actor)
    person = Person(**clean, status="active", version=1)
    dwelling = _get(session, Dwelling, dwelling_id, "dwelling") if dwelling_id else None
    if dwelling is not None:
        person.dwelling_id, person.grid_id = dwelling.id, dwelling.grid_id
        person.community_id = dwelling.community_id
    elif community:
        person.community_id = community_by_code(session, community).id
    person.name_pinyin, person.name_initials, _ = name_keys(person.name)
    session.add(person)
    session.flush()
    _apply_name(session, person)
    if dwelling is not None:
        session.add(Residence(person_id=person.id, dwelling_id=dwelling.id,
                              role=_role(role), started_on=since or date.today()))
    record_change(session, "person", person.id, {"*": (None, "created")}, actor=actor, via=via)
    community_code, grid_code = _place_codes(session, person.community_id, person.grid_id)
    bus.publish(session, "registry.person.registered",
                {"person_id": person.id, "community": community_code, "grid": grid_code,
                 "via": via})
    if household_id is not None:
        add_member(session, household_id, person.id, relation or "99", bus=bus, actor=actor,
                   via=via)
    session.flush()
    return person


def _role(role: str) -> str:
    try:
        return codes.parse_code(role, codes.RESIDENCE_ROLES, codes.RESIDENCE_ALIASES) or "other"
    except KeyError:
        raise RegistryError(N_("A residence is as owner, tenant or other."), "role") from None


def _check_version(obj: Any, expected: int | None) -> None:
    if expected is not None and obj.version != expected:
        raise ConflictError(
            N_("Someone else changed this record meanwhile (version %(current)s, you had "
               "%(expected)s); reload it and try again."),
            current_version=obj.version, current=obj.version, expected=expected,
        )


def update_person(
    session: Session,
    person_id: int,
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    bus: Any,
    actor: Any = None,
    via: str = "core",
) -> Person:
    """Change a person's recorded fields. ``expected_version`` is the version the caller
    read: if the record changed since, :class:`ConflictError` (HTTP 409) instead of a
    silent overwrite. Publishes ``registry.person.updated`` with the changed fields."""
    person = _get(session, Person, person_id, "person")
    _check_version(person, expected_version)
    unknown = sorted(set(changes) - set(PERSON_FIELDS))
    if unknown:
        raise RegistryError(N_("These fields cannot be changed here: %(fields)s."),
                            unknown[0], fields=", ".join(unknown))
    if person.status == "merged":
        raise RegistryError(N_("This record was merged into another; change that one."), "status")
    merged = {f: getattr(person, f) for f in PERSON_FIELDS} | dict(changes)
    clean = clean_person(merged)
    diff = {f: (getattr(person, f), clean[f]) for f in PERSON_FIELDS
            if getattr(person, f) != clean[f]}
    if not diff:
        return person
    if "id_number" in diff:
        _id_taken(session, clean["id_number"], person.id, actor=actor)
    for f, (_old, new) in diff.items():
        setattr(person, f, new)
    if "name" in diff:
        _apply_name(session, person)
    record_change(session, "person", person.id, diff, actor=actor, via=via)
    _flush(session, person)
    bus.publish(session, "registry.person.updated",
                {"person_id": person.id, "fields": sorted(diff), "version": person.version,
                 "via": via})
    return person


def current_residence(session: Session, person_id: int) -> Residence | None:
    return session.scalar(
        select(Residence)
        .where(Residence.person_id == person_id, Residence.ended_on.is_(None))
        .order_by(Residence.id.desc())
        .limit(1)
    )


def move_person(
    session: Session,
    person_id: int,
    *,
    to_dwelling_id: int | None,
    bus: Any,
    role: str = "other",
    on: date | None = None,
    actor: Any = None,
    via: str = "core",
    expected_version: int | None = None,
) -> Person:
    """End the current residence and start one at ``to_dwelling_id``; ``None`` means the
    person left the registry's area (status ``moved_out``). Moving a moved-out person to a
    dwelling brings them back (``active``). Publishes ``registry.person.moved`` with the
    communities before and after, which identity uses to revoke verification."""
    person = _get(session, Person, person_id, "person")
    _check_version(person, expected_version)
    if person.status in ("deceased", "merged"):
        raise RegistryError(N_("This person can no longer move (%(status)s)."), "status",
                            status=person.status)
    on = on or date.today()
    target = _get(session, Dwelling, to_dwelling_id, "dwelling") if to_dwelling_id else None
    if target is not None and target.id == person.dwelling_id:
        raise RegistryError(N_("The person lives in this dwelling already."), "dwelling")
    if target is None and person.status == "moved_out":
        raise RegistryError(N_("The person has moved out already."), "dwelling")
    from_community = (
        _place_codes(session, person.community_id, None)[0] if person.status == "active" else None
    )
    from_dwelling = person.dwelling_id
    old = {"dwelling_id": person.dwelling_id, "community_id": person.community_id,
           "grid_id": person.grid_id, "status": person.status}
    res = current_residence(session, person.id)
    if res is not None:
        res.ended_on = max(on, res.started_on) if res.started_on else on
    if target is not None:
        session.add(Residence(person_id=person.id, dwelling_id=target.id, role=_role(role),
                              started_on=on))
        person.dwelling_id, person.grid_id = target.id, target.grid_id
        person.community_id = target.community_id
        person.status = "active"
        to_community = _place_codes(session, target.community_id, None)[0]
    else:
        # The record stays with its last community (its staff still see who left).
        person.dwelling_id = None
        person.status = "moved_out"
        to_community = None
    new = {"dwelling_id": person.dwelling_id, "community_id": person.community_id,
           "grid_id": person.grid_id, "status": person.status}
    record_change(session, "person", person.id,
                  {k: (old[k], new[k]) for k in old if old[k] != new[k]}, actor=actor, via=via)
    _flush(session, person)
    bus.publish(session, "registry.person.moved", {
        "person_id": person.id, "from_community": from_community, "to_community": to_community,
        "from_dwelling_id": from_dwelling, "to_dwelling_id": person.dwelling_id,
        "on": on.isoformat(), "via": via,
    })
    return person


def record_death(
    session: Session,
    person_id: int,
    *,
    bus: Any,
    died_on: date | None = None,
    actor: Any = None,
    via: str = "core",
    expected_version: int | None = None,
) -> Person:
    """Record a death: status ``deceased``, the residence ended, the person taken out of
    their household (its head cleared if it was them). Publishes
    ``registry.person.deceased`` (identity revokes the bound account's verification)."""
    person = _get(session, Person, person_id, "person")
    _check_version(person, expected_version)
    if person.status in ("deceased", "merged"):
        raise RegistryError(N_("This record is closed already (%(status)s)."), "status",
                            status=person.status)
    if died_on is not None and person.birth_date and died_on < person.birth_date:
        raise RegistryError(N_("The date of death is before the birth date."), "died_on")
    if died_on is not None and died_on > date.today():
        raise RegistryError(N_("The date of death is in the future."), "died_on")
    community, _ = _place_codes(session, person.community_id, None)
    res = current_residence(session, person.id)
    if res is not None:
        res.ended_on = died_on or date.today()
    if person.household_id is not None:
        _leave_household(session, person, bus=bus, actor=actor, via=via)
    record_change(session, "person", person.id,
                  {"status": (person.status, "deceased"), "died_on": (None, died_on),
                   "dwelling_id": (person.dwelling_id, None)}, actor=actor, via=via)
    person.status, person.died_on, person.dwelling_id = "deceased", died_on, None
    _flush(session, person)
    bus.publish(session, "registry.person.deceased", {
        "person_id": person.id, "died_on": died_on.isoformat() if died_on else None,
        "community": community, "via": via,
    })
    return person


def merge_persons(
    session: Session,
    keep_id: int,
    duplicate_id: int,
    *,
    bus: Any,
    actor: Any = None,
    via: str = "core",
) -> Person:
    """Merge a duplicate record into the one that stays: empty fields of ``keep`` are
    filled from the duplicate, residences, household membership and legal-representative
    links move over, and the duplicate becomes ``status = "merged"`` pointing at ``keep``
    (kept, never deleted, so references to it stay explainable). Publishes
    ``registry.person.merged``."""
    if keep_id == duplicate_id:
        raise RegistryError(N_("A record cannot be merged into itself."), "duplicate")
    keep = _get(session, Person, keep_id, "person")
    dup = _get(session, Person, duplicate_id, "person")
    if "merged" in (keep.status, dup.status):
        raise RegistryError(N_("One of these records was merged already."), "status")
    if keep.id_number and dup.id_number and keep.id_number != dup.id_number:
        raise RegistryError(N_("These records have different document numbers."), "id_number")
    filled: dict[str, tuple[Any, Any]] = {}
    moved_id = dup.id_number if keep.id_number is None else None
    if moved_id is not None:
        dup.id_number = None
        session.flush()
    for f in PERSON_FIELDS:
        value = moved_id if f == "id_number" else getattr(dup, f)
        if getattr(keep, f) in (None, "") and value not in (None, ""):
            filled[f] = (None, value)
            setattr(keep, f, value)
    open_keep = current_residence(session, keep.id)
    for res in session.scalars(select(Residence).where(Residence.person_id == dup.id)):
        if res.ended_on is None and open_keep is not None:
            res.ended_on = date.today()
        res.person_id = keep.id
    if keep.dwelling_id is None and dup.dwelling_id is not None:
        for f in ("dwelling_id", "grid_id", "community_id"):
            filled[f] = (getattr(keep, f), getattr(dup, f))
            setattr(keep, f, getattr(dup, f))
        keep.status = "active" if dup.status == "active" else keep.status
    if keep.household_id is None and dup.household_id is not None:
        filled["household_id"] = (None, dup.household_id)
        filled["relation"] = (None, dup.relation)
        keep.household_id, keep.relation = dup.household_id, dup.relation
        session.execute(update(Household).where(Household.head_id == dup.id)
                        .values(head_id=keep.id))
    elif dup.household_id is not None:
        _leave_household(session, dup, bus=bus, actor=actor, via=via)
    session.execute(update(Organisation).where(Organisation.legal_rep_id == dup.id)
                    .values(legal_rep_id=keep.id))
    session.execute(delete(PersonKey).where(PersonKey.person_id == dup.id))
    record_change(session, "person", dup.id,
                  {"status": (dup.status, "merged"), "merged_into_id": (None, keep.id)},
                  actor=actor, via=via)
    if filled:
        record_change(session, "person", keep.id, filled, actor=actor, via=via)
    dup.status, dup.merged_into_id = "merged", keep.id
    dup.dwelling_id = dup.household_id = dup.relation = None
    _flush(session, keep)
    bus.publish(session, "registry.person.merged",
                {"person_id": keep.id, "duplicate_id": dup.id, "via": via})
    return keep


# ------------------------------------------------------------------------------ households


def _relation(value: str | None) -> str:
    try:
        code = codes.parse_code(value, codes.RELATIONS, codes.RELATION_ALIASES)
    except KeyError:
        code = None
    if code is None:
        raise RegistryError(N_("Unknown relation to the head of household."), "relation")
    return code


def _household_event(session: Session, bus: Any, household_id: int, change: str,
                     person_id: int | None, relation: str | None, via: str) -> None:
    bus.publish(session, "registry.household.changed", {
        "household_id": household_id, "change": change, "person_id": person_id,
        "relation": relation, "via": via,
    })


def _leave_household(session: Session, person: Person, *, bus: Any, actor: Any, via: str
                     ) -> None:
    hid = person.household_id
    if hid is None:
        return
    household = session.get(Household, hid)
    record_change(session, "person", person.id,
                  {"household_id": (hid, None), "relation": (person.relation, None)},
                  actor=actor, via=via)
    person.household_id, person.relation = None, None
    if household is not None and household.head_id == person.id:
        record_change(session, "household", hid, {"head_id": (person.id, None)},
                      actor=actor, via=via)
        household.head_id = None
    _household_event(session, bus, hid, "member_removed", person.id, None, via)


def create_household(
    session: Session,
    *,
    head_id: int,
    bus: Any,
    dwelling_id: int | None = None,
    number: str | None = None,
    kind: str = "family",
    actor: Any = None,
    via: str = "core",
) -> Household:
    """A new household with ``head_id`` as its head (户主). A head who belongs to another
    household leaves it (分户)."""
    head = _get(session, Person, head_id, "person")
    if head.status != "active":
        raise RegistryError(N_("Only an active person can head a household."), "head")
    if kind not in codes.HOUSEHOLD_KINDS:
        raise RegistryError(N_("A household is a family or a collective household."), "kind")
    number = (number or "").strip() or None
    if number and session.scalar(select(Household.id).where(Household.number == number)):
        raise RegistryError(N_("A household with this number exists already."), "number")
    if dwelling_id is not None:
        _get(session, Dwelling, dwelling_id, "dwelling")
    household = Household(number=number, kind=kind, dwelling_id=dwelling_id or head.dwelling_id)
    session.add(household)
    session.flush()
    _leave_household(session, head, bus=bus, actor=actor, via=via)
    record_change(session, "household", household.id, {"*": (None, "created"),
                                                       "head_id": (None, head.id)},
                  actor=actor, via=via)
    record_change(session, "person", head.id,
                  {"household_id": (None, household.id), "relation": (None, codes.HEAD)},
                  actor=actor, via=via)
    household.head_id = head.id
    head.household_id, head.relation = household.id, codes.HEAD
    session.flush()
    _household_event(session, bus, household.id, "created", head.id, codes.HEAD, via)
    return household


def add_member(
    session: Session,
    household_id: int,
    person_id: int,
    relation: str,
    *,
    bus: Any,
    actor: Any = None,
    via: str = "core",
) -> Person:
    """Add a person to a household with their relation to the head (or change the
    relation of a member). Use :func:`set_head` to change the head."""
    household = _get(session, Household, household_id, "household")
    person = _get(session, Person, person_id, "person")
    if person.status not in ("active",):
        raise RegistryError(N_("Only an active person can join a household."), "person")
    code = _relation(relation)
    if code == codes.HEAD:
        raise RegistryError(N_("Use 'change head' to make someone the head."), "relation")
    if person.household_id == household.id:
        if person.relation != code:
            record_change(session, "person", person.id, {"relation": (person.relation, code)},
                          actor=actor, via=via)
            person.relation = code
            _household_event(session, bus, household.id, "relation_changed", person.id, code,
                             via)
        return person
    _leave_household(session, person, bus=bus, actor=actor, via=via)
    record_change(session, "person", person.id,
                  {"household_id": (None, household.id), "relation": (None, code)},
                  actor=actor, via=via)
    person.household_id, person.relation = household.id, code
    session.flush()
    _household_event(session, bus, household.id, "member_added", person.id, code, via)
    return person


def remove_member(
    session: Session, household_id: int, person_id: int, *, bus: Any, actor: Any = None,
    via: str = "core",
) -> Person:
    person = _get(session, Person, person_id, "person")
    if person.household_id != household_id:
        raise RegistryError(N_("This person is not a member of that household."), "person")
    _leave_household(session, person, bus=bus, actor=actor, via=via)
    session.flush()
    return person


def set_head(
    session: Session,
    household_id: int,
    person_id: int,
    *,
    bus: Any,
    former_head_relation: str = "80",
    actor: Any = None,
    via: str = "core",
) -> Household:
    """Make a member the head; the former head stays a member with
    ``former_head_relation`` (e.g. "10" spouse, "50" parent)."""
    household = _get(session, Household, household_id, "household")
    person = _get(session, Person, person_id, "person")
    if person.household_id != household.id:
        raise RegistryError(N_("The new head must be a member of the household."), "person")
    if household.head_id == person.id:
        return household
    former_code = _relation(former_head_relation)
    if former_code == codes.HEAD:
        raise RegistryError(N_("A household has one head."), "relation")
    if household.head_id is not None:
        former = session.get(Person, household.head_id)
        if former is not None:
            record_change(session, "person", former.id, {"relation": (former.relation,
                                                                      former_code)},
                          actor=actor, via=via)
            former.relation = former_code
    record_change(session, "household", household.id, {"head_id": (household.head_id,
                                                                   person.id)},
                  actor=actor, via=via)
    record_change(session, "person", person.id, {"relation": (person.relation, codes.HEAD)},
                  actor=actor, via=via)
    household.head_id, person.relation = person.id, codes.HEAD
    session.flush()
    _household_event(session, bus, household.id, "head_changed", person.id, codes.HEAD, via)
    return household


def household_members(session: Session, household_id: int) -> list[Person]:
    return list(session.scalars(
        select(Person).where(Person.household_id == household_id)
        .order_by(Person.relation, Person.birth_date, Person.id)
    ))


# ------------------------------------------------------------------------------ organisations


def clean_organisation(session: Session, data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = N_("Enter the organisation's name.")
    out["name"] = name[:200]
    try:
        out["credit_code"] = parse_credit_code(str(data.get("credit_code") or "")).code
    except IdentifierError as exc:
        errors["credit_code"] = exc.message
    try:
        out["type"] = codes.parse_code(data.get("type"), codes.ORG_TYPES) or "enterprise"
    except KeyError:
        errors["type"] = N_("Unknown organisation type.")
    out["address"] = str(data.get("address") or "").strip()[:300]
    rep = data.get("legal_rep_id")
    if rep not in (None, ""):
        rep_person = session.get(Person, int(rep))
        if rep_person is None or rep_person.status == "merged":
            errors["legal_rep_id"] = N_("The legal representative is not a registered person.")
    out["legal_rep_id"] = int(rep) if rep not in (None, "") else None
    out["status"] = data.get("status") or "active"
    if out["status"] not in ("active", "closed"):
        errors["status"] = N_("An organisation is active or closed.")
    out["community_id"] = out["grid_id"] = None
    try:
        if data.get("community"):
            out["community_id"] = community_by_code(session, data["community"]).id
        if data.get("grid"):
            grid = grid_by_code(session, data["grid"])
            if out["community_id"] is not None and grid.community_id != out["community_id"]:
                errors["grid"] = N_("The grid belongs to another community.")
            out["grid_id"], out["community_id"] = grid.id, grid.community_id
    except NotFound as exc:
        errors[exc.field] = str(exc)
    if errors:
        first = next(iter(errors))
        raise RegistryError(errors[first], first, errors=errors)
    return out


def register_organisation(
    session: Session, data: Mapping[str, Any], *, bus: Any, actor: Any = None,
    via: str = "core",
) -> Organisation:
    """Register an organisation keyed by its credit code. Publishes
    ``registry.organisation.registered``."""
    clean = clean_organisation(session, data)
    if session.scalar(select(Organisation.id).where(
            Organisation.credit_code == clean["credit_code"])) is not None:
        raise RegistryError(N_("An organisation with this credit code is registered already."),
                            "credit_code")
    org = Organisation(**clean, version=1)
    session.add(org)
    session.flush()
    record_change(session, "organisation", org.id, {"*": (None, "created")}, actor=actor,
                  via=via)
    community, _ = _place_codes(session, org.community_id, None)
    bus.publish(session, "registry.organisation.registered",
                {"organisation_id": org.id, "community": community, "via": via})
    return org


def update_organisation(
    session: Session,
    org_id: int,
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    bus: Any,
    actor: Any = None,
    via: str = "core",
) -> Organisation:
    org = _get(session, Organisation, org_id, "organisation")
    _check_version(org, expected_version)
    unknown = sorted(set(changes) - set(ORG_FIELDS))
    if unknown:
        raise RegistryError(N_("These fields cannot be changed here: %(fields)s."),
                            unknown[0], fields=", ".join(unknown))
    community, grid = _place_codes(session, org.community_id, org.grid_id)
    current = {"name": org.name, "credit_code": org.credit_code, "type": org.type,
               "address": org.address, "legal_rep_id": org.legal_rep_id,
               "community": community, "grid": grid, "status": org.status}
    clean = clean_organisation(session, current | dict(changes))
    diff = {f: (getattr(org, f), v) for f, v in clean.items() if getattr(org, f) != v}
    if not diff:
        return org
    if "credit_code" in diff and session.scalar(select(Organisation.id).where(
            Organisation.credit_code == clean["credit_code"], Organisation.id != org.id)):
        raise RegistryError(N_("An organisation with this credit code is registered already."),
                            "credit_code")
    for f, (_old, new) in diff.items():
        setattr(org, f, new)
    record_change(session, "organisation", org.id, diff, actor=actor, via=via)
    _flush(session, org)
    bus.publish(session, "registry.organisation.updated",
                {"organisation_id": org.id, "fields": sorted(diff), "version": org.version,
                 "via": via})
    return org


# ------------------------------------------------------------------------------ for identity


def find_by_id_number(session: Session, id_number: str) -> Person | None:
    """The person with this document number (normalised: full-width, lower-case x and
    15-digit numbers are accepted), or None. Merged duplicates are never returned."""
    if not id_number or not str(id_number).strip():
        return None
    candidates = {normalise_id_number(id_number), normalise_document(id_number)}
    return session.scalar(
        select(Person).where(Person.id_number.in_(candidates), Person.status != "merged")
        .limit(1)
    )


def match_person(session: Session, *, name: str, id_number: str, phone: str) -> Person | None:
    """The active person whose name, document number and phone all match (identity's
    self-service verification); None on any mismatch, without saying which part failed."""
    person = find_by_id_number(session, id_number)
    if person is None or person.status != "active":
        return None
    wanted_name = _clean_name(name)
    if person.name != wanted_name:
        return None
    if not person.phone or normalise_phone(phone or "") != person.phone:
        return None
    return person


def person_community(session: Session, person_id: int) -> str | None:
    """The 12-digit code of the community an active person lives in now, else None."""
    row = session.execute(
        select(Community.code)
        .join(Person, Person.community_id == Community.id)
        .where(Person.id == person_id, Person.status == "active")
    ).first()
    return row[0] if row else None


def persons_by_ids(session: Session, ids: Iterable[int]) -> list[Person]:
    ids = list(ids)
    if not ids:
        return []
    return list(session.scalars(select(Person).where(Person.id.in_(ids))))
