"""The JSON API, mounted by core at ``/api/v1/grid``: every page action with the same
permissions and place checks. ``endpoint`` goes outermost. A schema-valid request the
rules refuse answers 409 naming the field (docs/api.md); outside the caller's places, 404."""

from __future__ import annotations

from typing import Any, NoReturn

from flask.views import MethodView
from flask_login import current_user

from core.toolkit import (
    N_,
    ApiBlueprint,
    PageArgs,
    current_kernel,
    current_session,
    endpoint,
    paginate,
    refuse,
)
from plugins.grid import SUPERVISE, WORK
from plugins.grid import services as svc
from plugins.grid.presenters import findings_by, log_visits, task_rows
from plugins.grid.schemas import (
    GridCoverageList,
    GridFindingIn,
    GridFindingOut,
    GridHouseholdList,
    GridPatrolCorrectIn,
    GridPatrolIn,
    GridPatrolOut,
    GridPatrolPage,
    GridTaskArgs,
    GridTaskList,
    GridVisitArgs,
    GridVisitCorrectIn,
    GridVisitIn,
    GridVisitOut,
    GridVisitPage,
)
from plugins.grid.services.corrections import correct_patrol, correct_visit, corrections_of
from plugins.grid.services.households import (
    create_household_visit,
    group_by_household,
    visit_persons,
)

blp = ApiBlueprint("grid_api", __name__, description="Grid work: visits, patrols, referrals, "
                   "coverage")


def _refuse(exc: svc.GridError) -> NoReturn:
    refuse(exc, status=exc.status if exc.status in (403, 404) else 409)


def _settings() -> dict[str, Any]:
    return current_kernel().plugins.settings("grid")


@blp.route("/tasks")
class Tasks(MethodView):
    @endpoint(blp, WORK, errors=(422,))
    @blp.arguments(GridTaskArgs, location="query")
    @blp.response(200, GridTaskList)
    def get(self, args):
        """Persons due a visit in the caller's grids, overdue first (names masked; each
        display is in that person's access log)."""
        session = current_session()
        settings = _settings()
        tasks = svc.due_tasks(session, current_user, grid=args.get("grid"),
                              lookahead=settings["lookahead_days"])[: settings["page_size"]]
        items = task_rows(session, current_user, tasks)
        session.commit()
        return {"items": items, "total": len(items)}


@blp.route("/households")
class Households(MethodView):
    @endpoint(blp, WORK, errors=(422,))
    @blp.arguments(GridTaskArgs, location="query")
    @blp.response(200, GridHouseholdList)
    def get(self, args):
        """The task list by registry household: one entry per household due a visit with
        its due members and why each is due; persons without a household stay single
        entries (names masked; each display in that person's access log)."""
        session = current_session()
        settings = _settings()
        tasks = svc.due_tasks(session, current_user, grid=args.get("grid"),
                              lookahead=settings["lookahead_days"])[: settings["page_size"]]
        groups = group_by_household(task_rows(session, current_user, tasks))
        session.commit()
        return {"items": groups, "total": len(groups)}


def _pop_refer(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data.pop(f"refer_{k}") for k in ("kind", "category", "summary", "service_code")}


def _refer(session: Any, refer: dict[str, Any], text: str, **source: Any) -> None:
    """The one-step referral of a visit's or patrol's finding, when ``refer_kind`` is set."""
    if not refer["kind"]:
        return
    try:
        svc.refer_finding(session, current_kernel().bus, current_user, kind=refer["kind"],
                          category=refer["category"] or "",
                          summary=refer["summary"] or text[:500],
                          service_code=refer["service_code"], **source)
    except svc.GridError as exc:  # name the request's own fields
        def name(field: str) -> str:
            return f"refer_{field}" if field in refer else field

        raise svc.GridError(exc.message, name(exc.field), status=exc.status,
                            errors={name(k): v for k, v in exc.errors.items()},
                            **exc.params) from exc


@blp.route("/visits")
class Visits(MethodView):
    @endpoint(blp, WORK, errors=(422,))
    @blp.arguments(GridVisitArgs, location="query")
    @blp.response(200, GridVisitPage)
    def get(self, args):
        """Visit records in the caller's places, newest first (optionally one person's)."""
        session = current_session()
        page = paginate(session, svc.visits_query(current_user, person_id=args["person_id"]),
                        args)
        log_visits(session, page["items"])
        found = findings_by(session, [v.id for v in page["items"]])
        persons = visit_persons(session, [v.id for v in page["items"]])
        page["items"] = [dict(_visit(v, persons[v.id]), referred=found.get(v.id, []))
                         for v in page["items"]]
        session.commit()
        return page

    @endpoint(blp, WORK, errors=(404, 409, 422),
              descriptions={409: "The rules refuse the record (a date, a missing text)",
                            404: "No such person in the caller's grids"})
    @blp.arguments(GridVisitIn)
    @blp.response(201, GridVisitOut)
    def post(self, data):
        """Record a visit; with ``refer``, refer its finding onward in the same step."""
        session = current_session()
        refer = _pop_refer(data)
        household, met = data.pop("cover_household"), data.pop("met_person_ids")
        try:
            if household:
                visit = create_household_visit(session, current_user, met_person_ids=met,
                                               **data)
            elif met:
                raise svc.GridError(N_("Name the persons met for a household visit only."),
                                    "met_person_ids")
            else:
                visit = svc.create_visit(session, current_user, **data)
            _refer(session, refer, visit.findings, visit=visit)
        except svc.GridError as exc:
            session.rollback()
            _refuse(exc)
        session.commit()
        return dict(_visit(visit, visit_persons(session, [visit.id])[visit.id]),
                    referred=svc.findings_of(session, visit_id=visit.id))


def _visit(visit: Any, persons: dict[str, list[int]] | None = None) -> dict[str, Any]:
    persons = persons or {"covered": [], "met": []}
    return {**{c: getattr(visit, c) for c in (
        "id", "person_id", "household_id", "community", "grid", "visited_on", "met",
        "findings", "needs", "follow_up", "follow_up_on", "created_at")},
        "covered_person_ids": persons["covered"], "met_person_ids": persons["met"]}


@blp.route("/visits/<int:visit_id>")
class VisitById(MethodView):
    @endpoint(blp, WORK, errors=(404,))
    @blp.response(200, GridVisitOut)
    def get(self, visit_id):
        """One visit record (logged in the person's access log)."""
        session = current_session()
        try:
            visit = svc.get_visit(session, current_user, visit_id)
        except svc.GridError as exc:
            _refuse(exc)
        log_visits(session, [visit])
        session.commit()
        return _visit_out(session, visit)

    @endpoint(blp, WORK, errors=(404, 409, 422),
              descriptions={403: "Neither the worker who recorded it nor a supervisor",
                            409: "The recorder's correction window has passed, nothing "
                                 "changed, or the rules refuse the new values",
                            404: "No such visit in the caller's places"})
    @blp.arguments(GridVisitCorrectIn)
    @blp.response(200, GridVisitOut)
    def patch(self, data, visit_id):
        """Correct a visit record with a reason (the fields given: date, findings, needs,
        follow-up): the worker who recorded it within ``correction_days`` of recording, a
        supervisor at any time. The earlier values are kept in ``corrections``."""
        session = current_session()
        reason = data.pop("reason")
        try:
            visit = svc.get_visit(session, current_user, visit_id)
            correct_visit(session, current_user, visit, reason=reason, changes=data,
                          days=_settings()["correction_days"])
        except svc.GridError as exc:
            session.rollback()
            _refuse(exc)
        log_visits(session, [visit])
        session.commit()
        return _visit_out(session, visit)


def _visit_out(session: Any, visit: Any) -> dict[str, Any]:
    return dict(_visit(visit, visit_persons(session, [visit.id])[visit.id]),
                referred=svc.findings_of(session, visit_id=visit.id),
                corrections=corrections_of(session, visit_id=visit.id))


@blp.route("/patrols")
class Patrols(MethodView):
    @endpoint(blp, WORK, errors=(422,))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, GridPatrolPage)
    def get(self, args):
        """Patrol records in the caller's places, newest first."""
        session = current_session()
        return paginate(session, svc.patrols_query(current_user), args)

    @endpoint(blp, WORK, errors=(409, 422),
              descriptions={409: "The rules refuse the record (a grid not yours, the times)"})
    @blp.arguments(GridPatrolIn)
    @blp.response(201, GridPatrolOut)
    def post(self, data):
        """Record a patrol; with ``refer``, refer what was found onward in the same step."""
        from core.toolkit import registry_reader

        session = current_session()
        refer = _pop_refer(data)
        grids = registry_reader(session, "grid", actor=current_user,
                                purpose="grid patrol").grids()
        try:
            patrol = svc.create_patrol(session, current_user, grids=grids, **data)
            _refer(session, refer, patrol.found, patrol=patrol)
        except svc.GridError as exc:
            session.rollback()
            _refuse(exc)
        session.commit()
        return _patrol_out(session, patrol)


def _patrol_out(session: Any, patrol: Any) -> dict[str, Any]:
    return {**{c: getattr(patrol, c) for c in ("id", "community", "grid", "area",
                                              "started_at", "ended_at", "found")},
            "referred": svc.findings_of(session, patrol_id=patrol.id),
            "corrections": corrections_of(session, patrol_ids=[patrol.id])}


@blp.route("/patrols/<int:patrol_id>")
class PatrolById(MethodView):
    @endpoint(blp, WORK, errors=(404,))
    @blp.response(200, GridPatrolOut)
    def get(self, patrol_id):
        """One patrol record with its referred findings and corrections."""
        session = current_session()
        try:
            patrol = svc.get_patrol(session, current_user, patrol_id)
        except svc.GridError as exc:
            _refuse(exc)
        return _patrol_out(session, patrol)

    @endpoint(blp, WORK, errors=(404, 409, 422),
              descriptions={403: "Neither the worker who recorded it nor a supervisor",
                            409: "The recorder's correction window has passed, nothing "
                                 "changed, or the rules refuse the new values",
                            404: "No such patrol in the caller's places"})
    @blp.arguments(GridPatrolCorrectIn)
    @blp.response(200, GridPatrolOut)
    def patch(self, data, patrol_id):
        """Correct a patrol record with a reason (the fields given: area, times, what
        was found): the worker who recorded it within ``correction_days`` of recording,
        a supervisor at any time. The earlier values are kept in ``corrections``."""
        session = current_session()
        reason = data.pop("reason")
        try:
            patrol = svc.get_patrol(session, current_user, patrol_id)
            correct_patrol(session, current_user, patrol, reason=reason, changes=data,
                           days=_settings()["correction_days"])
        except svc.GridError as exc:
            session.rollback()
            _refuse(exc)
        session.commit()
        return _patrol_out(session, patrol)


@blp.route("/findings")
class Findings(MethodView):
    @endpoint(blp, WORK, errors=(404, 409, 422),
              descriptions={404: "No such visit or patrol in the caller's places"})
    @blp.arguments(GridFindingIn)
    @blp.response(201, GridFindingOut)
    def post(self, data):
        """Refer a finding of an earlier visit or patrol onward (a government matter, a
        safety incident or a service offer) in one step: publishes grid.finding.referred."""
        session = current_session()
        visit_id, patrol_id = data.pop("visit_id"), data.pop("patrol_id")
        try:
            visit = svc.get_visit(session, current_user, visit_id) if visit_id else None
            patrol = svc.get_patrol(session, current_user, patrol_id) \
                if patrol_id and not visit else None
            finding = svc.refer_finding(session, current_kernel().bus, current_user,
                                        visit=visit, patrol=patrol, **data)
        except svc.GridError as exc:
            session.rollback()
            _refuse(exc)
        session.commit()
        return finding


@blp.route("/findings/<int:finding_id>")
class FindingById(MethodView):
    @endpoint(blp, WORK, errors=(404,))
    @blp.response(200, GridFindingOut)
    def get(self, finding_id):
        """A referred finding with its onward status (matter reference, answered, closed)."""
        try:
            return svc.get_finding(current_session(), current_user, finding_id)
        except svc.GridError as exc:
            _refuse(exc)


@blp.route("/coverage")
class Coverage(MethodView):
    @endpoint(blp, SUPERVISE)
    @blp.response(200, GridCoverageList)
    def get(self):
        """Visit coverage per grid in the caller's places, counted on today's date in
        app.timezone: visited on time, overdue, never visited."""
        session = current_session()
        on = svc.today()
        return {"on": on, "items": svc.coverage(session, current_user, on=on,
                                                settings=_settings())}
