"""The JSON API, mounted by core at ``/api/v1/matters``: every page action, with the same
services and checks. ``endpoint`` goes outermost: it checks the gate before the body is
read and documents 401, 403 and the errors listed. Every change runs in :func:`_unit`:
committed when the operation's block ends, rolled back and refused in the one error shape
when a rule says no."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy.orm import Session

from core.toolkit import (
    N_,
    ApiBlueprint,
    RegistryError,
    ScopeError,
    current_kernel,
    current_session,
    endpoint,
    has_permission,
    mask_name,
    mask_phone,
    plugin_settings,
    refuse,
    registry_reader,
    require_login,
)
from plugins.matters import FILE, HANDLE, MANAGE, OWN, STATS, SUPERVISE, info
from plugins.matters import schemas as s
from plugins.matters import services as svc
from plugins.matters.models import Matter

blp = ApiBlueprint("matters_api", __name__, description="Government matters (有事找政府)")

ANY = (OWN, FILE, HANDLE, SUPERVISE, STATS)


def _settings() -> dict[str, Any]:
    return plugin_settings(info.id)


def _any_gate() -> None:
    if not any(has_permission(current_user, p) for p in ANY):
        abort(403, message="Forbidden.")


def _visible(matter_id: int) -> Matter:
    matter = svc.get_matter(current_session(), matter_id)
    if matter is None or not svc.can_see(current_session(), current_user, matter):
        abort(404, message="No such matter.")
    return matter


def _caller(matter: Matter) -> str | None:
    """The caller as this viewer may see them: masked, and the display logged (the
    reader logs a registry person; a caller's own copy is audited against the matter)."""
    if svc.queries.is_own(current_user, matter):
        return None
    if matter.person_id:
        try:
            rd = registry_reader(current_session(), info.id, actor=current_user,
                                 purpose=f"matter {matter.reference}", enforce_place=False)
            name = rd.person(matter.person_id).get("name")
            return mask_name(name) if name else None
        except (ScopeError, RegistryError, ValueError):
            return None
    if matter.caller_name or matter.caller_phone:
        from core.toolkit import log_audit

        log_audit(current_session(), "matters.caller.shown", target_type="matters_matter",
                  target_id=str(matter.id), detail={"masked": True})
        return " ".join(x for x in (mask_name(matter.caller_name) if matter.caller_name else "",
                                    mask_phone(matter.caller_phone) if matter.caller_phone
                                    else "") if x)
    return None


def _out(matter: Matter, *, detail: bool = False) -> dict[str, Any]:
    data = {c: getattr(matter, c) for c in (
        "id", "reference", "source", "source_id", "category", "summary", "location",
        "community", "department", "state", "filed_at", "sign_due", "answer_due",
        "signed_at", "answered_at", "answer", "replied_via", "rating", "person_id")}
    data["escalated"] = matter.escalated_at is not None
    data["overdue"] = svc.is_overdue(matter)
    data["caller"] = _caller(matter)
    if detail:
        data["steps"] = svc.steps(current_session(), matter.id)
    return data


def _commit(value: Any) -> Any:
    current_session().commit()
    return value


@contextmanager
def _unit(*, conflict: bool = False) -> Iterator[Session]:
    """The request's unit of work: committed when the block ends (so a ``return`` inside
    it builds the answer first — its access-log entries are committed with the change),
    rolled back and refused in the one error shape when a rule refuses.

    ``conflict``: the configuration's operations answer a well-formed body the rules
    refuse (a kind of office without its community, a closed department) with 409, the
    body's shape being the schema's to refuse with 422 (docs/api.md, "422 or 409?")."""
    session = current_session()
    try:
        yield session
    except svc.MatterError as exc:
        session.rollback()
        refuse(exc, status=409 if conflict and exc.status == 422 else None)
    session.commit()


@blp.route("/matters")
class Matters(MethodView):
    @endpoint(blp, require_login, errors=(422,))
    @blp.arguments(s.MattersListArgs, location="query")
    @blp.response(200, s.MattersMatterPage)
    def get(self, args):
        """The matters the caller may see, newest first: one's own, those one filed, one's
        departments', or all within a supervisor's places."""
        _any_gate()
        session = current_session()
        query = svc.visible_query(session, current_user)
        if args.get("state"):
            query = query.where(Matter.state == args["state"])
        rows = [m for m in session.scalars(query.limit(1000))
                if svc.can_see(session, current_user, m)]
        if args.get("overdue") is not None:
            rows = [m for m in rows if svc.is_overdue(m) == args["overdue"]]
        size, page = args["page_size"], args["page"]
        chunk = rows[(page - 1) * size: page * size]
        return _commit({"items": [_out(m) for m in chunk], "page": page, "page_size": size,
                        "total": len(rows), "pages": (len(rows) + size - 1) // size})

    @endpoint(blp, OWN, errors=(409, 422))
    @blp.arguments(s.MattersFileIn)
    @blp.response(201, s.MattersMatter)
    def post(self, data):
        """A resident files their own matter. Verified: their registry community;
        not verified: ``community`` is required, name and phone kept governed."""
        session = current_session()
        pid = getattr(current_user, "person_id", None)
        community = data.get("community")
        if pid:
            try:
                rd = registry_reader(session, info.id, actor=current_user,
                                     purpose="filing a matter", enforce_place=False)
                community = rd.person(pid).get("community") or community
            except (ScopeError, RegistryError, ValueError):
                pass
        with _unit():
            if not community:
                raise svc.MatterError(N_("Choose a community."), "community")
            return _out(svc.file_matter(
                session, current_kernel().bus, source="web", category=data["category"],
                summary=data["summary"], location=data["location"], community=community,
                person_id=pid, account_id=current_user.id,
                caller_name="" if pid else data["caller_name"],
                caller_phone="" if pid else data["caller_phone"], settings=_settings()))


@blp.route("/hotline")
class Hotline(MethodView):
    @endpoint(blp, FILE, errors=(404, 409, 422))
    @blp.arguments(s.MattersHotlineIn)
    @blp.response(201, s.MattersMatter)
    def post(self, data):
        """The operator files a caller's matter: ``person_id`` for a registry caller,
        else ``community`` and the caller's own name and phone."""
        session = current_session()
        community = data.get("community")
        pid = data.get("person_id")
        if pid is not None:
            try:
                rd = registry_reader(session, info.id, actor=current_user,
                                     purpose="hotline call", enforce_place=False)
                community = rd.person(pid).get("community")
            except (ScopeError, RegistryError, ValueError, LookupError):
                abort(404, message="No such person.")
        with _unit():
            if not community:
                raise svc.MatterError(N_("Choose a community."), "community")
            return _out(svc.file_matter(
                session, current_kernel().bus, source="hotline", category=data["category"],
                summary=data["summary"], location=data["location"], community=community,
                person_id=pid, filed_by_id=current_user.id,
                caller_name=data["caller_name"], caller_phone=data["caller_phone"],
                settings=_settings()))


@blp.route("/matters/<int:matter_id>")
class MatterItem(MethodView):
    @endpoint(blp, require_login, errors=(404,))
    @blp.response(200, s.MattersMatterDetail)
    def get(self, matter_id):
        """One matter with its steps."""
        _any_gate()
        return _commit(_out(_visible(matter_id), detail=True))


def _handled(matter_id: int) -> Matter:
    matter = _visible(matter_id)
    if not svc.can_handle(current_session(), current_user, matter):
        abort(404, message="No such matter.")
    return matter


def _step(fn: Callable[..., Matter], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One step of a matter's service (``fn(session, *args, **kwargs)``): the matter as
    the step left it."""
    with _unit() as session:
        return _out(fn(session, *args, **kwargs))


@blp.route("/matters/<int:matter_id>/sign")
class MatterSign(MethodView):
    @endpoint(blp, HANDLE, errors=(404, 409))
    @blp.response(200, s.MattersMatter)
    def post(self, matter_id):
        """The department signs for (签收) the matter."""
        matter = _handled(matter_id)
        return _step(svc.sign, matter, actor_id=current_user.id)


@blp.route("/matters/<int:matter_id>/transfer")
class MatterTransfer(MethodView):
    @endpoint(blp, HANDLE, errors=(404, 409, 422))
    @blp.arguments(s.MattersTransferIn)
    @blp.response(200, s.MattersMatter)
    def post(self, data, matter_id):
        """Transfer to another department with a reason (a fresh signing day; the answer
        deadline keeps running)."""
        matter = _handled(matter_id)
        return _step(svc.transfer, matter, to=data["department"],
                     reason=data["reason"], actor_id=current_user.id, settings=_settings())


@blp.route("/matters/<int:matter_id>/answer")
class MatterAnswer(MethodView):
    @endpoint(blp, HANDLE, errors=(404, 409, 422))
    @blp.arguments(s.MattersAnswerIn)
    @blp.response(200, s.MattersMatter)
    def post(self, data, matter_id):
        """Answer the resident (told by notification, or called back by the hotline)."""
        matter = _handled(matter_id)
        return _step(svc.answer, current_kernel().bus, matter,
                     text=data["answer"], actor_id=current_user.id)


@blp.route("/matters/<int:matter_id>/rate")
class MatterRate(MethodView):
    @endpoint(blp, OWN, errors=(404, 409, 422))
    @blp.arguments(s.MattersRateIn)
    @blp.response(200, s.MattersMatter)
    def post(self, data, matter_id):
        """The resident rates the answer to their own matter."""
        matter = _visible(matter_id)
        if not svc.queries.is_own(current_user, matter):
            abort(404, message="No such matter.")
        return _step(svc.rate, current_kernel().bus, matter,
                     rating=data["rating"], actor_id=current_user.id, via="web",
                     settings=_settings())


@blp.route("/matters/<int:matter_id>/callback")
class MatterCallback(MethodView):
    @endpoint(blp, FILE, errors=(404, 409, 422))
    @blp.arguments(s.MattersRateIn)
    @blp.response(200, s.MattersMatter)
    def post(self, data, matter_id):
        """The operator called the resident back with the answer: their rating."""
        matter = _visible(matter_id)
        return _step(svc.rate, current_kernel().bus, matter,
                     rating=data["rating"], actor_id=current_user.id, via="call",
                     settings=_settings())


@blp.route("/stats")
class Stats(MethodView):
    @endpoint(blp, STATS)
    @blp.response(200, s.MattersStats)
    def get(self):
        """Per department: received, signed and answered on time, overdue, satisfaction."""
        rows = svc.statistics(current_session(), current_user)
        return {"items": [{"department": r.code, "received": r.received,
                           "signed_on_time": r.signed_on_time,
                           "answered_on_time": r.answered_on_time, "overdue": r.overdue,
                           "rated": r.rated, "satisfaction": r.satisfaction} for r in rows]}


@blp.route("/departments")
class Departments(MethodView):
    @endpoint(blp, require_login)
    @blp.response(200, s.MattersDepartmentList)
    def get(self):
        """The departments and community offices (names in zh and en)."""
        _any_gate()
        return {"items": svc.departments(current_session())}

    @endpoint(blp, MANAGE, errors=(409, 422))
    @blp.arguments(s.MattersDepartmentIn)
    @blp.response(201, s.MattersDepartment)
    def post(self, data):
        """Add a department or a community office (409: the code is taken)."""
        with _unit(conflict=True) as session:
            return svc.create_department(session, actor=current_user, **data)


@blp.route("/departments/<department_code>")
class DepartmentItem(MethodView):
    @endpoint(blp, MANAGE, errors=(404, 409, 422))
    @blp.arguments(s.MattersDepartmentPatch)
    @blp.response(200, s.MattersDepartment)
    def patch(self, data, department_code):
        """Rename, close (refused while it has open matters or routing rules: the
        message names how many) or reopen a department."""
        with _unit(conflict=True) as session:
            row = svc.lookup_department(session, department_code)
            if "name" in data or "name_en" in data:
                row = svc.rename_department(session, row.code,
                                            name=data.get("name", row.name),
                                            name_en=data.get("name_en", row.name_en),
                                            actor=current_user)
            if data.get("active") is False:
                row = svc.close_department(session, row.code, actor=current_user)
            elif data.get("active") is True:
                row = svc.reopen_department(session, row.code, actor=current_user)
            return row


@blp.route("/routes")
class Routes(MethodView):
    @endpoint(blp, MANAGE)
    @blp.response(200, s.MattersRouteList)
    def get(self):
        """The routing rules (the most specific place wins; ``*`` is the fallback)."""
        return {"items": svc.routes(current_session())}

    @endpoint(blp, MANAGE, errors=(409, 422))
    @blp.arguments(s.MattersRouteIn)
    @blp.response(200, s.MattersRoute)
    def post(self, data):
        """Set the rule for a category and place (creates it or replaces it). Matters
        filed before keep their department and deadlines."""
        with _unit(conflict=True) as session:
            return svc.set_route(session, actor=current_user, **data)


@blp.route("/routes/<int:route_id>")
class RouteItem(MethodView):
    @endpoint(blp, MANAGE, errors=(404,))
    @blp.response(204)
    def delete(self, route_id):
        """Remove a rule: its matters fall to the next rule from now on."""
        with _unit() as session:
            svc.delete_route(session, route_id, actor=current_user)


def _members(session: Session, code: str) -> dict[str, Any]:
    return {"department": code, "user_ids": svc.members(session, code)}


@blp.route("/departments/<department_code>/members")
class DepartmentMembers(MethodView):
    @endpoint(blp, MANAGE, errors=(404,))
    @blp.response(200, s.MattersMembers)
    def get(self, department_code):
        """The staff accounts working this department's matters."""
        with _unit() as session:
            return _members(session, svc.lookup_department(session, department_code).code)

    @endpoint(blp, MANAGE, errors=(404, 409, 422))
    @blp.arguments(s.MattersMemberIn)
    @blp.response(200, s.MattersMembers)
    def post(self, data, department_code):
        """Make a staff account a member (idempotent).

        404: no such department. 409: it is closed, the account is not staff, or a
        community office's member is not assigned its community."""
        with _unit() as session:
            svc.add_member(session, department_code, data["user_id"], actor=current_user)
            return _members(session, department_code)


@blp.route("/departments/<department_code>/members/<int:member_user_id>")
class DepartmentMember(MethodView):
    @endpoint(blp, MANAGE, errors=(404,))
    @blp.response(200, s.MattersMembers)
    def delete(self, department_code, member_user_id):
        """Remove a member (idempotent)."""
        with _unit() as session:
            svc.remove_member(session, department_code, member_user_id, actor=current_user)
            return _members(session, department_code)
