"""Community affairs pages, mounted by core at ``/self-governance``. Thin: the rules are in
``services``. Reading notices, disclosure, proposals, vote results, the forum, the
committee's record is public (that is what disclosure means); acting needs a verified
resident (``require_verified``) or a committee permission (``require``).

One module per area of the site, all on the one blueprint :data:`bp` of :mod:`.common`
(with the shared helpers); the forms are in :mod:`.forms`. Importing this package
registers every route, so the plugin mounts ``plugins.self_governance.views.bp`` as
before."""

from __future__ import annotations

from plugins.self_governance.views import (  # noqa: F401 - importing registers the routes
    committee,
    finances,
    forum,
    notices,
    proposals,
    statistics,
    votes,
)
from plugins.self_governance.views.common import bp

__all__ = ["bp"]
