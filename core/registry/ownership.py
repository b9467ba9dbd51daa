"""Ownership of dwellings (业主): who owns which dwelling, with which share, since when.

Why a table of its own and not ``Residence.role == "owner"``: an owner need not live in
the dwelling (a let flat's owner lives elsewhere, an organisation lives nowhere), and a
tenant who lives there is not an owner. The owners' assembly (Civil Code art. 278) and
the ``owner_unit`` electorate of self_governance need owners, not residents.

Rules the services enforce (each refusal a :class:`RegistryError` naming the field):

* an owner is a person **or** an organisation, exactly one;
* ``0 < share <= 1``, and the shares of a dwelling's current owners sum to at most 1;
* one current ownership per owner and dwelling (record a changed share by ending the old
  one and adding a new one: the history then shows both);
* ending is dated on or after the start; rows are never deleted.

Every change writes ``registry_change`` rows (entity ``"ownership"``). Plugins read
ownership through :meth:`core.registry.reader.RegistryReader.owners` and friends, under
the ``registry.ownership`` data scope.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import local_today
from core.registry.errors import NotFound, RegistryError
from core.registry.models import Community, Dwelling, Organisation, Ownership, Person
from core.registry.services.common import parse_date, record_change
from core.rules import N_

#: Shares are kept to 6 decimal places (1/3 = 0.333333; three of them sum to <= 1).
SHARE_PLACES = Decimal("0.000001")


def parse_share(value: Any, field: str = "share") -> float:
    """A share from 1, "0.5", "50%" or "1/3" (rounded down to 6 places, so thirds sum to
    less than 1, never more)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1.0
    text = str(value).strip().replace("％", "%")
    try:
        if text.endswith("%"):
            share = Decimal(text[:-1].strip()) / 100
        elif "/" in text:
            num, den = text.split("/", 1)
            share = Decimal(num.strip()) / Decimal(den.strip())
        else:
            share = Decimal(text)
    except (InvalidOperation, ValueError, ZeroDivisionError):
        raise RegistryError(
            N_("Enter the share as a fraction between 0 and 1 (0.5 or 1/2)."), field
        ) from None
    share = share.quantize(SHARE_PLACES, rounding="ROUND_DOWN")
    if not Decimal(0) < share <= Decimal(1):
        raise RegistryError(N_("A share is more than 0 and at most 1."), field)
    return float(share)


def current_ownerships(session: Session, dwelling_id: int) -> list[Ownership]:
    """The dwelling's current ownership rows (not ended), oldest first."""
    return list(
        session.scalars(
            select(Ownership)
            .where(Ownership.dwelling_id == dwelling_id, Ownership.ended_on.is_(None))
            .order_by(Ownership.id)
        )
    )


def add_owner(
    session: Session,
    *,
    dwelling_id: int,
    person_id: int | None = None,
    organisation_id: int | None = None,
    share: Any = 1,
    started_on: Any = None,
    actor: Any = None,
    via: str = "core",
) -> Ownership:
    """Record that a person or an organisation owns (a share of) a dwelling."""
    if session.get(Dwelling, dwelling_id) is None:
        raise NotFound(N_("No such %(what)s."), "dwelling", what="dwelling")
    if (person_id is None) == (organisation_id is None):
        raise RegistryError(N_("An owner is a person or an organisation (one of them)."), "owner")
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None or person.status == "merged":
            raise NotFound(N_("No such %(what)s."), "owner", what="person")
    else:
        if session.get(Organisation, organisation_id) is None:
            raise NotFound(N_("No such %(what)s."), "owner", what="organisation")
    value = parse_share(share)
    since = parse_date(started_on, "started_on")
    current = current_ownerships(session, dwelling_id)
    for row in current:
        if (person_id is not None and row.person_id == person_id) or (
            organisation_id is not None and row.organisation_id == organisation_id
        ):
            raise RegistryError(
                N_("This owner already owns this dwelling; end that ownership first."), "owner"
            )
    total = sum(Decimal(str(r.share)) for r in current) + Decimal(str(value))
    if total > 1:
        raise RegistryError(
            N_("The owners' shares of a dwelling would sum to %(total)s, more than 1."),
            "share",
            total=str(total.normalize()),
        )
    row = Ownership(
        dwelling_id=dwelling_id,
        person_id=person_id,
        organisation_id=organisation_id,
        share=value,
        started_on=since,
    )
    session.add(row)
    session.flush()
    record_change(
        session,
        "ownership",
        row.id,
        {
            "*": (None, "created"),
            "dwelling_id": (None, dwelling_id),
            "person_id": (None, person_id),
            "organisation_id": (None, organisation_id),
            "share": (None, value),
            "started_on": (None, since),
        },
        actor=actor,
        via=via,
    )
    return row


def end_ownership(
    session: Session,
    ownership_id: int,
    *,
    ended_on: Any = None,
    actor: Any = None,
    via: str = "core",
) -> Ownership:
    """End a current ownership (sold, inherited, corrected) on ``ended_on`` (today)."""
    row = session.get(Ownership, ownership_id)
    if row is None:
        raise NotFound(N_("No such %(what)s."), "ownership", what="ownership")
    if row.ended_on is not None:
        raise RegistryError(N_("This ownership has already ended."), "ended_on")
    until = parse_date(ended_on, "ended_on") or local_today()
    if row.started_on is not None and until < row.started_on:
        raise RegistryError(N_("An ownership cannot end before it started."), "ended_on")
    row.ended_on = until
    session.flush()
    record_change(session, "ownership", row.id, {"ended_on": (None, until)}, actor=actor, via=via)
    return row


def _owner_dict(row: Ownership) -> dict[str, Any]:
    return {
        "ownership_id": row.id,
        "dwelling_id": row.dwelling_id,
        "person_id": row.person_id,
        "organisation_id": row.organisation_id,
        "share": float(row.share),
        "started_on": row.started_on,
        "ended_on": row.ended_on,
    }


def owners_of(session: Session, dwelling_id: int, *, history: bool = False) -> list[dict[str, Any]]:
    """The dwelling's current owners (with ``history``: every ownership ever recorded)."""
    query = select(Ownership).where(Ownership.dwelling_id == dwelling_id)
    if not history:
        query = query.where(Ownership.ended_on.is_(None))
    return [_owner_dict(r) for r in session.scalars(query.order_by(Ownership.id))]


def dwellings_owned_by(
    session: Session, *, person_id: int | None = None, organisation_id: int | None = None
) -> list[dict[str, Any]]:
    """The dwellings a person or an organisation owns now, with area and share."""
    if (person_id is None) == (organisation_id is None):
        raise RegistryError(N_("An owner is a person or an organisation (one of them)."), "owner")
    column = Ownership.person_id if person_id is not None else Ownership.organisation_id
    rows = session.execute(
        select(Ownership, Dwelling)
        .join(Dwelling, Dwelling.id == Ownership.dwelling_id)
        .where(column == (person_id if person_id is not None else organisation_id),
               Ownership.ended_on.is_(None))
        .order_by(Dwelling.id)
    )
    return [
        {**_owner_dict(o), "address": d.address, "area_m2": d.area_m2} for o, d in rows
    ]


def community_ownership(session: Session, community: str) -> list[dict[str, Any]]:
    """Every dwelling of a community with its exclusive area and current owners — what an
    owners' assembly's electorate is made of. Dwellings without a current owner are left
    out (nobody can vote for them; they are reported apart by :func:`unowned_count`)."""
    rows = session.execute(
        select(Dwelling.id, Dwelling.area_m2, Ownership)
        .join(Community, Community.id == Dwelling.community_id)
        .join(Ownership, Ownership.dwelling_id == Dwelling.id)
        .where(Community.code == community, Ownership.ended_on.is_(None))
        .order_by(Dwelling.id, Ownership.id)
    )
    out: dict[int, dict[str, Any]] = {}
    for did, area, own in rows:
        entry = out.setdefault(did, {"dwelling_id": did, "area_m2": area, "owners": []})
        entry["owners"].append(_owner_dict(own))
    return list(out.values())


def unowned_count(session: Session, community: str) -> int:
    """How many dwellings of a community have no current owner recorded."""
    owned = select(Ownership.dwelling_id).where(Ownership.ended_on.is_(None))
    return len(
        session.scalars(
            select(Dwelling.id)
            .join(Community, Community.id == Dwelling.community_id)
            .where(Community.code == community, Dwelling.id.not_in(owned))
        ).all()
    )
