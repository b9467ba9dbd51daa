"""Alerts: raised once per dedupe key, acted on by staff, published to residents.

The early-warning rules that raise them are in :mod:`.early_warning`; this module holds
the alert itself, so the API and pages share the same actions and the public payload.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import N_, RegistryReader, log_audit, utcnow
from plugins.surveillance import info
from plugins.surveillance.models import ALERT_STATUSES, SEVERITIES, Alert, AlertRule
from plugins.surveillance.services.places import (
    PLUGIN,
    SurveillanceError,
    actor_name,
    get_row,
    place_scope,
)


def raise_alert(
    session: Session,
    bus: Any,
    *,
    dedupe_key: str,
    kind: str,
    severity: str,
    title: str,
    title_zh: str,
    body: str = "",
    rule: AlertRule | None = None,
    community_code: str | None = None,
    camera_id: int | None = None,
    incident_id: int | None = None,
) -> Alert | None:
    """Insert an alert unless one with ``dedupe_key`` exists. The unique key in the
    database is the guard (a SAVEPOINT absorbs the conflict), so two processes evaluating
    the same rule at once still raise one alert. Returns None when it already existed."""
    if session.scalar(select(Alert.id).where(Alert.dedupe_key == dedupe_key)) is not None:
        return None
    alert = Alert(
        dedupe_key=dedupe_key[:200],
        kind=kind,
        severity=severity,
        title=title[:200],
        title_zh=title_zh[:200],
        body=body[:1000],
        rule_id=rule.id if rule else None,
        community_code=community_code,
        camera_id=camera_id,
        incident_id=incident_id,
        raised_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        return None
    bus.publish(
        session,
        "surveillance.alert.raised",
        {
            "alert_id": alert.id,
            "kind": kind,
            "severity": severity,
            "community_code": community_code,
            "rule_id": alert.rule_id,
        },
    )
    return alert


def alerts_query(actor: Any, *, status: str | None = None, open_only: bool = False) -> Select:
    query = select(Alert).order_by(Alert.raised_at.desc(), Alert.id.desc())
    if status:
        query = query.where(Alert.status == status)
    elif open_only:
        query = query.where(Alert.status != "acknowledged")
    scope = place_scope(actor)
    if scope is not None:
        communities, _grids = scope
        query = query.where(
            Alert.community_code.in_(sorted(communities)) if communities else false()
        )
    return query


def get_alert(session: Session, actor: Any, alert_id: int) -> Alert:
    alert = get_row(session, Alert, alert_id)
    scope = place_scope(actor)
    if alert is None or (scope is not None and alert.community_code not in scope[0]):
        raise SurveillanceError(N_("No such alert."), "alert", status=404)
    return alert


def community_id_for(session: Session, code: str | None) -> int | None:
    """The registry id of a community code (for the public alert's payload)."""
    if not code:
        return None
    reader = RegistryReader(
        session, plugin=PLUGIN, scopes=info.data_scopes, actor=None, purpose="public alert"
    )
    return next((c["id"] for c in reader.communities() if c["code"] == code), None)


def alert_action(session: Session, bus: Any, actor: Any, alert: Alert, action: str) -> Alert:
    """acknowledge, escalate, or publish (mark public for residents: publishes
    ``surveillance.public_alert.published`` once, with exactly the agreed payload)."""
    now = utcnow()
    if action == "acknowledge":
        if alert.status == "acknowledged":
            raise SurveillanceError(N_("This alert is already acknowledged."), "action", status=409)
        alert.status = "acknowledged"
        alert.acknowledged_at = now
        alert.acknowledged_by = actor_name(actor)
    elif action == "escalate":
        if alert.status != "open":
            raise SurveillanceError(
                N_("Only an open alert can be escalated."), "action", status=409
            )
        alert.status = "escalated"
        alert.escalated_at = now
        alert.severity = SEVERITIES[min(SEVERITIES.index(alert.severity) + 1, len(SEVERITIES) - 1)]
    elif action == "publish":
        if alert.public:
            raise SurveillanceError(N_("This alert is already public."), "action", status=409)
        alert.public = True
        alert.published_at = now
        bus.publish(
            session,
            "surveillance.public_alert.published",
            {
                "alert_id": alert.id,
                "community_id": community_id_for(session, alert.community_code),
                "title": alert.title,
                "title_zh": alert.title_zh,
                "body": alert.body,
                "severity": alert.severity,
            },
        )
    else:
        raise SurveillanceError(N_("Choose one of the listed values."), "action")
    log_audit(
        session,
        f"surveillance.alert.{action}",
        actor=actor,
        target_type="alert",
        target_id=alert.id,
    )
    session.flush()
    return alert


def public_notices(session: Session, limit: int = 20) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.public.is_(True))
            .order_by(Alert.published_at.desc())
            .limit(limit)
        )
    )


ALERT_STATUS_CHOICES = ALERT_STATUSES
