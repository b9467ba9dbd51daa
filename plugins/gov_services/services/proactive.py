"""What the plugin does on its own: offering a service to a person the registry shows
qualifies (the longevity allowance at 80) and warning staff before a case's deadline.
Run by the jobs and by registry events, never by a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.toolkit import N_, accounts_for_person, notify
from plugins.gov_services.catalogue import Service
from plugins.gov_services.models import Application, Membership, Offer, Setting
from plugins.gov_services.services.context import Gov, reader_for
from plugins.gov_services.services.eligibility import (
    check_eligibility,
    service_enabled,
    service_params,
)
from plugins.gov_services.services.vocabulary import (
    OPEN_STATES,
    PLUGIN,
    lang,
    local_today,
    translated,
    written_for,
)


def account_of(session: Session, person_id: int) -> int | None:
    """The account bound to a registry person (whom to notify), if any."""
    accounts = accounts_for_person(session, person_id)
    return accounts[0].id if accounts else None


def offer_service(session: Session, g: Gov, *, person_id: int, service_code: str) -> bool:
    """Tell the person's account that they may apply for ``service_code`` (once)."""
    service = g.catalogue.get(service_code)
    if service is None:
        return False
    if session.scalar(
        select(Offer.id).where(Offer.person_id == person_id, Offer.service_code == service_code)
    ):
        return False
    user_id = account_of(session, person_id)
    session.add(Offer(person_id=person_id, service_code=service_code, user_id=user_id))
    if user_id is not None:
        with written_for(session, user_id):
            notify(
                session,
                g.bus,
                user_id=user_id,
                title=translated(
                    N_("You may apply for: %(service)s"), service=service.name(lang())
                )[:200],
                body=translated(
                    N_(
                        "The registry shows you qualify. Apply online; your details are "
                        "filled in for you."
                    )
                ),
                link=f"/gov-services/services/{service.code}",
                kind="offer",
                source=PLUGIN,
            )
    session.flush()
    return True


def proactive_longevity(
    session: Session, g: Gov, *, person_ids: Iterable[int] | None = None, today: date | None = None
) -> int:
    """Offer the longevity allowance to residents who have reached its age (80 by default,
    the community's own threshold where set) and neither hold it nor were offered it.
    Without ``person_ids``: everyone in the registry (the daily job)."""
    service = g.catalogue.get("longevity_allowance")
    if service is None:
        return 0
    reader = reader_for(session, g, None, "gov_services proactive offer")
    candidates: list[dict[str, Any]] = []
    if person_ids is not None:
        candidates = reader.persons(list(person_ids))
    else:
        low = min(_all_thresholds(session, service))
        for page in range(1, 1000):
            chunk = reader.search(age_min=low, page=page, per_page=100, with_total=False)
            candidates.extend(chunk.items)
            if len(chunk.items) < 100:
                break
    made = 0
    for person in candidates:
        if person.get("status") != "active":
            continue
        params = service_params(session, service, person.get("community"))
        if check_eligibility(service, dict(person, household_size=1), params):
            continue
        if not service_enabled(session, service.code, person.get("community")):
            continue
        holds = session.scalar(
            select(Membership.id).where(
                Membership.person_id == person["id"],
                Membership.database == service.database,
                Membership.ended_on.is_(None),
            )
        )
        if holds is None and offer_service(
            session, g, person_id=person["id"], service_code=service.code
        ):
            made += 1
    return made


def _all_thresholds(session: Session, service: Service) -> list[int]:
    values = [service.params().get("min_age", 80)]
    for row in session.scalars(select(Setting).where(Setting.service_code == service.code)):
        if isinstance((row.params or {}).get("min_age"), int):
            values.append(row.params["min_age"])
    return values


def deadline_warnings(session: Session, g: Gov, *, today: date | None = None) -> int:
    """Warn before a deadline: each open case due within ``warn_days`` working days (or
    overdue) notifies the staff member who last acted on it, once per due date."""
    today = today or local_today(g.kernel)
    horizon = g.calendar.add(today, int(g.settings.get("warn_days", 1)))
    made = 0
    rows = session.scalars(
        select(Application).where(
            Application.state.in_(OPEN_STATES),
            Application.due_on.isnot(None),
            Application.due_on <= horizon,
            or_(Application.warned_on.is_(None), Application.warned_on < Application.due_on),
        )
    )
    for app in rows:
        staff = [
            s.actor_id
            for s in app.steps
            if s.actor_id is not None and s.actor_id not in (app.user_id, app.filed_by_id)
        ] or ([app.filed_by_id] if app.filed_by_id else [])
        app.warned_on = app.due_on
        if not staff:
            continue
        overdue = app.due_on < today
        with written_for(session, staff[-1]):
            notify(
                session,
                g.bus,
                user_id=staff[-1],
                title=translated(
                    N_("Overdue: %(ref)s") if overdue else N_("Due soon: %(ref)s"),
                    ref=app.reference,
                ),
                body=translated(N_("Due by %(day)s."), day=app.due_on.isoformat()),
                link=f"/gov-services/applications/{app.id}",
                kind="warning",
                source=PLUGIN,
            )
        made += 1
    session.flush()
    return made
