"""One endpoint pattern for every API area: :func:`endpoint` stacks the gate, the security
requirement and the documented error responses; :func:`refuse` turns a
:class:`core.rules.RuleError` into the API's error shape.

Before, each operation carried its own stack — ``@require(P)``, ``@blp.doc(security=AUTH)``
and one ``@blp.alt_response`` per status, the 401 written out ninety times with seven
definitions of ``AUTH``. Now::

    @blp.route("/tickets")
    class Tickets(MethodView):
        @endpoint(blp, FILE, errors=(409, 422))
        @blp.arguments(TicketIn)
        @blp.response(201, TicketOut)
        def post(self, data): ...

``gate`` is a permission name (``require(name)``), a gate already built
(``require_login("identity.own.sessions")``, ``require_personal()``, ``require_verified``)
or ``None`` for a public operation. A gated operation documents 401 and 403 by itself;
``errors`` lists the others, with the default descriptions of :data:`DESCRIPTIONS` unless
``descriptions`` gives the operation's own words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from flask_smorest import abort

from core.api.fields import AUTH
from core.rules import RuleError

#: What each status means when an operation does not say more.
DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request",
    401: "Not signed in (no token, or it expired or was revoked)",
    403: "The account or token lacks the permission",
    404: "No such object, or not yours",
    409: "Refused by a rule in the object's current state (see fields)",
    413: "The upload is too large",
    415: "Unsupported media type",
    422: "Invalid fields",
    429: "Too many requests; retry after the time given",
}


def endpoint(
    blp: Any,
    gate: str | Callable[[Callable], Callable] | None = None,
    *,
    errors: Iterable[int] = (),
    descriptions: Mapping[int, str] | None = None,
) -> Callable[[Callable], Callable]:
    """Decorate a ``MethodView`` method (outermost, above ``@blp.arguments`` and
    ``@blp.response``) with its gate and documented errors."""
    words = dict(descriptions or {})

    def decorate(view: Callable) -> Callable:
        codes = set(errors)
        wrapped = view
        guard = _gate(gate)
        if guard is not None:
            codes |= {401, 403}
            wrapped = blp.doc(security=AUTH)(wrapped)
        for code in sorted(codes):
            text = words.get(code) or _default(code, gate)
            wrapped = blp.alt_response(code, schema="Error", description=text)(wrapped)
        return guard(wrapped) if guard is not None else wrapped

    return decorate


def _gate(gate: Any) -> Callable[[Callable], Callable] | None:
    if gate is None:
        return None
    if isinstance(gate, str):
        from core.identity import require  # deferred: identity's package imports core.api

        return require(gate)
    return gate


def _default(code: int, gate: Any) -> str:
    if code == 403 and isinstance(gate, str):
        return f"Lacks {gate}"
    return DESCRIPTIONS.get(code, "Error")


def refuse(exc: RuleError, status: int | None = None) -> NoReturn:
    """Answer a refused rule in the one error shape: ``message`` in the request's language
    and ``fields`` naming the input. ``status`` overrides the error's own (an area that
    answers every schema-valid refusal with 409, docs/api.md "422 or 409?")."""
    code = status or exc.status
    text = exc.text()
    if code in (403, 404):
        abort(code, message=text)
    abort(code, message=text, messages=exc.field_texts())
    raise AssertionError("unreachable: abort raises")  # flask_smorest.abort is not NoReturn
