"""The JSON API, mounted by core at ``/api/v1/hello``: ``GET`` and ``POST /greetings``.

Every response is documented, errors with core's ``Error`` schema; permissions are checked
with ``core.identity.require`` (401 without credentials, 403 without the permission),
outermost so that access is decided before the request body is even parsed.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from core.toolkit import PageArgs, current_kernel, current_session, paginate, require
from shequ_hello import READ, SEND
from shequ_hello.schemas import GreetingPage, HelloGreeting, HelloGreetingIn
from shequ_hello.services import GreetingError, greetings_query, send_greeting

blp = Blueprint("hello_api", __name__, description="Greetings (the example plugin)")
AUTH = [{"bearerAuth": []}]


@blp.route("/greetings")
class Greetings(MethodView):
    @require(READ)
    @blp.doc(security=AUTH)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, GreetingPage)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {READ}")
    @blp.alt_response(422, schema="Error", description="Invalid page or page_size")
    def get(self, args):
        """Greetings, newest first (paginated)."""
        return paginate(current_session(), greetings_query(), args)

    @require(SEND)
    @blp.doc(security=AUTH)
    @blp.arguments(HelloGreetingIn)
    @blp.response(201, HelloGreeting)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {SEND}")
    @blp.alt_response(409, schema="Error", description="Refused by a rule of the service")
    @blp.alt_response(422, schema="Error", description="Invalid fields")
    def post(self, data):
        """Send a greeting; publishes the hello.greeting.sent event."""
        session = current_session()
        bus = current_kernel().bus
        try:
            greeting = send_greeting(session, bus, sender_id=current_user.id, **data)
        except GreetingError as exc:
            # A rule the schema cannot express: the request matches the published schema,
            # so it is a 409 (docs/api.md, "422 or 409?"), in the same shape, field named.
            abort(409, message=str(exc), messages={exc.field: [str(exc)]})
        session.commit()
        return greeting
