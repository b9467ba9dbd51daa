"""Demo data: who is due a visit in the demo community, and a little history.

The demo grid worker is the existing ``worker`` account (community worker 王社工, scoped
to the demo community, which covers its grids); the ``street`` account (street officer)
supervises coverage once scoped. Registry rules are computed from the demo registry
(the elderly living alone), a few recent arrivals are added, and some visits in the past
give the coverage chart on-time, overdue and never-visited rows. One family that moved in
three weeks ago is overdue its first visit: a household of several members due at once,
which one household visit covers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.toolkit import find_person_ids, grant_demo_scope, registry_reader
from plugins.grid.models import GridSubject, GridVisit
from plugins.grid.services import refresh_registry_rules, rule_map, today, upsert_subject


def seed(session: Any, demo: Any) -> None:
    community = getattr(demo.community, "code", None)
    if community is None:
        return
    for role in ("community_worker", "street_officer"):
        grant_demo_scope(session, demo, role, community)
    on = today()
    refresh_registry_rules(session, on=on, community=community)
    if session.scalar(select(GridVisit.id).limit(1)) is not None:
        return  # history made by an earlier run
    rules = rule_map()
    ids, _ = find_person_ids(session, "grid", community=community, age_max=60, limit=6,
                             offset=40)
    for n, pid in enumerate(ids):  # arrivals of the last weeks: some due, some overdue
        upsert_subject(session, person_id=pid, rule=rules["new_resident"],
                       since=on - timedelta(days=3 + 4 * n))
    family = _family(session, community, exclude=set(ids))
    for pid in family:  # moved in together three weeks ago, never visited: overdue
        upsert_subject(session, person_id=pid, rule=rules["new_resident"],
                       since=on - timedelta(days=21))
    subjects = list(session.scalars(select(GridSubject).where(
        GridSubject.active.is_(True), GridSubject.community == community,
        GridSubject.rule == "elderly_alone").order_by(GridSubject.person_id)))
    worker = demo.users.get("community_worker")
    for n, s in enumerate(subjects[:12]):
        s.since = on - timedelta(days=60)
        # on time (visited 10 days ago), overdue (visited 45 days ago), or never
        ago = (10, 45, None)[n % 3]
        if ago is not None:
            session.add(GridVisit(person_id=s.person_id, community=s.community, grid=s.grid,
                                  visited_on=on - timedelta(days=ago), met="person",
                                  findings="身体状况良好，独自生活。", needs="",
                                  follow_up="", recorded_by_id=getattr(worker, "id", None)))
    session.flush()


def _family(session: Any, community: str, *, exclude: set[int]) -> list[int]:
    """The members (two to four) of the first household of the demo community with that
    many, read as a system job (shown to nobody)."""
    reader = registry_reader(session, "grid", actor=None, purpose="grid demo")
    ids, _ = find_person_ids(session, "grid", community=community, age_min=25, age_max=60,
                             limit=200, offset=20)
    seen: set[int] = set()
    for view in reader.persons(ids):
        household = view.get("household_id")
        if household is None or household in seen or view["id"] in exclude:
            continue
        seen.add(household)
        found = reader.household(view["id"])
        members = [m["id"] for m in (found or {}).get("members", [])
                   if m.get("status") == "active"]
        if 2 <= len(members) <= 4 and not set(members) & exclude:
            return members
    return []
