"""Notices: the committee's announcements, who has read them, and the public notices
other plugins' public events turn into (``surveillance.public_alert.published``,
``commerce.public_works.completed``)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import core.toolkit as toolkit
from core.toolkit import N_, utcnow
from plugins.self_governance.models import (
    Notice,
    NoticeRead,
)
from plugins.self_governance.services.common import GovernanceError, aware, reader


def publish_notice(
    session: Session,
    *,
    title: str,
    body: str,
    community: str | None,
    author_id: int | None = None,
    building_id: int | None = None,
    pinned: bool = False,
    expires_at: datetime | None = None,
    category: str = "affairs",
    attachment_url: str | None = None,
    attachment_name: str | None = None,
    source: str = "committee",
    source_key: str | None = None,
) -> Notice:
    title = (title or "").strip()
    if not title:
        raise GovernanceError(N_("Enter a title."), "title")
    expires_at = aware(expires_at)
    if expires_at is not None and expires_at <= utcnow():
        raise GovernanceError(N_("The expiry must be in the future."), "expires_at")
    if attachment_url and (
        not attachment_url.startswith(("https://", "http://", "/"))
        or attachment_url.startswith("//")
    ):
        raise GovernanceError(N_("An attachment must be a web address."), "attachment_url")
    notice = Notice(
        title=title[:200],
        body=body or "",
        community=community or None,
        author_id=author_id,
        building_id=building_id,
        pinned=pinned,
        expires_at=expires_at,
        category=category,
        attachment_url=attachment_url or None,
        attachment_name=attachment_name or None,
        source=source,
        source_key=source_key,
    )
    session.add(notice)
    session.flush()
    return notice


def visible_notices(
    session: Session,
    community: str | None,
    *,
    limit: int = 50,
    include_expired: bool = False,
    buildings: Callable[[int], bool] | None = None,
) -> list[Notice]:
    """Notices for a community (and the all-community ones): pinned first, newest first,
    expired ones left out unless asked for. A notice for one building is shown only when
    ``buildings(building_id)`` says the viewer lives there (``None``: no building notice;
    pass ``lambda _: True`` for the committee's view of everything)."""
    query = select(Notice)
    if community is not None:
        query = query.where(or_(Notice.community.is_(None), Notice.community == community))
    if not include_expired:
        query = query.where(or_(Notice.expires_at.is_(None), Notice.expires_at > utcnow()))
    query = query.order_by(Notice.pinned.desc(), Notice.published_at.desc(), Notice.id.desc())
    rows = list(session.scalars(query.limit(limit * 2)))
    shown = [
        n
        for n in rows
        if n.building_id is None or (buildings is not None and buildings(n.building_id))
    ]
    return shown[:limit]


#: How long the home page's latest public notices are served from memory. Within one
#: process a committed change to any notice refreshes them at once; other worker processes
#: see it within this bound.
HOME_NOTICES_SECONDS = 5.0
_changes = itertools.count()
_generation = [0]


def home_notices(session: Session, kernel: Any, *, limit: int = 3) -> list[dict[str, Any]]:
    """The latest public notices for the home page's widget, as ``{"id", "title"}``.

    Every home page showed them, so the query ran on every page, anonymous ones included
    (37 % of an anonymous page, docs/performance.md), for a list that changes a few times
    a week. They are the same for every viewer (public, all-community notices; a building
    notice is never among them), so one copy per app serves everyone for a few seconds."""
    state = kernel.state("self_governance")
    now = time.monotonic()
    cached = state.get("home_notices")
    if cached is not None and cached[0] > now and cached[1] == _generation[0] \
            and cached[2] == limit:
        return cached[3]
    generation = _generation[0]
    rows = [{"id": n.id, "title": n.title} for n in visible_notices(session, None, limit=limit)]
    state["home_notices"] = (now + HOME_NOTICES_SECONDS, generation, limit, rows)
    return rows


@event.listens_for(Session, "after_flush")
def _notice_flushed(session: Session, _context: Any) -> None:
    if any(isinstance(o, Notice) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info["self_governance.notice_changed"] = True


@event.listens_for(Session, "after_commit")
def _notice_committed(session: Session) -> None:
    if session.info.pop("self_governance.notice_changed", False):
        _generation[0] = next(_changes) + 1


@event.listens_for(Session, "after_rollback")
def _notice_rolled_back(session: Session) -> None:
    session.info.pop("self_governance.notice_changed", None)


def lives_in(session: Session, kernel: Any, person_id: int | None) -> Callable[[int], bool]:
    """``building_id → bool``: whether the person lives in that building (one registry
    read per building asked about, remembered)."""
    seen: dict[int, bool] = {}

    def check(building_id: int) -> bool:
        if person_id is None:
            return False
        if building_id not in seen:
            people = reader(session, kernel, "notices for a building").residents(
                building_id=building_id
            )
            seen[building_id] = any(p["id"] == person_id for p in people)
        return seen[building_id]

    return check


def community_buildings(session: Session, kernel: Any, community: str) -> dict[int, str]:
    """Buildings of a community, ``id → "estate name"`` (to address a notice)."""
    rows = reader(session, kernel, "address a notice").buildings(community)
    return {b["id"]: f"{b['estate']}{b['name']}" for b in rows}


def mark_read(session: Session, notice: Notice, user_id: int | None) -> None:
    """Count a reader once (a second visit changes nothing)."""
    if user_id is None:
        return
    exists = session.scalar(
        select(NoticeRead.id).where(
            NoticeRead.notice_id == notice.id, NoticeRead.user_id == user_id
        )
    )
    if exists is None:
        try:
            with session.begin_nested():
                session.add(NoticeRead(notice_id=notice.id, user_id=user_id))
        except IntegrityError:
            pass  # two tabs at once: already counted


def read_counts(session: Session, ids: Iterable[int]) -> dict[int, int]:
    ids = list(ids)
    if not ids:
        return {}
    rows = session.execute(
        select(NoticeRead.notice_id, func.count())
        .where(NoticeRead.notice_id.in_(ids))
        .group_by(NoticeRead.notice_id)
    )
    return {nid: n for nid, n in rows}


def notice_from_event(session: Session, *, source: str, key: str, payload: dict) -> Notice:
    """A public notice for another plugin's public event, posted once per event key."""
    source_key = f"{source}:{key}"
    existing = session.scalar(select(Notice).where(Notice.source_key == source_key))
    if existing is not None:
        return existing  # a redelivered event: the notice is there already
    title = payload.get("title_zh") or payload.get("title") or source
    body = payload.get("body") or ""
    if payload.get("title") and payload.get("title_zh") and payload["title"] != title:
        body = f"{body}\n\n{payload['title']}".strip()
    return publish_notice(
        session,
        title=title,
        body=body,
        community=None if payload.get("community_code") is None else payload["community_code"],
        source=source,
        source_key=source_key,
        category="public",
        pinned=payload.get("severity") in ("high", "critical"),
    )


def on_public_alert(event: Any, session: Session) -> None:
    """``surveillance.public_alert.published`` → a public safety notice (idempotent)."""
    payload = dict(event.payload)
    payload["community_code"] = _community_code(session, payload.get("community_id"))
    notice_from_event(
        session, source="surveillance", key=f"alert:{payload['alert_id']}", payload=payload
    )


def on_public_works_completed(event: Any, session: Session) -> None:
    """``commerce.public_works.completed`` → a public notice of the improvement."""
    payload = dict(event.payload)
    payload["community_code"] = _community_code(session, payload.get("community_id"))
    notice_from_event(
        session, source="commerce", key=f"works:{payload['ticket_id']}", payload=payload
    )


def _community_code(session: Session, community_id: int | None) -> str | None:
    """Events name a community by its registry id; notices keep its code."""
    if community_id is None:
        return None
    found = reader(session, toolkit.current_kernel(), "public notice").communities()
    return next((c["code"] for c in found if c["id"] == community_id), None)
