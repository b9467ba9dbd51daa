"""Population statistics for the staff dashboard, and their charts as server-rendered SVG.

One grouped query counts the active persons within the viewer's place scope by community,
ten-year age band, sex and hukou type (bands are computed in SQL from date cut-offs, so the
count is exact and the same on SQLite and PostgreSQL); everything else is sums in Python.
The charts are plain SVG built here (no script, no CDN: the CSP forbids inline scripts and
deployments may be offline), and the page shows the same numbers as a table for screen
readers (docs/requirements.md UI 8).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.db import local_today
from core.registry import codes
from core.registry.models import Community, Person
from core.registry.search import _years_ago, place_filter

#: Ten-year bands, as :func:`core.registry.present.age_band` names them.
BANDS: tuple[tuple[str, int, int | None], ...] = (
    *((f"{low}-{low + 9}", low, low + 9) for low in range(0, 90, 10)),
    ("90+", 90, None),
)
UNKNOWN = "?"


@dataclass
class Row:
    key: str
    label: str
    count: int

    def share(self, total: int) -> float:
        return self.count / total if total else 0.0


@dataclass
class Population:
    total: int = 0
    by_community: list[Row] = field(default_factory=list)
    by_band: list[Row] = field(default_factory=list)
    by_sex: list[Row] = field(default_factory=list)
    by_hukou: list[Row] = field(default_factory=list)


def _band_expr(today: date) -> Any:
    whens = []
    for label, low, high in BANDS:
        cond = Person.birth_date <= _years_ago(today, low)
        if high is not None:
            cond = cond & (Person.birth_date > _years_ago(today, high + 1))
        whens.append((cond, label))
    return case(*whens, else_=UNKNOWN)


def population(session: Session, actor: Any, *, community: str | None = None,
               today: date | None = None, lang: str = "zh",
               unknown_label: str = "Unknown") -> Population:
    """Active persons within ``actor``'s place scope (optionally one community)."""
    today = today or local_today()
    band = _band_expr(today).label("band")
    query = (select(Person.community_id, band, Person.sex, Person.hukou_type,
                    func.count().label("n"))
             .where(Person.status == "active")
             .group_by(Person.community_id, band, Person.sex, Person.hukou_type))
    staff = place_filter(session, actor)
    if staff is not None:
        query = query.where(staff)
    if community:
        query = query.where(Person.community_id.in_(
            select(Community.id).where(Community.code == community)))
    per_comm: dict[int | None, int] = defaultdict(int)
    per_band: dict[str, int] = defaultdict(int)
    per_sex: dict[str | None, int] = defaultdict(int)
    per_hukou: dict[str, int] = defaultdict(int)
    total = 0
    for cid, b, sex, hukou, n in session.execute(query):
        total += n
        per_comm[cid] += n
        per_band[b] += n
        per_sex[sex] += n
        per_hukou[hukou] += n
    names = {i: (c, nm) for i, c, nm in session.execute(
        select(Community.id, Community.code, Community.name)
        .where(Community.id.in_([c for c in per_comm if c is not None])))} if per_comm else {}
    out = Population(total=total)
    out.by_community = sorted(
        (Row(names[c][0], names[c][1], n) if c in names else Row("", unknown_label, n)
         for c, n in per_comm.items()), key=lambda r: (r.key == "", r.key))
    out.by_band = [Row(label, label, per_band.get(label, 0)) for label, _, _ in BANDS]
    if per_band.get(UNKNOWN):
        out.by_band.append(Row(UNKNOWN, unknown_label, per_band[UNKNOWN]))
    out.by_sex = [Row(k, codes.label(codes.SEXES, k, lang), per_sex.get(k, 0))
                  for k in codes.SEXES]
    if per_sex.get(None):
        out.by_sex.append(Row("", unknown_label, per_sex[None]))
    out.by_hukou = [Row(k, codes.label(codes.HUKOU_TYPES, k, lang), per_hukou.get(k, 0))
                    for k in codes.HUKOU_TYPES]
    return out


# ------------------------------------------------------------------------------ charts


def bar_chart(rows: list[Row], *, title: str, chart_id: str, number: Any = str,
              label_width: int = 150) -> Markup:
    """A horizontal bar chart as inline SVG: one bar per row, its label on the line above
    and the count written beside it. Colours and fonts come from the stylesheet (``.chart``
    classes), so the chart follows elder mode and contrast rules; ``title`` names it for
    assistive technology (the numbers are in the table that follows it on the page).

    Why labels above the bars and a phone-wide drawing: a 640-unit chart with labels
    beside the bars was scaled to half on a 360 px phone, so its 15 px labels read at 7 px.
    Drawn 360 units wide it is shown near 1:1 on a phone (``.chart-figure`` caps it at
    24em elsewhere). ``label_width`` is kept for callers written for the old layout; a
    label now has the whole width."""
    del label_width  # the label has its own line now
    label_h, bar_h, gap, top = 20, 20, 12, 4
    width, value_w = 360, 64
    plot = width - value_w
    peak = max((r.count for r in rows), default=0) or 1
    row_h = label_h + bar_h + gap
    height = top * 2 + len(rows) * row_h
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
    ]
    for i, row in enumerate(rows):
        y = top + i * row_h
        w = round(plot * row.count / peak, 1)
        bar_y = y + label_h
        parts.append(
            f'<text class="chart-label" x="0" y="{y + label_h - 5}">{escape(row.label)}</text>'
            f'<rect class="chart-bar" x="0" y="{bar_y}" width="{max(w, 1)}" '
            f'height="{bar_h}" rx="3"></rect>'
            f'<text class="chart-value" x="{w + 6:.1f}" '
            f'y="{bar_y + bar_h * 0.78:.1f}">{escape(number(row.count))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
