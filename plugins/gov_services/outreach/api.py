"""The offers' API, mounted with the plugin's at ``/api/v1/gov-services``: the outreach
list and its items (``/outreach/...``, workers of the item's place), recording a call or
a visit, the statistics, and the resident's own offers (``/offers/...``). The same
services and checks as the pages; a broken rule is answered by :func:`refuse` in the one
error shape (422 with the field, 409 for a settled offer, 404 for another's or outside
the caller's places)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user

from core.toolkit import (
    ApiBlueprint,
    current_session,
    endpoint,
    mask_name,
    paginate,
    refuse,
    require_login,
)
from plugins.gov_services.outreach.schemas import (
    DeclineIn,
    OfferList,
    OfferStatsOut,
    OutcomeIn,
    OutreachArgs,
    OutreachItemOut,
    OutreachPage,
)
from plugins.gov_services.outreach.services import (
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
from plugins.gov_services.services import APPLY, READ, gov, lang, reader_for

blp = ApiBlueprint("gov_services_outreach_api", __name__,
                   description="Proactive offers and the staff outreach list")


def _item_out(item: Any, person: dict[str, Any] | None) -> dict[str, Any]:
    g = gov()
    service = g.catalogue.get(item.service_code)
    return {
        "id": item.id,
        "person_id": item.person_id,
        "name": mask_name(person["name"]) if person else None,
        "service_code": item.service_code,
        "service_name": service.name(lang()) if service else item.service_code,
        "community": item.community,
        "grid": item.grid,
        "channel": item.channel,
        "source": item.source,
        "state": item.state,
        "note": item.note or "",
        "follow_up_on": item.follow_up_on,
        "offered_at": item.offered_at,
        "finding_id": item.finding_id,
        "person_url": f"/registry/persons/{item.person_id}",
        "contacts": [
            {"outcome": c.outcome, "method": c.method, "note": c.note,
             "follow_up_on": c.follow_up_on, "at": c.at}
            for c in item.contacts
        ],
    }


def _shown(items: list[Any], purpose: str) -> list[dict[str, Any]]:
    """The items with their persons' masked names, every display logged."""
    session = current_session()
    people = {
        p["id"]: p
        for p in reader_for(session, gov(), current_user, purpose).persons(
            sorted({i.person_id for i in items})
        )
    }
    log_item_display(session, items, current_user, purpose)
    return [_item_out(i, people.get(i.person_id)) for i in items]


def _staff_item(item_id: int) -> Any:
    try:
        return item_for_staff(current_session(), current_user, item_id)
    except GovError as exc:
        refuse(exc)


@blp.route("/outreach/items")
class OutreachItems(MethodView):
    @endpoint(blp, OUTREACH, errors=(422,))
    @blp.arguments(OutreachArgs, location="query")
    @blp.response(200, OutreachPage)
    def get(self, args):
        """The outreach list: offers to persons without an account in the caller's
        communities and grids, not yet done, those never contacted first."""
        session = current_session()
        query = outreach_query(current_user, community=args["community"], grid=args["grid"],
                               service=args["service"], due_only=args["due"])
        page = paginate(session, query, args)
        page["items"] = _shown(list(page["items"]), "outreach list")
        session.commit()  # the listed persons' access logs
        return page


@blp.route("/outreach/items/<int:gs_item_id>")
class OutreachItemApi(MethodView):
    @endpoint(blp, OUTREACH, errors=(404,))
    @blp.response(200, OutreachItemOut)
    def get(self, gs_item_id):
        """One outreach item with its calls and visits. The phone is not here: reveal it
        on the person's record with a purpose (``person_url``)."""
        item = _staff_item(gs_item_id)
        out = _shown([item], f"outreach item {item.id}")[0]
        current_session().commit()
        return out


@blp.route("/outreach/items/<int:gs_item_id>/outcome")
class OutreachOutcome(MethodView):
    @endpoint(
        blp,
        OUTREACH,
        errors=(404, 409, 422),
        descriptions={409: "The offer is already settled",
                      422: "Not an outcome, a note too long, or a follow-up date in the past"},
    )
    @blp.arguments(OutcomeIn)
    @blp.response(200, OutreachItemOut)
    def post(self, data, gs_item_id):
        """Record a call or a visit: ``reached`` / ``unreachable`` keep the item on the
        list (``follow_up_on``: when to try again), ``applied`` / ``declined`` settle it."""
        session = current_session()
        item = _staff_item(gs_item_id)
        try:
            record_outcome(session, gov(), item, actor=current_user, outcome=data["outcome"],
                           method=data["method"], note=data["note"],
                           follow_up_on=data["follow_up_on"])
        except GovError as exc:
            refuse(exc)
        out = _shown([item], f"outreach item {item.id}")[0]
        session.commit()
        return out


@blp.route("/outreach/statistics")
class OutreachStatistics(MethodView):
    @endpoint(blp, READ)
    @blp.response(200, OfferStatsOut)
    def get(self):
        """Offers made, reached and followed by an application, per service, in the
        caller's places."""
        return outreach_statistics(current_session(), current_user)


@blp.route("/offers/mine")
class MyOffers(MethodView):
    @endpoint(blp, require_login(APPLY))
    @blp.response(200, OfferList)
    def get(self):
        """The signed-in resident's offers (none for an account not bound to a person)."""
        return _offers_out(getattr(current_user, "person_id", None))


@blp.route("/offers/<int:gs_item_id>/decline")
class OfferDecline(MethodView):
    @endpoint(blp, require_login(APPLY), errors=(404, 409, 422),
              descriptions={404: "Not your offer", 409: "The offer is already settled"})
    @blp.arguments(DeclineIn)
    @blp.response(200, OfferList)
    def post(self, data, gs_item_id):
        """No thanks: the offer is settled and not made again for the repeat period."""
        session = current_session()
        person_id = getattr(current_user, "person_id", None)
        try:
            decline(session, gov(), my_offer(session, person_id, gs_item_id),
                    actor=current_user, note=data["note"])
        except GovError as exc:
            refuse(exc)
        session.commit()
        return _offers_out(person_id)


def _offers_out(person_id: int | None) -> dict[str, Any]:
    g = gov()
    items = my_offers(current_session(), person_id)
    return {"items": [
        {"id": i.id, "service_code": i.service_code,
         "service_name": g.catalogue.get(i.service_code).name(lang()),
         "state": i.state, "offered_at": i.offered_at,
         "apply_url": f"/gov-services/services/{i.service_code}/apply"}
        for i in items if g.catalogue.get(i.service_code)
    ]}
