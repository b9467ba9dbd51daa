"""Notices: the public list, one notice (a signed-in reader counted once; a building's
notice only for its residents and the committee) and publishing."""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from core.toolkit import current_session, endpoint, has_permission
from plugins.self_governance import PUBLISH
from plugins.self_governance import services as sv
from plugins.self_governance.api.common import acts_for, blp, conflict, get, kernel, person
from plugins.self_governance.models import Notice
from plugins.self_governance.schemas import SgNotice, SgNoticeArgs, SgNoticeIn, SgNoticeOne


def _buildings():
    """Which building notices the caller sees, as on the pages: all for the committee,
    their own building's for a verified resident, none otherwise."""
    if has_permission(current_user, PUBLISH):
        return lambda _building: True
    if person() is None:
        return None
    return sv.lives_in(current_session(), kernel(), person())


@blp.route("/notices")
class Notices(MethodView):
    @endpoint(blp, errors=(422,))
    @blp.arguments(SgNoticeArgs, location="query")
    @blp.response(200, SgNotice(many=True))
    def get(self, args):
        """Current notices, pinned first (public: disclosure); ``community`` narrows them
        to one community's (and the every-community ones)."""
        return sv.visible_notices(
            current_session(), args.get("community"), limit=100, buildings=_buildings()
        )

    @endpoint(
        blp,
        PUBLISH,
        errors=(409, 422),
        descriptions={
            403: f"Lacks {PUBLISH}, or not for that community",
            409: "Expiry already past, or a building not of the community",
        },
    )
    @blp.arguments(SgNoticeIn)
    @blp.response(201, SgNotice)
    def post(self, data):
        """Publish a notice (for one community, one of its buildings, or every
        community with the district-wide assignment)."""
        session = current_session()
        acts_for(data.get("community"))
        building = data.pop("building_id", None)
        if building is not None and (
            not data.get("community")
            or building not in sv.community_buildings(session, kernel(), data["community"])
        ):
            conflict(sv.GovernanceError(
                sv.N_("Building: choose a building of the community chosen above, or the "
                      "whole community."), "building_id"))
        try:
            notice = sv.publish_notice(
                session, author_id=current_user.id, building_id=building, **data
            )
        except sv.GovernanceError as exc:
            conflict(exc)
        session.commit()
        return notice


@blp.route("/notices/<int:notice_id>")
class NoticeOne(MethodView):
    @endpoint(blp, errors=(404,), descriptions={404: "No such notice (or not for you)"})
    @blp.response(200, SgNoticeOne)
    def get(self, notice_id: int):
        """One notice with its read count; a signed-in reader is counted once."""
        session = current_session()
        item = get(Notice, notice_id)
        if item.building_id is not None:
            allowed = _buildings()
            if allowed is None or not allowed(item.building_id):
                abort(404, message="Not found.")
        if getattr(current_user, "is_authenticated", False):
            sv.mark_read(session, item, current_user.id)
            session.commit()
        count = sv.read_counts(session, [item.id]).get(item.id, 0)
        return {**{c: getattr(item, c) for c in (
            "id", "title", "body", "community", "pinned", "category", "source", "expires_at",
            "published_at", "building_id", "attachment_url", "attachment_name")},
            "read_count": count}
