"""Who sees which matters, departments and their members, and the statistics.

Deny by default: a resident sees their own matters; an operator those they filed;
department staff those of the departments they are members of (an admin keeps the
membership, page or CLI); supervisors every matter within their places."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session

from core.toolkit import MAX_ID, has_permission, local_zone, scope_allows
from plugins.matters.models import Matter, MattersDepartment, MattersMember, MattersStep
from plugins.matters.services.rules import is_overdue, local_today


def _perm(name: str) -> str:
    import plugins.matters as m

    return getattr(m, name)


def departments(session: Session) -> list[MattersDepartment]:
    return list(session.scalars(select(MattersDepartment).order_by(MattersDepartment.code)))


def department_map(session: Session) -> dict[str, MattersDepartment]:
    return {d.code: d for d in departments(session)}


def member_departments(session: Session, user_id: int | None) -> list[str]:
    if not user_id:
        return []
    return list(session.scalars(
        select(MattersMember.department).where(MattersMember.user_id == user_id)))


def members(session: Session, code: str) -> list[int]:
    return list(session.scalars(
        select(MattersMember.user_id).where(MattersMember.department == code)))


def get_matter(session: Session, matter_id: int) -> Matter | None:
    if not 0 < matter_id <= MAX_ID:
        return None
    return session.get(Matter, matter_id)


def _supervises(user: Any) -> bool:
    return has_permission(user, _perm("SUPERVISE"))


def visible_query(session: Session, user: Any) -> Select:
    """The matters ``user`` may see, newest first. Supervisors' place scope is applied
    afterwards (:func:`can_see`), as the scope rule lives in core."""
    q = select(Matter).order_by(Matter.id.desc())
    if "admin" in (getattr(user, "role_names", None) or ()) or _supervises(user):
        return q
    conds = []
    uid = getattr(user, "id", None)
    if has_permission(user, _perm("HANDLE")):
        conds.append(Matter.department.in_(member_departments(session, uid)))
    if has_permission(user, _perm("FILE")):
        conds.append(Matter.filed_by_id == uid)
    if has_permission(user, _perm("OWN")):
        conds.append(Matter.account_id == uid)
        if getattr(user, "person_id", None):
            conds.append(Matter.person_id == user.person_id)
    return q.where(or_(*conds) if conds else false())


def can_handle(session: Session, user: Any, matter: Matter) -> bool:
    """Sign, transfer, answer: a member of the matter's department (or an admin)."""
    if not has_permission(user, _perm("HANDLE")):
        return False
    if "admin" in (getattr(user, "role_names", None) or ()):
        return True
    return matter.department in member_departments(session, getattr(user, "id", None))


def is_own(user: Any, matter: Matter) -> bool:
    uid = getattr(user, "id", None)
    pid = getattr(user, "person_id", None)
    return bool(uid and (matter.account_id == uid or (pid and matter.person_id == pid)))


def can_see(session: Session, user: Any, matter: Matter) -> bool:
    if "admin" in (getattr(user, "role_names", None) or ()):
        return True
    if has_permission(user, _perm("OWN")) and is_own(user, matter):
        return True
    if has_permission(user, _perm("FILE")) and matter.filed_by_id == getattr(user, "id", None):
        return True
    if can_handle(session, user, matter):
        return True
    return _supervises(user) and scope_allows(user, community=matter.community)


def steps(session: Session, matter_id: int) -> list[MattersStep]:
    return list(session.scalars(select(MattersStep).where(MattersStep.matter_id == matter_id)
                                .order_by(MattersStep.at, MattersStep.id)))


@dataclass
class DepartmentStats:
    code: str
    received: int = 0
    signed_on_time: int = 0
    answered_on_time: int = 0
    overdue: int = 0
    rated: int = 0
    satisfied: int = 0

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


def statistics(session: Session, user: Any = None, *, zone_date: Any = None
               ) -> list[DepartmentStats]:
    """Per department: matters received, signed on time, answered on time, overdue (now,
    or escalated once), and satisfaction (satisfied or fairly satisfied among rated).
    Counts only — no person, no matter text — so every holder of ``matters.stats.read``
    sees every department's (comparing departments is the point). 'On time' compares the
    step's local day with its deadline."""
    today = zone_date or local_today()
    zone = local_zone()
    out: dict[str, DepartmentStats] = {d.code: DepartmentStats(d.code)
                                       for d in departments(session)}
    for m in session.scalars(select(Matter)):
        s = out.setdefault(m.department, DepartmentStats(m.department))
        s.received += 1
        if m.signed_at and m.signed_at.astimezone(zone).date() <= m.sign_due:
            s.signed_on_time += 1
        if m.answered_at and m.answered_at.astimezone(zone).date() <= m.answer_due:
            s.answered_on_time += 1
        if is_overdue(m, today) or m.escalated_at is not None:
            s.overdue += 1
        if m.rating:
            s.rated += 1
            s.satisfied += m.rating in ("satisfied", "basic")
    return list(out.values())
