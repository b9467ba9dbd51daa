"""The list, filing on the web, one matter (with its steps and the actions the viewer
may take) and the resident's rating."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.toolkit import (
    N_,
    RegistryError,
    ScopeError,
    current_kernel,
    current_session,
    has_permission,
    require,
    require_login,
)
from plugins.matters import FILE, HANDLE, MANAGE, OWN, STATS, SUPERVISE
from plugins.matters import services as svc
from plugins.matters.forms import ActionForm, AnswerForm, FileForm, RateForm, TransferForm
from plugins.matters.models import Matter
from plugins.matters.views.common import (
    bp,
    category_choices,
    community_choices,
    contact,
    form_errors,
    lang,
    put_error,
    reader,
    settings,
    visible_matter,
)

ANY = (OWN, FILE, HANDLE, SUPERVISE, STATS)


def _gate() -> None:
    from flask import abort

    if not any(has_permission(current_user, p) for p in ANY):
        abort(403)


@bp.route("/")
@require_login(OWN)
def index():
    """The matters this viewer may see: a resident's own, an operator's filed ones, a
    department's, or every one within a supervisor's places; overdue ones marked."""
    _gate()
    session = current_session()
    state = request.args.get("state") or None
    if state not in svc.STATES:
        state = None
    query = svc.visible_query(session, current_user)
    if state:
        query = query.where(Matter.state == state)
    rows = [m for m in session.scalars(query.limit(200))
            if svc.can_see(session, current_user, m)][: settings()["page_size"] * 5]
    today = svc.local_today()
    page = render_template(
        "matters/index.html", matters=rows, state=state,
        overdue={m.id for m in rows if svc.is_overdue(m, today)},
        may_file=has_permission(current_user, OWN),
        may_stats=has_permission(current_user, STATS),
        may_manage=has_permission(current_user, MANAGE),
        resident=getattr(current_user, "kind", "") == "resident",
    )
    return page


def _file_form() -> FileForm:
    form = FileForm()
    form.category.choices = category_choices()
    form.community.choices = community_choices()
    return form


@bp.route("/new", methods=["GET", "POST"])
@require(OWN)
def new():
    """A resident files a matter. Verified: the registry knows them and their community.
    Not verified: they say their community, and the name and phone they give are kept
    with the matter only (masked, erased after the retention period)."""
    form = _file_form()
    verified = bool(getattr(current_user, "person_id", None))
    errors: list = []
    if form.validate_on_submit():
        session = current_session()
        community = form.community.data or None
        if verified:
            try:
                community = reader("filing a matter").person(current_user.person_id).get(
                    "community") or community
            except (ScopeError, RegistryError, ValueError):
                community = community or None  # the registry holds no place for them
        try:
            if not community:
                raise svc.MatterError(N_("Choose a community."), "community", status=422)
            matter = svc.file_matter(
                session, current_kernel().bus, source="web", category=form.category.data,
                summary=form.summary.data, location=form.location.data or "",
                community=community,
                person_id=current_user.person_id if verified else None,
                account_id=current_user.id,
                caller_name="" if verified else (form.caller_name.data or ""),
                caller_phone="" if verified else (form.caller_phone.data or ""),
                settings=settings())
        except svc.MatterError as exc:
            session.rollback()
            put_error(form, exc, errors)
        else:
            session.commit()
            flash(_("Matter %(ref)s filed. We tell you when it is answered.",
                    ref=matter.reference), "success")
            return redirect(url_for("matters.matter", matter_id=matter.id))
    errors = errors or form_errors(form)
    return render_template("matters/new.html", form=form, errors=errors,
                           verified=verified), 400 if errors else 200


@bp.route("/<int:matter_id>")
@require_login(OWN)
def matter(matter_id: int):
    _gate()
    return matter_page(visible_matter(matter_id))


def matter_page(matter: Matter, *, errors: list | None = None, status: int = 200,
                transfer_form: TransferForm | None = None,
                answer_form: AnswerForm | None = None, rate_form: RateForm | None = None):
    """One matter: its state, deadlines and steps, and the forms of the steps this
    viewer may take now."""
    session = current_session()
    handle = svc.can_handle(session, current_user, matter)
    own = svc.queries.is_own(current_user, matter)
    tform = transfer_form or TransferForm(formdata=None)
    tform.department.choices = [("", _("Choose"))] + [
        (d.code, d.name if lang() == "zh" or not d.name_en else d.name_en)
        for d in svc.departments(session) if d.code != matter.department and d.active]
    rform = rate_form or RateForm(formdata=None)
    rform.rating.choices = [(k, svc.label(svc.RATINGS, k, lang())) for k in svc.RATINGS]
    may_call = (has_permission(current_user, FILE) or has_permission(current_user, SUPERVISE)
                ) and not own
    page = render_template(
        "matters/matter.html", m=matter, steps=svc.steps(session, matter.id),
        who=contact(matter), own=own, handle=handle, may_call=may_call,
        overdue=svc.is_overdue(matter), errors=errors or [],
        action_form=ActionForm(formdata=None), transfer_form=tform,
        answer_form=answer_form or AnswerForm(formdata=None), rate_form=rform,
    )
    session.commit()  # the access-log entries of this display
    return page, status


@bp.route("/<int:matter_id>/rate", methods=["POST"])
@require(OWN)
def rate(matter_id: int):
    """The resident rates the answer on the web (their own matter only)."""
    matter = visible_matter(matter_id)
    if not svc.queries.is_own(current_user, matter):
        from flask import abort

        abort(404)
    form = RateForm()
    form.rating.choices = [(k, k) for k in svc.RATINGS]
    if form.validate_on_submit():
        try:
            svc.rate(current_session(), current_kernel().bus, matter, rating=form.rating.data,
                     actor_id=current_user.id, via="web", settings=settings())
        except svc.MatterError as exc:
            current_session().rollback()
            return matter_page(matter, errors=[("", exc.text())], status=409)
        current_session().commit()
        flash(_("Thank you for your rating."), "success")
        return redirect(url_for("matters.matter", matter_id=matter.id))
    return matter_page(matter, errors=form_errors(form), status=400, rate_form=form)
