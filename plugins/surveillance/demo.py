"""Demo data: a few cameras in the demo community, rules, incidents and a public notice.

Idempotent (``make run`` seeds on every start): nothing is added once a camera exists.
The demo security officer ("security") is scoped to the demo community so their desk is
populated; the demo resident has one report in progress.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.toolkit import grant_demo_scope, utcnow
from plugins.surveillance import services as svc
from plugins.surveillance.models import Camera

CAMERAS = (
    ("CAM-001", "东门出入口", "entrance", "小区东门", "出入口人员车辆通行安全"),
    ("CAM-002", "中心广场", "square", "中心广场北侧", "广场公共安全、防跌倒"),
    ("CAM-003", "消防通道", "road", "3号楼消防通道", "消防通道占用监测"),
    ("CAM-004", "地下车库入口", "parking", "地下车库入口坡道", "车库防盗、防积水"),
)


def seed(session: Any, demo: Any) -> None:
    if session.scalar(select(func.count()).select_from(Camera)):
        return
    community = demo.community
    code = getattr(community, "code", None)
    officer = demo.users.get("security_officer")
    grant_demo_scope(session, demo, "security_officer", code)
    now = utcnow()
    cameras = []
    for i, (cam_code, name, kind, where, purpose) in enumerate(CAMERAS):
        camera = svc.create_camera(
            session,
            None,
            code=cam_code,
            name=name,
            community_code=code,
            location=where,
            place_kind=kind,
            purpose=purpose,
            signage_confirmed=i != 3,
            privacy_masks="住户窗户已遮挡" if kind == "square" else "",
            stream_url=f"rtsp://vms.example.internal/{cam_code.lower()}",
            officer_id=officer.id if officer is not None else None,
        )
        camera.last_heartbeat_at = now - timedelta(minutes=1 if i != 3 else 90)
        cameras.append(camera)
    session.flush()
    svc.create_rule(
        session,
        None,
        name="消防通道反复堵塞",
        kind="burst",
        incident_kind="fire_lane_blocked",
        threshold=2,
        window_minutes=1440,
        severity="high",
    )
    svc.create_rule(
        session,
        None,
        name="老人跌倒15分钟未确认",
        kind="unacknowledged",
        incident_kind="elderly_fallen",
        threshold=1,
        window_minutes=15,
        severity="critical",
    )
    bus = demo.bus
    resident = demo.users.get("resident")
    svc.raise_incident(
        session,
        bus,
        resident,
        source="resident",
        kind="fire_lane_blocked",
        description="3号楼消防通道被电动车堵住了。",
        location="3号楼北侧",
        community_code=code,
        reporter_id=resident.id if resident else None,
        reporter_person_id=getattr(resident, "person_id", None),
    )
    first = svc.raise_incident(
        session,
        bus,
        None,
        source="analytics",
        kind="fire_lane_blocked",
        severity="high",
        description="视频分析：通道占用超过10分钟",
        camera=cameras[2],
    )
    svc.transition(session, bus, officer, first, "acknowledge")
    svc.add_clip(
        session,
        officer,
        first,
        camera=cameras[2],
        starts_at=now - timedelta(minutes=30),
        ends_at=now - timedelta(minutes=20),
        reference="VMS-CLIP-0001",
    )
    closed = svc.raise_incident(
        session,
        bus,
        officer,
        source="staff",
        kind="flooding",
        description="车库入口积水",
        camera=cameras[3],
        raised_at=now - timedelta(days=2),
    )
    svc.transition(session, bus, officer, closed, "acknowledge")
    svc.transition(session, bus, officer, closed, "resolve", note="已排水")
    svc.check(session, bus, offline_after_minutes=10)
    alert = svc.raise_alert(
        session,
        bus,
        dedupe_key="demo:notice:1",
        kind="notice",
        severity="medium",
        title="Flood warning for the car park",
        title_zh="地下车库积水提醒",
        body="暴雨期间请勿将车辆停放在车库入口坡道。",
        community_code=code,
    )
    if alert is not None:
        svc.alert_action(session, bus, None, alert, "publish")
    demo.extra["surveillance"] = {"cameras": [c.id for c in cameras], "incident": first.id}
