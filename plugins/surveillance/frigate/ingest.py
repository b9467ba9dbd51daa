"""One Frigate message → the analytics ingest, in one database session.

The incident is made by :func:`plugins.surveillance.services.ingest_incident`, the very
function behind ``POST /api/v1/surveillance/ingest``: the same idempotency (the Frigate
id is the key, per ingesting account, guarded by the unique constraint), the same
place check on the camera, the same ``surveillance.incident.raised`` event and so the
same early-warning rules. This module only decides what each outcome means for a stream
of messages, where there is nobody to answer a 4xx to:

* a key seen before is a repeat (Frigate's update and end messages, a redelivery), even
  when a later message would map differently (a zone entered later): the first
  detection stands, one incident per Frigate id;
* a camera the mapping does not know, or a mapped code that is not in the inventory (or
  not in the account's places), is a *problem*: a ``maintenance`` alert on the security
  desk, once per Frigate camera and day (its ``dedupe_key``), so a misconfigured camera
  is seen and fixed rather than silently dropped;
* a time the ingest refuses (future, older than 30 days) is counted and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import utcnow
from plugins.surveillance import services as svc
from plugins.surveillance.frigate.mapping import UNKNOWN_CAMERA, Detection, Skip, parse

log = logging.getLogger("shequ.surveillance.frigate")

CREATED = "created"
REPEATED = "repeated"
PROBLEM = "problem"
REFUSED = "refused"


@dataclass(frozen=True)
class IngestAccount:
    """The account the worker ingests as, shaped like the principal the HTTP ingest
    sees (id, names, roles, place scopes), so the services' place checks apply to it
    exactly as to an analytics token's owner."""

    id: int
    username: str
    display_name: str
    role_names: tuple[str, ...]
    scopes: tuple[Any, ...]

    @classmethod
    def of(cls, view: Any) -> IngestAccount:
        """From a toolkit ``AccountView`` (scopes as ``(kind, code)`` pairs)."""
        return cls(
            id=view.id,
            username=view.username,
            display_name=view.display_name,
            role_names=tuple(view.roles),
            scopes=tuple(SimpleNamespace(kind=k, code=c) for k, c in view.scopes),
        )

    @property
    def problem_community(self) -> str | None:
        """Where unknown-camera problems are shown: the first community the account is
        assigned to (the officers there see the alert); none for an account of every
        place (admins and officers of every place see it)."""
        return next((s.code for s in sorted(self.scopes, key=lambda s: s.code)
                     if s.kind == "community"), None)


def handle(session: Session, bus: Any, account: IngestAccount, settings: dict[str, Any],
           topic: str, payload: bytes) -> str:
    """Ingest one message; answers ``created``, ``repeated``, ``problem``, ``refused`` or
    ``ignored:<reason>``. Rule refusals never raise (a stream has nobody to answer);
    database errors do, so the caller can retry and leave the message unacknowledged."""
    found = parse(settings, topic, payload)
    if isinstance(found, Skip):
        if found.reason == UNKNOWN_CAMERA:
            _problem(session, bus, account, found.camera,
                     "not in [plugins.surveillance.frigate] cameras",
                     "未在 [plugins.surveillance.frigate] cameras 中配置")
            return PROBLEM
        return f"ignored:{found.reason}"
    return _ingest(session, bus, account, found)


def _ingest(session: Session, bus: Any, account: IngestAccount, found: Detection) -> str:
    try:
        _incident, created = svc.ingest_incident(
            session,
            bus,
            account,
            key=found.key,
            camera_code=found.camera_code,
            kind=found.kind,
            severity=found.severity,
            description=found.description,
            occurred_at=found.occurred_at,
        )
    except svc.SurveillanceError as exc:
        if exc.field == "Idempotency-Key":
            # the key was used with another mapping (a zone entered later): one Frigate
            # id is one incident, the first detection stands
            return REPEATED
        if exc.field == "camera_code" and exc.status == 404:
            _problem(session, bus, account, found.frigate_camera,
                     f"mapped to {found.camera_code}, which is not in the camera inventory "
                     "or not in the Frigate account's places",
                     f"对应的 {found.camera_code} 不在摄像头台账中或不在 Frigate 账号的辖区内")
            return PROBLEM
        log.warning("frigate %s on %s refused: %s", found.key, found.frigate_camera, exc)
        return REFUSED
    return CREATED if created else REPEATED


def _problem(session: Session, bus: Any, account: IngestAccount, camera: str, why: str,
             why_zh: str) -> None:
    """A maintenance alert for a Frigate camera the platform cannot place, once per
    camera and day (later messages that day find the dedupe key and add nothing)."""
    day = utcnow().astimezone(svc.local_zone()).date().isoformat()  # the local day
    alert = svc.raise_alert(
        session,
        bus,
        dedupe_key=f"frigate-camera:{camera}:{day}",
        kind="maintenance",
        severity="medium",
        title=f"Frigate camera {camera} is not mapped",
        title_zh=f"Frigate 摄像头 {camera} 未对应到台账中的摄像头",
        body=f"{camera}: {why}. / {camera}：{why_zh}。",
        community_code=account.problem_community,
    )
    if alert is not None:
        log.warning("frigate camera %r: %s (alert #%s)", camera, why, alert.id)
