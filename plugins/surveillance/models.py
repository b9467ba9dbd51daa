"""The plugin's tables (all prefixed ``surveillance_``).

Places are stored as registry codes (community and grid codes, the same codes staff scopes
use), so scoping a query is one ``IN`` and needs no join into the registry. The stream
address lives only on :class:`Camera` and is never put in any resident-facing schema.

Persons are references, never copies: an incident keeps the reporter's account id and
registry person id; names are read through the toolkit when shown (masked, logged) and the
links are erased by the retention purge once the incident has been closed long enough.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.toolkit import Base, UTCDateTime, utcnow

CAMERA_STATUSES = ("online", "offline", "maintenance")
PLACE_KINDS = ("entrance", "road", "square", "parking", "lobby", "playground", "riverside", "other")
INCIDENT_KINDS = (
    "fire_hazard",
    "fire_lane_blocked",
    "theft",
    "fight",
    "elderly_fallen",
    "flooding",
    "suspicious_activity",
    "other",
)
SEVERITIES = ("low", "medium", "high", "critical")
INCIDENT_STATUSES = ("raised", "acknowledged", "dispatched", "resolved", "false_alarm")
OPEN_STATUSES = ("raised", "acknowledged", "dispatched")
#: grid: a grid worker's finding referred onward (services/grid.py)
SOURCES = ("staff", "resident", "analytics", "grid")
RULE_KINDS = ("burst", "unacknowledged", "camera_offline")
ALERT_STATUSES = ("open", "acknowledged", "escalated")
FOOTAGE_OUTCOMES = ("granted", "refused", "pending")
REQUEST_STATUSES = ("pending", "approved", "refused", "opened")


class Camera(Base):
    __tablename__ = "surveillance_camera"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(32), index=True)
    building_id: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(200), default="")
    place_kind: Mapped[str] = mapped_column(String(20), default="other")
    purpose: Mapped[str] = mapped_column(String(300))
    signage_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    privacy_masks: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default="online", index=True)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    officer_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    #: Staff systems only: never rendered to residents, never in a resident schema.
    stream_url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Incident(Base):
    __tablename__ = "surveillance_incident"
    __table_args__ = (
        # A retried analytics call with the same key never makes a second incident: the
        # database refuses it, whatever races the application code loses.
        UniqueConstraint("ingest_client_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    severity: Mapped[str] = mapped_column(String(10), default="medium")
    status: Mapped[str] = mapped_column(String(20), default="raised", index=True)
    source: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(32), index=True)
    camera_id: Mapped[int | None] = mapped_column(
        ForeignKey("surveillance_camera.id", ondelete="SET NULL"), index=True
    )
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"), index=True
    )
    reporter_person_id: Mapped[int | None] = mapped_column(Integer)
    #: The account that raised it (staff, the resident, or the analytics token's owner):
    #: footage for an incident one raised oneself needs a second officer's approval.
    #: A plain id (no foreign key), like the footage log's: adding a foreign key to this
    #: table would make SQLite rebuild it, and its timeline and clips with it.
    raised_by_id: Mapped[int | None] = mapped_column(Integer, index=True)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    ingest_client_id: Mapped[int | None] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    photo_path: Mapped[str | None] = mapped_column(String(200))
    photo_type: Mapped[str | None] = mapped_column(String(40))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    #: When it happened (as the reporter says; the raise time when nobody says): footage
    #: is opened for an incident only around this time. Always set by ``raise_incident``
    #: and backfilled for old rows; nullable in the table only because making a column
    #: NOT NULL makes SQLite rebuild the table (code reads ``occurred_at or raised_at``).
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    camera: Mapped[Camera | None] = relationship(lazy="joined")
    timeline: Mapped[list[IncidentStep]] = relationship(
        order_by="IncidentStep.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class IncidentStep(Base):
    """One line of an incident's timeline."""

    __tablename__ = "surveillance_incident_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("surveillance_incident.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(String(30))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(String(500), default="")


class AlertRule(Base):
    __tablename__ = "surveillance_alert_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    incident_kind: Mapped[str | None] = mapped_column(String(30))
    community_code: Mapped[str | None] = mapped_column(String(12))
    threshold: Mapped[int] = mapped_column(Integer, default=1)
    window_minutes: Mapped[int] = mapped_column(Integer, default=60)
    severity: Mapped[str] = mapped_column(String(10), default="medium")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Alert(Base):
    __tablename__ = "surveillance_alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One alert per rule, place and window: the unique key is what stops alert storms.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("surveillance_alert_rule.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    title_zh: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(1000), default="")
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    camera_id: Mapped[int | None] = mapped_column(Integer)
    incident_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    acknowledged_by: Mapped[str] = mapped_column(String(100), default="")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Clip(Base):
    """A reference to footage that stays in the camera or VMS: never the video itself."""

    __tablename__ = "surveillance_clip"

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(
        ForeignKey("surveillance_camera.id", ondelete="CASCADE"), index=True
    )
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("surveillance_incident.id", ondelete="SET NULL"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reference: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    camera: Mapped[Camera] = relationship(lazy="joined")


class FootageAccess(Base):
    """Every view or export of a clip, granted or refused. Ids are plain integers so the
    log outlives the clip references that retention purges."""

    __tablename__ = "surveillance_footage_access"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    clip_id: Mapped[int] = mapped_column(Integer)
    camera_code: Mapped[str] = mapped_column(String(40), default="")
    incident_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(300), default="")
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(200), default="")
    #: The footage request this attempt belongs to, and the second officer who decided it.
    request_id: Mapped[int | None] = mapped_column(Integer)
    approver_name: Mapped[str] = mapped_column(String(100), default="")


class FootageRequest(Base):
    """A request to open footage for an incident the asker raised themself: it waits for
    a second officer (never the asker) to approve or refuse it; an approval opens the clip
    once. Ids are plain integers, like the footage log, so it outlives purged clips."""

    __tablename__ = "surveillance_footage_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    clip_id: Mapped[int] = mapped_column(Integer, index=True)
    incident_id: Mapped[int] = mapped_column(Integer, index=True)
    camera_code: Mapped[str] = mapped_column(String(40), default="")
    #: The clip's place, so the queue is scoped like everything else.
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(32))
    requester_id: Mapped[int | None] = mapped_column(Integer, index=True)
    requester_name: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(10), default="view")
    purpose: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    decided_by_id: Mapped[int | None] = mapped_column(Integer)
    decided_by_name: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(String(300), default="")
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PurgeRun(Base):
    __tablename__ = "surveillance_purge_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime())
    clips_purged: Mapped[int] = mapped_column(Integer, default=0)
    media_purged: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    #: Closed resident reports whose reporter link and words were erased.
    reports_erased: Mapped[int] = mapped_column(Integer, default=0)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
