"""Incidents and their workflow: raised by staff, residents or video analytics
(idempotent ingest), then acknowledged, dispatched and closed.

The state machine (:data:`TRANSITIONS`) and the timeline live together so every entry
point moves an incident the same way and publishes the same events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import MAX_ID, N_, account_view, staff_accounts, utcnow
from plugins.surveillance.models import (
    INCIDENT_KINDS,
    OPEN_STATUSES,
    SEVERITIES,
    Camera,
    Incident,
    IncidentStep,
)
from plugins.surveillance.services.cameras import camera_by_code
from plugins.surveillance.services.notices import tell_reporter
from plugins.surveillance.services.places import (
    SurveillanceError,
    _check_choice,
    _scoped,
    actor_name,
    get_row,
    in_place,
)

#: action → (states it may start from, the state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledge": (("raised",), "acknowledged"),
    "dispatch": (("acknowledged", "dispatched"), "dispatched"),
    "resolve": (("acknowledged", "dispatched"), "resolved"),
    "false_alarm": (("raised", "acknowledged", "dispatched"), "false_alarm"),
}

#: The states that close an incident (and need an outcome note).
CLOSED = ("resolved", "false_alarm")


def _step(
    incident: Incident, action: str, actor: Any, note: str = "", *, anonymous: bool = False
) -> None:
    """A timeline line naming the staff member who acted. A resident's own step names
    nobody: the reporter is a reference on the incident, shown by :func:`reporter_view`."""
    incident.timeline.append(
        IncidentStep(
            action=action,
            actor_name="" if anonymous else actor_name(actor),
            note=(note or "")[:500],
            at=utcnow(),
        )
    )


def _raised_payload(incident: Incident) -> dict[str, Any]:
    return {
        "incident_id": incident.id,
        "kind": incident.kind,
        "severity": incident.severity,
        "source": incident.source,
        "community_code": incident.community_code,
        "camera_id": incident.camera_id,
    }


def raise_incident(
    session: Session,
    bus: Any,
    actor: Any,
    *,
    source: str,
    kind: str,
    severity: str = "medium",
    description: str = "",
    location: str = "",
    community_code: str | None = None,
    grid_code: str | None = None,
    camera: Camera | None = None,
    reporter_id: int | None = None,
    reporter_person_id: int | None = None,
    ingest_client_id: int | None = None,
    idempotency_key: str | None = None,
    raised_at: datetime | None = None,
    occurred_at: datetime | None = None,
) -> Incident:
    """Record an incident and publish ``surveillance.incident.raised`` with it. A linked
    camera gives the incident its place when none is given. ``occurred_at`` (when it
    happened; default: when it is raised) bounds the footage that may be opened for it;
    ``actor`` is kept as who raised it (a second officer approves footage they ask for)."""
    _check_choice(kind, INCIDENT_KINDS, "kind")
    _check_choice(severity, SEVERITIES, "severity")
    raised_at = raised_at or utcnow()
    if occurred_at is None:
        occurred_at = raised_at
    elif occurred_at > raised_at + timedelta(minutes=5):
        # 409, not 422: a well-formed time the clock refuses (docs/api.md, "422 or 409?")
        raise SurveillanceError(N_("The time it happened cannot be in the future."),
                                "occurred_at", status=409)
    elif occurred_at < raised_at - timedelta(days=30):
        raise SurveillanceError(
            N_("Report incidents within 30 days of when they happened."), "occurred_at",
            status=409)
    if camera is not None:
        community_code = community_code or camera.community_code
        grid_code = grid_code or camera.grid_code
        location = location or camera.location or camera.name
    if not (community_code or grid_code or (location or "").strip()):
        raise SurveillanceError(N_("Say where it is."), "location")
    incident = Incident(
        kind=kind,
        severity=severity,
        status="raised",
        source=source,
        description=(description or "").strip(),
        location=(location or "").strip()[:200],
        community_code=community_code or None,
        grid_code=grid_code or None,
        camera_id=camera.id if camera else None,
        reporter_id=reporter_id,
        reporter_person_id=reporter_person_id,
        raised_by_id=getattr(actor, "id", None),
        ingest_client_id=ingest_client_id,
        idempotency_key=idempotency_key,
        raised_at=raised_at,
        occurred_at=occurred_at,
    )
    session.add(incident)
    # A resident's name is not copied into the timeline: staff need the report, not the name.
    _step(incident, "raised", actor, source, anonymous=source == "resident")
    session.flush()
    tell_reporter(session, incident, "raised")
    bus.publish(session, "surveillance.incident.raised", _raised_payload(incident))
    return incident


def ingest_incident(
    session: Session,
    bus: Any,
    client: Any,
    *,
    key: str,
    camera_code: str,
    kind: str,
    severity: str = "medium",
    description: str = "",
    occurred_at: datetime | None = None,
) -> tuple[Incident, bool]:
    """An incident from video analytics. The same ``key`` from the same client returns
    the incident the first call made (``created`` False); the database's unique
    constraint decides, so two concurrent retries still make one incident."""
    key = (key or "").strip()
    if not key or len(key) > 100:
        raise SurveillanceError(
            N_("Send an Idempotency-Key header (1 to 100 characters)."), "Idempotency-Key"
        )
    existing = session.scalar(
        select(Incident).where(
            Incident.ingest_client_id == client.id, Incident.idempotency_key == key
        )
    )
    sent = {"camera_code": camera_code, "kind": kind, "severity": severity,
            "description": (description or "").strip(), "occurred_at": occurred_at}
    if existing is not None:
        return _same_detection(existing, sent), False
    camera = camera_by_code(session, client, camera_code)
    try:
        with session.begin_nested():
            incident = raise_incident(
                session,
                bus,
                client,
                source="analytics",
                kind=kind,
                severity=severity,
                description=description,
                camera=camera,
                ingest_client_id=client.id,
                idempotency_key=key,
                raised_at=occurred_at,
                occurred_at=occurred_at,
            )
    except IntegrityError:
        existing = session.scalar(
            select(Incident).where(
                Incident.ingest_client_id == client.id, Incident.idempotency_key == key
            )
        )
        if existing is None:
            raise
        return _same_detection(existing, sent), False
    return incident, True


def _same_detection(existing: Incident, sent: dict[str, Any]) -> Incident:
    """A retry must be the same request: a key reused with another camera, kind,
    severity, description or time is a client bug that would otherwise silently lose
    the second detection, so it is refused (422) rather than answered with the first.
    A retry that leaves out ``occurred_at`` is still the same (the first call's time
    stands)."""
    camera_code = existing.camera.code if existing.camera is not None else None
    differs = (
        sent["camera_code"] != camera_code
        or sent["kind"] != existing.kind
        or sent["severity"] != existing.severity
        or sent["description"] != (existing.description or "")
        or (sent["occurred_at"] is not None and existing.occurred_at is not None
            and abs((sent["occurred_at"] - existing.occurred_at).total_seconds()) >= 1)
    )
    if differs:
        raise SurveillanceError(
            N_("This Idempotency-Key was already used for a different detection; send a "
               "new key for a new detection."),
            "Idempotency-Key",
        )
    return existing


def incidents_query(
    actor: Any, *, status: str | None = None, open_only: bool = False, kind: str | None = None
) -> Select:
    query = select(Incident).order_by(Incident.raised_at.desc(), Incident.id.desc())
    if status:
        query = query.where(Incident.status == status)
    elif open_only:
        query = query.where(Incident.status.in_(OPEN_STATUSES))
    if kind:
        query = query.where(Incident.kind == kind)
    return _scoped(query, actor, Incident)


def get_incident(session: Session, actor: Any, incident_id: int) -> Incident:
    incident = get_row(session, Incident, incident_id)
    if incident is None or not in_place(actor, incident.community_code, incident.grid_code):
        raise SurveillanceError(N_("No such incident."), "incident", status=404)
    return incident


def own_reports(session: Session, user: Any) -> list[Incident]:
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.reporter_id == user.id)
            .order_by(Incident.raised_at.desc(), Incident.id.desc())
        )
    )


def own_report(session: Session, user: Any, incident_id: int) -> Incident:
    """A resident's own report; anyone else's is 'not found' (404), not 'forbidden'."""
    incident = get_row(session, Incident, incident_id)
    if incident is None or incident.reporter_id is None or incident.reporter_id != user.id:
        raise SurveillanceError(N_("No such report."), "incident", status=404)
    return incident


def transition(
    session: Session,
    bus: Any,
    actor: Any,
    incident: Incident,
    action: str,
    *,
    note: str = "",
    assignee_id: int | None = None,
) -> Incident:
    """Move an incident along raised → acknowledged → dispatched → resolved / false alarm.
    A step not allowed from the current state is a 409; closing publishes
    ``surveillance.incident.resolved``."""
    if action not in TRANSITIONS:
        raise SurveillanceError(N_("Choose one of the listed values."), "action")
    sources, target = TRANSITIONS[action]
    if incident.status not in sources:
        raise SurveillanceError(
            N_("This incident is already %(state)s; it cannot be changed that way."),
            "action",
            status=409,
            state=incident.status,
        )
    note = (note or "").strip()
    if target in CLOSED and not note:
        # the outcome note is what the reporter is told: a report closed with nothing
        # to say is the "已办结 and nothing else" of issue 16
        raise SurveillanceError(  # a rule across fields (action and note): 409
            N_("Write the outcome (what was found and done) to close the incident."), "note",
            status=409,
        )
    if action == "dispatch":
        if assignee_id is None:
            raise SurveillanceError(N_("Choose who to send."), "assignee_id")
        user = (
            account_view(session, assignee_id)
            if isinstance(assignee_id, int) and 0 < assignee_id <= MAX_ID
            else None
        )
        if (
            user is None
            or not user.is_active
            or not (set(ASSIGNABLE_ROLES) & set(user.roles))
        ):
            # a well-formed id that names the wrong kind of account: the request conflicts
            # with the accounts on record (409), its fields are fine (docs/api.md)
            raise SurveillanceError(N_("Send a security officer or a grid worker."),
                                    "assignee_id", status=409)
        incident.assignee_id = user.id
        note = note or user.name
        incident.dispatched_at = utcnow()
    now = utcnow()
    if action == "acknowledge":
        incident.acknowledged_at = now
    if target in CLOSED:
        incident.acknowledged_at = incident.acknowledged_at or now
        incident.closed_at = now
    incident.status = target
    _step(incident, target, actor, note)
    session.flush()
    tell_reporter(session, incident, target, note)
    if target in CLOSED:
        bus.publish(
            session,
            "surveillance.incident.resolved",
            {
                "incident_id": incident.id,
                "kind": incident.kind,
                "outcome": target,
                "community_code": incident.community_code,
            },
        )
    return incident


ASSIGNABLE_ROLES = ("security_officer", "community_worker")


def assignable_staff(session: Session) -> list[Any]:
    """Security officers and grid workers an incident may be dispatched to (toolkit
    account views: id, name, roles — never contact details)."""
    return sorted(
        staff_accounts(session, ASSIGNABLE_ROLES),
        key=lambda a: (a.display_name or "", a.username),
    )


def staff_name(session: Session, account_id: int | None) -> str | None:
    """A staff member's name (a camera's officer): staff names are not residents' data."""
    account = account_view(session, account_id) if account_id else None
    return account.name if account else None
