"""The notices over the JSON API (area ``notices``, mounted by ``core.api.core_api``):
preview an audience's counts, send a notice, read its progress and delivery report.

The same service calls as the ``/notices`` pages; a refused rule is the API's one error
shape (``message`` and ``fields``): 422 for input, 403 for a place outside the caller's
assignments, 404 for a place or a notice that does not exist for the caller.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields, validate

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint, refuse
from core.api.fields import Id, Strict, Text
from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session
from core.notices import services
from core.notices.models import AUDIENCE_KINDS, DELIVERY_STATUSES, URGENCIES
from core.registry.search import AGE_BANDS

bp = ApiBlueprint("notices_api", __name__,
                  description="Notices to the residents of a building, grid, community or group")

SEND = "notices.send"
PLACE = {403: "The place is outside the caller's assignments",
         404: "No such place",
         409: "Refused by a rule the schema cannot state (a group without criteria, "
              "criteria on a building, a missing place; see fields)"}


def _refuse(exc: services.NoticeError) -> NoReturn:
    """A schema-valid body a rule refuses is 409 (docs/api.md "422 or 409?")."""
    refuse(exc, 409 if exc.status == 422 else None)


class NoticeAudienceSchema(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(AUDIENCE_KINDS),
                         metadata={"description": "building, grid, community, or group (a "
                                                  "community narrowed by age_band and/or sex)"})
    building_id = Id(metadata={"description": "The building (kind building)."})
    code = Text(one_line=True, validate=validate.Length(min=1, max=32),
                metadata={"description": "The grid or community code (other kinds)."})
    age_band = fields.String(validate=validate.OneOf(list(AGE_BANDS)))
    sex = fields.String(validate=validate.OneOf(["M", "F"]))


class NoticePreviewIn(Strict):
    audience = fields.Nested(NoticeAudienceSchema, required=True)
    urgency = fields.String(load_default="normal", validate=validate.OneOf(URGENCIES))


class NoticePreviewOut(Schema):
    label = fields.String(required=True)
    residents = fields.Integer(required=True)
    accounts = fields.Integer(required=True)
    sms = fields.Integer(required=True)
    email = fields.Integer(required=True)
    opted_out = fields.Integer(required=True)
    external = fields.Integer(required=True, metadata={
        "description": "Accounts that get an SMS or e-mail at this urgency"})
    urgency = fields.String(required=True)


class NoticeIn(NoticePreviewIn):
    title = Text(one_line=True, required=True,
                 validate=validate.Length(min=1, max=services.TITLE_MAX))
    body = Text(load_default="", validate=validate.Length(max=services.BODY_MAX))


class NoticeProgressSchema(Schema):
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)


class NoticeCountsSchema(Schema):
    pending = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    no_channel = fields.Integer(required=True)
    opted_out = fields.Integer(required=True)


class NoticeRecipientSchema(Schema):
    user_id = fields.Integer(required=True)
    name = fields.String(required=True, metadata={"description": "Masked"})
    channels = fields.Dict(keys=fields.String(), values=fields.String(
        validate=validate.OneOf(DELIVERY_STATUSES)), required=True)


class NoticeAudienceOut(Schema):
    kind = fields.String(required=True)
    code = fields.String(required=True)
    building_id = fields.Integer(allow_none=True)
    label = fields.String(required=True)
    age_band = fields.String()
    sex = fields.String()


class NoticeOut(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    urgency = fields.String(required=True)
    audience = fields.Nested(NoticeAudienceOut, required=True)
    status = fields.String(required=True)
    created_by = fields.String(required=True)
    sent_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    residents = fields.Integer(required=True)
    accounts = fields.Integer(required=True)
    progress = fields.Nested(NoticeProgressSchema, required=True)
    counts = fields.Nested(NoticeCountsSchema, required=True)
    channels = fields.Dict(keys=fields.String(),
                           values=fields.Dict(keys=fields.String(), values=fields.Integer()),
                           required=True)
    recipients = fields.List(fields.Nested(NoticeRecipientSchema), required=True)
    recipients_capped = fields.Boolean()


def _audience(data: dict[str, Any]) -> services.Audience:
    try:
        return services.audience_from(data)
    except services.NoticeError as exc:
        _refuse(exc)


@bp.route("/preview")
class NoticePreview(MethodView):
    @endpoint(bp, SEND, errors=(403, 404, 409, 422), descriptions=PLACE)
    @bp.arguments(NoticePreviewIn)
    @bp.response(200, NoticePreviewOut)
    def post(self, data):
        """How many residents, verified accounts, reachable phones and addresses and
        opt-outs the audience has — before sending."""
        session = current_session()
        try:
            found = services.preview(session, _audience(data["audience"]), current_user,
                                     urgency=data["urgency"])
        except services.NoticeError as exc:
            _refuse(exc)
        return found.__dict__


@bp.route("")
class Notices(MethodView):
    @endpoint(bp, SEND, errors=(403, 404, 409, 422), descriptions=PLACE)
    @bp.arguments(NoticeIn)
    @bp.response(202, NoticeOut)
    def post(self, data):
        """Send a notice: the deliveries are written now and handed out in batches after
        the response (``progress``); read the report with ``GET /notices/{id}``."""
        session = current_session()
        try:
            notice = services.send_notice(
                session, current_kernel().bus, current_user, _audience(data["audience"]),
                title=data["title"], body=data["body"], urgency=data["urgency"],
                facts=request_facts())
        except services.NoticeError as exc:
            session.rollback()
            _refuse(exc)
        session.commit()
        return services.report(session, notice, current_user, with_recipients=False)


@bp.route("/<int:notice_id>")
class NoticeItem(MethodView):
    @endpoint(bp, "notices.read", errors=(404,))
    @bp.response(200, NoticeOut)
    def get(self, notice_id):
        """The notice's progress and delivery report: counts by status and channel, and
        the recipients with masked names (each listed resident's access log records it)."""
        session = current_session()
        try:
            notice = services.readable(session, notice_id, current_user)
        except services.NoticeError as exc:
            refuse(exc)
        out = services.report(session, notice, current_user, facts=request_facts())
        session.commit()
        return out


def blueprints() -> list[ApiBlueprint]:
    """The ``notices`` area's blueprints, for ``core.api.core_api``."""
    return [bp]
