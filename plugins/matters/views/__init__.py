"""Pages, mounted by core at ``/matters``. Thin: the rules are in ``services``."""

from plugins.matters.views import configure, pages, staff  # noqa: F401
from plugins.matters.views.common import bp, console_slot  # noqa: F401
