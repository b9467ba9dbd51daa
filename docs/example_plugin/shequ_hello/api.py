"""The JSON API, mounted by core at ``/api/v1/hello``: ``GET`` and ``POST /greetings``.

Every response is documented, errors with core's ``Error`` schema. ``endpoint`` (from
``core.toolkit``) goes outermost: it checks the permission (401 without credentials, 403
without the permission) before the request body is even parsed, and documents those two
and the ``errors`` listed.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from core.toolkit import ApiBlueprint, PageArgs, current_kernel, current_session, endpoint, paginate
from shequ_hello import READ, SEND
from shequ_hello.schemas import GreetingPage, HelloGreeting, HelloGreetingIn
from shequ_hello.services import GreetingError, greetings_query, send_greeting

blp = ApiBlueprint("hello_api", __name__, description="Greetings (the example plugin)")


@blp.route("/greetings")
class Greetings(MethodView):
    @endpoint(blp, READ, errors=(422,))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, GreetingPage)
    def get(self, args):
        """Greetings, newest first (paginated)."""
        return paginate(current_session(), greetings_query(), args)

    @endpoint(blp, SEND, errors=(409, 422), descriptions={409: "Refused by a rule of the service"})
    @blp.arguments(HelloGreetingIn)
    @blp.response(201, HelloGreeting)
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
