"""Helpers for tests that need registry data (core's and plugins'): a small set of places,
valid ID numbers and credit codes on demand, and stand-in actors with chosen permissions
and staff scopes. Plain functions, so any test module can use them next to the fixtures
of ``core.testing``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session

from core.current import kernel_of
from core.registry.validation import id_check_char, uscc_check_char

C1 = "110105001001"
C2 = "110105001002"
G1 = "110105001001001"
G2 = "110105001002001"


def ensure_registry(app: Any) -> Any:
    """Declare the registry's events on the app's bus (what ``registry.init_app`` does in
    the app factory); returns the kernel."""
    from core.registry import init_app

    kernel = kernel_of(app)
    init_app(app, kernel)
    return kernel


def make_id(born: date | str = "1980-01-01", sex: str = "M", region: str = "110105",
            seq: int = 1) -> str:
    """A valid 18-character ID number (sequence ``seq`` made odd for M, even for F)."""
    born = date.fromisoformat(born) if isinstance(born, str) else born
    n = seq * 2 + (1 if sex == "M" else 0)
    first17 = f"{region}{born:%Y%m%d}{n % 1000:03d}"
    return first17 + id_check_char(first17)


def make_credit_code(body: str = "9111010560003734") -> str:
    """A valid credit code: 17 characters + the check character (body padded with 0)."""
    first17 = (body + "0" * 17)[:17]
    return first17 + uscc_check_char(first17)


def make_places(session: Session) -> SimpleNamespace:
    """One street, two communities (C1, C2), a grid in each (G1, G2) and three dwellings:
    d1 and d2 in C1/G1 (same building), d3 in C2/G2."""
    from core.registry import services as s

    street = s.create_street(session, code="110105001", name="和平街道")
    c1 = s.create_community(session, code=C1, name="和平里社区", street=street)
    c2 = s.create_community(session, code=C2, name="安康社区", street=street)
    g1 = s.create_grid(session, code=G1, name="第一网格", community=c1)
    g2 = s.create_grid(session, code=G2, name="安康第一网格", community=c2)
    d1 = s.ensure_dwelling(session, community=c1, grid=g1, estate="和平小区", building="3栋",
                           unit="2单元", room="1502", road="和平路88号")
    d2 = s.ensure_dwelling(session, community=c1, grid=g1, estate="和平小区", building="3栋",
                           unit="2单元", room="1601", road="和平路88号")
    d3 = s.ensure_dwelling(session, community=c2, grid=g2, estate="安康苑", building="1栋",
                           unit="1单元", room="101", road="安康街8号")
    session.flush()
    return SimpleNamespace(street=street, c1=c1, c2=c2, g1=g1, g2=g2, d1=d1, d2=d2, d3=d3)


@dataclass(frozen=True)
class Scope:
    kind: str
    code: str = ""


@dataclass
class FakeActor:
    """Stands in for a signed-in ``Principal``: id, username, permissions, staff scopes
    and (for residents) the bound person."""

    id: int | None = None
    username: str = "tester"
    permissions: frozenset[str] = frozenset()
    scopes: list[Scope] = field(default_factory=list)
    person_id: int | None = None
    kind: str = "staff"


def worker(*, communities: tuple[str, ...] = (C1,), grids: tuple[str, ...] = (),
           reveal: bool = True, user_id: int | None = None) -> FakeActor:
    perms = {"registry.person.read", "registry.person.write"}
    if reveal:
        perms.add("registry.person.reveal")
    return FakeActor(
        id=user_id, username="worker", permissions=frozenset(perms),
        scopes=[Scope("community", c) for c in communities] + [Scope("grid", g) for g in grids],
    )
