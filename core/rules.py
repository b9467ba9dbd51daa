"""What every business rule in core and the plugins shares: :func:`N_`, :data:`MAX_ID` and
:class:`RuleError`.

A service refuses with ``raise RuleError(N_("Pick a date after %(day)s."), "date",
day=...)``: an English msgid with ``%(name)s`` placeholders, the field at fault and the
status the API answers. Pages translate it with :meth:`RuleError.text` beside the field;
the API turns it into the one error shape (``core.api.errors``: ``message`` and
``fields``). The plugins' own errors (``GovError``, ``CommerceError``, ``SurveillanceError``,
``GovernanceError``) are subclasses, so one handler serves them all.

This module sits in the foundation layer: services of every layer raise it, and it imports
nothing of the web (``flask_babel`` is imported only when a message is translated).
"""

from __future__ import annotations

from typing import Any

#: The largest id a table can hold (PostgreSQL ``integer``): a larger one names nothing,
#: so it is "not found", never a database error.
MAX_ID = 2**31 - 1


def N_(message: str) -> str:
    """Mark a message for extraction (``pybabel extract -k N_``); it is translated where it
    is shown, in the reader's language, not where it is raised."""
    return message


class RuleError(ValueError):
    """A rule refused the request.

    ``message`` is a msgid, ``params`` fill its placeholders, ``field`` names the input at
    fault (``""`` for the request as a whole) and ``errors`` maps several fields to their
    msgids when a form had more than one problem. ``status`` is what the API answers: 422
    for input, 409 for a state that does not allow the step, 404 for an object that does
    not exist for the caller, 403 for a role that may not act. Subclasses set it as a class
    attribute; a raise may override it (``status=409``).
    """

    status: int = 422

    def __init__(
        self,
        message: str,
        field: str = "",
        *,
        status: int | None = None,
        errors: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.params = params
        self.errors = dict(errors or {})
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return _fill(self.message, self.params)

    def text(self) -> str:
        """The message in the current request's language (English outside a request)."""
        return translate(self.message, self.params)

    def field_texts(self) -> dict[str, list[str]]:
        """``{field: [message]}`` in the request's language, for the API's ``fields`` and a
        form's errors: every field of ``errors``, else the one ``field`` (or ``_schema``)."""
        if self.errors:
            return {name: [translate(msg, self.params)] for name, msg in self.errors.items()}
        return {self.field or "_schema": [self.text()]}


def translate(message: str, params: dict[str, Any] | None = None) -> str:
    """``gettext(message) % params`` when a request (or app) context is there."""
    try:
        from flask import has_app_context
        from flask_babel import gettext

        if has_app_context():
            return gettext(message, **(params or {}))
    except ImportError:  # pragma: no cover - Flask-Babel is a dependency
        pass
    return _fill(message, params or {})


def _fill(message: str, params: dict[str, Any]) -> str:
    try:
        return message % params if params else message
    except (KeyError, TypeError, ValueError):
        return message
