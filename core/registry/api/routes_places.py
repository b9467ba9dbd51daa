"""``/households`` and ``/buildings``: who lives where."""

from __future__ import annotations

from flask.views import MethodView

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint
from core.db import current_session
from core.registry.api.common import (
    building_view,
    reader,
    visible_building,
    visible_household,
)
from core.registry.api.schemas import (
    READ,
    BuildingSchema,
    HouseholdSchema,
)

places = ApiBlueprint(
    "registry_places", __name__, description="Households and buildings: who lives where"
)


# ------------------------------------------------------------------------------ places


@places.route("/households/<int:household_id>")
class HouseholdItem(MethodView):
    @endpoint(places, READ, errors=(404,), descriptions={
        404: "No such household within your scope",
    })
    @places.response(200, HouseholdSchema)
    def get(self, household_id):
        """A household (户): its number, head and members with their relation (masked)."""
        session = current_session()
        _household, member = visible_household(session, household_id)
        view = reader(session).household(member.id)
        session.commit()  # the members' access-log entries
        return view


@places.route("/buildings/<int:building_id>")
class BuildingItem(MethodView):
    @endpoint(places, READ, errors=(404,), descriptions={404: "No such building within your scope"})
    @places.response(200, BuildingSchema)
    def get(self, building_id):
        """Who lives where: the building's units, dwellings (rental flags, use) and each
        dwelling's current residents, as owner, tenant or other."""
        session = current_session()
        view = building_view(session, visible_building(session, building_id))
        session.commit()  # the residents' access-log entries
        return view
