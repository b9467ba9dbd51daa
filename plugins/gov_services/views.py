"""Public services pages, mounted by core at ``/gov-services``. Thin: the rules are in
``services``. Resident pages: the service hall, a service's page, apply, my applications
with their timelines. Staff pages: the queue, an application's actions, the thematic
databases, statistics and (admins) local settings."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from core.toolkit import (
    Row,
    ScopeError,
    bar_chart,
    check_access,
    csv_writer,
    current_session,
    has_permission,
    log_audit,
    mask_name,
    request_facts,
    require,
)
from core.toolkit import require_login as login_required
from plugins.gov_services import (
    APPLY,
    HANDLE,
    MANAGE,
    READ,
    THEMATIC_EXPORT,
    THEMATIC_READ,
    info,
)
from plugins.gov_services.catalogue import DERIVED_GROUPS
from plugins.gov_services.models import Application, Attachment, Membership, Setting
from plugins.gov_services.services import (
    ACTION_LABELS,
    STATE_LABELS,
    STATES,
    GovError,
    add_attachment,
    application_view,
    attachment_dir,
    available_actions,
    check_eligibility,
    deadline_status,
    derived_group,
    end_membership,
    gov,
    group_count,
    lang,
    log_display,
    may_reveal,
    membership_counts,
    memberships_query,
    my_applications,
    prefill,
    queue_query,
    rate,
    reader_for,
    reveal_answers,
    service_params,
    set_service,
    statistics,
    submit_application,
    transition,
)

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs
    SelectChoice = None

bp = Blueprint("gov_services", __name__, template_folder="templates")


def choices(pairs: Any) -> list[Any]:
    """Select options for this WTForms version (3.3 deprecates plain pairs)."""
    return [SelectChoice(v, lbl) if SelectChoice else (v, lbl) for v, lbl in pairs]


PER_PAGE = 20


def _g() -> Any:
    return gov()


@bp.app_template_global("gov_state")
def gov_state(state: str) -> str:
    return _(STATE_LABELS.get(state, state))


@bp.app_template_filter("dict_total")
def dict_total(value: dict[str, int]) -> int:
    return sum(value.values())


@bp.app_template_global("gov_action")
def gov_action(action: str) -> str:
    return _(ACTION_LABELS.get(action, action))


class CsrfForm(FlaskForm):
    """Only the CSRF token: the apply form's fields come from the catalogue's schema."""


class ActionForm(FlaskForm):
    action = StringField(validators=[DataRequired(), Length(max=30)])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])
    missing = TextAreaField(
        _l("What is missing (one per line)"), validators=[Optional(), Length(max=3000)]
    )


class RevealForm(FlaskForm):
    purpose = StringField(
        _l("Why you need the full values (goes to the applicant's access log)"),
        validators=[DataRequired(), Length(max=200)],
    )


class RatingForm(FlaskForm):
    rating = SelectField(
        _l("Your rating"),
        choices=choices(
            [
                ("5", _l("5 — very satisfied")),
                ("4", _l("4 — satisfied")),
                ("3", _l("3 — so-so")),
                ("2", _l("2 — dissatisfied")),
                ("1", _l("1 — very dissatisfied")),
            ]
        ),
        validators=[DataRequired()],
    )
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=1000)])


class SettingForm(FlaskForm):
    community = StringField(
        _l("Community code"),
        validators=[
            DataRequired(),
            Regexp(r"^\d{12}$", message=_l("Enter a 12-digit community code.")),
        ],
    )
    service = SelectField(_l("Service"), validators=[DataRequired()])
    enabled = BooleanField(_l("Offered in this community"), default=True)
    min_age = StringField(
        _l("Minimum age (leave empty for the default)"),
        validators=[Optional(), Regexp(r"^\d{1,3}$")],
    )


# ------------------------------------------------------------------------------ resident


@bp.route("/")
def index():
    """The service hall: public, because knowing what one may apply for and what to bring
    needs no account (最多跑一次)."""
    g = _g()
    q = (request.args.get("q") or "").strip()[:50]
    services = [
        s
        for s in g.catalogue.services.values()
        if not q or q.lower() in s.name_zh.lower() or q.lower() in s.name_en.lower()
    ]
    groups: dict[str, list[Any]] = {}
    for s in services:
        groups.setdefault(s.department, []).append(s)
    return render_template(
        "gov_services/index.html",
        info=info,
        q=q,
        groups=groups,
        g=g,
        lang=lang(),
        total=len(services),
    )


@bp.route("/services/<gs_service>")
def service(gs_service: str):
    """A service's page: requirements, documents, steps and time limits (public)."""
    code = gs_service
    g = _g()
    svc = g.catalogue.get(code)
    if svc is None:
        abort(404)
    return render_template(
        "gov_services/service.html",
        s=svc,
        g=g,
        lang=lang(),
        may_apply=has_permission(current_user, APPLY),
    )


def _answers_from_form(svc: Any) -> dict[str, Any]:
    return {f["name"]: request.form.get(f"f_{f['name']}") for f in svc.fields}


@bp.route("/services/<gs_service>/apply", methods=["GET", "POST"])
@require(APPLY)
def apply(gs_service: str):
    code = gs_service
    g = _g()
    svc = g.catalogue.get(code)
    if svc is None:
        abort(404)
    session = current_session()
    if not current_user.is_verified:
        return render_template("gov_services/not_verified.html", s=svc, lang=lang()), 403
    person = prefill(session, g, current_user.person_id, actor=current_user)
    reasons = check_eligibility(svc, person, service_params(session, svc, person["community"]))
    form = CsrfForm()
    errors: dict[str, str] = {}
    answers: dict[str, Any] = {}
    status = 200
    if not reasons and request.method == "POST" and form.validate_on_submit():
        answers = _answers_from_form(svc)
        try:
            app = submit_application(
                session,
                g,
                service_code=svc.code,
                person_id=current_user.person_id,
                actor=current_user,
                answers=answers,
                user_id=current_user.id,
                filed_by=current_user.agent,
            )
            for doc in svc.documents:
                upload = request.files.get(f"doc_{doc['code']}")
                if upload and upload.filename:
                    add_attachment(
                        session,
                        g,
                        app,
                        document=doc["code"],
                        filename=upload.filename,
                        data=upload.read(),
                        actor=current_user,
                        instance_path=current_app.instance_path,
                    )
        except GovError as exc:
            session.rollback()
            errors = exc.errors or {exc.field or "eligibility": exc.text()}
            status = 400
        else:
            session.commit()
            flash(
                _("Application sent. Your reference number is %(ref)s.", ref=app.reference),
                "success",
            )
            return redirect(url_for("gov_services.application", gs_application_id=app.id))
    elif request.method == "POST":
        status = 400
        errors = {"": _("The form expired; please send it again.")} if not reasons else {}
    session.commit()  # the registry read is in the access log
    return render_template(
        "gov_services/apply.html",
        s=svc,
        person=person,
        reasons=reasons,
        form=form,
        errors=errors,
        answers=answers,
        lang=lang(),
        g=g,
    ), 400 if reasons and request.method == "POST" else status


@bp.route("/applications")
@login_required
def my_list():
    """The signed-in resident's applications (empty for staff without a person)."""
    g = _g()
    apps = my_applications(current_session(), current_user.person_id)
    return render_template("gov_services/my_applications.html", apps=apps, g=g, lang=lang())


def _load(application_id: int) -> Application:
    app = current_session().get(Application, application_id)
    if app is None:
        abort(404)
    check_access(person_id=app.person_id, permission=READ, community=app.community, grid=app.grid)
    return app


def _detail(
    app: Application,
    *,
    action_form: ActionForm | None = None,
    error: str = "",
    status: int = 200,
    view: dict[str, Any] | None = None,
    reveal_form: RevealForm | None = None,
) -> Any:
    """The case page. The applicant is read through the scoped reader (masked, in their
    access log); the answers through :func:`application_view` (sensitive ones masked
    unless ``view`` is a reveal, the display logged)."""
    g = _g()
    session = current_session()
    person = None
    if has_permission(current_user, READ) or current_user.person_id == app.person_id:
        try:
            person = reader_for(session, g, current_user, f"application {app.reference}").person(
                app.person_id
            )
        except ScopeError:  # outside the reader's scope: the case still shows
            person = None
    if view is None:
        view = application_view(session, g, app, viewer=current_user)
    session.commit()
    own = current_user.person_id == app.person_id
    return render_template(
        "gov_services/application.html",
        app=app,
        s=g.service(app.service_code),
        g=g,
        lang=lang(),
        person=person,
        view=view,
        own=own,
        may_reveal=may_reveal(app, current_user) and bool(view["masked"] or view["revealed"]),
        reveal_form=reveal_form or RevealForm(formdata=None),
        actions=available_actions(app, current_user),
        action_form=action_form or ActionForm(),
        rating_form=RatingForm(),
        error=error,
        deadline=deadline_status(app, g),
        may_upload=own or has_permission(current_user, HANDLE),
        upload_form=CsrfForm(),
    ), status


@bp.route("/applications/<int:gs_application_id>")
@login_required
def application(gs_application_id: int):
    application_id = gs_application_id
    return _detail(_load(application_id))


@bp.route("/applications/<int:gs_application_id>/action", methods=["POST"])
@login_required
def application_action(gs_application_id: int):
    application_id = gs_application_id
    app = _load(application_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _detail(app, action_form=form, error=_("Choose an action."), status=400)
    session = current_session()
    missing = (form.missing.data or "").splitlines()
    try:
        transition(
            session,
            _g(),
            app,
            form.action.data,
            actor=current_user,
            comment=form.comment.data or "",
            missing=missing,
        )
    except GovError as exc:
        session.rollback()
        status = exc.status if exc.status != 422 else 400
        return _detail(_load(application_id), action_form=form, error=exc.text(), status=status)
    session.commit()
    flash(_("Done: %(action)s.", action=gov_action(form.action.data)), "success")
    return redirect(url_for("gov_services.application", gs_application_id=app.id))


@bp.route("/applications/<int:gs_application_id>/reveal", methods=["POST"])
@require(HANDLE)
def application_reveal(gs_application_id: int):
    """The masked answers in full, on this page only, for a stated purpose: the handler
    at a step that checks them. Logged in the applicant's access log as a full display."""
    app = _load(gs_application_id)
    form = RevealForm()
    if not form.validate_on_submit():
        return _detail(app, reveal_form=form, error=_("Say why you need to see the full values."),
                       status=400)
    session = current_session()
    try:
        view = reveal_answers(session, _g(), app, actor=current_user, purpose=form.purpose.data)
    except GovError as exc:
        session.rollback()
        return _detail(_load(gs_application_id), error=exc.text(),
                       status=exc.status if exc.status != 422 else 400)
    return _detail(app, view=view)


@bp.route("/applications/<int:gs_application_id>/rate", methods=["POST"])
@login_required
def application_rate(gs_application_id: int):
    application_id = gs_application_id
    app = _load(application_id)
    form = RatingForm()
    if not form.validate_on_submit():
        return _detail(app, error=_("Choose a rating."), status=400)
    session = current_session()
    try:
        rate(
            session,
            app,
            actor=current_user,
            rating=int(form.rating.data),
            comment=form.comment.data or "",
        )
    except GovError as exc:
        session.rollback()
        return _detail(
            _load(application_id), error=exc.text(), status=exc.status if exc.status != 422 else 400
        )
    session.commit()
    flash(_("Thank you for your rating."), "success")
    return redirect(url_for("gov_services.application", gs_application_id=app.id))


@bp.route("/applications/<int:gs_application_id>/attachments", methods=["POST"])
@login_required
def application_upload(gs_application_id: int):
    application_id = gs_application_id
    app = _load(application_id)
    if current_user.person_id != app.person_id and not has_permission(current_user, HANDLE):
        abort(403)
    form = CsrfForm()
    upload = request.files.get("file")
    if not form.validate_on_submit() or upload is None or not upload.filename:
        return _detail(app, error=_("Choose a file."), status=400)
    session = current_session()
    try:
        add_attachment(
            session,
            _g(),
            app,
            document=request.form.get("document", ""),
            filename=upload.filename,
            data=upload.read(),
            actor=current_user,
            instance_path=current_app.instance_path,
        )
    except GovError as exc:
        session.rollback()
        return _detail(
            _load(application_id), error=exc.text(), status=exc.status if exc.status != 422 else 400
        )
    session.commit()
    flash(_("File attached."), "success")
    return redirect(url_for("gov_services.application", gs_application_id=app.id))


@bp.route("/attachments/<int:gs_attachment_id>")
@login_required
def attachment(gs_attachment_id: int):
    """Files live under the instance path, never in the web root; only the applicant and
    staff of the case's place get them."""
    attachment_id = gs_attachment_id
    att = current_session().get(Attachment, attachment_id)
    if att is None:
        abort(404)
    app = att.application
    check_access(person_id=app.person_id, permission=READ, community=app.community, grid=app.grid)
    path = attachment_dir(current_app.instance_path) / att.stored_as
    if not path.is_file():
        abort(404)
    session = current_session()
    log_display(  # a scan of a certificate or a card: a full display
        session,
        app,
        viewer=current_user,
        purpose=f"application {app.reference}: attachment",
        fields=[f"attachment:{att.document}"],
        masked=False,
    )
    session.commit()
    return send_file(
        path, mimetype=att.content_type, as_attachment=True, download_name=att.filename
    )


# ------------------------------------------------------------------------------ staff


@bp.route("/queue")
@require(READ)
def queue():
    g = _g()
    state = request.args.get("state") or None
    service_code = request.args.get("service") or None
    community = (request.args.get("community") or "").strip() or None
    overdue = request.args.get("overdue") == "1"
    if state not in (None, *STATES) or (service_code and service_code not in g.catalogue.services):
        abort(400)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    query = queue_query(
        current_user, state=state, service=service_code, community=community, overdue=overdue
    )
    session = current_session()
    apps = list(session.scalars(query.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)))
    shown = apps[:PER_PAGE]
    # Applicants by masked name (李**): enough to tell cases apart; read through the
    # reader, so each listed applicant has the queue in their access log.
    people = {
        p["id"]: p
        for p in reader_for(session, g, current_user, "service queue").persons(
            sorted({a.person_id for a in shown})
        )
    }
    session.commit()
    return render_template(
        "gov_services/queue.html",
        apps=shown,
        people=people,
        mask_name=mask_name,
        more=len(apps) > PER_PAGE,
        page=page,
        g=g,
        lang=lang(),
        states=STATES,
        state=state,
        service=service_code,
        community=community or "",
        overdue=overdue,
        deadline=lambda a: deadline_status(a, g),
        may_manage=has_permission(current_user, MANAGE),
    )


@bp.route("/thematic")
@require(THEMATIC_READ)
def thematic():
    g = _g()
    session = current_session()
    counts = membership_counts(session, current_user)
    # counts only: nobody is shown, so no one's access log is written
    groups = [(code, group_count(session, g, current_user, code)) for code in DERIVED_GROUPS]
    return render_template(
        "gov_services/thematic.html", g=g, lang=lang(), counts=counts, groups=groups
    )


@bp.route("/thematic/<gs_database>")
@require(THEMATIC_READ)
def thematic_list(gs_database: str):
    database = gs_database
    g = _g()
    session = current_session()
    if database in DERIVED_GROUPS:
        page_no = max(1, request.args.get("page", 1, type=int) or 1)
        page = derived_group(session, g, current_user, database, page=page_no)
        session.commit()
        return render_template(
            "gov_services/group.html", g=g, lang=lang(), group=database, page=page
        )
    if database not in g.catalogue.databases:
        abort(404)
    active = request.args.get("ended") != "1"
    rows = list(
        session.scalars(
            memberships_query(current_user, database=database, active=active).limit(200)
        )
    )
    people = {
        p["id"]: p
        for p in reader_for(session, g, current_user, f"thematic database {database}").persons(
            [r.person_id for r in rows]
        )
    }
    session.commit()
    return render_template(
        "gov_services/database.html",
        g=g,
        lang=lang(),
        database=database,
        rows=rows,
        people=people,
        active=active,
        may_export=has_permission(current_user, THEMATIC_EXPORT),
        may_end=has_permission(current_user, HANDLE),
    )


class EndForm(FlaskForm):
    reason = StringField(_l("Reason for ending"), validators=[DataRequired(), Length(max=200)])


@bp.route("/thematic/memberships/<int:gs_membership_id>/end", methods=["POST"])
@require(HANDLE)
def membership_end(gs_membership_id: int):
    """End a membership (termination): kept as history; staff of its place only."""
    session = current_session()
    row = session.get(Membership, gs_membership_id)
    if row is None:
        abort(404)
    check_access(permission=HANDLE, community=row.community or "-", grid=row.grid)
    form = EndForm()
    if not form.validate_on_submit():
        flash(_("Give the reason."), "error")
        return redirect(url_for("gov_services.thematic_list", gs_database=row.database)), 303
    try:
        end_membership(session, _g(), row, reason=form.reason.data)
    except GovError as exc:
        session.rollback()
        flash(exc.text(), "error")
    else:
        session.commit()
        flash(_("Membership ended; it stays in the history."), "success")
    return redirect(url_for("gov_services.thematic_list", gs_database=row.database))


@bp.route("/thematic/<gs_database>/export.csv")
@require(THEMATIC_EXPORT)
def thematic_export(gs_database: str):
    """A masked CSV of a database's active members in the caller's places: each member
    read through the reader (in their access log), cells neutralised against formula
    injection (``csv_writer``), every export in the audit log."""
    database = gs_database
    g = _g()
    if database not in g.catalogue.databases:
        abort(404)
    session = current_session()
    rows = list(session.scalars(memberships_query(current_user, database=database)))
    people = {
        p["id"]: p
        for p in reader_for(
            session, g, current_user, f"export thematic database {database}"
        ).persons([r.person_id for r in rows])
    }
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(
        ["person_id", "name", "id_number", "community", "grid", "service", "started_on"]
    )
    for r in rows:
        p = people.get(r.person_id, {})
        writer.writerow(
            [
                r.person_id,
                p.get("name", ""),
                p.get("id_number") or "",
                r.community or "",
                r.grid or "",
                r.service_code,
                r.started_on.isoformat(),
            ]
        )
    log_audit(
        session,
        "gov_services.thematic.export",
        actor=current_user.actor,
        target_type="thematic_database",
        target_id=database,
        detail={"rows": len(rows)},
        facts=request_facts(),
    )
    session.commit()
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": (
                f"attachment; filename=gov_services_{database}_{date.today()}.csv"
            )
        },
    )


@bp.route("/statistics")
@require(READ)
def stats():
    g = _g()
    data = statistics(current_session(), current_user)
    by_service = [
        Row(k, g.service(k).name(lang()), n)
        for k, n in sorted(data["per_service"].items(), key=lambda kv: -kv[1])
    ]
    by_state = [
        Row(k, gov_state(k), n) for k, n in sorted(data["per_state"].items(), key=lambda kv: -kv[1])
    ]
    sections = [
        ("service", _("Applications per service"), by_service),
        ("state", _("Applications per state"), by_state),
    ]
    charts = [
        {
            "key": k,
            "title": t,
            "rows": rows,
            "chart": bar_chart(rows, title=t, chart_id=f"chart-{k}", label_width=220),
        }
        for k, t, rows in sections
        if rows
    ]
    return render_template("gov_services/statistics.html", data=data, charts=charts)


@bp.route("/settings", methods=["GET", "POST"])
@require(MANAGE)
def settings():
    """Admins switch services on or off per community and set local age thresholds."""
    g = _g()
    form = SettingForm()
    form.service.choices = choices((s.code, s.name(lang())) for s in g.catalogue.services.values())
    session = current_session()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            svc = g.service(form.service.data)
            params = {}
            if form.min_age.data:
                if "min_age" not in svc.params():
                    form.min_age.errors.append(_("This service has no age threshold."))
                else:
                    default = svc.params()["min_age"]
                    value = int(form.min_age.data)
                    params["min_age"] = (
                        {k: value for k in default} if isinstance(default, dict) else value
                    )
            if not form.min_age.errors:
                try:
                    set_service(
                        session,
                        g,
                        community=form.community.data,
                        service_code=svc.code,
                        enabled=form.enabled.data,
                        params=params,
                    )
                except GovError as exc:
                    form.community.errors.append(exc.text())
                else:
                    session.commit()
                    flash(_("Saved."), "success")
                    return redirect(url_for("gov_services.settings"))
        status = 400
    rows = list(session.scalars(select(Setting).order_by(Setting.community, Setting.service_code)))
    errors = [(f.id, str(e)) for f in form for e in f.errors]
    return render_template(
        "gov_services/settings.html", form=form, rows=rows, g=g, lang=lang(), errors=errors
    ), status
