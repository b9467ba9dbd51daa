"""What an administrator keeps: departments (add, rename, close, reopen) and routing rules
(category and place → department, with the rule's own answer limit) and members. Every
change is in the audit log. Every department named by a caller (a URL, a form, the CLI) is
found through :func:`lookup_department`, so "no such department" and "closed" are
answered the same everywhere.

A routing rule is read when a matter is filed and never again: a change applies to
matters filed after it, while filed matters keep their department and their deadlines
(changing a rule must not move work behind the back of the staff who signed for it)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.toolkit import LINE_CONTROL_CHARS, MAX_ID, N_, account_view, log_audit, scope_allows
from plugins.matters.models import Matter, MattersDepartment, MattersMember, MattersRoute
from plugins.matters.services.rules import CATEGORIES, MatterError

#: A department's code: lower-case letters, digits, ``-`` and ``_``, starting with a
#: letter (it appears in URLs and in the routing rules).
CODE = r"^[a-z][a-z0-9_-]{0,39}$"
#: Codes the pages' own paths use (``/matters/departments/new``).
RESERVED = ("new",)
PLACE = r"^(\d{9}|\d{12})?$"
KINDS = ("department", "community")
#: The states in which a matter is still the department's work (an answered matter waits
#: for the rating and may be reopened for the same department).
OPEN_STATES = ("filed", "signed", "answered")
MAX_ANSWER_DAYS = 60


_UNSTORABLE = re.compile(f"[{LINE_CONTROL_CHARS}]")


def lookup_department(session: Session, code: str | None, *, open_only: bool = False
                      ) -> MattersDepartment:
    """The department ``code`` names, or a refusal: 404 when there is none, 409 with
    ``open_only`` when it is closed (it takes no new matters, rules or members).

    ``code`` may come from a URL: a code no row can hold (longer than the column, or with
    a control character — PostgreSQL refuses a NUL in a parameter) is "no such
    department" without a query, never a database error."""
    code = code or ""
    row = None
    if len(code) <= 40 and not _UNSTORABLE.search(code):
        row = session.scalar(select(MattersDepartment).where(MattersDepartment.code == code))
    if row is None:
        raise MatterError(N_("No such department."), "department", status=404)
    if open_only and not row.active:
        raise MatterError(N_("This department is closed."), "department")
    return row


def _name(value: str | None, field: str, *, required: bool) -> str:
    text = " ".join((value or "").split())
    if required and not text:
        raise MatterError(N_("Enter the department's name."), field, status=422)
    if len(text) > 100:
        raise MatterError(N_("Keep the name within 100 characters."), field, status=422)
    return text


def create_department(session: Session, *, code: str, name: str, name_en: str = "",
                      kind: str = "department", community: str | None = None,
                      actor: Any = None) -> MattersDepartment:
    """Add a department, or a community office (``kind="community"`` with its 12-digit
    ``community``). The code is permanent: rules, members and filed matters refer to it."""
    code = (code or "").strip()
    if not re.fullmatch(CODE, code):
        raise MatterError(N_("Use lower-case letters, digits, - and _ for the code, "
                             "starting with a letter."), "code", status=422)
    if code in RESERVED:
        raise MatterError(N_("This code is reserved: choose another."), "code")
    if session.scalar(select(MattersDepartment.id).where(MattersDepartment.code == code)):
        raise MatterError(N_("A department with this code exists already."), "code")
    name = _name(name, "name", required=True)
    name_en = _name(name_en, "name_en", required=False)
    if kind not in KINDS:
        raise MatterError(N_("Choose the kind of office."), "kind", status=422)
    community = (community or "").strip() or None
    if kind == "community" and not (community and re.fullmatch(r"\d{12}", community)):
        raise MatterError(N_("Choose the community this office serves."), "community",
                          status=422)
    if kind == "department":
        community = None
    row = MattersDepartment(code=code, name=name, name_en=name_en, kind=kind,
                            community=community, active=True)
    session.add(row)
    session.flush()
    log_audit(session, "matters.department.created", actor=actor,
              target_type="matters_department", target_id=code,
              detail={"name": name, "name_en": name_en, "kind": kind,
                      "community": community})
    return row


def rename_department(session: Session, code: str, *, name: str, name_en: str = "",
                      actor: Any = None) -> MattersDepartment:
    """New names for a department (the code stays): filed matters show the new name."""
    row = lookup_department(session, code)
    name = _name(name, "name", required=True)
    name_en = _name(name_en, "name_en", required=False)
    before = {"name": row.name, "name_en": row.name_en}
    if (row.name, row.name_en) != (name, name_en):
        row.name, row.name_en = name, name_en
        session.flush()
        log_audit(session, "matters.department.renamed", actor=actor,
                  target_type="matters_department", target_id=code,
                  detail={"before": before, "after": {"name": name, "name_en": name_en}})
    return row


def open_matters(session: Session, code: str) -> int:
    """How many matters are still the department's work (:data:`OPEN_STATES`)."""
    return int(session.scalar(select(func.count(Matter.id)).where(
        Matter.department == code, Matter.state.in_(OPEN_STATES))) or 0)


def close_department(session: Session, code: str, *, actor: Any = None
                     ) -> MattersDepartment:
    """Close a department: it takes no new matters and is no transfer target.

    Refused while it has open matters — the message names how many — rather than moving
    them: a transfer is a decision about each matter by the staff who know it (with a
    reason, in the matter's timeline, with a fresh signing day for the receiver), and a
    bulk move by an administrator would hand residents' matters to an office nobody chose
    for them and blur the statistics of both. So the department's staff transfer or
    answer them first. Refused too while routing rules still send matters to it: a
    closed department's rules would be skipped silently and matters would fall through
    to a fallback nobody chose; the administrator points them elsewhere first. Members
    are kept (they still see the department's past matters); reopening restores it."""
    row = lookup_department(session, code)
    if not row.active:
        return row
    count = open_matters(session, code)
    if count:
        raise MatterError(N_("This department still has %(count)s open matters: transfer "
                             "or answer them before closing it."), "department",
                          count=count)
    rules = int(session.scalar(select(func.count(MattersRoute.id)).where(
        MattersRoute.department == code)) or 0)
    if rules:
        raise MatterError(N_("%(count)s routing rules still send matters to this "
                             "department: point them to another one first."), "department",
                          count=rules)
    row.active = False
    session.flush()
    log_audit(session, "matters.department.closed", actor=actor,
              target_type="matters_department", target_id=code)
    return row


def reopen_department(session: Session, code: str, *, actor: Any = None
                      ) -> MattersDepartment:
    """Open a closed department again (its members and past matters are still there)."""
    row = lookup_department(session, code)
    if not row.active:
        row.active = True
        session.flush()
        log_audit(session, "matters.department.reopened", actor=actor,
                  target_type="matters_department", target_id=code)
    return row


def routes(session: Session) -> list[MattersRoute]:
    return list(session.scalars(select(MattersRoute).order_by(
        MattersRoute.category, MattersRoute.place)))


def get_route(session: Session, route_id: int) -> MattersRoute | None:
    if not 0 < route_id <= MAX_ID:
        return None
    return session.get(MattersRoute, route_id)


def _route_detail(row: MattersRoute) -> dict[str, Any]:
    return {"category": row.category, "place": row.place, "department": row.department,
            "answer_days": row.answer_days}


def set_route(session: Session, *, category: str, place: str, department: str,
              answer_days: int | None = None, actor: Any = None) -> MattersRoute:
    """Matters of ``category`` (``"*"``: any) in ``place`` (a community, a street, ``""``
    for anywhere) go to ``department``, answered within ``answer_days`` working days
    (``None``: the config's or the category's default). One rule per category and place:
    setting it again replaces it. Applies to matters filed from now on (module docstring)."""
    if category != "*" and category not in CATEGORIES:
        raise MatterError(N_("Choose what the matter is about."), "category", status=422)
    place = (place or "").strip()
    if not re.fullmatch(PLACE, place):
        raise MatterError(N_("Choose a community, a street or anywhere."), "place",
                          status=422)
    target = session.scalar(select(MattersDepartment).where(
        MattersDepartment.code == (department or "")))
    if target is None:
        raise MatterError(N_("Choose a department."), "department", status=422)
    if not target.active:
        raise MatterError(N_("This department is closed."), "department")
    if answer_days is not None and not 1 <= int(answer_days) <= MAX_ANSWER_DAYS:
        raise MatterError(N_("Give between 1 and %(max)s working days."), "answer_days",
                          status=422, max=MAX_ANSWER_DAYS)
    row = session.scalar(select(MattersRoute).where(MattersRoute.category == category,
                                                    MattersRoute.place == place))
    before = None if row is None else _route_detail(row)
    if row is None:
        row = MattersRoute(category=category, place=place, department=target.code)
        session.add(row)
    row.department = target.code
    row.answer_days = int(answer_days) if answer_days is not None else None
    session.flush()
    if before != _route_detail(row):
        log_audit(session, "matters.route.set", actor=actor, target_type="matters_route",
                  target_id=str(row.id), detail={"before": before,
                                                 "after": _route_detail(row)})
    return row


def delete_route(session: Session, route_id: int, *, actor: Any = None) -> None:
    """Remove a rule: matters it took fall to the next rule (the street's, anywhere's,
    the ``"*"`` fallback) from now on, or are refused when none is left."""
    row = get_route(session, route_id)
    if row is None:
        raise MatterError(N_("No such routing rule."), "", status=404)
    detail = _route_detail(row)
    session.delete(row)
    session.flush()
    log_audit(session, "matters.route.deleted", actor=actor, target_type="matters_route",
              target_id=str(route_id), detail={"before": detail})


def _member(session: Session, code: str, user_id: int) -> MattersMember | None:
    return session.scalar(select(MattersMember).where(MattersMember.department == code,
                                                      MattersMember.user_id == user_id))


def add_member(session: Session, code: str, user_id: int, *, actor: Any = None) -> None:
    """Make a staff account a member of a department (idempotent; audited when it
    changes something, as membership decides whose matters an account sees).

    Refused (409) for a closed department, for an account that is not staff, and for a
    community office's member whose place assignments do not cover its community: a
    membership must not show an account the matters of a place it does not work in."""
    row = lookup_department(session, code, open_only=True)
    account = account_view(session, user_id) if 0 < user_id <= MAX_ID else None
    if account is None or account.kind != "staff":
        raise MatterError(N_("Choose a staff account."), "user_id")
    if row.kind == "community" and not scope_allows(account, community=row.community):
        raise MatterError(N_("This account does not work in the office's community: "
                             "assign it the community first."), "user_id")
    if _member(session, row.code, user_id) is not None:
        return
    session.add(MattersMember(department=row.code, user_id=user_id))
    session.flush()
    log_audit(session, "matters.member.added", actor=actor,
              target_type="matters_department", target_id=row.code,
              detail={"user_id": user_id})


def remove_member(session: Session, code: str, user_id: int, *, actor: Any = None) -> None:
    """Take an account off a department (idempotent; audited when it was a member). A
    closed department's members may be removed: closing keeps them, this is the way to
    let them go."""
    row = lookup_department(session, code)
    member = _member(session, row.code, user_id)
    if member is not None:
        session.delete(member)
        session.flush()
        log_audit(session, "matters.member.removed", actor=actor,
                  target_type="matters_department", target_id=row.code,
                  detail={"user_id": user_id})
