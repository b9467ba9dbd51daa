"""The outreach pages, mounted with the plugin's pages at ``/gov-services``: the staff
outreach list and an item's page (record a call or a visit), the offers' statistics, and
the resident's own offers (decline one). Thin: the rules are in :mod:`.services`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Optional

from core.toolkit import Length, Row, bar_chart, current_session, mask_name, require
from core.toolkit import require_login as login_required
from plugins.gov_services.outreach.models import STAFF_OUTCOMES
from plugins.gov_services.outreach.services import (
    METHOD_LABELS,
    OUTCOME_LABELS,
    OUTREACH,
    GovError,
    decline,
    item_for_staff,
    log_item_display,
    my_offer,
    my_offers,
    outreach_query,
    outreach_statistics,
    record_outcome,
)
from plugins.gov_services.services import READ, gov, lang, reader_for

bp = Blueprint("gov_services_outreach", __name__, template_folder="../templates")
PER_PAGE = 20


@bp.app_template_global("gov_outcome")
def gov_outcome(state: str) -> str:
    return _(OUTCOME_LABELS.get(state, state))


@bp.app_template_global("gov_method")
def gov_method(method: str) -> str:
    return _(METHOD_LABELS.get(method, method))


class OutcomeForm(FlaskForm):
    outcome = SelectField(_l("Outcome"), validators=[DataRequired()])
    method = SelectField(_l("How"), validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])
    follow_up_on = DateField(
        _l("Follow up on"),
        validators=[Optional()],
        description=_l("For someone reached or unreachable: when to try again."),
    )


class DeclineForm(FlaskForm):
    pass


def _outcome_form() -> OutcomeForm:
    form = OutcomeForm()
    form.outcome.choices = [(o, _(OUTCOME_LABELS[o])) for o in STAFF_OUTCOMES]
    form.method.choices = [(m, _(METHOD_LABELS[m])) for m in ("call", "visit")]
    return form


@bp.route("/outreach/")
@require(OUTREACH)
def outreach_list():
    """The offers to persons without an account in the worker's places, still to act
    on: masked names, each listed person's display in their access log."""
    g = gov()
    community = (request.args.get("community") or "").strip() or None
    grid = (request.args.get("grid") or "").strip() or None
    service = request.args.get("service") or None
    due = request.args.get("due") == "1"
    if service and service not in g.catalogue.services:
        abort(400)
    if (community and not (community.isdigit() and len(community) == 12)) or (
        grid and not (grid.isdigit() and len(grid) == 15)
    ):
        abort(400)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    session = current_session()
    query = outreach_query(current_user, community=community, grid=grid, service=service,
                           due_only=due)
    rows = list(session.scalars(query.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)))
    shown = rows[:PER_PAGE]
    people = {
        p["id"]: p
        for p in reader_for(session, g, current_user, "outreach list").persons(
            sorted({i.person_id for i in shown})
        )
    }
    log_item_display(session, shown, current_user, "outreach list")
    session.commit()  # a GET page: the access-log entries must outlive the request
    return render_template(
        "gov_services/outreach/list.html",
        items=shown, people=people, mask_name=mask_name, g=g, lang=lang(), page=page,
        more=len(rows) > PER_PAGE, community=community or "", grid=grid or "",
        service=service or "", due=due,
    )


def _item_page(item: Any, form: OutcomeForm, errors: list[Any], status: int = 200) -> Any:
    g = gov()
    session = current_session()
    people = reader_for(session, g, current_user, f"outreach item {item.id}").persons(
        [item.person_id]
    )
    log_item_display(session, [item], current_user, f"outreach item {item.id}")
    session.commit()
    return render_template(
        "gov_services/outreach/item.html", item=item, person=people[0] if people else None,
        mask_name=mask_name, g=g, lang=lang(), form=form, errors=errors,
        may_record=item.state in ("open", "reached", "unreachable"),
    ), status


@bp.route("/outreach/<int:gs_item_id>", methods=["GET", "POST"])
@require(OUTREACH)
def outreach_item(gs_item_id: int):
    """One offer: who (masked; the phone through the person's record and its reveal
    form, with a purpose), the history of calls and visits, and the form for the next."""
    session = current_session()
    try:
        item = item_for_staff(session, current_user, gs_item_id)
    except GovError:
        abort(404)
    form = _outcome_form()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                record_outcome(
                    session, gov(), item, actor=current_user, outcome=form.outcome.data,
                    method=form.method.data, note=form.note.data or "",
                    follow_up_on=form.follow_up_on.data,
                )
            except GovError as exc:
                target = getattr(form, exc.field, None) if exc.field else None
                if exc.status == 409 or target is None:
                    flash(exc.text(), "error")
                    return redirect(url_for(".outreach_item", gs_item_id=item.id))
                target.errors = [*target.errors, exc.text()]
            else:
                session.commit()
                flash(_("Outcome recorded."), "success")
                return redirect(url_for(".outreach_list"))
        errors = [(f.id, str(e)) for f in form for e in f.errors]
        return _item_page(item, form, errors, 400)
    return _item_page(item, form, [])


@bp.route("/outreach/statistics")
@require(READ)
def outreach_stats():
    """Offers made, reached and applied for, per service, in the viewer's places."""
    g = gov()
    data = outreach_statistics(current_session(), current_user)
    per = sorted(data["per_service"].items(), key=lambda kv: -kv[1]["made"])
    names = {code: g.service(code).name(lang()) for code, _v in per}
    charts = []
    for key, title in (("made", _("Offers made")), ("reached", _("Offers that reached the person")),
                       ("applied", _("Offers followed by an application"))):
        rows = [Row(code, names[code], v[key]) for code, v in per]
        if rows:
            charts.append({"key": key, "title": title, "rows": rows,
                           "chart": bar_chart(rows, title=title, chart_id=f"chart-offers-{key}",
                                              label_width=220)})
    return render_template("gov_services/outreach/statistics.html", data=data, per=per,
                           names=names, charts=charts)


@bp.route("/offers")
@login_required
def offers_mine():
    """The resident's own offers: apply (prefilled) or say no thanks."""
    session = current_session()
    items = my_offers(session, getattr(current_user, "person_id", None))
    return render_template("gov_services/outreach/mine.html", items=items, g=gov(),
                           lang=lang(), form=DeclineForm())


@bp.route("/offers/<int:gs_item_id>/decline", methods=["POST"])
@login_required
def offer_decline(gs_item_id: int):
    session = current_session()
    try:
        item = my_offer(session, getattr(current_user, "person_id", None), gs_item_id)
    except GovError:
        abort(404)
    form = DeclineForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        decline(session, gov(), item, actor=current_user)
    except GovError as exc:
        flash(exc.text(), "error")
    else:
        session.commit()
        flash(_("Noted: we will not offer this again for now."), "success")
    return redirect(url_for(".offers_mine"))
