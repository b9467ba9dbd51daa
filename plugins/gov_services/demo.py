"""Demo data: a few applications in different states for the demo community, so the
queue, the timeline, the thematic databases and the statistics have something to show.
Small and deterministic; idempotent because ``make run`` seeds on every start."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.toolkit import find_person_ids, grant_demo_scope
from plugins.gov_services.models import Application
from plugins.gov_services.services import PLUGIN, GovError, gov, submit_application, transition

#: The demo roles that act on applications, each given the demo community as its area
#: (scopes deny by default: an account without one sees no case at all).
STAFF_ROLES = ("community_worker", "street_officer", "committee_member", "auditor")


def seed(session: Session, demo: Any) -> None:
    community = demo.community
    for role in STAFF_ROLES:
        grant_demo_scope(session, demo, role, getattr(community, "code", None))
    if session.scalar(select(func.count()).select_from(Application)):
        return
    worker = demo.users.get("community_worker")
    street = demo.users.get("street_officer") or demo.users.get("admin")
    if community is None or worker is None:
        return
    g = gov()
    elders, _ = find_person_ids(
        session,
        PLUGIN,
        community=community.code,
        age_min=82,
        hukou_type="local",
        limit=4,
        kernel=g.kernel,
    )
    staff = _Actor(worker, all_places=True)
    boss = _Actor(street or worker, all_places=True, reviewer=True)
    answers = {"bank_card": "6222020200001234567", "bank_name": "工商银行"}
    plans = [("approve",), ("accept",), ("submit",), ("reject",)]
    for person_id, plan in zip(elders, plans, strict=False):
        try:
            app = submit_application(
                session,
                g,
                service_code="longevity_allowance",
                person_id=person_id,
                actor=staff,
                answers=answers,
                user_id=None,
                filed_by=staff,
            )
        except GovError:
            continue
        if plan[0] in ("accept", "approve", "reject"):
            transition(session, g, app, "accept", actor=staff, comment="材料齐全，予以受理")
        if plan[0] == "approve":
            transition(session, g, app, "pass", actor=staff, comment="社区初审通过")
            transition(session, g, app, "pass", actor=boss, comment="街道审核通过")
            transition(session, g, app, "pass", actor=boss, comment="同意发放")
        if plan[0] == "reject":
            transition(session, g, app, "reject", actor=staff, comment="户籍不在本区，不符合条件")
    demo.extra["gov_services"] = {"applications": len(elders)}


class _Actor:
    """The demo accounts acting with the plugin's default permissions, over all places."""

    def __init__(self, user: Any, *, all_places: bool, reviewer: bool = False):
        from plugins.gov_services import APPROVE, HANDLE, READ, REVIEW

        self.id = user.id
        self.username = user.username
        self.display_name = getattr(user, "display_name", "") or user.username
        self.person_id = None
        perms = {READ, HANDLE}
        if reviewer:
            perms |= {REVIEW, APPROVE}
        self.permissions = frozenset(perms)
        self.scopes = [type("S", (), {"kind": "all", "code": ""})()] if all_places else []
