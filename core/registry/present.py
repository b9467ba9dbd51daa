"""How a person is shown to a reader: which fields each data scope allows, masked unless
revealed, and every reveal written to the access log.

Shared by :func:`core.registry.search.search_persons` and
:class:`core.registry.reader.RegistryReader`, so a page, the API and a plugin see the same
masking (security.md R09) and leave the same trace (R10).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.services import log_access
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


def real_actor(actor: Any) -> Any:
    """The agent in the assisted channel (``Principal.actor``), else the actor itself."""
    return getattr(actor, "actor", None) or actor


def check_reveal(
    actor: Any, person_id: int, fields: Iterable[str], scopes: frozenset[str], purpose: str
) -> list[str]:
    """The fields to reveal, after checking scopes, permission and purpose.

    * each field's data scope must be among ``scopes`` (the plugin's declaration);
    * the actor must hold ``registry.person.reveal`` — or be the person (their own data),
      or be ``None`` (a system job, e.g. an export run from the command line);
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
    own = actor is None or getattr(actor, "person_id", None) == person_id
    if not own and REVEAL_PERMISSION not in (getattr(actor, "permissions", None) or ()):
        raise ScopeError(f"revealing {', '.join(wanted)} needs {REVEAL_PERMISSION}")
    if not (purpose or "").strip():
        raise RegistryError("State the purpose of revealing personal data.", "purpose")
    return wanted


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
    if fields:
        log_access(session, actor=real_actor(actor), person_id=person_id, fields=fields,
                   purpose=purpose, via=via, facts=facts)


class Places:
    """Codes and names of the communities, grids and dwellings a page of persons refers
    to, loaded in three small queries instead of one per person."""

    def __init__(self, session: Session, persons: Sequence[Person], *, addresses: bool):
        cids = {p.community_id for p in persons if p.community_id}
        gids = {p.grid_id for p in persons if p.grid_id}
        self.communities: dict[int, tuple[str, str]] = {}
        self.grids: dict[int, tuple[str, str]] = {}
        self.dwellings: dict[int, tuple[str, str]] = {}
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
    today = today or date.today()
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
            ethnicity_label=codes.ETHNICITIES.get(person.ethnicity or "", ""),
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
