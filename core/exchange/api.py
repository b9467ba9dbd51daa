"""``/api/v1/exchange``: the data standard as JSON Schema, the pull feed, fact queries.

The schemas are public: a published standard that names fields, not data. The feed and
the fact queries answer external *clients*, not user accounts: they authenticate with the
client's token as ``Authorization: Exchange <token>`` (a different scheme from users'
``Bearer`` tokens, so a staff token can never read the feed and a client token never
opens a page). A suspended client's token is refused at once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import abort, g, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import TooManyRequests, UnprocessableEntity

from core.api.blueprint import ApiBlueprint
from core.api.fields import Pattern, Strict
from core.current import current_kernel
from core.db import current_session
from core.exchange import services, standard
from core.exchange.models import ExchangeClient

bp = ApiBlueprint("exchange_api", __name__, description="Data standard, event feed, fact queries")

SCHEME = "Exchange "


class SchemaRef(Schema):
    name = fields.String(required=True)
    kind = fields.String(required=True)
    owner = fields.String(required=True)
    version = fields.String(required=True)
    fingerprint = fields.String(required=True)
    url = fields.String(required=True)


class SchemaList(Schema):
    standard_version = fields.String(required=True)
    schemas = fields.List(fields.Nested(SchemaRef), required=True)


class FeedArgs(Strict):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=2**62),
        metadata={"description": "Cursor: the `next` of the previous page"},
    )
    limit = fields.Integer(
        load_default=50, validate=validate.Range(min=1, max=services.FEED_MAX_LIMIT)
    )


class FeedPage(Schema):
    events = fields.List(
        fields.Dict(), required=True, metadata={"description": "Envelopes (JSON Schema `envelope`)"}
    )
    next = fields.Integer(required=True, metadata={"description": "Pass as `after` next time"})


class FactQuery(Strict):
    fact = fields.String(required=True, validate=validate.OneOf(list(services.FACTS)))
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=32))
    community = fields.String(validate=Pattern(r"^[0-9]{12}$"))


class FactAnswer(Schema):
    fact = fields.String(required=True)
    answer = fields.Boolean(required=True)
    standard_version = fields.String(required=True)


def authenticated_client() -> ExchangeClient:
    """The active client whose token came with the request, else 401."""
    header = request.headers.get("Authorization", "")
    token = header[len(SCHEME) :].strip() if header.startswith(SCHEME) else ""
    client = services.client_for_token(current_session(), token)
    if client is None:
        abort(
            401,
            description="Send a valid exchange client token as 'Authorization: Exchange <token>'.",
        )
    return client


#: Per-client request budgets. Fact queries are the tighter one: each answer says whether
#: an ID number is registered, so a client must not be able to sweep the number space.
RATE_LIMITS = {"feed": "120/minute", "facts": "600/hour"}


def throttle(kind: str, client: ExchangeClient) -> None:
    """Spend one request of the client's ``kind`` budget, or answer 429 with Retry-After.
    Uses the app's limiter storage (memory, or Redis when workers share limits)."""
    from limits import parse

    from core.identity.limits import limiter

    item = parse(RATE_LIMITS[kind])
    if not limiter.limiter.hit(item, "exchange", kind, str(client.id)):
        reset, _ = limiter.limiter.get_window_stats(item, "exchange", kind, str(client.id))
        raise TooManyRequests(
            description="This client's request budget is spent; retry later.",
            retry_after=max(1, int(reset - time.time())),
        )


def client_required(view: Callable) -> Callable:
    """Authenticate the client before anything else (arguments included), so an unknown
    caller learns nothing from validation messages. The client is in ``g.exchange_client``."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        g.exchange_client = authenticated_client()
        return view(*args, **kwargs)

    return wrapped


@bp.route("/schemas")
class Schemas(MethodView):
    @bp.response(200, SchemaList)
    def get(self) -> dict[str, Any]:
        """The data standard: every schema with its version and fingerprint (public)."""
        return {
            "standard_version": standard.STANDARD_VERSION,
            "schemas": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "owner": s.owner,
                    "version": s.version,
                    "fingerprint": s.fingerprint,
                    "url": f"{standard.SCHEMA_BASE}{s.name}",
                }
                for s in standard.collect(current_kernel())
            ],
        }


@bp.route("/schemas/<string:schema_name>")
class SchemaItem(MethodView):
    @bp.response(200)
    def get(self, schema_name: str) -> dict[str, Any]:
        """One schema as a JSON Schema document (public)."""
        found = standard.by_name(current_kernel()).get(schema_name)
        if found is None:
            abort(404, description="There is no schema with this name.")
        return found.document()


@bp.route("/events")
class Events(MethodView):
    @client_required
    @bp.arguments(FeedArgs, location="query")
    @bp.response(200, FeedPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The client's events after the cursor, oldest first (client token)."""
        client = g.exchange_client
        throttle("feed", client)
        session = current_session()
        items, cursor = services.feed_page(
            session, client, after=args["after"], limit=args["limit"]
        )
        session.commit()
        return {"events": items, "next": cursor}


@bp.route("/facts")
class Facts(MethodView):
    @client_required
    @bp.arguments(FactQuery)
    @bp.response(200, FactAnswer)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Answer one yes/no fact the client is allowed (client token); logged per person."""
        client = g.exchange_client
        throttle("facts", client)
        session = current_session()
        try:
            answer = services.answer_fact(
                session,
                client,
                fact=data["fact"],
                id_number=data["id_number"],
                community=data.get("community"),
            )
        except PermissionError as exc:
            session.rollback()
            abort(403, description=str(exc))
        except services.ExchangeError as exc:
            session.rollback()
            error = UnprocessableEntity(description="The request has invalid fields.")
            error.data = {"messages": {exc.field or "_schema": [str(exc)]}}
            raise error from None
        session.commit()
        return answer


def blueprints() -> list[ApiBlueprint]:
    """The area's blueprints: this one (for clients) and the administration of clients
    (for user accounts, ``core.exchange.admin_api``)."""
    from core.exchange import admin_api

    return [bp, *admin_api.blueprints()]
