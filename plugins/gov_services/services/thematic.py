"""Thematic databases (the people receiving a benefit) and derived groups (60+, 80+,
women 15-49). Memberships are history: ended, never deleted; derived groups are computed
from the registry on every call, never copied.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.toolkit import N_, SearchPage, find_person_ids
from plugins.gov_services.catalogue import DERIVED_GROUPS
from plugins.gov_services.models import Application, Membership
from plugins.gov_services.services.context import Gov, reader_for
from plugins.gov_services.services.queries import scope_filter
from plugins.gov_services.services.vocabulary import (
    PLUGIN,
    GovError,
    TransitionError,
    clean_text,
    local_today,
)


def add_membership(
    session: Session,
    g: Gov,
    *,
    person_id: int,
    database: str,
    service_code: str,
    application: Application | None = None,
    today: date | None = None,
) -> Membership:
    """Add the person to a thematic database (idempotent: an active membership stays) and
    publish ``gov_services.membership.changed``."""
    existing = session.scalar(
        select(Membership).where(
            Membership.person_id == person_id,
            Membership.database == database,
            Membership.ended_on.is_(None),
        )
    )
    if existing is not None:
        return existing
    row = Membership(
        person_id=person_id,
        database=database,
        service_code=service_code,
        application_id=application.id if application else None,
        community=application.community if application else None,
        grid=application.grid if application else None,
        started_on=today or local_today(g.kernel),
        end_reason="",
        review_flag="",
    )
    session.add(row)
    session.flush()
    g.bus.publish(
        session,
        "gov_services.membership.changed",
        {
            "membership_id": row.id,
            "person_id": person_id,
            "database": database,
            "change": "added",
            "service_code": service_code,
            "reason": None,
        },
    )
    return row


def end_membership(
    session: Session, g: Gov, row: Membership, *, reason: str, today: date | None = None
) -> Membership:
    """End a membership (termination, death): kept as history, never deleted."""
    reason = clean_text(reason, "reason")
    if not reason:
        raise GovError(N_("Give the reason."), "reason")
    if row.ended_on is not None:
        raise TransitionError(N_("This membership has ended already."), "state")
    row.ended_on, row.end_reason = today or local_today(g.kernel), reason[:200]
    session.flush()
    g.bus.publish(
        session,
        "gov_services.membership.changed",
        {
            "membership_id": row.id,
            "person_id": row.person_id,
            "database": row.database,
            "change": "ended",
            "service_code": row.service_code,
            "reason": row.end_reason,
        },
    )
    return row


def memberships_query(
    actor: Any, *, database: str | None = None, community: str | None = None, active: bool = True
) -> Select[tuple[Membership]]:
    query = select(Membership)
    where = scope_filter(actor, Membership.community, Membership.grid)
    if where is not None:
        query = query.where(where)
    if database:
        query = query.where(Membership.database == database)
    if community:
        query = query.where(Membership.community == community)
    if active:
        query = query.where(Membership.ended_on.is_(None))
    return query.order_by(Membership.id)


def membership_counts(session: Session, actor: Any) -> dict[str, dict[str, dict[str, int]]]:
    """Active members per database, community and grid within the actor's places:
    ``{database: {community: {grid: n}}}`` (grid ``"-"`` when the case had none)."""
    query = (
        select(Membership.database, Membership.community, Membership.grid, func.count())
        .where(Membership.ended_on.is_(None))
        .group_by(Membership.database, Membership.community, Membership.grid)
    )
    where = scope_filter(actor, Membership.community, Membership.grid)
    if where is not None:
        query = query.where(where)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for database, community, grid, n in session.execute(query):
        out.setdefault(database, {}).setdefault(community or "?", {})[grid or "-"] = n
    return out


def derived_group(
    session: Session,
    g: Gov,
    actor: Any,
    group: str,
    *,
    community: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> SearchPage:
    """One page of a derived group (60+, 80+, women 15–49), computed from the registry on
    every call, never copied. The group is selected by id (nothing shown, nothing logged)
    and only the page shown is read through the reader, so exactly the persons on the
    page are in their access logs."""
    spec = DERIVED_GROUPS[group]
    page, per_page = max(1, page), max(1, per_page)
    ids, total = find_person_ids(
        session,
        PLUGIN,
        actor=actor,
        community=community or None,
        age_min=spec.get("age_min"),
        age_max=spec.get("age_max"),
        sex=spec.get("sex"),
        offset=(page - 1) * per_page,
        limit=per_page,
        kernel=g.kernel,
    )
    items = reader_for(session, g, actor, f"derived group {group}").persons(ids)
    # find_person_ids counts every match (no search cap), so the total is exact: the page
    # shows "1,705", never the registry search's capped "1,000" (shown as "1,000+").
    return SearchPage(items=items, total=total, page=page, per_page=per_page,
                      total_capped=False)


def group_count(session: Session, g: Gov, actor: Any, group: str) -> int:
    """How many people in the actor's places are in a derived group: a count shows nobody,
    so it reads no person and writes no access-log entry."""
    spec = DERIVED_GROUPS[group]
    return find_person_ids(
        session,
        PLUGIN,
        actor=actor,
        age_min=spec.get("age_min"),
        age_max=spec.get("age_max"),
        sex=spec.get("sex"),
        limit=0,
        kernel=g.kernel,
    )[1]
