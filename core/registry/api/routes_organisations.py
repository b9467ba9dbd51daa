"""``/organisations``: organisations (实有单位) and their legal representatives."""

from __future__ import annotations

from flask import abort
from flask.views import MethodView
from flask_login import current_user

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint
from core.api.pagination import paginate
from core.current import current_kernel
from core.db import current_session
from core.registry import services as registry
from core.registry.api.common import (
    in_place,
    org_views,
    organisation_query,
    refuse,
)
from core.registry.api.schemas import (
    ORG_READ,
    ORG_WRITE,
    OrganisationCreate,
    OrganisationPage,
    OrganisationQuery,
    OrganisationSchema,
)
from core.registry.errors import RegistryError
from core.registry.models import (
    Organisation,
)
from core.rules import MAX_ID

organisations = ApiBlueprint(
    "registry_organisations", __name__, description="Organisations (实有单位)"
)


# ------------------------------------------------------------------------------ organisations


@organisations.route("/organisations")
class Organisations(MethodView):
    @endpoint(organisations, ORG_READ, errors=(422,), descriptions={422: "Invalid filters or page"})
    @organisations.arguments(OrganisationQuery, location="query")
    @organisations.response(200, OrganisationPage)
    def get(self, args):
        """Organisations by name, community and status, in name order (paginated)."""
        session = current_session()
        query = organisation_query(args.pop("q", None), args.pop("community", None),
                                   args.pop("status", None))
        page = paginate(session, query, args)
        page["items"] = org_views(session, list(page["items"]))
        session.commit()  # the representatives' access-log entries
        return page

    @endpoint(organisations, ORG_WRITE, errors=(404, 409, 422), descriptions={
        403: "Lacks registry.org.write, or the place is not yours",
        404: "The community, grid or legal representative named does not exist",
        409: "The credit code is registered already or fails its check, or the grid is in another"
             " community",
    })
    @organisations.arguments(OrganisationCreate)
    @organisations.response(201, OrganisationSchema)
    def post(self, data):
        """Register an organisation by its unified social credit code, in a community
        (and grid) you are assigned."""
        session = current_session()
        if not in_place(data["community"], data.get("grid")):
            abort(403, description="This place is outside the communities and grids you "
                                   "are assigned.")
        try:
            org = registry.register_organisation(session, data, bus=current_kernel().bus,
                                                 actor=current_user)
        except RegistryError as exc:
            refuse(session, exc)
        view = org_views(session, [org])[0]
        session.commit()
        return view


@organisations.route("/organisations/<int:org_id>")
class OrganisationItem(MethodView):
    @endpoint(organisations, ORG_READ, errors=(404,), descriptions={404: "No such organisation"})
    @organisations.response(200, OrganisationSchema)
    def get(self, org_id):
        """One organisation with its legal representative."""
        session = current_session()
        org = session.get(Organisation, org_id) if 0 < org_id <= MAX_ID else None
        if org is None:
            abort(404)
        view = org_views(session, [org])[0]
        session.commit()  # the representative's access-log entry
        return view
