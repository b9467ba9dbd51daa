"""Service hotline pages, mounted by core at ``/commerce``. Thin: every rule is in
``services``; a view reads the form, calls one service, commits and redirects.

Object checks answer 404 (existence does not leak): a resident reaches only tickets of
their own registry person, a merchant's staff only tickets offered to or held by their
merchant.

One blueprint, one module per audience: :mod:`.resident` (the public directory and a
resident's own tickets), :mod:`.console` (the operator and staff), :mod:`.merchant` (the
portal and applying) and :mod:`.regulator`; :mod:`.common` holds the blueprint and the
shared helpers, :mod:`.forms` the forms. Importing this package registers every route.
"""

from __future__ import annotations

from plugins.commerce.views import console, merchant, regulator, resident
from plugins.commerce.views.common import bp

__all__ = ["bp", "console", "merchant", "regulator", "resident"]
