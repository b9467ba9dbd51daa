"""Persons: the rules of a person's fields (:func:`clean_person`, the same for the forms,
the API and the importer), registration, updates, moves, death and merging duplicates —
and the reads identity uses to verify an account against the registry.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.db import local_today
from core.registry import codes
from core.registry.errors import RegistryError
from core.registry.models import (
    Community,
    Dwelling,
    Household,
    Organisation,
    Person,
    PersonKey,
    Residence,
)
from core.registry.pinyin import name_keys
from core.registry.search import place_filter
from core.registry.services.common import (
    _NAME_OK,
    PERSON_FIELDS,
    _check_version,
    _flush,
    _get,
    _role,
    parse_date,
    record_change,
)
from core.registry.services.households import (
    _leave_household,
    add_member,
)
from core.registry.services.places import (
    _place_codes,
    community_by_code,
)
from core.registry.validation import (
    IdentifierError,
    check_document,
    normalise_document,
    normalise_id_number,
    normalise_phone,
    validate_phone,
)
from core.rules import N_

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
    today = today or local_today()

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
                              role=_role(role), started_on=since or local_today()))
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
    on = on or local_today()
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
    if died_on is not None and died_on > local_today():
        raise RegistryError(N_("The date of death is in the future."), "died_on")
    community, _ = _place_codes(session, person.community_id, None)
    res = current_residence(session, person.id)
    if res is not None:
        res.ended_on = died_on or local_today()
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
            res.ended_on = local_today()
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
