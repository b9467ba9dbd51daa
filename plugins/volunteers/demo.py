"""Demo data: two upcoming activities in the demo community (the first starts in two
hours, so the shipped resident can sign up and the worker can check them in the same
day) and one two weeks ago with attendance and hours credited. Idempotent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.toolkit import find_person_ids, grant_demo_scope, utcnow
from plugins.volunteers import services as sv
from plugins.volunteers.models import Activity


def seed(session: Any, demo: Any) -> None:
    if session.scalar(select(func.count()).select_from(Activity)):
        return  # idempotent: `make run` seeds on every start
    community = getattr(demo.community, "code", None) or "110105001001"
    for role in ("community_worker", "committee_member"):
        grant_demo_scope(session, demo, role, community)
    worker = demo.users.get("community_worker")
    resident = demo.users.get("resident")
    now = utcnow().replace(second=0, microsecond=0)
    now = now.replace(minute=0 if now.minute < 30 else 30)  # starts on the half hour
    bus = demo.bus

    def make(title: str, place: str, start: Any, hours: float, capacity: int,
             description: str) -> Activity:
        return sv.create_activity(session, community=community, actor=worker, data=sv.ActivityInput(
            title=title, place=place, starts_at=start, ends_at=start + timedelta(hours=hours),
            signup_deadline=start - timedelta(minutes=10), capacity=capacity, hours=hours,
            description=description))

    make("敬老院陪伴老人", "幸福里养老驿站", now + timedelta(hours=2), 2, 8,
         "陪伴老人聊天、读报，协助午餐。请穿志愿者马甲。")
    make("社区垃圾分类宣传", "小区南门广场", now + timedelta(days=6), 1.5, 3,
         "在分类投放点引导居民正确分类，发放宣传册。")
    past = make("楼道清理大扫除", "3号楼楼道", now - timedelta(days=14), 3, 10,
                "清理楼道杂物，张贴安全提示。")
    ids, _total = find_person_ids(session, "volunteers", community=community, limit=6)
    people = [p for p in ids if resident is None or p != resident.person_id][:4]
    if resident is not None and resident.person_id:
        people.append(resident.person_id)
    before = past.signup_deadline - timedelta(days=2)
    for pid in people:
        user_id = resident.id if resident is not None and pid == resident.person_id else None
        signup = sv.sign_up(session, past, person_id=pid, user_id=user_id, now=before)
        sv.check_in(session, bus, past, signup, attended=pid != people[0], actor=worker,
                    now=past.starts_at + timedelta(minutes=5))
    demo.extra["volunteers"] = {"community": community}
