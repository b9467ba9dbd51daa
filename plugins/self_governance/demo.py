"""Demo data: a few notices, a statement, a proposal, an open vote, an evaluation and a
forum thread in the demo community. Small, deterministic and idempotent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.toolkit import grant_demo_scope, utcnow
from plugins.self_governance import services as sv
from plugins.self_governance.models import Notice


def seed(session: Any, demo: Any) -> None:
    if session.scalar(select(func.count()).select_from(Notice).where(Notice.source == "demo")):
        return  # idempotent: `make run` seeds on every start
    community = getattr(demo.community, "code", None) or "110105001001"
    committee = demo.users.get("committee_member")
    resident = demo.users.get("resident")
    # Scopes deny by default: the demo committee member acts for the demo community.
    grant_demo_scope(session, demo, "committee_member", community)
    cid = committee.id if committee else None
    sv.publish_notice(
        session,
        title="关于小区二次供水水箱清洗的通知",
        body="本周六上午8:00至12:00清洗水箱，期间停水，请提前储水。",
        community=community,
        author_id=cid,
        pinned=True,
        source="demo",
    )
    sv.publish_notice(
        session,
        title="居委会11月工作安排",
        body="每周三下午为居民接待日，欢迎来访。",
        community=community,
        author_id=cid,
        source="demo",
    )
    sv.publish_statement(
        session,
        community=community,
        period="2026-10",
        title="2026年10月居务经费收支",
        author_id=cid,
        items=[
            {
                "kind": "income",
                "description": "街道拨付办公经费",
                "amount": 20000,
                "voucher": "凭证2026-10-01",
            },
            {
                "kind": "expense",
                "description": "楼道灯更换",
                "amount": 3560.5,
                "voucher": "凭证2026-10-07",
            },
            {
                "kind": "expense",
                "description": "重阳节敬老活动",
                "amount": 4200,
                "voucher": "凭证2026-10-15",
            },
        ],
    )
    now = utcnow()
    if resident is not None:
        sv.create_proposal(
            session,
            community=community,
            author_id=resident.id,
            title="在3号楼前增设休息座椅",
            body="老人散步后没有地方休息，建议在3号楼前增设两张座椅。",
            threshold=10,
            support_days=30,
        )
    sv.create_vote(
        session,
        community=community,
        title="是否同意实行垃圾分类定时定点投放",
        description="每天7:00-9:00、18:00-20:00定时投放。",
        kind="motion",
        electorate="household",
        quorum="half",
        pass_rule="half",  # noqa: S106 - a vote's pass rule, not a password
        secret=True,
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=7),
        created_by_id=cid,
    )
    sv.create_round(
        session,
        community=community,
        year=now.year,
        members=[("刘主任", "居委会主任"), ("李委员", "居委会委员")],
        closes_at=now + timedelta(days=30),
    )
    sv.ensure_default_boards(session)
    if resident is not None:
        from plugins.self_governance.models import Board

        board = session.scalar(select(Board).where(Board.slug == "general"))
        sv.start_thread(
            session,
            board,
            resident,
            title="周末一起去公园健步走吗？",
            body="**周六早上7点**，小区南门集合，欢迎邻居们参加！",
            settings={"verified_only_posting": False, "new_user_days": 0},
        )
    session.flush()
