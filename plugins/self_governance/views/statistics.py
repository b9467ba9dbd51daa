"""The statistics page (public: aggregates only): participation per month, turnout per
counted vote and residents' questions answered on time, drawn on the server as bar charts
(``core.toolkit.bar_chart``, no JavaScript), each followed by its numbers in a table. The
same service as ``GET /api/v1/self-governance/statistics``."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask_babel import gettext as _

from core.toolkit import Row, bar_chart, current_session
from plugins.self_governance import services as sv
from plugins.self_governance.views.common import bp, kernel


def charts(data: dict[str, Any]) -> list[tuple[str, str, Any, list[Row], str]]:
    """``(key, title, svg, rows, what the numbers count)`` for each chart."""
    months = data["participation"]
    posts = [Row(m["month"], m["month"], m["posts"]) for m in months]
    proposals = [Row(m["month"], m["month"], m["proposals"]) for m in months]
    turnout = [Row(str(v["vote_id"]), v["title"][:18], v["turnout_pct"]) for v in data["turnout"]]
    q = data["questions"]
    questions = [
        Row("on_time", _("Answered on time"), q["on_time"]),
        Row("late", _("Answered late"), q["late"]),
        Row("overdue", _("Overdue, not answered"), q["overdue"]),
        Row("open", _("Open, still in time"), q["open"]),
    ]
    out = []
    for key, title, rows, what, number, width in (
        ("posts", _("Forum posts per month"), posts, _("Posts"), str, 90),
        ("proposals", _("Proposals per month"), proposals, _("Proposals"), str, 90),
        ("turnout", _("Turnout per vote (share of the electorate, per cent)"), turnout,
         _("Turnout (%)"), lambda v: f"{v:g}%", 170),
        ("questions", _("Residents' questions on the finances"), questions, _("Questions"), str,
         190),
    ):
        svg = bar_chart(rows, title=title, chart_id=f"chart-{key}", number=number,
                        label_width=width) if rows else None
        out.append((key, title, svg, rows, what))
    return out


@bp.route("/statistics/")
def statistics():
    """Public: the numbers of participation and accountability, as charts and tables."""
    community = (request.args.get("community") or "").strip() or None
    session = current_session()
    names = sv.community_names(session, kernel())
    if community is not None and community not in names:
        abort(404)
    data = sv.statistics(session, kernel(), community=community)
    return render_template(
        "self_governance/statistics.html", data=data, charts=charts(data), names=names,
        community=community,
    )
