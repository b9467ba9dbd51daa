"""Departments and routing rules as data: the demo and a deployment's set-up script load
them with :func:`load_routing` (idempotent, so it can run on every start)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.matters.models import MattersDepartment, MattersRoute


def load_routing(session: Session, departments: Iterable[dict],
                 routes: Iterable[tuple[str, str, str]]) -> None:
    """``departments``: dicts with ``code``, ``name``, ``name_en``, ``kind``,
    ``community``; ``routes``: ``(category, place, department code)``. Existing rows are
    updated, none are deleted."""
    for d in departments:
        row = session.scalar(select(MattersDepartment).where(MattersDepartment.code == d["code"]))
        if row is None:
            row = MattersDepartment(code=d["code"])
            session.add(row)
        row.name, row.name_en = d["name"], d.get("name_en", "")
        row.kind, row.community = d.get("kind", "department"), d.get("community")
        row.active = True
    session.flush()
    for category, place, code in routes:
        row = session.scalar(select(MattersRoute).where(MattersRoute.category == category,
                                                 MattersRoute.place == place))
        if row is None:
            session.add(MattersRoute(category=category, place=place, department=code))
        else:
            row.department = code
    session.flush()


def street_routing(street: str, communities: dict[str, str]
                   ) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """A typical street's set-up: its offices take street matters, each community's
    residents' committee takes 'other' matters of its community, the district's parks
    bureau takes trees anywhere. ``communities``: code → name."""
    depts = [
        {"code": "urban", "name": "街道城市管理科", "name_en": "Street urban management office"},
        {"code": "civil", "name": "街道民政科", "name_en": "Street civil affairs office"},
        {"code": "office", "name": "街道办事处综合科",
         "name_en": "Street office, general section"},
        {"code": "parks", "name": "区园林绿化局", "name_en": "District parks bureau"},
    ]
    routes = [
        ("streetlight", street, "urban"), ("roads", street, "urban"),
        ("sanitation", street, "urban"), ("noise", street, "urban"),
        ("complaint", street, "office"), ("policy", street, "civil"),
        ("greenery", "", "parks"), ("*", street, "office"), ("*", "", "office"),
    ]
    for code, name in communities.items():
        depts.append({"code": f"c{code}", "name": f"{name}居委会",
                      "name_en": f"{name} residents' committee", "kind": "community",
                      "community": code})
        routes.append(("other", code, f"c{code}"))
    return depts, routes
