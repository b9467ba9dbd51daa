"""Demo data: the demo street's departments and routing rules, the demo community's
residents' committee, the ``dept`` account as a member of the urban management office
(and the community worker of the committee), and a few matters at different steps."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sqlalchemy import func, select

from core.hookspecs import DemoContext
from core.toolkit import plugin_settings, registry_reader
from plugins.matters import info
from plugins.matters import services as svc
from plugins.matters.models import Matter


def seed(session: Any, demo: DemoContext) -> None:
    community = getattr(demo.community, "code", None)
    if not community:
        return
    street = community[:9]
    try:
        names = {c["code"]: c["name"]
                 for c in registry_reader(session, info.id).communities()
                 if c["code"].startswith(street)}
    except Exception:
        names = {}
    names.setdefault(community, getattr(demo.community, "name", community))
    depts, routes = svc.street_routing(street, names)
    svc.load_routing(session, depts, routes)
    staff = demo.users.get("department_staff")
    worker = demo.users.get("community_worker")
    for code, account in (("urban", staff), (f"c{community}", worker)):
        # seeded on every start: an office the administrator closed stays as it is
        if account is not None:
            with suppress(svc.MatterError):
                svc.add_member(session, code, account.id)
    if session.scalar(select(func.count(Matter.id))):
        return  # idempotent: `make run` seeds on every start
    settings = plugin_settings(info.id)
    bus = demo.bus
    operator = demo.users.get("hotline_operator")
    resident = demo.users.get("resident")
    pid = getattr(resident, "person_id", None)
    lamp = svc.file_matter(
        session, bus, source="hotline", category="streetlight",
        summary="小区北门外的路灯坏了一个星期，晚上很黑。", location="和平里小区北门",
        community=community, person_id=pid, filed_by_id=getattr(operator, "id", None),
        settings=settings)
    svc.sign(session, lamp, actor_id=getattr(staff, "id", None))
    svc.answer(session, bus, lamp, text="已安排维修班组，两个工作日内修复。",
               actor_id=getattr(staff, "id", None))
    svc.file_matter(
        session, bus, source="web", category="policy",
        summary="高龄津贴今年的标准是多少？", community=community, person_id=pid,
        account_id=getattr(resident, "id", None), settings=settings)
    svc.file_matter(
        session, bus, source="hotline", category="sanitation",
        summary="垃圾分类点的桶满了没人清运。", location="和平里5号楼旁",
        community=community, filed_by_id=getattr(operator, "id", None),
        caller_name="来电人", caller_phone="13800000000", settings=settings)
