"""The administrator's pages for departments and routing rules (``matters.department.
manage``): add, rename, close and reopen a department; add, change and remove a rule.
Thin: the rules (and the audit entries) are in ``services.configure``; the list with the
members is ``staff.departments``."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.toolkit import RegistryError, ScopeError, current_session, require
from plugins.matters import MANAGE
from plugins.matters import services as svc
from plugins.matters.forms import (
    ActionForm,
    DepartmentForm,
    RenameForm,
    RouteEditForm,
    RouteForm,
)
from plugins.matters.views.common import (
    bp,
    form_errors,
    lang,
    matters_department,
    put_error,
    reader,
)


def _communities() -> list[dict[str, Any]]:
    try:
        return reader("").communities()
    except (ScopeError, RegistryError):
        return []


def _place_choices() -> list[tuple[str, str]]:
    """Anywhere, each street, each community (codes the routing understands)."""
    rows = _communities()
    streets: dict[str, str] = {}
    for c in rows:
        streets.setdefault(c["street"], c.get("street_name") or c["street"])
    return [("", _("Anywhere")),
            *((code, _("%(name)s (whole street)", name=name)) for code, name in streets.items()),
            *((c["code"], c["name"]) for c in rows)]


def place_label(place: str) -> str:
    """A rule's place as words: anywhere, a street or a community (its code if unknown)."""
    return dict(_place_choices()).get(place or "", place)


def _department_choices() -> list[tuple[str, str]]:
    return [("", _("Choose")), *((d.code, matters_department(d.code))
                                 for d in svc.departments(current_session()) if d.active)]


def _status(exc: svc.MatterError) -> int:
    return 409 if exc.status == 409 else 400


def _days(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text else None


@bp.route("/departments/new", methods=["GET", "POST"])
@require(MANAGE)
def department_new():
    """Add a department or a community office."""
    form = DepartmentForm()
    form.community.choices = [("", _("Choose a community")),
                              *((c["code"], c["name"]) for c in _communities())]
    errors: list = []
    if form.validate_on_submit():
        session = current_session()
        try:
            row = svc.create_department(
                session, code=form.code.data.strip(), name=form.name.data,
                name_en=form.name_en.data or "", kind=form.kind.data,
                community=form.community.data or None, actor=current_user)
        except svc.MatterError as exc:
            session.rollback()
            put_error(form, exc, errors)
            return render_template("matters/department_new.html", form=form,
                                   errors=errors), _status(exc)
        session.commit()
        flash(_("Department %(name)s added.", name=row.name), "success")
        return redirect(url_for("matters.departments"))
    errors = form_errors(form)
    return render_template("matters/department_new.html", form=form,
                           errors=errors), 400 if errors else 200


def _department_or_404(code: str):
    try:
        return svc.lookup_department(current_session(), code)
    except svc.MatterError:
        abort(404)


def _route_or_404(route_id: int):
    rule = svc.get_route(current_session(), route_id)
    if rule is None:
        abort(404)
    return rule


def _department_page(dept, form: RenameForm, errors: list, status: int = 200):
    session = current_session()
    rules = [r for r in svc.routes(session) if r.department == dept.code]
    return render_template(
        "matters/department_edit.html", dept=dept, form=form, errors=errors,
        open_count=svc.open_matters(session, dept.code), rules=rules,
        place_label=place_label, action_form=ActionForm(formdata=None)), status


@bp.route("/departments/<department_code>", methods=["GET", "POST"])
@require(MANAGE)
def department_edit(department_code: str):
    """Rename a department; the page also closes or reopens it."""
    code = department_code
    dept = _department_or_404(code)
    form = RenameForm(data={"name": dept.name, "name_en": dept.name_en})
    errors: list = []
    if form.validate_on_submit():
        session = current_session()
        try:
            svc.rename_department(session, code, name=form.name.data,
                                  name_en=form.name_en.data or "", actor=current_user)
        except svc.MatterError as exc:
            session.rollback()
            put_error(form, exc, errors)
            return _department_page(dept, form, errors, _status(exc))
        session.commit()
        flash(_("Department renamed."), "success")
        return redirect(url_for("matters.departments"))
    errors = form_errors(form)
    return _department_page(dept, form, errors, 400 if errors else 200)


@bp.route("/departments/<department_code>/close", methods=["POST"])
@require(MANAGE)
def department_close(department_code: str):
    """Close a department (refused, with the count, while it has open matters or rules)."""
    code = department_code
    dept = _department_or_404(code)
    if not ActionForm().validate_on_submit():
        abort(400)
    session = current_session()
    try:
        svc.close_department(session, code, actor=current_user)
    except svc.MatterError as exc:
        session.rollback()
        form = RenameForm(formdata=None, data={"name": dept.name, "name_en": dept.name_en})
        return _department_page(dept, form, [("close", exc.text())], 409)
    session.commit()
    flash(_("Department closed: it takes no new matters."), "success")
    return redirect(url_for("matters.departments"))


@bp.route("/departments/<department_code>/reopen", methods=["POST"])
@require(MANAGE)
def department_reopen(department_code: str):
    code = department_code
    _department_or_404(code)
    if not ActionForm().validate_on_submit():
        abort(400)
    svc.reopen_department(current_session(), code, actor=current_user)
    current_session().commit()
    flash(_("Department reopened."), "success")
    return redirect(url_for("matters.departments"))


def _category_choices() -> list[tuple[str, str]]:
    return [("", _("Choose")), ("*", _("Any matter without its own rule")),
            *((k, svc.label(svc.CATEGORIES, k, lang())) for k in svc.CATEGORIES)]


@bp.route("/routes/new", methods=["GET", "POST"])
@require(MANAGE)
def route_new():
    """Add a routing rule (or replace the rule for the same category and place)."""
    form = RouteForm()
    form.category.choices = _category_choices()
    form.place.choices = _place_choices()
    form.department.choices = _department_choices()
    errors: list = []
    if form.validate_on_submit():
        session = current_session()
        try:
            svc.set_route(session, category=form.category.data, place=form.place.data or "",
                          department=form.department.data,
                          answer_days=_days(form.answer_days.data), actor=current_user)
        except svc.MatterError as exc:
            session.rollback()
            put_error(form, exc, errors)
            return render_template("matters/route_form.html", form=form, errors=errors,
                                   rule=None), _status(exc)
        session.commit()
        flash(_("Routing rule saved. It applies to matters filed from now on."), "success")
        return redirect(url_for("matters.departments") + "#routes")
    errors = form_errors(form)
    return render_template("matters/route_form.html", form=form, errors=errors,
                           rule=None), 400 if errors else 200


@bp.route("/routes/<int:route_id>", methods=["GET", "POST"])
@require(MANAGE)
def route_edit(route_id: int):
    """Change a rule's department or answer limit; remove it."""
    session, rule = current_session(), _route_or_404(route_id)
    form = RouteEditForm(data={"department": rule.department,
                               "answer_days": str(rule.answer_days or "")})
    form.department.choices = _department_choices()
    errors: list = []
    page = {"form": form, "rule": rule, "place": place_label(rule.place),
            "action_form": ActionForm(formdata=None)}
    if form.validate_on_submit():
        try:
            svc.set_route(session, category=rule.category, place=rule.place,
                          department=form.department.data,
                          answer_days=_days(form.answer_days.data), actor=current_user)
        except svc.MatterError as exc:
            session.rollback()
            put_error(form, exc, errors)
            return render_template("matters/route_form.html", errors=errors,
                                   **page), _status(exc)
        session.commit()
        flash(_("Routing rule saved. It applies to matters filed from now on."), "success")
        return redirect(url_for("matters.departments") + "#routes")
    errors = form_errors(form)
    return render_template("matters/route_form.html", errors=errors,
                           **page), 400 if errors else 200


@bp.route("/routes/<int:route_id>/delete", methods=["POST"])
@require(MANAGE)
def route_delete(route_id: int):
    _route_or_404(route_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    svc.delete_route(current_session(), route_id, actor=current_user)
    current_session().commit()
    flash(_("Routing rule removed."), "success")
    return redirect(url_for("matters.departments") + "#routes")
