"""Footage access: clip references, opening a clip for an open incident, and the
second-officer approval of footage asked for by whoever raised the incident.

The strictest privacy rule of the plugin, kept in one module: every attempt — granted,
pending or refused — is written to the footage log and the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.toolkit import N_, log_audit, log_person_access, utcnow
from plugins.surveillance.models import Camera, Clip, FootageAccess, FootageRequest, Incident
from plugins.surveillance.services.incidents import _step
from plugins.surveillance.services.places import (
    PLUGIN,
    SurveillanceError,
    _scoped,
    actor_name,
    get_row,
    in_place,
)


def add_clip(
    session: Session,
    actor: Any,
    incident: Incident,
    *,
    camera: Camera,
    starts_at: datetime,
    ends_at: datetime,
    reference: str = "",
) -> Clip:
    if ends_at <= starts_at:
        raise SurveillanceError(N_("The end must be after the start."), "ends_at")
    if ends_at - starts_at > timedelta(hours=24):
        raise SurveillanceError(N_("A clip covers at most 24 hours."), "ends_at")
    clip = Clip(
        camera_id=camera.id,
        incident_id=incident.id,
        starts_at=starts_at,
        ends_at=ends_at,
        reference=(reference or "").strip()[:300],
    )
    session.add(clip)
    _step(incident, "clip_added", actor, f"{camera.code} {starts_at:%Y-%m-%d %H:%M}")
    session.flush()
    return clip


def _actor_id(actor: Any) -> int | None:
    """The account acting (in the assisted channel: the agent, never the resident)."""
    return getattr(getattr(actor, "actor", None) or actor, "id", None)


def raised_by(incident: Incident, actor: Any) -> bool:
    """Whether ``actor`` raised the incident themself (as staff, as a "resident" report,
    or with their own analytics token): their footage request needs a second officer."""
    who = _actor_id(actor)
    return who is not None and who in (incident.raised_by_id, incident.reporter_id)


def clip_covers(clip: Clip, incident: Incident, margin_minutes: int) -> bool:
    """Whether the clip's window overlaps the incident's time of occurrence, give or take
    ``margin_minutes``: footage is opened for what happened, not for whatever a camera
    recorded before someone thought of an incident."""
    margin = timedelta(minutes=max(0, margin_minutes))
    occurred = incident.occurred_at or incident.raised_at
    return clip.starts_at - margin <= occurred <= clip.ends_at + margin


def _footage_entry(
    session: Session,
    actor: Any,
    clip: Clip,
    *,
    incident_id: int | None,
    action: str,
    purpose: str,
    outcome: str,
    reason: str = "",
    request: FootageRequest | None = None,
    approver: str = "",
) -> FootageAccess:
    entry = FootageAccess(
        actor_id=_actor_id(actor),
        actor_name=actor_name(actor),
        clip_id=clip.id,
        camera_code=clip.camera.code,
        incident_id=incident_id,
        action=action,
        purpose=purpose,
        outcome=outcome,
        reason=reason,
        request_id=request.id if request is not None else None,
        approver_name=approver[:100],
        at=utcnow(),
    )
    session.add(entry)
    return entry


def open_clip(
    session: Session,
    actor: Any,
    clip_id: int,
    *,
    incident_id: int | None,
    purpose: str,
    action: str = "view",
    facts: Any = None,
    margin_minutes: int = 30,
) -> FootageAccess:
    """View or export a clip. Granted only for an open incident the clip belongs to (or
    its camera's), whose time of occurrence the clip covers (± ``margin_minutes``), with a
    purpose — and, when ``actor`` raised that incident themself, only after a second
    officer approved the request (:func:`decide_request`); until then the answer is a
    *pending* entry and a :class:`FootageRequest`. An approval opens the clip once, for
    the approved purpose.

    Every attempt is written to the footage-access log (refusals and pending requests
    included) and the audit log; a granted one also to the reporter's personal access log
    and the incident timeline. Raises after logging when refused; the caller must commit
    either way. Returns the log entry: ``outcome`` is ``granted`` or ``pending``."""
    clip = get_row(session, Clip, clip_id)
    if clip is None or not in_place(actor, clip.camera.community_code, clip.camera.grid_code):
        raise SurveillanceError(N_("No such clip."), "clip", status=404)
    if action not in ("view", "export"):
        raise SurveillanceError(N_("Choose one of the listed values."), "action")
    purpose = (purpose or "").strip()[:300]
    incident = get_row(session, Incident, incident_id) if incident_id else None
    reason = ""
    if incident is None:
        reason = N_("Footage is opened only for an incident.")
    elif not incident.is_open:
        reason = N_("The incident is closed.")
    elif clip.incident_id != incident.id and clip.camera_id != incident.camera_id:
        reason = N_("The clip does not belong to this incident.")
    elif not clip_covers(clip, incident, margin_minutes):
        reason = N_("The clip does not cover the time the incident happened.")
    elif not purpose:
        reason = N_("State the purpose.")
    request = approval = None
    if not reason and raised_by(incident, actor):
        mine = (
            select(FootageRequest)
            .where(
                FootageRequest.clip_id == clip.id,
                FootageRequest.incident_id == incident.id,
                FootageRequest.requester_id == _actor_id(actor),
                FootageRequest.action == action,
            )
            .order_by(FootageRequest.id)
        )
        approval = session.scalar(mine.where(FootageRequest.status == "approved"))
        if approval is None:
            request = session.scalar(mine.where(FootageRequest.status == "pending"))
            if request is None:
                request = FootageRequest(
                    clip_id=clip.id,
                    incident_id=incident.id,
                    camera_code=clip.camera.code,
                    community_code=clip.camera.community_code,
                    grid_code=clip.camera.grid_code,
                    requester_id=_actor_id(actor),
                    requester_name=actor_name(actor),
                    action=action,
                    purpose=purpose,
                    status="pending",
                    created_at=utcnow(),
                )
                session.add(request)
                session.flush()
                _step(incident, "footage_requested", actor, purpose)
        else:
            purpose = approval.purpose  # what the second officer approved
    outcome = "refused" if reason else ("pending" if request is not None else "granted")
    entry = _footage_entry(
        session,
        actor,
        clip,
        incident_id=incident.id if incident else incident_id,
        action=action,
        purpose=purpose,
        outcome=outcome,
        reason=reason or (N_("Waiting for a second officer's approval.") if request else ""),
        request=request or approval,
        approver=approval.decided_by_name if approval is not None else "",
    )
    log_audit(
        session,
        f"surveillance.footage.{action}",
        actor=actor,
        outcome={"refused": "denied", "pending": "pending"}.get(outcome, "ok"),
        target_type="clip",
        target_id=clip.id,
        detail={
            "incident_id": incident_id,
            "purpose": purpose,
            "reason": reason,
            "request_id": (request or approval).id if (request or approval) else None,
        },
        facts=facts,
    )
    session.flush()
    if reason:
        raise SurveillanceError(
            reason,
            "purpose" if reason == "State the purpose." else "incident_id",
            status=403 if incident is None or not incident.is_open else 422,
        )
    if request is not None:
        return entry
    if approval is not None:
        approval.status = "opened"
        approval.opened_at = utcnow()
    if incident.reporter_person_id:
        log_person_access(
            session,
            person_id=incident.reporter_person_id,
            fields=["footage"],
            purpose=f"incident #{incident.id}: {purpose}",
            plugin=PLUGIN,
            actor=actor,
            masked=False,
            facts=facts,
        )
    _step(incident, f"footage_{action}", actor, purpose)
    return entry


def footage_requests_query(actor: Any, *, status: str | None = None) -> Select:
    """Footage requests in ``actor``'s places, newest first (pending ones are the queue a
    second officer works)."""
    query = select(FootageRequest).order_by(FootageRequest.id.desc())
    if status:
        query = query.where(FootageRequest.status == status)
    return _scoped(query, actor, FootageRequest)


def get_request(session: Session, actor: Any, request_id: int) -> FootageRequest:
    request = get_row(session, FootageRequest, request_id)
    if request is None or not in_place(actor, request.community_code, request.grid_code):
        raise SurveillanceError(N_("No such footage request."), "request", status=404)
    return request


def decide_request(
    session: Session,
    actor: Any,
    request: FootageRequest,
    decision: str,
    *,
    note: str = "",
    facts: Any = None,
) -> FootageRequest:
    """A second officer approves or refuses a pending footage request. The asker — or
    whoever raised the incident — cannot decide it (403, written to the audit log); a
    request already decided, or for an incident that has since closed, is a 409. An
    approval lets the asker open the clip once; a refusal is a footage-log entry. The
    caller commits either way (a refused self-approval stays in the audit log)."""
    if decision not in ("approve", "refuse"):
        raise SurveillanceError(N_("Choose one of the listed values."), "decision")
    incident = session.get(Incident, request.incident_id)
    who = _actor_id(actor)
    if who is None or who == request.requester_id or (
        incident is not None and raised_by(incident, actor)
    ):
        log_audit(
            session,
            "surveillance.footage.request_decided",
            actor=actor,
            outcome="denied",
            target_type="footage_request",
            target_id=request.id,
            detail={"decision": decision, "reason": "own request"},
            facts=facts,
        )
        session.flush()
        raise SurveillanceError(
            N_("A second officer must decide: you cannot decide your own request."),
            "decision",
            status=403,
        )
    if request.status != "pending":
        raise SurveillanceError(
            N_("This request has already been decided."), "decision", status=409
        )
    if incident is None or not incident.is_open:
        raise SurveillanceError(N_("The incident is closed."), "decision", status=409)
    now = utcnow()
    request.status = "approved" if decision == "approve" else "refused"
    request.decided_by_id = who
    request.decided_by_name = actor_name(actor)
    request.decided_at = now
    request.note = (note or "").strip()[:300]
    if decision == "refuse":
        clip = session.get(Clip, request.clip_id)
        if clip is not None:
            _footage_entry(
                session,
                SimpleNamespace(id=request.requester_id, display_name=request.requester_name),
                clip,
                incident_id=request.incident_id,
                action=request.action,
                purpose=request.purpose,
                outcome="refused",
                reason=N_("A second officer refused the request."),
                request=request,
                approver=request.decided_by_name,
            )
    _step(incident, f"footage_request_{request.status}", actor, request.note)
    log_audit(
        session,
        "surveillance.footage.request_decided",
        actor=actor,
        target_type="footage_request",
        target_id=request.id,
        detail={"decision": decision, "incident_id": request.incident_id,
                "requester_id": request.requester_id, "note": request.note},
        facts=facts,
    )
    session.flush()
    return request


def footage_log_query(*, outcome: str | None = None) -> Select:
    query = select(FootageAccess).order_by(FootageAccess.at.desc(), FootageAccess.id.desc())
    if outcome:
        query = query.where(FootageAccess.outcome == outcome)
    return query
