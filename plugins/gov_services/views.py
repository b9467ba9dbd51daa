"""Public services pages, mounted by core at ``/gov-services``. Thin: the rules are in
``services``. Resident pages: the service hall, a service's page, apply, my applications
with their timelines. Staff pages: the queue, an application's actions, the thematic
databases, statistics and (admins) local settings."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
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
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional, Regexp

from core.toolkit import (
    Length,
    ScopeError,
    check_access,
    current_session,
    has_permission,
    mask_name,
    require,
    staff_accounts,
)
from core.toolkit import require_login as login_required
from plugins.gov_services import (
    APPLY,
    HANDLE,
    READ,
    info,
)
from plugins.gov_services.models import Application, Attachment
from plugins.gov_services.services import (
    ACTION_LABELS,
    STATE_LABELS,
    STEP_LABELS,
    STEP_SHOWS_STATE,
    GovError,
    add_attachment,
    application_view,
    attachment_dir,
    available_actions,
    check_application,
    check_eligibility,
    deadline_status,
    document_label,
    gov,
    lang,
    log_display,
    material_items,
    may_reveal,
    my_applications,
    notice_started,
    prefill,
    public_notices,
    rate,
    reader_for,
    reveal_answers,
    service_params,
    submit_application,
    transition,
)
from plugins.gov_services.services.search import (
    MAX_QUERY,
    Standing,
    alternatives,
    by_department,
    by_life_event,
    office_for,
    search_services,
    standing,
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


@bp.app_template_global("gov_step")
def gov_step(step: Any) -> str:
    """A timeline line's words: what happened, and where it led when the name of the step
    does not already say so (never "Submitted → Submitted")."""
    text = _(STEP_LABELS.get(step.action, ACTION_LABELS.get(step.action, step.action)))
    if step.action in STEP_SHOWS_STATE and step.to_state != step.from_state:
        text = _("%(step)s → %(state)s", step=text, state=gov_state(step.to_state))
    return text


@bp.app_template_global("gov_step_items")
def gov_step_items(step: Any) -> str:
    """The items a 补正 step asked for, in the reader's language — for the newest such step,
    whose list is the application's ``missing`` (older rounds keep only their comment)."""
    if step.action != "request_material":
        return ""
    app = step.application
    last = [s for s in app.steps if s.action == "request_material"][-1]
    if last is not step:
        return ""
    labels = [i["label"] for i in material_items(_g().service(app.service_code), app, lang())]
    return ("; " if lang() == "en" else "；").join(labels)


@bp.app_template_global("gov_answer")
def gov_answer(field: dict[str, Any], value: Any) -> str:
    """A stored answer as the reader should see it: a chosen option by its label (中度,
    not 2), a yes/no in words."""
    if value is True:
        return _("Yes")
    if value is False:
        return _("No")
    if value in (None, ""):
        return "—"
    if field.get("type") == "select":
        for c in field.get("choices", ()):
            if str(c["value"]) == str(value):
                return c["en"] if lang() == "en" else c["zh"]
    return str(value)


def _no_area(status: int = 403) -> Any:
    """Staff with no community or grid assigned act for nowhere (deny by default): say so,
    and whom to ask, instead of an empty queue or a "not found"."""
    admins = [a.name for a in staff_accounts(current_session(), ["admin"])][:5]
    # an administrator can assign the area themselves: the link to their own account
    own_account = (url_for("identity_admin.account", user_id=current_user.id)
                   if has_permission(current_user, "identity.user.manage") else None)
    return render_template("gov_services/no_area.html", admins=admins, own_account=own_account,
                           lang=lang()), status


def _has_area(user: Any) -> bool:
    return bool(getattr(user, "scopes", None))


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
    needs no account (最多跑一次). Grouped by life event (养老, 生育…: what residents think
    in) by default and by department one tab away; a search lists the matches best first
    (characters, pinyin, initials, synonyms; ``services/search.py``)."""
    g = _g()
    q = (request.args.get("q") or "").strip()[:MAX_QUERY]
    by = "department" if request.args.get("by") == "department" else "event"
    services = search_services(g.catalogue, q)
    if q:
        groups: list[tuple[str, list[Any]]] = []
    elif by == "department":
        groups = by_department(g.catalogue, services)
    else:
        groups = by_life_event(g.catalogue, services)
    return render_template(
        "gov_services/index.html",
        info=info,
        q=q,
        by=by,
        services=services,
        groups=groups,
        g=g,
        lang=lang(),
        total=len(g.catalogue.services),
    )


@bp.route("/services/<gs_service>")
def service(gs_service: str):
    """A service's page in plain words: what it is for, who may apply, what to bring, how
    long it takes, where to go (public). A signed-in verified resident who may not apply
    reads so first, with the reasons and the services of the same life events they may
    apply for instead (the check reads their own record through the scoped reader)."""
    code = gs_service
    g = _g()
    svc = g.catalogue.get(code)
    if svc is None:
        abort(404)
    may_apply = has_permission(current_user, APPLY)
    where = standing(current_session(), g, svc, current_user) if may_apply else None
    if where is not None:
        current_session().commit()  # an agent's read for the resident is logged
    return render_template(
        "gov_services/service.html",
        s=svc,
        g=g,
        lang=lang(),
        may_apply=may_apply and (where is None or where.eligible),
        standing=where,
        office=office_for(g, svc, lang()),
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
    others = alternatives(session, g, svc, person) if reasons else []  # "not eligible" first
    form = CsrfForm()
    errors: dict[str, str] = {}
    answers: dict[str, Any] = {}
    status = 200
    # check (the default: a form from an older page is checked, never filed unseen),
    # send (file it) or edit (back to the form with the answers kept)
    step = request.form.get("step") or "check"
    if not reasons and request.method == "POST" and form.validate_on_submit():
        answers = _answers_from_form(svc)
        clean: dict[str, Any] = {}
        if step in ("check", "send"):
            # the check before commit: the same checks as filing, nothing filed yet
            clean, errors = check_application(session, g, svc, person, answers)
        if step == "send" and not errors:
            try:
                app = _file(session, g, svc, answers)
            except GovError as exc:
                session.rollback()
                errors = exc.errors or {exc.field or "eligibility": exc.text()}
            else:
                session.commit()
                return redirect(
                    url_for("gov_services.application_receipt", gs_application_id=app.id)
                )
        if step in ("check", "send") and all(k.startswith("doc_") for k in errors):
            # the answers are fine: the check page (again, when a file was refused)
            session.commit()  # the registry read is in the access log
            return render_template(
                "gov_services/apply_check.html",
                s=svc,
                person=person,
                answers=answers,
                clean=clean,
                errors=errors,
                form=form,
                lang=lang(),
                g=g,
            ), 400 if errors else 200
        if errors:
            status = 400
    elif request.method == "POST":
        status = 400
        errors = {"": _("The form expired; please send it again.")} if not reasons else {}
    session.commit()  # the registry read is in the access log
    return render_template(
        "gov_services/apply.html",
        s=svc,
        person=person,
        reasons=reasons,
        standing=Standing(reasons, others),
        form=form,
        errors=errors,
        answers=answers,
        lang=lang(),
        g=g,
    ), 400 if reasons and request.method == "POST" else status


def _file(session: Any, g: Any, svc: Any, answers: dict[str, Any]) -> Application:
    """File the checked application with the documents attached on the check page."""
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
    return app


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
    if (
        current_user.person_id != app.person_id
        and has_permission(current_user, READ)
        and not _has_area(current_user)
    ):
        abort(make_response(*_no_area()))
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
    svc = g.service(app.service_code)
    actions = available_actions(app, current_user)
    return render_template(
        "gov_services/application.html",
        items=material_items(svc, app, lang()),
        doc_label=lambda code: document_label(svc, app, code, lang()),
        own_actions=[a for a in actions if a in ("resubmit", "withdraw")],
        staff_actions=[a for a in actions if a not in ("resubmit", "withdraw")],
        notice_from=notice_started(app),
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


@bp.route("/applications/<int:gs_application_id>/receipt")
@login_required
def application_receipt(gs_application_id: int):
    """The receipt after filing: the reference number, when an answer is due and what
    happens next — the page a resident can photograph or print."""
    app = _load(gs_application_id)
    g = _g()
    return render_template(
        "gov_services/receipt.html", app=app, s=g.service(app.service_code), g=g, lang=lang()
    )


@bp.route("/notices")
def notices():
    """公示: every case in public notice, for its whole period, public like a notice board
    (the applicant's name masked, as such boards show it). Each applicant read is in their
    access log under "public notice"."""
    g = _g()
    session = current_session()
    apps = public_notices(session)
    people = {
        p["id"]: p
        for p in reader_for(session, g, None, "public notice (公示)").persons(
            sorted({a.person_id for a in apps})
        )
    } if apps else {}
    session.commit()
    return render_template(
        "gov_services/notices.html",
        apps=apps,
        people=people,
        mask_name=mask_name,
        started=notice_started,
        g=g,
        lang=lang(),
    )


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
            documents=request.form.getlist("missing_doc"),
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
