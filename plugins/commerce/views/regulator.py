"""The regulator's pages: vetting merchants, deciding complaints, and the
hotline's statistics."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from core.toolkit import Row, bar_chart, current_kernel, current_session, require
from plugins.commerce import STATS, VET
from plugins.commerce import services as svc
from plugins.commerce.models import Complaint, Merchant, Ticket
from plugins.commerce.views.common import bp, form_errors, lang, put_error, reader, settings
from plugins.commerce.views.forms import DecisionForm


@bp.route("/regulator/merchants")
@require(VET)
def reg_merchants():
    session = current_session()
    rows = list(session.scalars(svc.merchants_query()))
    cards = svc.scorecards(session, [m.id for m in rows], settings())
    complaints = list(session.scalars(select(Complaint).where(Complaint.status == "open")))
    return render_template(
        "commerce/reg_merchants.html", rows=rows, cards=cards, open_complaints=len(complaints)
    )


@bp.route("/regulator/merchants/<int:merchant_id>", methods=["GET", "POST"])
@require(VET)
def reg_merchant(merchant_id: int):
    session = current_session()
    merchant = svc.fetch(session, Merchant, merchant_id)
    if merchant is None:
        abort(404)
    form = DecisionForm()
    form.action.choices = [
        (a, DECISION_LABELS[a]) for a, (src, _n) in svc.DECISIONS.items() if merchant.status in src
    ]
    errors: list = []
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                svc.decide_merchant(
                    session,
                    current_kernel().bus,
                    merchant.id,
                    action=form.action.data,
                    reason=form.reason.data,
                    actor=current_user,
                    settings=settings(),
                )
            except svc.CommerceError as exc:
                put_error(form, exc, errors)
            else:
                session.commit()
                flash(_("Decision recorded."), "success")
                return redirect(url_for("commerce.reg_merchant", merchant_id=merchant.id))
        errors = errors or form_errors(form)
    org = reader(_("Merchant vetting")).organisation(merchant.organisation_id)
    return render_template(
        "commerce/reg_merchant.html",
        m=merchant,
        org=org,
        form=form,
        errors=errors,
        card=svc.scorecard(session, merchant.id, settings()),
        log=svc.merchant_log(session, merchant.id),
        complaints=list(
            session.scalars(select(Complaint).where(Complaint.merchant_id == merchant.id))
        ),
    ), 400 if errors else 200


DECISION_LABELS = {
    "approve": _l("Approve (or reinstate)"),
    "suspend": _l("Suspend: no more tickets"),
    "revoke": _l("Revoke"),
    "warn": _l("Warn"),
    "dismiss": _l("Dismiss the complaint"),
}


@bp.route("/regulator/complaints")
@require(VET)
def complaints():
    session = current_session()
    rows = list(session.scalars(select(Complaint).order_by(Complaint.created_at.desc()).limit(100)))
    merchants = svc.tickets_by_merchant(session, [c.merchant_id for c in rows])
    return render_template("commerce/complaints.html", rows=rows, merchants=merchants)


@bp.route("/regulator/complaints/<int:complaint_id>", methods=["GET", "POST"])
@require(VET)
def complaint(complaint_id: int):
    session = current_session()
    found = svc.fetch(session, Complaint, complaint_id)
    if found is None:
        abort(404)
    form = DecisionForm()
    form.action.choices = [(a, DECISION_LABELS[a]) for a in ("dismiss", "warn", "suspend")]
    errors: list = []
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                svc.decide_complaint(
                    session,
                    current_kernel().bus,
                    found.id,
                    action=form.action.data,
                    note=form.reason.data,
                    actor=current_user,
                    settings=settings(),
                )
            except svc.CommerceError as exc:
                put_error(form, exc, errors)
            else:
                session.commit()
                flash(_("Decision recorded."), "success")
                return redirect(url_for("commerce.complaint", complaint_id=found.id))
        errors = errors or form_errors(form)
    return render_template(
        "commerce/complaint.html",
        c=found,
        merchant=svc.fetch(session, Merchant, found.merchant_id),
        ticket=svc.fetch(session, Ticket, found.ticket_id),
        form=form,
        errors=errors,
    ), 400 if errors else 200


@bp.route("/stats")
@require(STATS)
def stats():
    """Tickets by category and state, times and satisfaction, as server-drawn SVG bar
    charts with the same numbers in tables."""
    data = svc.statistics(current_session())
    cat_rows = [Row(k, svc.label(svc.CATEGORIES, k, lang()), n) for k, n in data.by_category]
    state_rows = [Row(k, svc.label(svc.STATES, k, lang()), n) for k, n in data.by_state]
    rating_rows = [Row(k, _("%(n)s stars", n=k), n) for k, n in data.ratings]
    charts = {
        "category": bar_chart(cat_rows, title=_("Tickets by category"), chart_id="by-category"),
        "state": bar_chart(state_rows, title=_("Tickets by state"), chart_id="by-state"),
        "rating": bar_chart(rating_rows, title=_("Satisfaction ratings"), chart_id="by-rating"),
    }
    return render_template(
        "commerce/stats.html",
        data=data,
        charts=charts,
        cat_rows=cat_rows,
        state_rows=state_rows,
        rating_rows=rating_rows,
    )
