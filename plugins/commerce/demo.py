"""Demo data: two vetted merchants in the demo community (the demo ``merchant`` account
works for the first), and a few tickets of the demo resident at different stages, so
``make run`` shows a populated hotline. Idempotent and deterministic."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.toolkit import DemoContext
from plugins.commerce.models import Merchant

MERCHANTS = (
    # (credit code body, legal name, shop name, categories, hours, prices)
    (
        "9111010500DEMO01",
        "北京和平里便民维修服务部",
        "和平里便民维修",
        ["repairs", "plumbing", "locksmith", "renovation"],
        "每天 8:00–20:00",
        "上门费 30 元\n水管维修 80 元起\n管道疏通 100 元起\n开锁 60 元起",
    ),
    (
        "9111010500DEMO02",
        "北京安康家政服务有限公司",
        "安康家政",
        ["housekeeping", "elderly_meals", "home_care"],
        "每天 7:00–19:00",
        "日常保洁 45 元/小时\n老年助餐 15 元/餐（送餐上门）",
    ),
)


def _code(body: str) -> str:
    from core.toolkit import uscc_check_char

    first17 = (body.replace("DEMO", "0000") + "0" * 17)[:17]
    return first17 + uscc_check_char(first17)


def seed(session: Session, demo: DemoContext) -> None:
    from core.toolkit import RegistryReader, register_organisation
    from plugins.commerce import info
    from plugins.commerce import services as svc

    if session.scalar(select(func.count()).select_from(Merchant)):
        return  # seeded already (make run seeds on every start)
    community = getattr(demo.community, "code", None)
    if community is None:
        return
    bus = demo.bus
    reader = RegistryReader(
        session, plugin=info.id, scopes=info.data_scopes, actor=None, purpose="demo data"
    )
    merchants = []
    for body, legal, shop, cats, hours, prices in MERCHANTS:
        code = _code(body)
        org = reader.organisation(credit_code=code)
        if org is None:
            register_organisation(
                session,
                {
                    "name": legal,
                    "credit_code": code,
                    "type": "enterprise",
                    "community": community,
                    "address": "和平路 1 号",
                },
                bus=bus,
                via="demo",
            )
        m = svc.apply_merchant(
            session,
            reader,
            credit_code=code,
            name=shop,
            categories=cats,
            communities=[community],
            opening_hours=hours,
            price_list=prices,
            phone="010-64000000",
            user=None,
        )
        svc.decide_merchant(
            session,
            bus,
            m.id,
            action="approve",
            reason="资质齐全，同意加盟",
            actor=demo.users.get("community_worker"),
        )
        merchants.append(m)
    staff = demo.users.get("merchant")
    if staff is not None:
        svc.bind_staff(session, staff.id, merchants[0].id)
    resident = demo.users.get("resident")
    pid = getattr(resident, "person_id", None)
    out: dict[str, Any] = {"merchant_ids": [m.id for m in merchants]}
    if pid is not None:
        p = svc.caller_facts(reader, pid)["person"]
        common = dict(
            channel="web",
            person_id=pid,
            community=p.get("community"),
            # the registered address serves; a resident with none gives one
            caller_address="" if p.get("address") else "和平路88号",
            elderly_alone=p["elderly_alone"],
            actor=resident,
        )
        done = svc.create_ticket(
            session, bus, category="plumbing", description="厨房下水道堵了，水排不下去。", **common
        )
        if done.state == "dispatched":
            svc.accept(session, bus, done.id, merchant_id=done.merchant_id)
            svc.complete(
                session,
                bus,
                done.id,
                merchant_id=done.merchant_id,
                final_price="100",
                note="已疏通",
            )
            svc.rate(
                session, bus, done.id, rating=5, comment="师傅来得很快，很满意。", actor=resident
            )
        waiting = svc.create_ticket(
            session,
            bus,
            category="elderly_meals",
            description="每天中午送一份午餐，少盐。",
            **common,
        )
        corridor = svc.create_ticket(
            session,
            bus,
            category="repairs",
            description="3 栋 2 单元楼道灯坏了。",
            public_area=True,
            **common,
        )
        out["ticket_ids"] = [done.id, waiting.id, corridor.id]
    demo.extra[info.id] = out
