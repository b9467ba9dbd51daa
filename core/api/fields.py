"""marshmallow fields for JSON bodies that mean exactly what the OpenAPI document says,
and what every API area shares: :data:`AUTH` (the security requirement of an operation that
needs a bearer token or a session), :class:`Strict` (a body that refuses unknown fields) and
:class:`Text` (text as it may be stored).

marshmallow's ``Boolean`` also takes 1, 0, "yes" and "on" — convenient for query strings
and forms, but a JSON body typed ``boolean`` that accepts ``"yes"`` is a contract the
document does not state (and API fuzzing flags it). Query-string flags keep the lenient
field; bodies use these.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from core.rules import MAX_ID

#: ``@blp.doc(security=AUTH)``: the operation needs a bearer token (or a signed-in session).
AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}]

#: Control characters text may not hold: multi-line text keeps tab, line feed and carriage
#: return; a one-line value (a name, a title, a code) keeps none.
CONTROL_CHARS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
LINE_CONTROL_CHARS = r"\x00-\x1f\x7f"
#: ``validate.Regexp`` patterns, one meaning each across every API area: ``TEXT`` and
#: ``LINE`` need something besides white space (a required answer); ``OPT_TEXT`` and
#: ``OPT_LINE`` may be empty. None lets a control character through.
TEXT = rf"^[^{CONTROL_CHARS}]*[^\s{CONTROL_CHARS}][^{CONTROL_CHARS}]*$"
OPT_TEXT = rf"^[^{CONTROL_CHARS}]*$"
LINE = rf"^[^{LINE_CONTROL_CHARS}]*[^\s{LINE_CONTROL_CHARS}][^{LINE_CONTROL_CHARS}]*$"
OPT_LINE = rf"^[^{LINE_CONTROL_CHARS}]*$"

class Pattern(validate.Regexp):
    """``validate.Regexp`` read as the OpenAPI document (JSON Schema) reads a pattern: a
    search of the value (unanchored unless the pattern says ``^``), with ``$`` the end of
    the value. marshmallow's own anchors at the start (``re.match``), so ``\\S`` refused
    ``" x"``, and Python's ``$`` also matches before a final line feed, so ``"civil\\n"``
    passed ``LINE`` and a 12-digit code took a line feed after it. The document shows the
    pattern as written (``self.regex``); the check runs it with each ``$`` as ``\\Z``."""

    def __init__(self, regex: str, flags: int = 0, *, error: str | None = None) -> None:
        super().__init__(regex, flags, error=error)
        self._check = re.compile(_end_is_end(regex), flags)

    def __call__(self, value: Any) -> Any:
        if self._check.search(value) is None:
            raise validate.ValidationError(self._format_error(value))
        return value


def _end_is_end(pattern: str) -> str:
    """``pattern`` with each ``$`` (not escaped, not in a class) as ``\\Z``."""
    out, escaped, in_class = [], False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            out.append(r"\Z")
            continue
        out.append(ch)
    return "".join(out)


_NUL = re.compile(r"\x00")
_CONTROLS = re.compile(rf"[{LINE_CONTROL_CHARS}]")


class JsonBoolean(fields.Boolean):
    """JSON ``true`` or ``false`` only, as the document says (not 1, 0 or "yes")."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Strict(Schema):
    """A request body that refuses fields it does not list (422), so nothing the document
    does not name — ``kind``, ``password``, a verification flag — can be written."""

    class Meta:
        unknown = RAISE


class Text(fields.String):
    """Text as stored: lone surrogates (JSON can carry ``"\\udbd9"``, which is not Unicode)
    and NUL (which PostgreSQL cannot store) are dropped, and with ``one_line`` every
    control character (docs/requirements.md: strip hidden characters people may paste)."""

    def __init__(self, *args: Any, one_line: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.controls = _CONTROLS if one_line else _NUL

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        for check in self.validators:  # the documented length is the length as sent
            if isinstance(check, validate.Length):
                check(text)
        text = text.encode("utf-8", "ignore").decode("utf-8")
        return self.controls.sub("", text)


def Id(**kwargs: Any) -> fields.Integer:
    """A row id in a body or query: a strict integer from 1 to :data:`core.rules.MAX_ID`
    (larger ones name nothing and would overflow PostgreSQL's ``integer``)."""
    kwargs.setdefault("strict", True)
    kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
    return fields.Integer(**kwargs)
