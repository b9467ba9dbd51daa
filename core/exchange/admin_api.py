"""``/api/v1/exchange/clients`` and ``/api/v1/exchange/deliveries``: administering the
exchange's clients, as the ``/admin/exchange`` pages and ``shequ exchange ...`` do.

For user accounts (bearer tokens or the session), unlike the feed beside it (which answers
the clients themselves): reading needs ``core.exchange.read``, every change
``core.exchange.manage``. The same services as the pages and the CLI
(``core.exchange.services``), so every change is in the audit log the same way, and a
webhook secret or feed token is in an answer once — when it is made or rotated.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields, validate

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint, refuse
from core.api.fields import JsonBoolean, Strict, Text
from core.current import current_kernel
from core.db import current_session
from core.exchange import services
from core.exchange.models import ExchangeClient, ExchangeDelivery
from core.rules import MAX_ID

READ, MANAGE = "core.exchange.read", "core.exchange.manage"
#: The CLI's filters: "failed" is retrying or dead.
STATUSES = ("queued", "failed", "dead", "delivered", "cancelled")
#: Delivery ids are 64-bit (outbox-sized); one above this names nothing.
MAX_DELIVERY = 2**62

bp = ApiBlueprint("exchange_clients", __name__,
                  description="Administering exchange clients and their webhooks")


# ------------------------------------------------------------------------------ schemas


class ClientSchema(Schema):
    """A client as the admin pages show it: never its secret or token (only the token's
    first characters, to tell which one a system holds)."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    contact = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["active", "suspended"]})
    event_types = fields.List(fields.String(), required=True)
    scopes = fields.List(fields.String(), required=True)
    callback_url = fields.String(allow_none=True)
    token_prefix = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    created_by = fields.String(required=True)
    secret_rotated_at = fields.DateTime(allow_none=True)
    previous_secret_until = fields.DateTime(allow_none=True)
    suspended_at = fields.DateTime(allow_none=True)
    suspended_reason = fields.String(allow_none=True)
    feed_start = fields.Integer(allow_none=True, metadata={
        "description": "Its feed, webhooks and replays start after this outbox event"})


class ClientList(Schema):
    items = fields.List(fields.Nested(ClientSchema), required=True)


class ClientIn(Strict):
    name = Text(required=True, one_line=True, validate=validate.Length(min=1, max=64))
    contact = Text(load_default="", one_line=True, validate=validate.Length(max=200))
    callback_url = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(max=500), metadata={
                                     "description": "http(s) webhook address; none when the "
                                                    "system pulls the feed"})
    event_types = fields.List(fields.String(validate=validate.Length(max=120)),
                              load_default=list, validate=validate.Length(max=200))
    scopes = fields.List(fields.String(validate=validate.Length(max=64)), load_default=list,
                         validate=validate.Length(max=50))


class Credentials(Schema):
    """Shown once: store them now (the token is kept only as a digest)."""

    client = fields.Nested(ClientSchema, required=True)
    secret = fields.String(allow_none=True, metadata={"description": "The webhook secret"})
    token = fields.String(allow_none=True, metadata={"description": "The feed token"})


class SuspendIn(Strict):
    reason = Text(required=True, one_line=True, validate=validate.Length(min=1, max=200))


class RotateIn(Strict):
    what = fields.String(required=True, validate=validate.OneOf(("secret", "token")))
    at_once = JsonBoolean(load_default=False, metadata={
        "description": "secret only: end the old secret now (after a leak) instead of "
                       f"signing with it too for {services.ROTATION_GRACE_HOURS} hours"})


class ReplayIn(Strict):
    from_id = fields.Integer(required=True, strict=True,
                             validate=validate.Range(min=1, max=MAX_DELIVERY))
    to_id = fields.Integer(required=True, strict=True,
                           validate=validate.Range(min=1, max=MAX_DELIVERY))


class ReplayOut(Schema):
    queued = fields.Integer(required=True)


class BackfillIn(Strict):
    since_event = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_DELIVERY))
    since = fields.Date(metadata={"description": "Or the first day (UTC) to start from"})
    reason = Text(required=True, validate=validate.Length(min=1, max=200))


class BackfillOut(Schema):
    feed_start = fields.Integer(required=True)


class DeliveryQuery(Strict):
    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class DeliverySchema(Schema):
    id = fields.Integer(required=True)
    client_id = fields.Integer(required=True)
    client_name = fields.String(required=True)
    event_id = fields.Integer(required=True)
    event_name = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": [
        "queued", "retrying", "dead", "delivered", "cancelled"]})
    attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)
    delivered_at = fields.DateTime(allow_none=True)
    response_status = fields.Integer(allow_none=True)
    replay_of = fields.Integer(allow_none=True)


class DeliveryList(Schema):
    items = fields.List(fields.Nested(DeliverySchema), required=True)


class RedeliverOut(Schema):
    done = fields.String(required=True, metadata={"enum": ["retried", "queued"], "description":
                         "retried: a dead letter back in the queue; queued: sent anew"})


# ------------------------------------------------------------------------------ helpers


def _client(client_id: int) -> ExchangeClient:
    found = current_session().get(ExchangeClient, client_id) if 0 < client_id <= MAX_ID \
        else None
    if found is None:
        abort(404)
    return found


def _refused(exc: services.ExchangeError) -> None:
    """Every schema-valid refusal is a 409 (docs/api.md, "422 or 409?")."""
    current_session().rollback()
    refuse(exc, status=409)


def _actor() -> Any:
    return current_user.actor


# ------------------------------------------------------------------------------ clients


@bp.route("/clients")
class Clients(MethodView):
    @endpoint(bp, READ)
    @bp.response(200, ClientList)
    def get(self):
        """Every registered client, by name."""
        return {"items": services.list_clients(current_session())}

    @endpoint(bp, MANAGE, errors=(409, 422), descriptions={
        409: "The name is taken, an event type or scope is unknown, or the webhook address "
             "is refused by the network policy (fields say which)"})
    @bp.arguments(ClientIn)
    @bp.response(201, Credentials)
    def post(self, data):
        """Register an external system with what it may receive (minimum necessary).
        The answer holds its webhook secret and feed token: shown this once."""
        session = current_session()
        try:
            client, secret, token = services.create_client(
                session, current_kernel().bus, name=data["name"], contact=data["contact"],
                event_types=data["event_types"], scopes=data["scopes"],
                callback_url=data["callback_url"], actor=_actor())
        except services.ExchangeError as exc:
            _refused(exc)
        session.commit()
        return {"client": client, "secret": secret, "token": token}, 201


@bp.route("/clients/<int:client_id>")
class ClientItem(MethodView):
    @endpoint(bp, READ, errors=(404,), descriptions={404: "No such client"})
    @bp.response(200, ClientSchema)
    def get(self, client_id: int):
        """One client."""
        return _client(client_id)

    @endpoint(bp, MANAGE, errors=(404, 409, 422), descriptions={
        404: "No such client",
        409: "The name is taken, an event type or scope is unknown, or the webhook address "
             "is refused (fields say which)"})
    @bp.arguments(ClientIn)
    @bp.response(200, ClientSchema)
    def put(self, data, client_id: int):
        """Change what a client receives (the edit page: every field, as a whole).
        Narrowing applies to webhooks queued already: they are checked again when sent."""
        session = current_session()
        client = _client(client_id)
        try:
            services.update_client(
                session, current_kernel().bus, client, name=data["name"],
                contact=data["contact"], event_types=data["event_types"],
                scopes=data["scopes"], callback_url=data["callback_url"], actor=_actor())
        except services.ExchangeError as exc:
            _refused(exc)
        session.commit()
        return client


@bp.route("/clients/<int:client_id>/suspend")
class ClientSuspend(MethodView):
    @endpoint(bp, MANAGE, errors=(404, 409, 422), descriptions={
        404: "No such client", 409: "A blank reason"})
    @bp.arguments(SuspendIn)
    @bp.response(200, ClientSchema)
    def post(self, data, client_id: int):
        """Stop everything at once: its token is refused and queued webhooks are
        cancelled when their turn comes."""
        session = current_session()
        client = _client(client_id)
        try:
            services.suspend_client(session, client, reason=data["reason"], actor=_actor())
        except services.ExchangeError as exc:
            _refused(exc)
        session.commit()
        return client


@bp.route("/clients/<int:client_id>/resume")
class ClientResume(MethodView):
    @endpoint(bp, MANAGE, errors=(404,), descriptions={404: "No such client"})
    @bp.response(200, ClientSchema)
    def post(self, client_id: int):
        """Make a suspended client active again (events while it was suspended are not
        sent unless replayed)."""
        session = current_session()
        client = _client(client_id)
        services.resume_client(session, client, actor=_actor())
        session.commit()
        return client


@bp.route("/clients/<int:client_id>/rotate")
class ClientRotate(MethodView):
    @endpoint(bp, MANAGE, errors=(404, 422), descriptions={404: "No such client"})
    @bp.arguments(RotateIn)
    @bp.response(200, Credentials)
    def post(self, data, client_id: int):
        """A new webhook secret (the old one still signs for a grace period unless
        ``at_once``) or a new feed token (the old one stops at once): shown this once."""
        session = current_session()
        client = _client(client_id)
        secret = token = None
        if data["what"] == "token":
            token = services.rotate_token(session, client, actor=_actor())
        else:
            grace = 0 if data["at_once"] else services.ROTATION_GRACE_HOURS
            secret = services.rotate_secret(session, client, grace_hours=grace, actor=_actor())
        session.commit()
        return {"client": client, "secret": secret, "token": token}


@bp.route("/clients/<int:client_id>/replay")
class ClientReplay(MethodView):
    @endpoint(bp, MANAGE, errors=(404, 409, 422), descriptions={
        404: "No such client",
        409: "The client is suspended or has no webhook address, or the range is empty"})
    @bp.arguments(ReplayIn)
    @bp.response(200, ReplayOut)
    def post(self, data, client_id: int):
        """Queue the client's allowed events with outbox ids ``from_id..to_id`` again
        (``shequ exchange replay``); never before its start (see backfill)."""
        session = current_session()
        client = _client(client_id)
        try:
            count = services.replay(session, current_kernel().bus, client,
                                    from_id=data["from_id"], to_id=data["to_id"],
                                    actor=_actor())
        except services.ExchangeError as exc:
            _refused(exc)
        session.commit()
        current_kernel().bus.wake()
        return {"queued": count}


@bp.route("/clients/<int:client_id>/backfill")
class ClientBackfill(MethodView):
    @endpoint(bp, MANAGE, errors=(404, 409, 422), descriptions={
        404: "No such client", 409: "Neither or both of since_event and since"})
    @bp.arguments(BackfillIn)
    @bp.response(200, BackfillOut)
    def post(self, data, client_id: int):
        """Grant history from before the registration (``shequ exchange backfill``),
        with the reason in the audit log; never narrows what the client had."""
        session = current_session()
        client = _client(client_id)
        try:
            start = services.grant_backfill(
                session, client, since_event=data.get("since_event"),
                since=data.get("since"), reason=data["reason"], actor=_actor())
        except services.ExchangeError as exc:
            _refused(exc)
        session.commit()
        return {"feed_start": start}


@bp.route("/clients/<int:client_id>/deliveries")
class ClientDeliveries(MethodView):
    @endpoint(bp, READ, errors=(404, 422), descriptions={404: "No such client"})
    @bp.arguments(DeliveryQuery, location="query")
    @bp.response(200, DeliveryList)
    def get(self, args, client_id: int):
        """The client's webhooks, newest first, with attempts and the last error
        (``status=failed``: retrying or dead)."""
        client = _client(client_id)
        return {"items": services.list_deliveries(
            current_session(), client_id=client.id, status=args.get("status"),
            limit=args["limit"])}


# ------------------------------------------------------------------------------ deliveries


@bp.route("/deliveries")
class Deliveries(MethodView):
    @endpoint(bp, READ, errors=(422,))
    @bp.arguments(DeliveryQuery, location="query")
    @bp.response(200, DeliveryList)
    def get(self, args):
        """Webhooks of every client, newest first (the admin page lists the failed ones:
        ``status=failed``)."""
        return {"items": services.list_deliveries(current_session(), status=args.get("status"),
                                                  limit=args["limit"])}


@bp.route("/deliveries/<int:delivery_id>/redeliver")
class Redeliver(MethodView):
    @endpoint(bp, MANAGE, errors=(404, 409), descriptions={
        404: "No such delivery",
        409: "The client is suspended, or the delivery is still being tried"})
    @bp.response(200, RedeliverOut)
    def post(self, delivery_id: int):
        """Send a webhook again: a dead letter back in the queue, a delivered or
        cancelled one queued anew (its event under today's grants)."""
        session = current_session()
        row = session.get(ExchangeDelivery, delivery_id) if 0 < delivery_id < MAX_DELIVERY \
            else None
        if row is None:
            abort(404)
        try:
            done = services.redeliver(session, current_kernel().bus, delivery_id,
                                      actor=_actor())
        except services.ExchangeError as exc:
            _refused(exc)
        session.commit()
        current_kernel().bus.wake()
        return {"done": done}


def blueprints() -> list[ApiBlueprint]:
    return [bp]
