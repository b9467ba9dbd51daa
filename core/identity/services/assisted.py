"""The assisted channel: a worker at the counter or on the hotline acts for a resident,
for a stated reason, a limited time and only within the places the worker serves.

What such a session may do is decided in :mod:`core.identity` (``assisted_permissions``);
here are the rules for starting and stopping one, each audited with the agent named.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.db import utcnow
from core.identity.models import User, UserSession
from core.identity.services.accounts import find_login
from core.identity.services.errors import OUTSIDE_PLACES, IdentityError
from core.identity.services.roles import scope_allows
from core.rules import N_

#: Roles whose members may assist any caller, wherever the caller lives: the hotline
#: answers the whole district. Everyone else assists only within their own places.
ASSIST_ANYWHERE_ROLES = frozenset({"hotline_operator"})


def resident_places(session: Session, person_id: int | None) -> tuple[str | None, str | None]:
    """(community code, grid code) where the registry person lives now; (None, None) for
    no person, or one who is not active."""
    if person_id is None:
        return None, None
    from core.registry.models import Community, Grid, Person

    row = session.execute(
        select(Community.code, Grid.code)
        .select_from(Person)
        .outerjoin(Community, Community.id == Person.community_id)
        .outerjoin(Grid, Grid.id == Person.grid_id)
        .where(Person.id == person_id, Person.status == "active")
    ).first()
    return (row[0], row[1]) if row else (None, None)


def may_assist(session: Session, agent: Any, resident: Any) -> bool:
    """Whether ``agent`` may act for ``resident``: hotline operators for any caller; other
    staff only for a resident whose registry person lives within their scopes. Deny by
    default: a resident not (or no longer) in the register is nobody's place."""
    if ASSIST_ANYWHERE_ROLES & set(getattr(agent, "role_names", ()) or ()):
        return True
    community, grid = resident_places(session, getattr(resident, "person_id", None))
    if community is None and grid is None:
        return False
    return scope_allows(agent, community=community, grid=grid)


def start_assist(
    session: Session,
    row: UserSession,
    *,
    agent: User,
    resident: User,
    reason: str,
    minutes: int,
    max_minutes: int,
    facts: Mapping[str, Any] | None = None,
) -> None:
    """A worker at the counter (or a hotline operator) acts for a resident for a stated
    reason and a limited time, within the places the worker serves (:func:`may_assist`).
    Everything done meanwhile names both of them; a refused start is audited too."""
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise IdentityError(N_("State why you act for this resident."), "reason")
    if resident.kind != "resident" or not resident.is_active:
        raise IdentityError(N_("Only an active resident account can be assisted."), "resident")
    if not 1 <= minutes <= max_minutes:
        raise IdentityError(N_("Choose between 1 and %(max)s minutes."), "minutes", max=max_minutes)
    if not may_assist(session, agent, resident):
        log_audit(
            session,
            "identity.assist.refused",
            actor=agent,
            outcome="denied",
            target_type="user",
            target_id=resident.id,
            detail={"reason": "outside_scope"},
            facts=facts,
        )
        raise IdentityError(OUTSIDE_PLACES, "resident")
    row.acting_for_id = resident.id
    row.acting_reason = reason[:200]
    row.acting_until = utcnow() + timedelta(minutes=minutes)
    log_audit(
        session,
        "identity.assist.started",
        actor=agent,
        on_behalf_of_id=resident.id,
        target_type="user",
        target_id=resident.id,
        detail={"reason": reason, "minutes": minutes},
        facts=facts,
    )


def stop_assist(session: Session, row: UserSession, *, agent: User) -> None:
    if row.acting_for_id is not None:
        log_audit(
            session,
            "identity.assist.ended",
            actor=agent,
            on_behalf_of_id=row.acting_for_id,
            target_type="user",
            target_id=row.acting_for_id,
        )
    row.acting_for_id = None
    row.acting_reason = None
    row.acting_until = None


def find_resident(session: Session, login: str) -> User:
    """The resident account a worker is about to assist, by username or mobile number."""
    user = find_login(session, login or "")
    if user is None or user.kind != "resident":
        raise IdentityError(
            N_("No resident account has this username or mobile number."), "resident"
        )
    if not user.is_active:
        raise IdentityError(N_("This account is disabled."), "resident")
    return user
