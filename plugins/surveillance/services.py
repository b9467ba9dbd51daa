"""The rules of the safety plugin: plain functions over a session, no Flask.

They flush but never commit: the caller (a request, a command, an event handler, the demo
seeder) owns the transaction, so an event published here commits exactly when the change
that caused it does. Pages, the API, the CLI and the event handlers all call these.

Four privacy rules live here rather than in views, so no entry point can skip them:

* places: staff see cameras, incidents and alerts only in their communities and grids
  (:func:`place_filter`), the same scopes core's registry uses;
* footage: a clip reference is opened only for an open incident whose time of occurrence
  the clip covers (give or take ``footage_margin_minutes``) and a stated purpose; when the
  asker raised that incident themself a second officer must approve first; every attempt
  — granted, pending or refused — is logged (:func:`open_clip`, :func:`decide_request`);
* reporters: an incident keeps the reporter's account and person ids, never their name;
  :func:`reporter_view` names them masked (in full only to the officer sent to the scene)
  and writes each display to the reporter's access log;
* retention: clip references and incident photos older than the retention period are
  purged unless an open incident holds them, and closed resident reports lose their
  reporter link and words (:func:`purge`).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import (
    RegistryReader,
    account_view,
    log_audit,
    log_person_access,
    mask_name,
    staff_accounts,
    utcnow,
)
from plugins.surveillance import info
from plugins.surveillance.models import (
    ALERT_STATUSES,
    CAMERA_STATUSES,
    INCIDENT_KINDS,
    OPEN_STATUSES,
    PLACE_KINDS,
    RULE_KINDS,
    SEVERITIES,
    Alert,
    AlertRule,
    Camera,
    Clip,
    FootageAccess,
    FootageRequest,
    Incident,
    IncidentStep,
    PurgeRun,
)

PLUGIN = "surveillance"


def N_(text: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return text


class SurveillanceError(ValueError):
    """A broken rule, naming the field it concerns (422 in the API, a field message on
    pages). ``status`` is 409 for a workflow step that is not allowed from the current
    state, 404 for something that does not exist or is outside the actor's places."""

    def __init__(self, message: str, field: str = "", status: int = 422, **params: Any):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.params = params


MAX_ID = 2**31 - 1


def get_row(session: Session, model: Any, row_id: Any) -> Any:
    """``session.get`` for an id from a URL or a body: out-of-range ids are simply not
    found (the database would refuse to compare them)."""
    if not isinstance(row_id, int) or not 0 < row_id <= MAX_ID:
        return None
    return session.get(model, row_id)


# ------------------------------------------------------------------------------ places


def place_scope(actor: Any) -> tuple[set[str], set[str]] | None:
    """``None`` when ``actor`` sees every place (an admin, an ``all`` scope, a system job);
    else the community and grid codes they are assigned to (empty sets: nothing)."""
    if actor is None:
        return None
    if "admin" in (getattr(actor, "role_names", None) or ()):
        return None
    scopes = {(s.kind, s.code) for s in (getattr(actor, "scopes", None) or ())}
    if ("all", "") in scopes:
        return None
    return ({c for k, c in scopes if k == "community"}, {c for k, c in scopes if k == "grid"})


def place_filter(actor: Any, model: Any) -> Any:
    """A WHERE clause restricting ``model`` (with community_code/grid_code) to ``actor``."""
    scope = place_scope(actor)
    if scope is None:
        return None
    communities, grids = scope
    conds = []
    if communities:
        conds.append(model.community_code.in_(sorted(communities)))
    if grids:
        conds.append(model.grid_code.in_(sorted(grids)))
    return or_(*conds) if conds else false()


def in_place(actor: Any, community_code: str | None, grid_code: str | None) -> bool:
    scope = place_scope(actor)
    if scope is None:
        return True
    communities, grids = scope
    return bool(
        (community_code and community_code in communities) or (grid_code and grid_code in grids)
    )


def _scoped(query: Select, actor: Any, model: Any) -> Select:
    cond = place_filter(actor, model)
    return query if cond is None else query.where(cond)


def actor_name(actor: Any) -> str:
    if actor is None:
        return "system"
    return (getattr(actor, "display_name", "") or getattr(actor, "username", "") or "")[:100]


# ------------------------------------------------------------------------------ cameras


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise SurveillanceError(N_("Choose one of the listed values."), field)


def create_camera(session: Session, actor: Any, **data: Any) -> Camera:
    """Add a camera to the inventory. A camera in a public place needs its purpose stated
    (PIPL Art. 26: capture only where necessary for public security, for that purpose)."""
    code = (data.get("code") or "").strip()
    if not code:
        raise SurveillanceError(N_("Enter a code."), "code")
    if session.scalar(select(Camera.id).where(Camera.code == code)) is not None:
        raise SurveillanceError(N_("A camera with this code already exists."), "code", status=409)
    if not (data.get("purpose") or "").strip():
        raise SurveillanceError(N_("State what the camera is for."), "purpose")
    _check_choice(data.get("place_kind") or "other", PLACE_KINDS, "place_kind")
    _check_choice(data.get("status") or "online", CAMERA_STATUSES, "status")
    community = (data.get("community_code") or "").strip() or None
    grid = (data.get("grid_code") or "").strip() or None
    location = (data.get("location") or "").strip()
    if not (community or grid or location):
        raise SurveillanceError(N_("Give the camera's place or describe its location."), "location")
    if (
        actor is not None
        and place_scope(actor) is not None
        and not in_place(actor, community, grid)
    ):
        raise SurveillanceError(
            N_("This place is outside the areas you are assigned to."), "community_code"
        )
    camera = Camera(
        code=code,
        name=(data.get("name") or code).strip()[:100],
        community_code=community,
        grid_code=grid,
        building_id=data.get("building_id"),
        location=location[:200],
        place_kind=data.get("place_kind") or "other",
        purpose=data["purpose"].strip()[:300],
        signage_confirmed=bool(data.get("signage_confirmed")),
        privacy_masks=(data.get("privacy_masks") or "").strip()[:300],
        status=data.get("status") or "online",
        officer_id=data.get("officer_id"),
        stream_url=(data.get("stream_url") or "").strip()[:500],
    )
    session.add(camera)
    session.flush()
    log_audit(
        session,
        "surveillance.camera.created",
        actor=actor,
        target_type="camera",
        target_id=camera.id,
        detail={"code": camera.code},
    )
    return camera


def cameras_query(actor: Any, *, status: str | None = None) -> Select:
    query = select(Camera).order_by(Camera.code)
    if status:
        query = query.where(Camera.status == status)
    return _scoped(query, actor, Camera)


def public_cameras(session: Session, community_code: str | None = None) -> list[Camera]:
    """Every camera, for the transparency list: the caller shows only where and why."""
    query = select(Camera).order_by(Camera.community_code, Camera.code)
    if community_code:
        query = query.where(Camera.community_code == community_code)
    return list(session.scalars(query))


def get_camera(session: Session, actor: Any, camera_id: int) -> Camera:
    camera = get_row(session, Camera, camera_id)
    if camera is None or not in_place(actor, camera.community_code, camera.grid_code):
        raise SurveillanceError(N_("No such camera."), "camera", status=404)
    return camera


def camera_by_code(session: Session, actor: Any, code: str) -> Camera:
    camera = session.scalar(select(Camera).where(Camera.code == code))
    if camera is None or not in_place(actor, camera.community_code, camera.grid_code):
        raise SurveillanceError(N_("No such camera."), "camera_code", status=404)
    return camera


def set_camera_status(session: Session, actor: Any, camera: Camera, status: str) -> Camera:
    _check_choice(status, CAMERA_STATUSES, "status")
    old = camera.status
    camera.status = status
    log_audit(
        session,
        "surveillance.camera.status_changed",
        actor=actor,
        target_type="camera",
        target_id=camera.id,
        detail={"old": old, "new": status},
    )
    return camera


def heartbeat(session: Session, camera: Camera, *, now: datetime | None = None) -> Camera:
    """A device or VMS says the camera is alive. A camera under maintenance stays so (the
    officer ends maintenance), an offline one comes back online."""
    camera.last_heartbeat_at = now or utcnow()
    if camera.status == "offline":
        camera.status = "online"
    return camera


# ------------------------------------------------------------------------------ incidents

#: action → (states it may start from, the state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledge": (("raised",), "acknowledged"),
    "dispatch": (("acknowledged", "dispatched"), "dispatched"),
    "resolve": (("acknowledged", "dispatched"), "resolved"),
    "false_alarm": (("raised", "acknowledged", "dispatched"), "false_alarm"),
}


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
    if existing is not None:
        return existing, False
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
        return existing, False
    return incident, True


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
    if target in ("resolved", "false_alarm"):
        incident.acknowledged_at = incident.acknowledged_at or now
        incident.closed_at = now
    incident.status = target
    _step(incident, target, actor, note)
    session.flush()
    if target in ("resolved", "false_alarm"):
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


# ------------------------------------------------------------------------------ reporters


@dataclass(frozen=True)
class Reporter:
    """How a viewer sees an incident's reporter: ``name`` masked unless ``full``."""

    name: str
    full: bool
    person_id: int | None


def reporter_in_full(incident: Incident, viewer: Any) -> bool:
    """The one step that needs the reporter's full name: the officer or grid worker the
    incident is dispatched to, while it is dispatched (they may have to find the person
    who called it in). Everyone else — the rest of the desk, admins, the API list — sees
    the family name and stars."""
    viewer_id = getattr(getattr(viewer, "actor", None) or viewer, "id", None)
    return (
        viewer_id is not None
        and incident.status == "dispatched"
        and incident.assignee_id == viewer_id
    )


def reporter_view(
    session: Session, incident: Incident, viewer: Any, *, purpose: str = "", facts: Any = None
) -> Reporter | None:
    """The reporter of a resident's incident as ``viewer`` may see them, from the account
    (toolkit ``account_view``; the incident keeps only ids). Each display to staff is
    written to the reporter's access log (their registry person), masked or in full —
    so call it exactly where the name is shown."""
    if not incident.reporter_id:
        return None
    account = account_view(session, incident.reporter_id)
    if account is None:
        return None
    full = reporter_in_full(incident, viewer)
    shown = account.name if full else mask_name(account.name)
    person_id = incident.reporter_person_id or account.person_id
    if person_id and viewer is not None:
        log_person_access(
            session,
            person_id=person_id,
            fields=["name"],
            purpose=purpose or f"incident #{incident.id}: reporter",
            plugin=PLUGIN,
            actor=viewer,
            masked=not full,
            facts=facts,
        )
    return Reporter(name=shown, full=full, person_id=person_id)


# ------------------------------------------------------------------------------ photos

PHOTO_TYPES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}


def media_dir(instance_path: str, configured: str = "") -> Path:
    """Where incident photos are kept: outside the web root (the instance folder by
    default), never under a static path."""
    path = Path(configured) if configured else Path(instance_path) / "surveillance_media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_photo(incident: Incident, data: bytes, directory: Path, *, max_bytes: int) -> None:
    """Keep a JPEG or PNG (decided by its first bytes, not its name) up to ``max_bytes``,
    under a random name."""
    if len(data) > max_bytes:
        raise SurveillanceError(
            N_("The photo is larger than %(size)s MB."),
            "photo",
            size=round(max_bytes / 1_048_576, 1),
        )
    found = next((kind for magic, kind in PHOTO_TYPES.items() if data.startswith(magic)), None)
    if found is None:
        raise SurveillanceError(N_("Send a JPEG or PNG photo."), "photo")
    ctype, ext = found
    name = f"{uuid.uuid4().hex}.{ext}"
    (directory / name).write_bytes(data)
    incident.photo_path = name
    incident.photo_type = ctype


def log_photo_view(session: Session, incident: Incident, viewer: Any, *, facts: Any = None
                   ) -> None:
    """A resident's report photo shown to staff is a display of that resident's report:
    it goes into their access log like their name does."""
    if incident.source == "resident" and incident.reporter_person_id and viewer is not None:
        log_person_access(
            session,
            person_id=incident.reporter_person_id,
            fields=["photo"],
            purpose=f"incident #{incident.id}: report photo",
            plugin=PLUGIN,
            actor=viewer,
            masked=False,
            facts=facts,
        )


def photo_file(incident: Incident, directory: Path) -> Path | None:
    if not incident.photo_path:
        return None
    path = directory / os.path.basename(incident.photo_path)
    return path if path.is_file() else None


# ------------------------------------------------------------------------------ alerts


def _window_start(now: datetime, minutes: int) -> datetime:
    seconds = max(60, minutes * 60)
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


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
            title=f"{n} × {label} within {rule.window_minutes} min",
            title_zh=f"{rule.window_minutes}分钟内{n}起{label_zh}",
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


def on_person_merged(event: Any, session: Session) -> None:
    """Subscriber of ``registry.person.merged``: reports made by the duplicate now belong
    to the surviving person, so footage opened for them lands in the right person's
    access log. Idempotent (a second run finds nothing to move)."""
    payload = event.payload
    for incident in session.scalars(
        select(Incident).where(Incident.reporter_person_id == payload["duplicate_id"])
    ):
        incident.reporter_person_id = payload["person_id"]


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
                    title=f"Incident #{incident.id} unacknowledged for {rule.window_minutes} min",
                    title_zh=f"事件 #{incident.id} 超过{rule.window_minutes}分钟未确认",
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


def create_rule(session: Session, actor: Any, **data: Any) -> AlertRule:
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
    rule = AlertRule(
        name=name[:100],
        kind=data["kind"],
        incident_kind=data.get("incident_kind") or None,
        community_code=(data.get("community_code") or "").strip() or None,
        threshold=threshold,
        window_minutes=window,
        severity=data.get("severity") or "medium",
        active=True,
    )
    session.add(rule)
    session.flush()
    log_audit(
        session,
        "surveillance.rule.created",
        actor=actor,
        target_type="alert_rule",
        target_id=rule.id,
        detail={"kind": rule.kind, "threshold": threshold, "window_minutes": window},
    )
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


# ------------------------------------------------------------------------------ footage


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


# ------------------------------------------------------------------------------ retention


def purge(
    session: Session,
    *,
    retention_days: int,
    directory: Path | None,
    actor: Any = None,
    now: datetime | None = None,
) -> PurgeRun:
    """Delete clip references and incident photos older than ``retention_days``, except
    those of an open incident (legal hold); erase the reporter of resident reports closed
    longer than that (the account and person links and the resident's own words: the
    incident's kind, place, times and staff timeline stay for the statistics); record the
    counts."""
    now = now or utcnow()
    cutoff = now - timedelta(days=max(1, retention_days))
    clips = list(session.scalars(select(Clip).where(Clip.created_at < cutoff)))
    held = 0
    purged_clips = 0
    for clip in clips:
        incident = session.get(Incident, clip.incident_id) if clip.incident_id else None
        if incident is not None and incident.is_open:
            held += 1
            continue
        session.delete(clip)
        purged_clips += 1
    media = 0
    old = session.scalars(
        select(Incident).where(Incident.photo_path.is_not(None), Incident.raised_at < cutoff)
    )
    for incident in old:
        if incident.is_open:
            held += 1
            continue
        if directory is not None:
            path = directory / os.path.basename(incident.photo_path or "")
            if path.is_file():
                path.unlink()
        incident.photo_path = None
        incident.photo_type = None
        _step(incident, "photo_purged", actor)
        media += 1
    erased = 0
    closed = session.scalars(
        select(Incident).where(
            Incident.source == "resident",
            Incident.closed_at.is_not(None),
            Incident.closed_at < cutoff,
            or_(
                Incident.reporter_id.is_not(None),
                Incident.reporter_person_id.is_not(None),
                Incident.description != "",
            ),
        )
    )
    for incident in closed:
        incident.reporter_id = None
        incident.reporter_person_id = None
        incident.description = ""
        _step(incident, "reporter_erased", actor)
        erased += 1
    run = PurgeRun(
        at=now,
        cutoff=cutoff,
        clips_purged=purged_clips,
        media_purged=media,
        held=held,
        reports_erased=erased,
        actor_name=actor_name(actor),
    )
    session.add(run)
    log_audit(
        session,
        "surveillance.retention.purged",
        actor=actor,
        target_type="purge",
        detail={
            "clips": purged_clips,
            "media": media,
            "held": held,
            "reports_erased": erased,
            "retention_days": retention_days,
        },
    )
    session.flush()
    return run


def purge_runs(session: Session, limit: int = 50) -> list[PurgeRun]:
    return list(session.scalars(select(PurgeRun).order_by(PurgeRun.id.desc()).limit(limit)))


def held_counts(
    session: Session, *, retention_days: int, now: datetime | None = None
) -> dict[str, int]:
    """For the retention report: what the next purge would remove and what is on hold."""
    now = now or utcnow()
    cutoff = now - timedelta(days=max(1, retention_days))
    rows = session.execute(
        select(Clip.id, Incident.status)
        .outerjoin(Incident, Incident.id == Clip.incident_id)
        .where(Clip.created_at < cutoff)
    ).all()
    held = sum(1 for _, s in rows if s in OPEN_STATUSES)
    return {
        "due": len(rows) - held,
        "held": held,
        "clips": session.scalar(select(func.count()).select_from(Clip)) or 0,
    }


# ------------------------------------------------------------------------------ dashboard


def dashboard_numbers(
    session: Session, actor: Any, *, days: int = 14, now: datetime | None = None
) -> dict[str, Any]:
    """Open incidents, open alerts, offline cameras and incidents per day and per kind."""
    now = now or utcnow()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    open_n = (
        session.scalar(
            _scoped(
                select(func.count())
                .select_from(Incident)
                .where(Incident.status.in_(OPEN_STATUSES)),
                actor,
                Incident,
            )
        )
        or 0
    )
    offline = list(session.scalars(cameras_query(actor, status="offline")))
    alerts = list(session.scalars(alerts_query(actor, open_only=True).limit(10)))
    recent = session.execute(
        _scoped(
            select(Incident.raised_at, Incident.kind).where(Incident.raised_at >= since),
            actor,
            Incident,
        )
    ).all()
    per_day: dict[str, int] = {}
    for i in range(days):
        per_day[(since + timedelta(days=i)).strftime("%m-%d")] = 0
    per_kind: dict[str, int] = dict.fromkeys(INCIDENT_KINDS, 0)
    for at, kind in recent:
        key = at.strftime("%m-%d")
        if key in per_day:
            per_day[key] += 1
        per_kind[kind] = per_kind.get(kind, 0) + 1
    return {
        "open_incidents": open_n,
        "offline": offline,
        "alerts": alerts,
        "per_day": per_day,
        "per_kind": per_kind,
        "recent_total": len(recent),
    }


ALERT_STATUS_CHOICES = ALERT_STATUSES
