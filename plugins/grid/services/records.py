"""Visits, patrols and referrals: the rules, as plain functions over a session (no
Flask, no commit). The page, the API and the demo call these."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.toolkit import MAX_ID, N_, ScopeError, registry_reader, scope_allows, utcnow
from plugins.grid.models import GridFinding, GridPatrol, GridVisit
from plugins.grid.services.common import GridError, place_clause, today

MET = ("person", "family", "neighbour", "nobody")
KINDS = ("matter", "incident", "offer")
#: Short category codes a finding carries onward (the consumers map them).
CATEGORIES = ("living", "health", "housing", "safety", "environment", "dispute", "other")
TEXT_MAX = 2000
SUMMARY_MAX = 500
ONE_LINE = {"area", "summary"}


def _text(value: Any, name: str, *, limit: int = TEXT_MAX, required: bool = False) -> str:
    """Text as stored: NUL and lone surrogates dropped (PostgreSQL cannot store them), and
    for one-line fields every control character and run of spaces made one space."""
    text = "".join(c for c in str(value or "") if c != "\x00" and not 0xD800 <= ord(c) <= 0xDFFF)
    if name in ONE_LINE:
        text = " ".join("".join(c if ord(c) >= 32 and ord(c) != 127 else " " for c in text).split())
    text = text.strip()
    if required and not text:
        raise GridError(N_("This field is required."), name)
    if len(text) > limit:
        raise GridError(N_("Use at most %(n)s characters."), name, n=limit)
    return text


def visible_person(session: Session, user: Any, person_id: int, purpose: str) -> dict[str, Any]:
    """The person as this worker may see them (masked; logged by the reader), or a 404
    GridError when they are outside the worker's places or not in the registry."""
    try:
        return registry_reader(session, "grid", actor=user, purpose=purpose).person(person_id)
    except (ScopeError, LookupError, ValueError) as exc:
        raise GridError(N_("No such person in your grids."), "person_id", status=404) from exc


def check_visit(*, visited_on: date, met: str, findings: str, needs: str, follow_up: str,
                follow_up_on: date | None, on: date) -> dict[str, str]:
    """The texts as stored, or a GridError naming every field at fault: the rules of a
    visit record, the same when it is recorded and when it is corrected."""
    errors: dict[str, str] = {}
    if visited_on > on:
        errors["visited_on"] = N_("The visit cannot be in the future.")
    elif visited_on < on - timedelta(days=366):
        errors["visited_on"] = N_("Record visits of the past year only.")
    if met not in MET:
        errors["met"] = N_("Choose whom you met.")
    if follow_up_on is not None and follow_up_on < visited_on:
        errors["follow_up_on"] = N_("The follow-up date cannot be before the visit.")
    texts = {}
    for name, value in (("findings", findings), ("needs", needs), ("follow_up", follow_up)):
        try:
            texts[name] = _text(value, name)
        except GridError as exc:
            errors[name] = exc.message
    if met == "nobody" and not texts.get("findings"):
        errors.setdefault("findings", N_("Say what you saw when nobody was at home."))
    if follow_up_on is not None and not texts.get("follow_up"):
        errors.setdefault("follow_up", N_("Say what the follow-up is."))
    if errors:
        first = next(iter(errors))
        raise GridError(errors[first], first, errors=errors, n=TEXT_MAX)
    return texts


def create_visit(session: Session, user: Any, *, person_id: int, visited_on: date | None = None,
                 met: str = "", findings: str = "", needs: str = "", follow_up: str = "",
                 follow_up_on: date | None = None, on: date | None = None) -> GridVisit:
    """Record a home visit. Why every check: the record becomes part of the person's
    file that supervisors count, so a date in the future or a follow-up before the visit
    would make coverage lie."""
    on = on or today()
    person = visible_person(session, user, person_id, "grid visit record")
    visited_on = visited_on or on
    texts = check_visit(visited_on=visited_on, met=met, findings=findings, needs=needs,
                        follow_up=follow_up, follow_up_on=follow_up_on, on=on)
    visit = GridVisit(person_id=person_id, household_id=person.get("household_id"),
                      community=person.get("community"), grid=person.get("grid"),
                      visited_on=visited_on, met=met, follow_up_on=follow_up_on,
                      recorded_by_id=user.id, **texts)
    session.add(visit)
    session.flush()
    return visit


def check_patrol(*, area: str, found: str, started_at: datetime, ended_at: datetime | None,
                 now: datetime, errors: dict[str, str] | None = None) -> tuple[str, str]:
    """The area and findings as stored, or a GridError naming every field at fault (with
    ``errors`` already found by the caller): recording and correcting a patrol alike."""
    errors = dict(errors or {})
    try:
        area = _text(area, "area", limit=200, required=True)
    except GridError as exc:
        errors["area"] = exc.message
    try:
        found = _text(found, "found")
    except GridError as exc:
        errors["found"] = exc.message
    if started_at > now + timedelta(minutes=5):
        errors["started_at"] = N_("The patrol cannot start in the future.")
    if ended_at is not None and ended_at < started_at:
        errors["ended_at"] = N_("The patrol cannot end before it starts.")
    if errors:
        first = next(iter(errors))
        raise GridError(errors[first], first, errors=errors, n=TEXT_MAX)
    return area, found


def create_patrol(session: Session, user: Any, *, grid: str, area: str, started_at: datetime,
                  ended_at: datetime | None, found: str = "", grids: list[dict[str, Any]],
                  now: datetime | None = None) -> GridPatrol:
    """Record a patrol in one of the worker's grids (``grids``: the registry's grids)."""
    now = now or utcnow()
    known = {g["code"]: g for g in grids}
    errors: dict[str, str] = {}
    place = known.get(grid)
    if place is None or not scope_allows(user, community=place["community"], grid=grid):
        errors["grid"] = N_("Choose one of your grids.")
    area, found = check_patrol(area=area, found=found, started_at=started_at,
                               ended_at=ended_at, now=now, errors=errors)
    assert place is not None
    patrol = GridPatrol(community=place["community"], grid=grid, area=area,
                        started_at=started_at, ended_at=ended_at, found=found,
                        recorded_by_id=user.id)
    session.add(patrol)
    session.flush()
    return patrol


def get_visit(session: Session, user: Any, visit_id: int) -> GridVisit:
    visit = session.get(GridVisit, visit_id) if 0 < visit_id <= MAX_ID else None
    if visit is None or not scope_allows(user, community=visit.community, grid=visit.grid):
        raise GridError(N_("No such visit."), "", status=404)
    return visit


def get_patrol(session: Session, user: Any, patrol_id: int) -> GridPatrol:
    patrol = session.get(GridPatrol, patrol_id) if 0 < patrol_id <= MAX_ID else None
    if patrol is None or not scope_allows(user, community=patrol.community, grid=patrol.grid):
        raise GridError(N_("No such patrol."), "", status=404)
    return patrol


def visits_query(user: Any, *, person_id: int | None = None) -> Any:
    query = select(GridVisit).where(place_clause(GridVisit, user))
    if person_id is not None:
        query = query.where(GridVisit.person_id == person_id)
    return query.order_by(GridVisit.visited_on.desc(), GridVisit.id.desc())


def patrols_query(user: Any) -> Any:
    return select(GridPatrol).where(place_clause(GridPatrol, user)).order_by(
        GridPatrol.started_at.desc(), GridPatrol.id.desc())


def findings_of(session: Session, *, visit_id: int | None = None,
                patrol_id: int | None = None) -> list[GridFinding]:
    query = select(GridFinding).order_by(GridFinding.id)
    query = query.where(GridFinding.visit_id == visit_id) if visit_id is not None else \
        query.where(GridFinding.patrol_id == patrol_id)
    return list(session.scalars(query))


def refer_finding(session: Session, bus: Any, user: Any, *, kind: str, category: str,
                  summary: str, service_code: str | None = None,
                  visit: GridVisit | None = None, patrol: GridPatrol | None = None
                  ) -> GridFinding:
    """Refer a finding onward in one step: store it and publish ``grid.finding.referred``
    (matters files a government matter, surveillance raises an incident, gov_services
    records an offer). The event carries ids and codes and the worker's own words."""
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = N_("Choose where the finding goes.")
    if category not in CATEGORIES:
        errors["category"] = N_("Choose a category.")
    try:
        summary = _text(summary, "summary", limit=SUMMARY_MAX, required=True)
    except GridError as exc:
        errors["summary"] = exc.message
    service_code = (service_code or "").strip() or None
    if kind == "offer" and not service_code:
        errors["service_code"] = N_("Name the service to offer.")
    elif service_code and (len(service_code) > 60 or not service_code.replace("_", "")
                           .replace("-", "").isalnum() or not service_code.isascii()):
        errors["service_code"] = N_("Give a service code (letters, digits, - and _).")
    source = visit or patrol
    if source is None:
        errors["visit_id"] = N_("Name the visit or patrol the finding comes from.")
    elif kind == "offer" and visit is None:
        errors["kind"] = N_("A service offer needs a visit to a person.")
    if errors:
        first = next(iter(errors))
        raise GridError(errors[first], first, errors=errors, n=SUMMARY_MAX)
    if source.community is None:
        raise GridError(N_("The place of this record is not in a community."), "", status=409)
    finding = GridFinding(
        visit_id=visit.id if visit else None, patrol_id=patrol.id if patrol else None,
        kind=kind, category=category, summary=summary,
        service_code=service_code if kind == "offer" else None,
        person_id=visit.person_id if visit else None,
        household_id=visit.household_id if visit else None,
        community=source.community, grid=source.grid, referred_by_id=user.id)
    session.add(finding)
    session.flush()
    bus.publish(session, "grid.finding.referred", {
        "finding_id": finding.id, "kind": kind, "community": finding.community,
        "grid": finding.grid, "person_id": finding.person_id,
        "household_id": finding.household_id, "category": category, "summary": summary,
        "service_code": finding.service_code, "referred_by": user.id})
    return finding


def get_finding(session: Session, user: Any, finding_id: int) -> GridFinding:
    finding = session.get(GridFinding, finding_id) if 0 < finding_id <= MAX_ID else None
    if finding is None or not scope_allows(user, community=finding.community,
                                           grid=finding.grid):
        raise GridError(N_("No such finding."), "", status=404)
    return finding
