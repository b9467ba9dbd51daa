"""Households: creating one, its members and its head.

Membership has its own rules (one household per person, one head per household, the
relation as a GB/T 4761 code) and its own event, ``registry.household.changed``; the person
services call :func:`add_member` and :func:`_leave_household` from here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.registry import codes
from core.registry.errors import RegistryError
from core.registry.models import (
    Dwelling,
    Household,
    Person,
)
from core.registry.services.common import (
    _get,
    record_change,
)
from core.rules import N_

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
