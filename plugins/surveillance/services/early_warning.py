"""Early-warning rules: bursts of incidents in an area, incidents left unacknowledged,
cameras gone silent — evaluated on each raised incident and by the periodic
``shequ surveillance check`` job.

Kept apart from :mod:`.alerts` because these are the rules deciding *when* to alert;
a dedupe key per rule, area and window makes every evaluation safe to run twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.toolkit import N_, log_audit, utcnow
from plugins.surveillance.models import (
    INCIDENT_KINDS,
    RULE_KINDS,
    SEVERITIES,
    Alert,
    AlertRule,
    Camera,
    Incident,
)
from plugins.surveillance.services.alerts import raise_alert
from plugins.surveillance.services.places import SurveillanceError, _check_choice


def duration(minutes: int) -> tuple[str, str]:
    """A rule's window in natural units, English and Chinese: 1440 minutes is "24 hours"
    / "24小时", 90 is "1 h 30 min" / "1小时30分钟" — never "1440分钟" (issue 16)."""
    minutes = int(minutes)
    if minutes >= 2 * 1440 and minutes % 1440 == 0:
        days = minutes // 1440
        return (f"{days} days", f"{days}天")
    hours, rest = divmod(minutes, 60)
    if not hours:
        return (f"{minutes} min", f"{minutes}分钟")
    en_h = f"{hours} hour" if hours == 1 else f"{hours} hours"
    if not rest:
        return (en_h, f"{hours}小时")
    return (f"{hours} h {rest} min", f"{hours}小时{rest}分钟")


def _window_start(now: datetime, minutes: int) -> datetime:
    seconds = max(60, minutes * 60)
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


KIND_LABELS = {
    "fire_hazard": ("Fire hazard", "火灾隐患"),
    "fire_lane_blocked": ("Blocked fire lane", "消防通道堵塞"),
    "theft": ("Theft", "盗窃"),
    "fight": ("Fight", "打架斗殴"),
    "elderly_fallen": ("Elderly person fallen", "老人跌倒"),
    "flooding": ("Flooding", "积水内涝"),
    "suspicious_activity": ("Suspicious activity", "可疑情况"),
    "other": ("Other", "其他"),
}


def evaluate_burst(
    session: Session,
    bus: Any,
    *,
    kind: str,
    community_code: str | None,
    now: datetime | None = None,
) -> list[Alert]:
    """Burst rules for one incident kind and area: N or more incidents within the window
    raise one alert per rule, area and window."""
    now = now or utcnow()
    fired = []
    rules = session.scalars(
        select(AlertRule).where(
            AlertRule.active.is_(True),
            AlertRule.kind == "burst",
            or_(AlertRule.incident_kind.is_(None), AlertRule.incident_kind == kind),
            or_(AlertRule.community_code.is_(None), AlertRule.community_code == community_code),
        )
    )
    for rule in rules:
        since = now - timedelta(minutes=rule.window_minutes)
        count_q = (
            select(func.count())
            .select_from(Incident)
            .where(Incident.raised_at >= since, Incident.status != "false_alarm")
        )
        count_q = count_q.where(Incident.kind == kind) if rule.incident_kind else count_q
        count_q = count_q.where(
            Incident.community_code.is_(None)
            if community_code is None
            else Incident.community_code == community_code
        )
        n = session.scalar(count_q) or 0
        if n < rule.threshold:
            continue
        window = _window_start(now, rule.window_minutes)
        label, label_zh = KIND_LABELS.get(kind, (kind, kind))
        alert = raise_alert(
            session,
            bus,
            rule=rule,
            kind="burst",
            severity=rule.severity,
            dedupe_key=f"burst:{rule.id}:{community_code or '-'}:{window.isoformat()}",
            title=f"{n} × {label} within {duration(rule.window_minutes)[0]}",
            title_zh=f"{duration(rule.window_minutes)[1]}内{n}起{label_zh}",
            body=rule.name,
            community_code=community_code,
        )
        if alert is not None:
            fired.append(alert)
    return fired


def on_incident_raised(event: Any, session: Session) -> None:
    """Subscriber of ``surveillance.incident.raised``: evaluate the burst rules. Safe to
    run twice: the alert's dedupe key makes a second run a no-op."""
    from core.toolkit import current_kernel

    bus = current_kernel().bus
    payload = event.payload
    evaluate_burst(session, bus, kind=payload["kind"], community_code=payload["community_code"])


@dataclass
class CheckResult:
    went_offline: int = 0
    alerts: int = 0


def check(
    session: Session, bus: Any, *, offline_after_minutes: int, now: datetime | None = None
) -> CheckResult:
    """The periodic job (``shequ surveillance check``): cameras silent too long become
    offline with a maintenance alert (one per outage); unacknowledged and
    camera-offline rules, and burst rules for every kind and area, are evaluated."""
    now = now or utcnow()
    result = CheckResult()
    cutoff = now - timedelta(minutes=offline_after_minutes)
    silent = session.scalars(
        select(Camera).where(
            Camera.status == "online",
            or_(
                Camera.last_heartbeat_at < cutoff,
                Camera.last_heartbeat_at.is_(None) & (Camera.created_at < cutoff),
            ),
        )
    )
    for camera in silent:
        camera.status = "offline"
        result.went_offline += 1
        since = camera.last_heartbeat_at.isoformat() if camera.last_heartbeat_at else "never"
        alert = raise_alert(
            session,
            bus,
            kind="maintenance",
            severity="medium",
            dedupe_key=f"offline:{camera.id}:{since}",
            title=f"Camera {camera.code} is offline",
            title_zh=f"摄像头 {camera.code} 离线",
            body=camera.name,
            community_code=camera.community_code,
            camera_id=camera.id,
        )
        result.alerts += alert is not None
    rules = list(session.scalars(select(AlertRule).where(AlertRule.active.is_(True))))
    for rule in rules:
        if rule.kind == "unacknowledged":
            limit = now - timedelta(minutes=rule.window_minutes)
            query = select(Incident).where(Incident.status == "raised", Incident.raised_at < limit)
            if rule.incident_kind:
                query = query.where(Incident.kind == rule.incident_kind)
            if rule.community_code:
                query = query.where(Incident.community_code == rule.community_code)
            for incident in session.scalars(query):
                alert = raise_alert(
                    session,
                    bus,
                    rule=rule,
                    kind="unacknowledged",
                    severity=rule.severity,
                    dedupe_key=f"unack:{rule.id}:{incident.id}",
                    title=(f"Incident #{incident.id} unacknowledged for "
                           f"{duration(rule.window_minutes)[0]}"),
                    title_zh=f"事件 #{incident.id} 超过{duration(rule.window_minutes)[1]}未确认",
                    body=rule.name,
                    community_code=incident.community_code,
                    incident_id=incident.id,
                )
                result.alerts += alert is not None
        elif rule.kind == "camera_offline":
            query = (
                select(Camera.community_code, func.count())
                .where(Camera.status == "offline")
                .group_by(Camera.community_code)
            )
            if rule.community_code:
                query = query.where(Camera.community_code == rule.community_code)
            window = _window_start(now, rule.window_minutes)
            for community, n in session.execute(query):
                if n < rule.threshold:
                    continue
                alert = raise_alert(
                    session,
                    bus,
                    rule=rule,
                    kind="camera_offline",
                    severity=rule.severity,
                    dedupe_key=f"cams:{rule.id}:{community or '-'}:{window.isoformat()}",
                    title=f"{n} cameras offline",
                    title_zh=f"{n}个摄像头离线",
                    body=rule.name,
                    community_code=community,
                )
                result.alerts += alert is not None
    pairs = session.execute(
        select(Incident.kind, Incident.community_code)
        .where(Incident.raised_at >= now - timedelta(days=1))
        .distinct()
    )
    for kind, community in list(pairs):
        result.alerts += len(
            evaluate_burst(session, bus, kind=kind, community_code=community, now=now)
        )
    return result


def _clean_rule(data: dict[str, Any]) -> dict[str, Any]:
    """A rule's settings checked: the choices offered, a name, 1 to 1000 incidents
    within 1 minute to 7 days. One check for creating and changing a rule."""
    _check_choice(data.get("kind") or "", RULE_KINDS, "kind")
    _check_choice(data.get("severity") or "medium", SEVERITIES, "severity")
    if data.get("incident_kind"):
        _check_choice(data["incident_kind"], INCIDENT_KINDS, "incident_kind")
    name = (data.get("name") or "").strip()
    if not name:
        raise SurveillanceError(N_("Enter a name."), "name")
    threshold = int(data.get("threshold") or 1)
    window = int(data.get("window_minutes") or 60)
    if not 1 <= threshold <= 1000:
        raise SurveillanceError(N_("Enter a number from 1 to 1000."), "threshold")
    if not 1 <= window <= 10080:
        raise SurveillanceError(N_("Enter a number of minutes from 1 to 10080."), "window_minutes")
    return {
        "name": name[:100],
        "kind": data["kind"],
        "incident_kind": data.get("incident_kind") or None,
        "community_code": (data.get("community_code") or "").strip() or None,
        "threshold": threshold,
        "window_minutes": window,
        "severity": data.get("severity") or "medium",
    }


def create_rule(session: Session, actor: Any, **data: Any) -> AlertRule:
    clean = _clean_rule(data)
    rule = AlertRule(**clean, active=True)
    session.add(rule)
    session.flush()
    log_audit(
        session,
        "surveillance.rule.created",
        actor=actor,
        target_type="alert_rule",
        target_id=rule.id,
        detail={"kind": rule.kind, "threshold": rule.threshold,
                "window_minutes": rule.window_minutes},
    )
    return rule


def update_rule(session: Session, actor: Any, rule: AlertRule, **changes: Any) -> AlertRule:
    """Change a rule's settings (any of those :func:`create_rule` takes, and ``active``):
    the result is checked as a whole, and the change is audited with what changed.
    Alerts raised already keep their rule's old words."""
    active = changes.pop("active", None)
    fields = ("name", "kind", "incident_kind", "community_code", "threshold",
              "window_minutes", "severity")
    merged = {f: getattr(rule, f) for f in fields} | changes
    clean = _clean_rule(merged)
    changed = {f: v for f, v in clean.items() if getattr(rule, f) != v}
    for field, value in changed.items():
        setattr(rule, field, value)
    if active is not None and bool(active) != rule.active:
        rule.active = bool(active)
        changed["active"] = rule.active
    if changed:
        log_audit(
            session,
            "surveillance.rule.changed",
            actor=actor,
            target_type="alert_rule",
            target_id=rule.id,
            detail=changed,
        )
    session.flush()
    return rule


def set_rule_active(session: Session, actor: Any, rule: AlertRule, active: bool) -> None:
    rule.active = active
    log_audit(
        session,
        "surveillance.rule.changed",
        actor=actor,
        target_type="alert_rule",
        target_id=rule.id,
        detail={"active": active},
    )
