"""Staff pages: filing from the hotline console, signing, transferring, answering, the
call-back, statistics, and the departments' members."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.toolkit import (
    N_,
    RegistryError,
    Row,
    ScopeError,
    bar_chart,
    current_kernel,
    current_session,
    find_account,
    require,
)
from plugins.matters import FILE, HANDLE, MANAGE, STATS
from plugins.matters import services as svc
from plugins.matters.forms import (
    ActionForm,
    AnswerForm,
    ConsoleForm,
    MemberForm,
    RateForm,
    TransferForm,
)
from plugins.matters.views.common import (
    bp,
    category_choices,
    community_choices,
    form_errors,
    matters_department,
    put_error,
    reader,
    settings,
    visible_matter,
)
from plugins.matters.views.pages import matter_page


@bp.route("/console", methods=["POST"])
@require(FILE)
def console():
    """The operator files a caller's matter from the hotline console (the form in the
    console's slot). A registry caller: their community comes from the registry. A caller
    the registry does not know: the community they name, and their name and phone kept
    with the matter only."""
    form = ConsoleForm(prefix="matter")
    form.category.choices = category_choices()
    form.community.choices = community_choices()
    errors: list = []
    person_id = None
    if form.person_id.data:
        try:
            person_id = int(form.person_id.data)
        except ValueError:
            abort(404)
    if form.validate_on_submit():
        session = current_session()
        community = form.community.data or None
        try:
            if person_id is not None:
                try:
                    community = reader("hotline call").person(person_id).get("community")
                except (ScopeError, RegistryError, ValueError):
                    abort(404)
            if not community:
                raise svc.MatterError(N_("Choose a community."), "community", status=422)
            matter = svc.file_matter(
                session, current_kernel().bus, source="hotline", category=form.category.data,
                summary=form.summary.data, location=form.location.data or "",
                community=community, person_id=person_id, filed_by_id=current_user.id,
                caller_name=form.caller_name.data or "", caller_phone=form.caller_phone.data or "",
                settings=settings())
        except svc.MatterError as exc:
            session.rollback()
            put_error(form, exc, errors)
        else:
            session.commit()
            from plugins.matters.views.common import matters_department

            flash(_("Matter %(ref)s filed for %(dept)s.", ref=matter.reference,
                    dept=matters_department(matter.department)), "success")
            return redirect(url_for("matters.matter", matter_id=matter.id))
    errors = errors or form_errors(form)
    return render_template("matters/console_file.html", form=form, errors=errors,
                           person_id=person_id), 400


def _handled(matter_id: int):
    matter = visible_matter(matter_id)
    if not svc.can_handle(current_session(), current_user, matter):
        abort(404)
    return matter


def _done(matter, message: str):
    current_session().commit()
    flash(message, "success")
    return redirect(url_for("matters.matter", matter_id=matter.id))


@bp.route("/<int:matter_id>/sign", methods=["POST"])
@require(HANDLE)
def sign(matter_id: int):
    matter = _handled(matter_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        svc.sign(current_session(), matter, actor_id=current_user.id)
    except svc.MatterError as exc:
        return matter_page(matter, errors=[("", exc.text())], status=409)
    return _done(matter, _("Signed for."))


@bp.route("/<int:matter_id>/transfer", methods=["POST"])
@require(HANDLE)
def transfer(matter_id: int):
    matter = _handled(matter_id)
    form = TransferForm()
    form.department.choices = [(d.code, d.code) for d in svc.departments(current_session())]
    if form.validate_on_submit():
        try:
            svc.transfer(current_session(), matter, to=form.department.data,
                         reason=form.reason.data, actor_id=current_user.id, settings=settings())
        except svc.MatterError as exc:
            current_session().rollback()
            errors: list = []
            put_error(form, exc, errors)
            return matter_page(matter, errors=errors, status=409, transfer_form=form)
        return _done(matter, _("Transferred."))
    return matter_page(matter, errors=form_errors(form), status=400, transfer_form=form)


@bp.route("/<int:matter_id>/answer", methods=["POST"])
@require(HANDLE)
def answer(matter_id: int):
    matter = _handled(matter_id)
    form = AnswerForm()
    if form.validate_on_submit():
        try:
            svc.answer(current_session(), current_kernel().bus, matter, text=form.answer.data,
                       actor_id=current_user.id)
        except svc.MatterError as exc:
            current_session().rollback()
            return matter_page(matter, errors=[("", exc.text())], status=409, answer_form=form)
        return _done(matter, _("Answer sent."))
    return matter_page(matter, errors=form_errors(form), status=400, answer_form=form)


@bp.route("/<int:matter_id>/callback", methods=["POST"])
@require(FILE)
def callback(matter_id: int):
    """The operator called the resident back with the answer and records their rating."""
    matter = visible_matter(matter_id)
    form = RateForm()
    form.rating.choices = [(k, k) for k in svc.RATINGS]
    if form.validate_on_submit():
        try:
            svc.rate(current_session(), current_kernel().bus, matter, rating=form.rating.data,
                     actor_id=current_user.id, via="call", settings=settings())
        except svc.MatterError as exc:
            current_session().rollback()
            return matter_page(matter, errors=[("", exc.text())], status=409)
        return _done(matter, _("Call-back recorded."))
    return matter_page(matter, errors=form_errors(form), status=400, rate_form=form)


@bp.route("/stats")
@require(STATS)
def stats():
    """Per department: received, signed on time, answered on time, overdue, satisfaction;
    a server-drawn chart with the numbers in a table."""
    session = current_session()
    rows = [r for r in svc.statistics(session, current_user) if r.received]
    from plugins.matters.views.common import matters_department

    chart_rows = [Row(r.code, matters_department(r.code), r.received) for r in rows]
    over_rows = [Row(r.code, matters_department(r.code), r.overdue) for r in rows]
    charts = {
        "received": bar_chart(chart_rows, title=_("Matters received per department"),
                              chart_id="matters-received"),
        "overdue": bar_chart(over_rows, title=_("Overdue matters per department"),
                             chart_id="matters-overdue"),
    }
    return render_template("matters/stats.html", rows=rows, charts=charts)


@bp.route("/departments", methods=["GET", "POST"])
@require(MANAGE)
def departments():
    """Departments, their routing rules and their members; an admin adds or removes a
    staff account (``shequ matters add-member`` does the same)."""
    session = current_session()
    form = MemberForm()
    form.department.choices = [("", _("Choose"))] + [
        (d.code, matters_department(d.code)) for d in svc.departments(session)]
    errors: list = []
    if request.method == "POST" and request.form.get("remove"):
        if not ActionForm().validate_on_submit():
            abort(400)
        try:
            uid = int(request.form.get("user_id") or 0)
        except ValueError:
            abort(404)
        svc.remove_member(session, request.form.get("remove") or "", uid, actor=current_user)
        session.commit()
        flash(_("Member removed."), "success")
        return redirect(url_for("matters.departments"))
    if form.validate_on_submit():
        account = find_account(session, form.username.data.strip())
        try:
            if account is None:
                raise svc.MatterError(N_("Choose a staff account."), "username")
            svc.add_member(session, form.department.data, account.id, actor=current_user)
        except svc.MatterError as exc:
            session.rollback()
            exc.field = "username" if exc.field == "user_id" else exc.field
            put_error(form, exc, errors)
        else:
            session.commit()
            flash(_("Member added."), "success")
            return redirect(url_for("matters.departments"))
    errors = errors or form_errors(form)
    from sqlalchemy import select

    from core.toolkit import account_views
    from plugins.matters.models import MattersMember, MattersRoute

    member_rows = list(session.scalars(
        select(MattersMember).order_by(MattersMember.department, MattersMember.id)))
    accounts = account_views(session, [m.user_id for m in member_rows])
    routes = list(session.scalars(
        select(MattersRoute).order_by(MattersRoute.category, MattersRoute.place)))
    from plugins.matters.views.configure import place_label

    return render_template(
        "matters/departments.html", form=form, errors=errors, depts=svc.departments(session),
        members=member_rows, accounts=accounts, routes=routes, place_label=place_label,
        action_form=ActionForm(formdata=None),
    ), 400 if errors else 200
