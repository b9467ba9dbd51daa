"""What the plugin does on its own: offering services to the people the registry shows
qualify (the ``"proactive"`` rules of the catalogue, :mod:`plugins.gov_services.outreach.
rules`) and warning staff before a case's deadline. Run by the jobs and by registry
events, never by a request.

An offer is made once per person and service while it stands: an open one is never
repeated, a declined, applied-for or completed one not before ``offer_repeat_days``
(``[plugins.gov_services]``, 365 by default). A resident with an account is told by
notification in their language, linking to the service's prefilled apply page; one
without lands on the outreach list of their community or grid.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.toolkit import (
    N_,
    Bilingual,
    Message,
    accounts_for_person,
    accounts_for_persons,
    find_person_ids,
    notify,
)
from plugins.gov_services.catalogue import Service
from plugins.gov_services.models import Application, Offer, Setting
from plugins.gov_services.outreach.models import DONE_OUTCOMES, OPEN_OUTCOMES, OutreachItem
from plugins.gov_services.outreach.rules import (
    Facts,
    build_facts,
    households_of,
    load_rules,
    qualifies,
)
from plugins.gov_services.services.context import Gov, reader_for
from plugins.gov_services.services.vocabulary import (
    OPEN_STATES,
    PLUGIN,
    clock,
    local_today,
)

log = logging.getLogger("shequ.gov_services.offers")
BATCH = 500
#: Outcomes after which the offer waits ``offer_repeat_days`` before it is made again
#: (an offer closed because the person no longer qualified may come back at once).
SUPPRESSING = ("applied", "declined", "completed")


def account_of(session: Session, person_id: int) -> int | None:
    """The account bound to a registry person (whom to notify), if any."""
    accounts = accounts_for_person(session, person_id)
    return accounts[0].id if accounts else None


def offer_rules(g: Gov) -> dict[str, list[dict[str, Any]]]:
    """The catalogue's offer rules, loaded once per app (kept in the kernel's state)."""
    state = g.kernel.state(PLUGIN)
    if "offer_rules" not in state:
        state["offer_rules"] = {
            code: rules for code, rules in load_rules().items() if code in g.catalogue.services
        }
    return state["offer_rules"]


def repeat_days(g: Gov) -> int:
    return int(g.settings.get("offer_repeat_days", 365))


def _may_repeat(item: OutreachItem, g: Gov) -> bool:
    """A standing offer is never repeated; a done one after the suppression period."""
    if item.state in OPEN_OUTCOMES:
        return False
    if item.state not in SUPPRESSING or item.closed_at is None:
        return True
    return clock() - item.closed_at >= timedelta(days=repeat_days(g))


def _notify(session: Session, g: Gov, service: Service, user_id: int, item: OutreachItem) -> None:
    notify(
        session,
        g.bus,
        user_id=user_id,
        title=Message(N_("You may apply for: %(service)s"),
                      service=Bilingual(service.name_en, service.name_zh)),
        body=Message(
            N_(
                "The registry shows you qualify. Apply online; your details are filled "
                "in for you. Not interested? Say so under “My offers”."
            )
        ),
        link=f"/gov-services/services/{service.code}/apply?offer={item.id}",
        kind="offer",
        source=PLUGIN,
    )


def make_offer(
    session: Session,
    g: Gov,
    service: Service,
    *,
    person_id: int,
    community: str | None,
    grid: str | None,
    user_id: int | None,
    item: OutreachItem | None = None,
    source: str = "rules",
    finding_id: int | None = None,
    note: str = "",
) -> OutreachItem | None:
    """Make (or, after the suppression period, repeat) the offer of ``service``: notify
    the person's account, or put them on the outreach list. ``item``: the person's
    existing row for the service, when the caller already loaded it (batched). ``None``
    when the offer stands or is suppressed."""
    if item is None:
        item = session.scalar(
            select(OutreachItem).where(
                OutreachItem.person_id == person_id, OutreachItem.service_code == service.code
            )
        )
    if item is not None and not _may_repeat(item, g):
        return None
    if item is None:
        item = OutreachItem(person_id=person_id, service_code=service.code, rounds=1)
        session.add(item)
    else:
        item.rounds = (item.rounds or 1) + 1
        item.offered_at, item.closed_at, item.follow_up_on = clock(), None, None
    item.state, item.source, item.note = "open", source, note[:500]
    item.community, item.grid, item.user_id = community, grid, user_id
    item.channel = "notification" if user_id is not None else "outreach"
    if finding_id is not None:
        item.finding_id = finding_id
    if session.scalar(
        select(Offer.id).where(Offer.person_id == person_id, Offer.service_code == service.code)
    ) is None:  # the ledger of offers ever made (one row per person and service)
        session.add(Offer(person_id=person_id, service_code=service.code, user_id=user_id))
    session.flush()
    if user_id is not None:
        _notify(session, g, service, user_id, item)
    return item


def offer_service(
    session: Session, g: Gov, *, person_id: int, service_code: str, source: str = "workflow"
) -> bool:
    """Offer ``service_code`` to one person now, whatever the rules say (a completed
    unemployment registration offers training): once while it stands."""
    service = g.catalogue.get(service_code)
    if service is None:
        return False
    view = reader_for(session, g, None, "gov_services proactive offer").persons([person_id])
    where = view[0] if view else {}
    return (
        make_offer(
            session,
            g,
            service,
            person_id=person_id,
            community=where.get("community"),
            grid=where.get("grid"),
            user_id=account_of(session, person_id),
            source=source,
        )
        is not None
    )


# ----------------------------------------------------------------------------- evaluating


class _Context:
    """What one evaluation run reads once: the local settings of every community."""

    def __init__(self, session: Session, g: Gov):
        self.g = g
        self.rules = offer_rules(g)
        self.settings: dict[tuple[str, str], Setting] = {
            (s.community, s.service_code): s for s in session.scalars(select(Setting))
        }

    def enabled(self, service: Service, community: str | None) -> bool:
        row = self.settings.get((community or "", service.code))
        return row is None or row.enabled

    def params(self, service: Service, community: str | None) -> dict[str, Any]:
        params = service.params()
        row = self.settings.get((community or "", service.code))
        if row is not None:
            params.update({k: v for k, v in (row.params or {}).items() if k in params})
        return params


def _evaluate_batch(session: Session, ctx: _Context, facts: list[Facts], *, close: bool) -> int:
    """Offer every qualifying service to the persons of one batch: their accounts, offers
    and open applications in three selects. ``close``: an open offer from the rules whose
    person no longer qualifies is closed ("ineligible"), so the list stays true."""
    ids = [f.person_id for f in facts]
    if not ids:
        return 0
    accounts = accounts_for_persons(session, ids)
    items = {
        (i.person_id, i.service_code): i
        for i in session.scalars(select(OutreachItem).where(OutreachItem.person_id.in_(ids)))
    }
    applying = {
        (pid, code)
        for pid, code in session.execute(
            select(Application.person_id, Application.service_code).where(
                Application.person_id.in_(ids), Application.state.in_(OPEN_STATES)
            )
        )
    }
    made = 0
    catalogue = ctx.g.catalogue
    for f in facts:
        for code, rules in ctx.rules.items():
            service = catalogue.services[code]
            item = items.get((f.person_id, code))
            ok = (
                ctx.enabled(service, f.community)
                and code not in f.holding
                and (f.person_id, code) not in applying
                and qualifies(rules, f, ctx.params(service, f.community))
            )
            if not ok:
                if close and item is not None and item.state in OPEN_OUTCOMES and (
                    item.source == "rules"
                ):
                    item.state, item.closed_at = "ineligible", clock()
                continue
            if item is not None and item.state in OPEN_OUTCOMES:
                # the offer stands; it follows the person if they moved within the area
                item.community, item.grid = f.community, f.grid
                continue
            acc = accounts.get(f.person_id) or []
            if make_offer(
                session,
                ctx.g,
                service,
                person_id=f.person_id,
                community=f.community,
                grid=f.grid,
                user_id=acc[0].id if acc else None,
                item=item,
            ):
                made += 1
    session.flush()
    return made


def evaluate_persons(session: Session, g: Gov, person_ids: Iterable[int]) -> int:
    """Evaluate the offers of the persons concerned by a registry event (and read their
    households for the household rules). A person no longer active (moved out, died) has
    their open offers closed."""
    ids = sorted(set(person_ids))
    if not ids:
        return 0
    reader = reader_for(session, g, None, "gov_services proactive offer")
    views = reader.persons(ids)
    households: dict[int, list[int]] = {}
    for v in views:
        hid = v.get("household_id")
        if v.get("status") == "active" and hid and hid not in households:
            household = reader.household(v["id"]) or {"members": []}
            households.update(households_of(household["members"]))
            households.setdefault(hid, [v["id"]])
    active = {v["id"] for v in views if v.get("status") == "active"}
    gone = [pid for pid in ids if pid not in active]
    for item in session.scalars(
        select(OutreachItem).where(
            OutreachItem.person_id.in_(gone) if gone else OutreachItem.id.is_(None),
            OutreachItem.state.in_(OPEN_OUTCOMES),
        )
    ):
        item.state, item.closed_at = "ineligible", clock()
    ctx = _Context(session, g)
    return _evaluate_batch(session, ctx, build_facts(session, views, households), close=True)


def evaluate_registry(session: Session, g: Gov, *, commit: Any = None) -> int:
    """The daily job: every active person in the registry, read in pages of 500 (ids
    from ``find_person_ids``, views through the reader: a system read, masked, logged to
    nobody), then evaluated in batches with their households. ``commit``: called after
    each batch (the job commits as it goes, so a long run holds no lock for long)."""
    reader = reader_for(session, g, None, "gov_services proactive offer")
    views: list[dict[str, Any]] = []
    offset = 0
    total = None
    while True:
        ids, total = find_person_ids(session, PLUGIN, status="active", limit=BATCH,
                                     offset=offset, kernel=g.kernel)
        if not ids:
            break
        views.extend(
            {k: v.get(k) for k in ("id", "status", "age", "sex", "hukou_type", "community",
                                   "grid", "household_id")}
            for v in reader.persons(ids)
        )
        offset += len(ids)
        if len(ids) < BATCH:
            break
    households = households_of(views)
    ctx = _Context(session, g)
    made = 0
    for start in range(0, len(views), BATCH):
        chunk = views[start : start + BATCH]
        made += _evaluate_batch(session, ctx, build_facts(session, chunk, households),
                                close=True)
        if commit is not None:
            commit()
        log.info("offers: %d of %d persons evaluated, %d offers made", start + len(chunk),
                 total or len(views), made)
    return made


def proactive_longevity(
    session: Session, g: Gov, *, person_ids: Iterable[int] | None = None, today: date | None = None
) -> int:
    """Make every offer the catalogue's rules call for (the name is from when the
    longevity allowance was the only one): for ``person_ids`` (a registry event), or,
    without them, for the whole registry (the daily job)."""
    if person_ids is not None:
        return evaluate_persons(session, g, person_ids)
    return evaluate_registry(session, g)


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
        notify(
            session,
            g.bus,
            user_id=staff[-1],
            title=Message(
                N_("Overdue: %(ref)s") if overdue else N_("Due soon: %(ref)s"),
                ref=app.reference,
            ),
            body=Message(N_("Due by %(day)s."), day=app.due_on),
            link=f"/gov-services/applications/{app.id}",
            kind="warning",
            source=PLUGIN,
        )
        made += 1
    session.flush()
    return made


__all__ = [
    "DONE_OUTCOMES",
    "account_of",
    "deadline_warnings",
    "evaluate_persons",
    "evaluate_registry",
    "make_offer",
    "offer_rules",
    "offer_service",
    "proactive_longevity",
]
