"""The error every account rule raises, and the messages other layers recognise.

:class:`IdentityError` is a :class:`core.rules.RuleError`, so pages translate it with
``exc.text()`` and the API's one handler answers it; the message constants are compared by
the API to pick its status (a token asking for more than its owner holds is 403, not 422).
"""

from __future__ import annotations

from typing import Any

from core.rules import N_, RuleError

#: A token may carry only permissions its owner holds (the API answers 403).
OWNER_LACKS = N_("The owner lacks: %(names)s")
#: Assisting a resident who does not live where the worker serves.
OUTSIDE_PLACES = N_(
    "You can only act for residents who live in the places you serve. Ask a colleague "
    "there, or the hotline."
)
#: ``permissions: []`` (the API answers 422).
NO_PERMISSIONS = N_(
    "Name at least one permission, or leave the list out to give the token all of yours."
)


class IdentityError(RuleError):
    """A rule was broken; ``field`` names the input it concerns (for form and API errors).
    ``message`` is an English msgid with ``%(name)s`` placeholders filled from ``params``,
    so pages can show it translated: ``gettext(exc.message, **exc.params)`` (or
    ``exc.text()``); ``str(exc)`` is the English message with its placeholders filled."""

    def __init__(self, message: str, field: str = "", **params: Any) -> None:
        super().__init__(message, field)
        self.params = params  # all of them placeholders, even one named ``status``
        self.args = (str(self),)
