"""Jinja filters every page may use (core's and plugins' templates share one environment).

``{{ n|total(capped) }}`` writes a count honestly: ``1,705``, or ``1,000+`` when the count
stopped at the search cap (``SearchPage.total_capped``), never a capped number as if it
were exact (issue 18). Plugins' Python code formats the same way with
``core.toolkit.format_total``.

``{{ entry.purpose|purpose }}`` shows an access-log purpose in the reader's language
(:func:`core.audit.describe.purpose_words`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.audit.describe import purpose_words
from core.registry.search import format_total


def total(value: int | None, capped: bool = False) -> str:
    """The ``total`` filter: :func:`core.registry.search.format_total`."""
    return format_total(value, bool(capped))


#: name -> filter, registered on the application by :func:`init_app`.
FILTERS: dict[str, Any] = {"total": total, "purpose": purpose_words}


def init_app(app: Flask) -> None:
    """Register :data:`FILTERS` (idempotent)."""
    app.jinja_env.filters.update(FILTERS)
