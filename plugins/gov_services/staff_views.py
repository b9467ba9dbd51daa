"""The staff pages of public services: the work queue, thematic databases (lists, ending
a membership, export), statistics and local settings. On the plugin's one blueprint
(:mod:`plugins.gov_services.views`); the plugin registers it after importing this module.
"""

from __future__ import annotations

import io

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired

from core.toolkit import (
    Length,
    Row,
    bar_chart,
    check_access,
    csv_writer,
    current_session,
    has_permission,
    local_today,
    log_audit,
    mask_name,
    request_facts,
    require,
)
from plugins.gov_services import (
    HANDLE,
    MANAGE,
    READ,
    THEMATIC_EXPORT,
    THEMATIC_READ,
)
from plugins.gov_services.catalogue import DERIVED_GROUPS
from plugins.gov_services.models import Membership, Setting
from plugins.gov_services.services import (
    STATES,
    GovError,
    deadline_status,
    derived_group,
    end_membership,
    group_count,
    lang,
    membership_counts,
    memberships_query,
    queue_query,
    reader_for,
    set_service,
    statistics,
)

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs
    SelectChoice = None

from plugins.gov_services.views import (
    PER_PAGE,
    SettingForm,
    _g,
    _has_area,
    _no_area,
    bp,
    choices,
    gov_state,
)

# ------------------------------------------------------------------------------ staff


@bp.route("/queue")
@require(READ)
def queue():
    g = _g()
    if not _has_area(current_user):
        return _no_area(200)  # the queue page itself, saying why it has nothing
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
    if not _has_area(current_user):
        return _no_area(200)  # zero everywhere would look like an empty community
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
                f"attachment; filename=gov_services_{database}_{local_today()}.csv"
            )
        },
    )


@bp.route("/statistics")
@require(READ)
def stats():
    if not _has_area(current_user):
        return _no_area(200)
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
