"""Households, buildings and organisations."""

from __future__ import annotations

import math

from flask import (
    abort,
    render_template,
    request,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import Form, StringField
from wtforms.validators import Optional

from core.db import current_session
from core.identity import has_permission, require
from core.registry import api as shared
from core.registry import codes
from core.registry.models import (
    Building,
    Community,
    Dwelling,
    Grid,
    Organisation,
    Unit,
)
from core.registry.present import mask_address
from core.registry.views.common import (
    ORG_READ,
    READ,
    Pager,
    bp,
    field_errors,
    field_label,
    lang,
    page_size,
)
from core.registry.views.persons import (
    _history,
    _page_number,
)
from core.rules import MAX_ID
from core.web.forms import Length, printable

# ------------------------------------------------------------------------------ places


@bp.route("/households/<int:household_id>")
@require(READ)
def household(household_id: int):
    session = current_session()
    found, member = shared.visible_household(session, household_id)
    view = shared.reader(session).household(member.id)
    address = None
    building_id = None
    if found.dwelling_id:
        row = session.execute(
            select(Building.id, Building.address, Building.estate, Building.name)
            .join(Unit, Unit.building_id == Building.id)
            .join(Dwelling, Dwelling.unit_id == Unit.id)
            .where(Dwelling.id == found.dwelling_id)).first()
        if row is not None:
            building_id, address = row[0], mask_address(row[1], row[2], row[3])
    session.commit()  # the members' access-log entries
    return render_template(
        "registry/household.html", household=found, view=view, address=address,
        building_id=building_id,
        kind_label=codes.label(codes.HOUSEHOLD_KINDS, found.kind, lang()))


@bp.route("/buildings/<int:building_id>")
@require(READ)
def building(building_id: int):
    """Who lives where: units, dwellings (use, rental flag) and their residents."""
    session = current_session()
    found = shared.visible_building(session, building_id)
    view = shared.building_view(session, found)
    rooms = sum(len(u["dwellings"]) for u in view["units"])
    people = sum(len(d["residents"]) for u in view["units"] for d in u["dwellings"])
    rentals = sum(1 for u in view["units"] for d in u["dwellings"] if d["is_rental"])
    session.commit()  # the residents' access-log entries
    return render_template("registry/building.html", b=view, rooms=rooms, people=people,
                           rentals=rentals)


# ------------------------------------------------------------------------------ organisations


class OrgSearch(Form):
    q = StringField(_l("Name"), validators=[Optional(), Length(max=100), printable])


@bp.route("/organisations")
@require(ORG_READ)
def organisations():
    session = current_session()
    form = OrgSearch(request.args)
    valid = form.validate()
    query = shared.organisation_query(form.q.data if valid else None, None, None)
    from sqlalchemy import func

    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) \
        or 0
    page = _page_number(request.args)
    size = page_size()
    rows = list(session.scalars(query.limit(size).offset((page - 1) * size)))
    pager = Pager(page, max(1, math.ceil(total / size)), total,
                  {"q": form.q.data} if form.q.data else {})
    items = shared.org_views(session, rows)
    session.commit()  # the representatives' access-log entries
    return render_template("registry/organisations.html", form=form,
                           errors=field_errors(form), items=items,
                           pager=pager), 200 if valid else 400


@bp.route("/organisations/<int:org_id>")
@require(ORG_READ)
def organisation(org_id: int):
    session = current_session()
    org = session.get(Organisation, org_id) if 0 < org_id <= MAX_ID else None
    if org is None:
        abort(404)
    view = shared.org_views(session, [org])[0]
    community = session.get(Community, org.community_id) if org.community_id else None
    grid = session.get(Grid, org.grid_id) if org.grid_id else None
    history, _more = _history(session, "organisation", org.id)
    session.commit()  # the representative's access-log entry
    return render_template("registry/organisation.html", org=view, community=community,
                           grid=grid, history=history, field_label=field_label,
                           can_read_persons=has_permission(current_user, READ))
