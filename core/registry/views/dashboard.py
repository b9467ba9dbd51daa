"""The population dashboard."""

from __future__ import annotations

from flask import (
    render_template,
    request,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import Form, SelectField
from wtforms.validators import Optional

from core.db import current_session
from core.identity import require
from core.registry.dashboard import bar_chart, population
from core.registry.views.common import (
    DASHBOARD,
    bp,
    field_errors,
    lang,
    number,
    percent,
    scope_communities,
)
from core.web.forms import choices

# ------------------------------------------------------------------------------ dashboard


class DashboardForm(Form):
    community = SelectField(_l("Community"), validators=[Optional()])


@bp.route("/dashboard")
@require(DASHBOARD)
def dashboard():
    """The population of the viewer's communities by community, age, sex and hukou
    type: charts drawn on the server (SVG) and the same numbers as tables."""
    session = current_session()
    form = DashboardForm(request.args)
    form.community.choices = choices([("", _("All my communities")),
                                      *[(c, f"{n} ({c})") for c, n in
                                        scope_communities(session)]])
    valid = form.validate()
    stats = population(session, current_user, community=form.community.data if valid else None,
                       lang=lang(), unknown_label=_("Unknown"))
    sections = []
    for key, title, rows in (
        ("community", _("By community"), stats.by_community),
        ("age", _("By age"), stats.by_band),
        ("sex", _("By sex"), stats.by_sex),
        ("hukou", _("By hukou type"), stats.by_hukou),
    ):
        if key == "community" and len(rows) < 2:
            continue
        sections.append({
            "key": key, "title": title, "rows": rows,
            "chart": bar_chart(rows, title=title, chart_id=f"chart-{key}", number=number),
        })
    return render_template("registry/dashboard.html", form=form, errors=field_errors(form),
                           stats=stats, sections=sections, number=number, percent=percent), \
        200 if valid else 400
