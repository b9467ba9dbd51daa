"""Streets, communities, grids and dwellings: the places persons live in.

Places come first because everything else points at them: a person, household or
organisation names its community (and grid, and dwelling) by code, and the importer
creates dwellings with :func:`format_address` and :func:`guess_floor` too.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.registry.errors import NotFound, RegistryError
from core.registry.models import (
    Building,
    Community,
    Dwelling,
    Grid,
    Street,
    Unit,
)
from core.registry.services.common import (
    _get,
    record_change,
)
from core.registry.validation import (
    IdentifierError,
    validate_community_code,
    validate_street_code,
)
from core.rules import N_

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
