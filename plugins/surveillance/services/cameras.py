"""The camera inventory and device heartbeats.

A camera in a public place is added only with its purpose stated (PIPL Art. 26); a
heartbeat from the device or VMS brings an offline camera back online.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.toolkit import N_, log_audit, utcnow
from plugins.surveillance.models import CAMERA_STATUSES, PLACE_KINDS, Camera
from plugins.surveillance.services.places import (
    SurveillanceError,
    _check_choice,
    _scoped,
    get_row,
    in_place,
    place_scope,
)


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
