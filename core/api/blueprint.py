"""The API blueprint core and plugins declare their operations on."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint


class ApiBlueprint(Blueprint):
    """flask-smorest's ``Blueprint``, whose ``arguments`` builds a schema given as a class
    once, when the operation is declared.

    Why: webargs builds a schema from a class on every request, and marshmallow 4 copies
    every declared field to do it: 60–70 µs, about 8 % of an API reveal (measured,
    docs/performance.md). flask-smorest already builds response schemas once; a schema
    instance keeps no state between loads, so one serves every request and thread. The
    OpenAPI document is the same either way."""

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)


__all__ = ["ApiBlueprint"]
