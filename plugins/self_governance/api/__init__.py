"""The JSON API, mounted by core at ``/api/v1/self-governance``: every action the pages
offer, with the same permissions, object checks and services. Reading is public
(disclosure); acting needs a signed-in, a verified or a personal resident, or a committee
permission within the member's communities. Errors use core's ``Error`` shape: 422 for a
malformed request, 409 for one a rule refuses in the state things are in now.

One module per area, all on the one blueprint :data:`blp` of :mod:`.common`; importing
this package registers every route."""

from __future__ import annotations

from plugins.self_governance.api import (  # noqa: F401 - importing registers the routes
    evaluation,
    finances,
    forum,
    moderation,
    notices,
    proposals,
    record,
    vote_admin,
    votes,
)
from plugins.self_governance.api.common import blp, conflict

__all__ = ["blp", "conflict"]
