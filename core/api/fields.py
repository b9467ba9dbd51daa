"""marshmallow fields for JSON bodies that mean exactly what the OpenAPI document says.

marshmallow's ``Boolean`` also takes 1, 0, "yes" and "on" — convenient for query strings
and forms, but a JSON body typed ``boolean`` that accepts ``"yes"`` is a contract the
document does not state (and API fuzzing flags it). Query-string flags keep the lenient
field; bodies use these.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields


class JsonBoolean(fields.Boolean):
    """JSON ``true`` or ``false`` only, as the document says (not 1, 0 or "yes")."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
