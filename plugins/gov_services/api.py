"""The JSON API, mounted by core at ``/api/v1/gov-services``. Thin: every rule is in
``services``; a broken rule comes back as 422 (fields named), a step the state does not
allow as 409, a step the role may not take as 403, someone else's case as 404.

Each operation's gate and documented errors are one ``@endpoint`` (``core.toolkit``); a
service's :class:`GovError` (a ``RuleError``) is answered by :func:`refuse` in the one
error shape, its own status with its message and field."""

from __future__ import annotations

from typing import Any

import flask
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from core.toolkit import (
    MAX_ID,
    ApiBlueprint,
    check_access,
    current_session,
    endpoint,
    log_person_access,
    paginate,
    refuse,
    require_login,
)
from plugins.gov_services import APPLY, HANDLE, MANAGE, READ, THEMATIC_READ
from plugins.gov_services.catalogue import DERIVED_GROUPS
from plugins.gov_services.models import Application, Membership
from plugins.gov_services.schemas import (
    GovActionIn,
    GovApplicationIn,
    GovApplicationOut,
    GovApplicationPage,
    GovCounterApplicationIn,
    GovEndMembershipIn,
    GovGroupOut,
    GovMembershipArgs,
    GovMembershipOut,
    GovMembershipPage,
    GovPrefillOut,
    GovQueueArgs,
    GovRatingIn,
    GovRevealIn,
    GovServiceList,
    GovServiceOut,
    GovServiceQuery,
    GovSettingIn,
    GovSettingOut,
    GovStatsOut,
)
from plugins.gov_services.services import (
    PLUGIN,
    GovError,
    application_view,
    check_eligibility,
    end_membership,
    gov,
    group_count,
    memberships_query,
    my_applications,
    prefill,
    queue_query,
    rate,
    reveal_answers,
    service_params,
    set_service,
    statistics,
    submit_application,
    transition,
)
from plugins.gov_services.services.search import search_services

blp = ApiBlueprint("gov_services_api", __name__, description="One-stop public services")
VERIFIED = "Not a verified resident"


def _g() -> Any:
    return gov()


def _view(app: Application, purpose: str | None = None) -> dict[str, Any]:
    """The application as the caller may see it (sensitive answers masked), its display
    logged in the applicant's access log."""
    return application_view(current_session(), _g(), app, viewer=current_user, purpose=purpose)


def service_out(service: Any) -> dict[str, Any]:
    return {
        "code": service.code,
        "name_zh": service.name_zh,
        "name_en": service.name_en,
        "department": service.department,
        "database": service.database,
        "stages": list(service.stages),
        "public_notice_days": service.public_notice_days,
        "time_limits": service.time_limits,
        "fields_": list(service.fields),
        "documents": list(service.documents),
        "eligibility": list(service.eligibility),
        "params": service.params(),
        "source": service.source,
        "summary_zh": service.summary_zh,
        "summary_en": service.summary_en,
        "life_events": list(service.life_events),
    }


def _row(model: Any, ident: int) -> Any:
    return current_session().get(model, ident) if 0 < ident <= MAX_ID else None


def _application(app_id: int) -> Application:
    app = _row(Application, app_id)
    if app is None:
        abort(404)
    check_access(person_id=app.person_id, permission=READ, community=app.community, grid=app.grid)
    return app


@blp.route("/services")
class Services(MethodView):
    @endpoint(blp, errors=(422,))
    @blp.arguments(GovServiceQuery, location="query")
    @blp.response(200, GovServiceList)
    def get(self, args):
        """The catalogue (public: what one may apply for and what to bring): every service
        in catalogue order, or with ``q`` those matching it, best first (characters, full
        pinyin, initials, synonyms; the service hall's search), optionally of one
        ``life_event`` only."""
        catalogue = _g().catalogue
        services = search_services(catalogue, args["q"])
        if args.get("life_event"):
            services = [s for s in services if args["life_event"] in s.life_events]
        return {"items": [service_out(s) for s in services]}


@blp.route("/services/<string:gs_service>")
class ServiceItem(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such service"})
    @blp.response(200, GovServiceOut)
    def get(self, gs_service):
        """One service with its fields, documents, rules, stages and time limits."""
        code = gs_service
        service = _g().catalogue.get(code)
        if service is None:
            abort(404)
        return service_out(service)


@blp.route("/services/<string:gs_service>/prefill")
class Prefill(MethodView):
    @endpoint(blp, APPLY, errors=(404,), descriptions={403: VERIFIED, 404: "No such service"})
    @blp.response(200, GovPrefillOut)
    def get(self, gs_service):
        """What the registry fills in for the signed-in resident, and whether they qualify
        (with the reasons when they do not)."""
        code = gs_service
        g = _g()
        service = g.catalogue.get(code)
        if service is None:
            abort(404)
        if not current_user.is_verified:
            flask.abort(403, description="Verify your account first.")
        session = current_session()
        person = prefill(session, g, current_user.person_id, actor=current_user)
        reasons = check_eligibility(
            service, person, service_params(session, service, person["community"])
        )
        session.commit()  # the registry read is logged
        return {"person": person, "eligible": not reasons, "reasons": reasons}


@blp.route("/applications")
class Applications(MethodView):
    @endpoint(blp, READ, errors=(422,))
    @blp.arguments(GovQueueArgs, location="query")
    @blp.response(200, GovApplicationPage)
    def get(self, args):
        """The staff queue within the caller's communities and grids; ``overdue=true``
        lists only cases past their due date."""
        query = queue_query(
            current_user,
            state=args["state"],
            service=args["service"],
            community=args["community"],
            overdue=args["overdue"],
        )
        session = current_session()
        page = paginate(session, query, args)
        page["items"] = [_view(a, f"service queue: {a.reference}") for a in page["items"]]
        session.commit()  # every listed applicant's access log
        return page

    @endpoint(
        blp,
        APPLY,
        errors=(404, 422),
        descriptions={403: VERIFIED, 422: "Invalid answers or not eligible"},
    )
    @blp.arguments(GovApplicationIn)
    @blp.response(201, GovApplicationOut)
    def post(self, data):
        """Apply for a service as the signed-in resident (in the assisted channel the
        worker acting for them is recorded). Publishes gov_services.application.submitted."""
        if not current_user.is_verified:
            flask.abort(403, description="Verify your account first.")
        session = current_session()
        try:
            app = submit_application(
                session,
                _g(),
                service_code=data["service_code"],
                person_id=current_user.person_id,
                actor=current_user,
                answers=data["answers"],
                user_id=current_user.id,
                filed_by=current_user.agent,
                comment=data["comment"],
            )
        except GovError as exc:
            refuse(exc)
        out = _view(app)
        session.commit()
        return out


@blp.route("/counter-applications")
class CounterApplications(MethodView):
    @endpoint(
        blp,
        HANDLE,
        errors=(404, 422),
        descriptions={
            422: "Invalid answers, not eligible, or the person is not within your scope"
        },
    )
    @blp.arguments(GovCounterApplicationIn)
    @blp.response(201, GovApplicationOut)
    def post(self, data):
        """A worker at the counter files for a resident (``person_id``, within the
        worker's places)."""
        if not data.get("person_id"):
            abort(422, messages={"person_id": ["Name the person."]})
        session = current_session()
        try:
            app = submit_application(
                session,
                _g(),
                service_code=data["service_code"],
                person_id=data["person_id"],
                actor=current_user,
                answers=data["answers"],
                user_id=None,
                filed_by=current_user,
                comment=data["comment"],
            )
        except GovError as exc:
            refuse(exc)
        out = _view(app, f"counter filing: application {app.reference}")
        session.commit()
        return out


@blp.route("/applications/mine")
class MyApplications(MethodView):
    @endpoint(blp, require_login)
    @blp.response(200, GovApplicationOut(many=True))
    def get(self):
        """The signed-in resident's own applications, newest first (sensitive answers
        masked here too: in the assisted channel a worker is looking)."""
        session = current_session()
        out = [_view(a) for a in my_applications(session, current_user.person_id)]
        session.commit()
        return out


@blp.route("/applications/<int:gs_application_id>")
class ApplicationItem(MethodView):
    @endpoint(blp, require_login, errors=(404,))
    @blp.response(200, GovApplicationOut)
    def get(self, gs_application_id):
        """One application with its timeline (the applicant, or staff in its place).
        Sensitive answers (bank card, ID numbers, phones, names of others) are masked;
        ``masked`` lists them, and the handler gets them in full from ``/reveal``."""
        out = _view(_application(gs_application_id))
        current_session().commit()  # the applicant's access log
        return out


@blp.route("/applications/<int:gs_application_id>/reveal")
class ApplicationReveal(MethodView):
    @endpoint(
        blp,
        HANDLE,
        errors=(404, 409, 422),
        descriptions={
            403: "Not the handler of the case",
            404: "No such application in your places",
            409: "This step does not need the full values",
            422: "No purpose, or not a masked answer",
        },
    )
    @blp.arguments(GovRevealIn)
    @blp.response(200, GovApplicationOut)
    def post(self, data, gs_application_id):
        """Show the masked answers in full (all, or ``fields``) for a stated ``purpose``:
        only to a handler of the case's place at a step that checks them (submitted,
        community check, approved). The display is in the applicant's access log."""
        app = _application(gs_application_id)
        session = current_session()
        try:
            out = reveal_answers(
                session, _g(), app, actor=current_user, purpose=data["purpose"],
                fields=data["fields"],
            )
        except GovError as exc:
            refuse(exc)
        session.commit()
        return out


@blp.route("/applications/<int:gs_application_id>/actions")
class ApplicationAction(MethodView):
    @endpoint(
        blp,
        require_login,
        errors=(404, 409, 422),
        descriptions={
            403: "Your role may not take this step",
            409: "Not possible in the current state (ending a public notice before its"
            " period is over, say)",
            422: "Missing reason or list",
        },
    )
    @blp.arguments(GovActionIn)
    @blp.response(200, GovApplicationOut)
    def post(self, data, gs_application_id):
        """Take a workflow step: accept, not_accept, request_material, resubmit, pass,
        reject, suspend, resume, end_notice, complete, withdraw."""
        application_id = gs_application_id
        app = _application(application_id)
        session = current_session()
        try:
            transition(
                session,
                _g(),
                app,
                data["action"],
                actor=current_user,
                comment=data["comment"],
                missing=data["missing"],
            )
        except GovError as exc:
            refuse(exc)
        out = _view(app)
        session.commit()
        return out


@blp.route("/applications/<int:gs_application_id>/rating")
class ApplicationRating(MethodView):
    @endpoint(
        blp,
        require_login,
        errors=(404, 409, 422),
        descriptions={403: "Not the applicant", 409: "Not decided yet, or rated already"},
    )
    @blp.arguments(GovRatingIn)
    @blp.response(200, GovApplicationOut)
    def post(self, data, gs_application_id):
        """Rate a decided case on the 5-level scale (好差评)."""
        application_id = gs_application_id
        app = _application(application_id)
        session = current_session()
        try:
            rate(session, app, actor=current_user, rating=data["rating"], comment=data["comment"])
        except GovError as exc:
            refuse(exc)
        out = _view(app)
        session.commit()
        return out


@blp.route("/memberships")
class Memberships(MethodView):
    @endpoint(blp, THEMATIC_READ, errors=(422,), descriptions={422: "Invalid filters"})
    @blp.arguments(GovMembershipArgs, location="query")
    @blp.response(200, GovMembershipPage)
    def get(self, args):
        """Thematic database memberships in the caller's places (ended ones with
        ``active=false``)."""
        query = memberships_query(
            current_user,
            database=args["database"],
            community=args["community"],
            active=args["active"],
        )
        session = current_session()
        page = paginate(session, query, args)
        for m in page["items"]:  # a membership says who receives what: in their log
            log_person_access(
                session,
                person_id=m.person_id,
                fields=["membership"],
                purpose=f"thematic database {m.database}",
                plugin=PLUGIN,
                actor=current_user,
                masked=True,
            )
        session.commit()
        return page


@blp.route("/memberships/<int:gs_membership_id>/end")
class MembershipEnd(MethodView):
    @endpoint(
        blp,
        HANDLE,
        errors=(404, 409, 422),
        descriptions={404: "No such membership in your places", 409: "Ended already"},
    )
    @blp.arguments(GovEndMembershipIn)
    @blp.response(200, GovMembershipOut)
    def post(self, data, gs_membership_id):
        """End a membership (termination); the row is kept as history."""
        membership_id = gs_membership_id
        session = current_session()
        row = _row(Membership, membership_id)
        if row is None:
            abort(404)
        check_access(permission=HANDLE, community=row.community or "-", grid=row.grid)
        try:
            end_membership(session, _g(), row, reason=data["reason"])
        except GovError as exc:
            refuse(exc)
        log_person_access(
            session,
            person_id=row.person_id,
            fields=["membership"],
            purpose=f"thematic database {row.database}: membership ended",
            plugin=PLUGIN,
            actor=current_user,
            masked=True,
        )
        session.commit()
        return row


@blp.route("/groups/<string:gs_group>")
class Groups(MethodView):
    @endpoint(blp, THEMATIC_READ, errors=(404,), descriptions={404: "No such group"})
    @blp.response(200, GovGroupOut)
    def get(self, gs_group):
        """How many people in the caller's places are in a derived group (60+, 80+,
        women 15–49), computed from the registry now (a count: nobody is shown)."""
        group = gs_group
        if group not in DERIVED_GROUPS:
            abort(404)
        total = group_count(current_session(), _g(), current_user, group)
        return {"group": group, "total": total, "total_capped": False}  # an exact count


@blp.route("/statistics")
class Statistics(MethodView):
    @endpoint(blp, READ)
    @blp.response(200, GovStatsOut)
    def get(self):
        """Applications per service and state, average handling days, overdue rate."""
        return statistics(current_session(), current_user)


@blp.route("/settings/<string:gs_community>/<string:gs_service>")
class Settings(MethodView):
    @endpoint(blp, MANAGE, errors=(422,), descriptions={422: "Unknown service or bad thresholds"})
    @blp.arguments(GovSettingIn)
    @blp.response(200, GovSettingOut)
    def put(self, data, gs_community, gs_service):
        """Enable or disable a service in a community and override its thresholds."""
        community, code = gs_community, gs_service
        session = current_session()
        try:
            row = set_service(
                session,
                _g(),
                community=community,
                service_code=code,
                enabled=data["enabled"],
                params=data["params"],
            )
        except GovError as exc:
            refuse(exc)
        session.commit()
        return row
