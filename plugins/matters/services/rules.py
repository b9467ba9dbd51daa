"""Filing, routing, deadlines and the steps of a matter.

Time limits are counted in working days on the deployment's calendar
(``core.toolkit.working_calendar``): a matter is signed (签收) within ``sign_days`` (1)
working day of filing and answered within the category's ``answer_days``. A deadline is
the last day allowed, so a matter is overdue from the next calendar day on.

The clock on a transfer: the new department gets a fresh signing day (counted from the
day of the transfer), while the answer deadline keeps running from filing — passing a
matter on does not buy time. A reopened matter (the resident was not satisfied) gets the
answer days again — the routing rule's own limit, else the category's — from the day of
the rating."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.toolkit import (
    N_,
    Message,
    RuleError,
    accounts_for_person,
    current_kernel,
    local_today,
    notify,
    staff_accounts,
    utcnow,
    working_calendar,
)
from plugins.matters.models import Matter, MattersDepartment, MattersRoute, MattersStep

#: category code → (English, Chinese, default answer days). The days are configurable
#: per category: ``[plugins.matters] answer_days = {streetlight = 3}``.
CATEGORIES: dict[str, tuple[str, str, int]] = {
    "streetlight": ("Street lighting", "路灯照明", 3),
    "roads": ("Roads and pavements", "道路设施", 5),
    "sanitation": ("Sanitation and refuse", "环境卫生", 3),
    "greenery": ("Trees and green spaces", "园林绿化", 5),
    "noise": ("Noise", "噪声扰民", 3),
    "complaint": ("Complaint about a public service", "服务投诉", 5),
    "policy": ("Question about a policy", "政策咨询", 3),
    "other": ("Other matters", "其他诉求", 5),
}
STATES: dict[str, tuple[str, str]] = {
    "filed": ("Waiting to be signed", "待签收"),
    "signed": ("Being handled", "办理中"),
    "answered": ("Answered", "已答复"),
    "closed": ("Closed", "已办结"),
}
RATINGS: dict[str, tuple[str, str]] = {
    "satisfied": ("Satisfied", "满意"),
    "basic": ("Fairly satisfied", "基本满意"),
    "unsatisfied": ("Not satisfied", "不满意"),
}
SOURCES: dict[str, tuple[str, str]] = {
    "hotline": ("Hotline", "热线"),
    "web": ("Online", "网上"),
    "grid": ("Grid worker", "网格员"),
}
STEP_KINDS: dict[str, tuple[str, str]] = {
    "filed": ("Filed and routed", "受理并派发"),
    "signed": ("Signed for", "已签收"),
    "transferred": ("Transferred", "已转办"),
    "answered": ("Answered", "已答复"),
    "called": ("Resident called back", "已电话回访"),
    "rated": ("Rated", "已评价"),
    "reopened": ("Reopened", "已重办"),
    "escalated": ("Overdue: escalated to the supervisor", "超期督办"),
    "closed": ("Closed", "已办结"),
    "erased": ("Caller's details erased", "来电人信息已删除"),
}


def supervisors(session: Session, community: str | None) -> list[Any]:
    """Whom an escalation tells: every active account holding the supervise permission
    through any role the running permission matrix grants it to (a deployment's own role
    included, an administrator's revocation followed), whose place scope covers the
    matter's community. A matter without a community reaches only district-wide scopes."""
    import plugins.matters as plugin
    from core.toolkit import roles_granting, scope_allows

    holders = staff_accounts(session, roles_granting(plugin.SUPERVISE, session))
    return [a for a in holders if scope_allows(a, community=community)]


class MatterError(RuleError):
    """A rule refused the step: 409 over the API (the request was well formed), shown at
    the field on a page."""

    status = 409


def label(table: dict[str, tuple], code: str | None, lang: str = "zh") -> str:
    """A code's label in ``lang`` (the code itself when unknown)."""
    entry = table.get(code or "")
    if not entry:
        return code or ""
    return entry[1] if lang == "zh" else entry[0]




def answer_days(category: str, settings: dict[str, Any]) -> int:
    """The working days a department has to answer a matter of ``category``."""
    configured = (settings.get("answer_days") or {}).get(category)
    if configured:
        return int(configured)
    return CATEGORIES.get(category, CATEGORIES["other"])[2]


def _step(session: Session, matter: Matter, kind: str, *, actor_id: int | None,
          note: str = "", at: datetime | None = None) -> None:
    session.add(MattersStep(matter_id=matter.id, kind=kind, actor_id=actor_id, note=note,
                     department=matter.department, at=at or utcnow()))


def _event(session: Session, bus: Any, name: str, matter: Matter) -> None:
    bus.publish(session, name, {
        "matter_id": matter.id, "reference": matter.reference,
        "community": matter.community, "department": matter.department,
        "category": matter.category, "source": matter.source,
        "source_id": matter.source_id, "person_id": matter.person_id,
        "state": matter.state,
    })


def route(session: Session, category: str, community: str | None) -> MattersDepartment:
    """The department a matter of ``category`` in ``community`` goes to: a rule for the
    category — the community's, else its street's (the first 9 digits), else anywhere's —
    before the ``"*"`` fallback rules, in the same order of places. No rule: refused, so
    a matter is never filed to nobody."""
    code = community or ""
    places = list(dict.fromkeys(p for p in (code, code[:9], "") if len(p) in (0, 9, 12)))
    rows = list(session.execute(
        select(MattersRoute.category, MattersRoute.place, MattersDepartment)
        .join(MattersDepartment, MattersDepartment.code == MattersRoute.department)
        .where(MattersRoute.category.in_([category, "*"]), MattersRoute.place.in_(places),
               MattersDepartment.active.is_(True))
    ))
    best = sorted(rows, key=lambda r: (r[0] == "*", places.index(r[1])))
    if not best:
        raise MatterError(N_("No department takes matters of this kind here."), "category")
    return best[0][2]


def route_answer_days(session: Session, category: str, community: str | None,
                      department: str) -> int | None:
    """The answer limit the chosen rule sets itself (``MattersRoute.answer_days``), if
    any: the rule for this category (else ``"*"``), most specific place first, that
    sends matters to ``department``."""
    code = community or ""
    places = list(dict.fromkeys(p for p in (code, code[:9], "") if len(p) in (0, 9, 12)))
    rows = list(session.execute(
        select(MattersRoute.category, MattersRoute.place, MattersRoute.answer_days)
        .where(MattersRoute.category.in_([category, "*"]), MattersRoute.place.in_(places),
               MattersRoute.department == department)))
    rows.sort(key=lambda r: (r[0] == "*", places.index(r[1])))
    return rows[0][2] if rows and rows[0][2] else None


def file_matter(session: Session, bus: Any, *, source: str, category: str, summary: str,
                community: str | None, location: str = "", person_id: int | None = None,
                account_id: int | None = None, filed_by_id: int | None = None,
                source_id: int | None = None, caller_name: str = "",
                caller_phone: str = "", settings: dict[str, Any],
                now: datetime | None = None) -> Matter:
    """File a matter, route it and start its clocks; publishes ``matters.matter.filed``.
    ``caller_name``/``caller_phone`` are only for a caller the registry does not hold."""
    summary = (summary or "").strip()
    if category not in CATEGORIES:
        raise MatterError(N_("Choose what the matter is about."), "category")
    if not summary:
        raise MatterError(N_("Say what the matter is."), "summary")
    if source not in SOURCES:
        raise MatterError(N_("Unknown source."), "source")
    department = route(session, category, community)
    now = now or utcnow()
    today = local_today(now)
    cal = working_calendar()
    matter = Matter(
        reference=f"tmp-{uuid4().hex[:20]}", source=source, source_id=source_id,
        person_id=person_id, account_id=account_id, filed_by_id=filed_by_id,
        community=community or None, category=category, summary=summary[:2000],
        location=(location or "").strip()[:200], department=department.code,
        state="filed", filed_at=now,
        sign_due=cal.add(today, int(settings.get("sign_days", 1))),
        answer_due=cal.add(today, route_answer_days(session, category, community,
                                                    department.code)
                           or answer_days(category, settings)),
        caller_name=(caller_name or "").strip()[:50] if person_id is None else "",
        caller_phone=(caller_phone or "").strip()[:30] if person_id is None else "",
    )
    session.add(matter)
    session.flush()
    matter.reference = f"MT-{today.year}-{matter.id:06d}"
    _step(session, matter, "filed", actor_id=filed_by_id or account_id, at=now, note=source)
    _event(session, bus, "matters.matter.filed", matter)
    session.flush()
    return matter


def _require_state(matter: Matter, *states: str) -> None:
    if matter.state not in states:
        raise MatterError(N_("This matter is not at a step that allows this."), "")


def sign(session: Session, matter: Matter, *, actor_id: int | None,
         now: datetime | None = None) -> Matter:
    """The department signs for (签收) the matter: it is theirs to answer now."""
    _require_state(matter, "filed")
    now = now or utcnow()
    matter.state, matter.signed_at = "signed", now
    _step(session, matter, "signed", actor_id=actor_id, at=now)
    session.flush()
    return matter


def transfer(session: Session, matter: Matter, *, to: str, reason: str,
             actor_id: int | None, settings: dict[str, Any],
             now: datetime | None = None) -> Matter:
    """Hand the matter to another department with a reason: it waits to be signed there
    (a fresh signing day); the answer deadline keeps running (module docstring)."""
    _require_state(matter, "filed", "signed")
    reason = (reason or "").strip()
    if not reason:
        raise MatterError(N_("Say why the matter goes to another department."), "reason")
    target = session.scalar(select(MattersDepartment).where(MattersDepartment.code == to,
                                                     MattersDepartment.active.is_(True)))
    if target is None or target.code == matter.department:
        raise MatterError(N_("Choose another department."), "department")
    now = now or utcnow()
    _step(session, matter, "transferred", actor_id=actor_id, at=now,
          note=f"{matter.department} → {target.code}: {reason}")
    matter.department, matter.state, matter.signed_at = target.code, "filed", None
    matter.sign_due = working_calendar().add(local_today(now), int(settings.get("sign_days", 1)))
    matter.escalated_at = None
    session.flush()
    return matter


def _resident_accounts(session: Session, matter: Matter) -> list[int]:
    if matter.account_id:
        return [matter.account_id]
    if matter.person_id:
        return [a.id for a in accounts_for_person(session, matter.person_id)]
    return []


def answer(session: Session, bus: Any, matter: Matter, *, text: str, actor_id: int | None,
           now: datetime | None = None) -> Matter:
    """The department's answer. A resident with an account is told by notification in
    their language; one without is called back by the hotline (recorded with ``rate``,
    ``via="call"``). Publishes ``matters.matter.answered``."""
    _require_state(matter, "signed")
    text = (text or "").strip()
    if not text:
        raise MatterError(N_("Write the answer."), "answer")
    now = now or utcnow()
    matter.state, matter.answer, matter.answered_at = "answered", text[:4000], now
    _step(session, matter, "answered", actor_id=actor_id, at=now, note=text[:4000])
    accounts = _resident_accounts(session, matter)
    for uid in accounts:
        notify(session, bus, user_id=uid, source="matters", kind="success",
               title=Message("Your matter %(ref)s has been answered", ref=matter.reference),
               body=Message("Please read the answer and tell us whether you are satisfied."),
               link=f"/matters/{matter.id}")
    matter.replied_via = "notified" if accounts else ""
    _event(session, bus, "matters.matter.answered", matter)
    session.flush()
    return matter


def close(session: Session, bus: Any, matter: Matter, *, actor_id: int | None,
          now: datetime | None = None) -> Matter:
    """Close (办结) an answered matter; publishes ``matters.matter.closed``."""
    _require_state(matter, "answered")
    now = now or utcnow()
    matter.state, matter.closed_at = "closed", now
    _step(session, matter, "closed", actor_id=actor_id, at=now)
    _event(session, bus, "matters.matter.closed", matter)
    session.flush()
    return matter


def rate(session: Session, bus: Any, matter: Matter, *, rating: str, actor_id: int | None,
         via: str = "web", settings: dict[str, Any], now: datetime | None = None) -> Matter:
    """The resident's satisfaction with the answer — on the web, or told to the operator
    on the call-back (``via="call"``, which also records that the resident was told).
    Satisfied or fairly: closed. Not satisfied: reopened once for the same department
    (a fresh answer period), closed as unsatisfied the second time."""
    _require_state(matter, "answered")
    if rating not in RATINGS:
        raise MatterError(N_("Choose how satisfied the resident is."), "rating")
    now = now or utcnow()
    if via == "call":
        matter.replied_via = "called"
        _step(session, matter, "called", actor_id=actor_id, at=now)
    matter.rating, matter.rated_at = rating, now
    _step(session, matter, "rated", actor_id=actor_id, at=now, note=rating)  # a code
    if rating == "unsatisfied" and matter.reopened < int(settings.get("max_reopen", 1)):
        matter.reopened += 1
        matter.state, matter.escalated_at = "signed", None
        matter.answer_due = working_calendar().add(
            local_today(now), route_answer_days(session, matter.category, matter.community,
                                                matter.department)
            or answer_days(matter.category, settings))
        _step(session, matter, "reopened", actor_id=actor_id, at=now)
        _tell_reopened(session, bus, matter)
        session.flush()
        return matter
    return close(session, bus, matter, actor_id=actor_id, now=now)


def _tell_reopened(session: Session, bus: Any, matter: Matter) -> None:
    """A reopened matter is news to the resident too (the rating may have been given on
    the call-back): they learn it is being handled again and by when."""
    for uid in _resident_accounts(session, matter):
        notify(session, bus, user_id=uid, source="matters", kind="info",
               title=Message("Your matter %(ref)s is being handled again",
                             ref=matter.reference),
               body=Message("The department answers again by %(date)s.",
                            date=matter.answer_due),
               link=f"/matters/{matter.id}")


def is_overdue(matter: Matter, today: date | None = None) -> bool:
    """Past the deadline of its current step (signing, or answering)."""
    today = today or local_today()
    if matter.state == "filed":
        return today > matter.sign_due or today > matter.answer_due
    if matter.state == "signed":
        return today > matter.answer_due
    return False


def escalate_overdue(session: Session, bus: Any, *, now: datetime | None = None) -> int:
    """Mark every overdue open matter as escalated (督办) once and tell the supervisors
    whose places cover it. Idempotent: an escalated matter is not escalated again until
    a transfer or reopening starts a new clock. Returns how many were escalated."""
    now = now or utcnow()
    today = local_today(now)
    rows = session.scalars(
        select(Matter).where(Matter.state.in_(("filed", "signed")),
                             Matter.escalated_at.is_(None),
                             or_(Matter.sign_due < today, Matter.answer_due < today))
        .order_by(Matter.id)
    )
    count = 0
    for matter in rows:
        if not is_overdue(matter, today):
            continue
        matter.escalated_at = now
        _step(session, matter, "escalated", actor_id=None, at=now)
        for account in supervisors(session, matter.community):
            notify(session, bus, user_id=account.id, source="matters", kind="warning",
                   title=Message("Matter %(ref)s is overdue", ref=matter.reference),
                   link=f"/matters/{matter.id}")
        count += 1
    session.flush()
    return count


def erase_caller_data(session: Session, *, settings: dict[str, Any],
                      now: datetime | None = None) -> int:
    """Erase what callers outside the registry told us (name, phone) from matters closed
    longer ago than ``caller_data_retention_days``. Idempotent; returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=int(settings["caller_data_retention_days"]))
    rows = session.scalars(select(Matter).where(
        Matter.state == "closed", Matter.closed_at < cutoff,
        or_(Matter.caller_name != "", Matter.caller_phone != "")))
    count = 0
    for matter in rows:
        matter.caller_name, matter.caller_phone = "", ""
        matter.caller_erased_at = now or utcnow()
        _step(session, matter, "erased", actor_id=None)
        count += 1
    session.flush()
    return count


def on_finding_referred(event: Any, session: Session) -> None:
    """``grid.finding.referred`` of kind ``"matter"``: file a matter with source
    ``"grid"``. Other kinds are for other plugins; the same finding twice files once
    (delivery is at least once)."""
    payload = event.payload
    if payload.get("kind") != "matter":
        return
    finding_id = int(payload["finding_id"])
    exists = session.scalar(select(Matter.id).where(Matter.source == "grid",
                                                    Matter.source_id == finding_id))
    if exists is not None:
        return
    from core.toolkit import plugin_settings

    settings = plugin_settings("matters")
    category = payload.get("category") or "other"
    if category not in CATEGORIES:
        category = "other"
    from core.toolkit import account_view

    worker = account_view(session, payload.get("referred_by"))
    file_matter(session, current_kernel().bus, source="grid", source_id=finding_id,
                category=category, summary=payload.get("summary") or "",
                community=payload.get("community"), person_id=payload.get("person_id"),
                filed_by_id=worker.id if worker else None, settings=settings)
