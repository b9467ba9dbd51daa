"""Alerts and the early-warning rules that raise them."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from core.toolkit import Length, current_session, has_permission, require
from plugins.surveillance import INCIDENT_HANDLE, INCIDENT_READ, RULE_MANAGE
from plugins.surveillance import services as svc
from plugins.surveillance.models import AlertRule
from plugins.surveillance.views.common import (
    KIND_LABELS,
    RULE_LABELS,
    SEVERITY_LABELS,
    _choices,
    _communities,
    _errors,
    _field_error,
    _or_404,
    bp,
    bus,
)


class AlertActionForm(FlaskForm):
    action = HiddenField(validators=[DataRequired(message=_l("Choose what to do."))])


@bp.route("/alerts")
@require(INCIDENT_READ)
def alerts():
    rows = current_session().scalars(svc.alerts_query(current_user).limit(200))
    return render_template(
        "surveillance/alerts.html",
        alerts=list(rows),
        form=AlertActionForm(),
        may_handle=has_permission(current_user, INCIDENT_HANDLE),
    )


@bp.route("/alerts/<int:alert_id>/action", methods=["POST"])
@require(INCIDENT_HANDLE)
def alert_action(alert_id: int):
    session = current_session()
    alert = _or_404(svc.get_alert, session, current_user, alert_id)
    form = AlertActionForm()
    if not form.validate_on_submit():
        flash(_("Choose what to do."), "error")
        return redirect(url_for("surveillance.alerts")), 303
    try:
        svc.alert_action(session, bus(), current_user, alert, form.action.data)
    except svc.SurveillanceError as exc:
        session.rollback()
        flash(_(exc.message), "error")
        return redirect(url_for("surveillance.alerts")), 303
    session.commit()
    flash(_("Alert updated."), "success")
    return redirect(url_for("surveillance.alerts"))


class RuleForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(message=_l("Give the rule a name.")), Length(max=100)],
    )
    kind = SelectField(_l("When"), choices=_choices([(k, v) for k, v in RULE_LABELS.items()]))
    incident_kind = SelectField(
        _l("Incident kind"),
        choices=_choices([("", _l("Any kind")), *[(k, v) for k, v in KIND_LABELS.items()]]),
    )
    community_code = SelectField(_l("Community"), validators=[Optional()])
    threshold = IntegerField(
        _l("How many"),
        default=3,
        invalid_value_message=_l("Enter how many incidents as a whole number, e.g. 3."),
        validators=[InputRequired(message=_l("Enter how many incidents, from 1 to 1000.")),
                    NumberRange(1, 1000, message=_l("Enter how many incidents, from 1 to 1000."))],
    )
    window_minutes = IntegerField(
        _l("Within minutes (or the limit, in minutes)"),
        default=60,
        invalid_value_message=_l("Enter the minutes as a whole number, e.g. 60."),
        validators=[
            InputRequired(message=_l("Enter a number of minutes from 1 to 10080.")),
            NumberRange(1, 10080, message=_l("Enter a number of minutes from 1 to 10080.")),
        ],
    )
    severity = SelectField(
        _l("Severity"),
        choices=_choices([(k, v) for k, v in SEVERITY_LABELS.items()]),
        default="medium",
    )


@bp.route("/rules", methods=["GET", "POST"])
@require(RULE_MANAGE)
def rules():
    session = current_session()
    form = RuleForm()
    form.community_code.choices = _choices([("", _("Every community")), *_communities()])
    if form.validate_on_submit():
        data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        try:
            svc.create_rule(session, current_user, **data)
        except svc.SurveillanceError as exc:
            session.rollback()
            _field_error(form, exc)
        else:
            session.commit()
            flash(_("Rule added."), "success")
            return redirect(url_for("surveillance.rules"))
    status = 400 if form.errors else 200
    rows = list(session.scalars(select(AlertRule).order_by(AlertRule.id)))
    return render_template(
        "surveillance/rules.html", form=form, rules=rows, errors=_errors(form)
    ), status


@bp.route("/rules/<int:rule_id>/toggle", methods=["POST"])
@require(RULE_MANAGE)
def rule_toggle(rule_id: int):
    session = current_session()
    rule = svc.get_row(session, AlertRule, rule_id)
    if rule is None:
        abort(404)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    svc.set_rule_active(session, current_user, rule, not rule.active)
    session.commit()
    return redirect(url_for("surveillance.rules"))
