"""What every seam of the rules shares: the plugin's error, the registry as the plugin
reads it for its own rules, and the community a resident or a committee member belongs to."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

import core.toolkit as toolkit
from core.toolkit import RegistryReader, RuleError, ScopeError

PLUGIN = "self_governance"
log = logging.getLogger("plugins.self_governance.services")  # one logger for every seam


class GovernanceError(RuleError):
    """A rule was broken; ``field`` names the input at fault (``"_schema"``: the request
    as a whole). A :class:`~core.toolkit.RuleError`, so pages translate it with
    :meth:`text` and the API answers it in core's error shape; ``str(exc)`` is the
    English message with its parameters filled in."""

    def __init__(
        self, message: str, field: str = "_schema", *, status: int | None = None, **params: Any
    ) -> None:
        super().__init__(message, field, status=status, **params)


class AlreadyVoted(GovernanceError):
    """The voter key is on the roll already (409 in the API)."""

    status = 409


def aware(value: datetime | None) -> datetime | None:
    """Times from forms may be naive: read them as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def reader(session: Session, kernel: Any, purpose: str) -> RegistryReader:
    """The registry as this plugin may read it for its own rules (eligibility, the size
    of an electorate): a system read (no staff place limit, nothing shown to anyone),
    within the declared data scopes, with a purpose for the record."""
    return toolkit.registry_reader(
        session, PLUGIN, actor=None, purpose=purpose, enforce_place=False, kernel=kernel
    )


def person_community(session: Session, kernel: Any, person_id: int | None) -> str | None:
    """The community code of a registry person (None when unknown or no longer active)."""
    if person_id is None:
        return None
    try:
        person = reader(session, kernel, "community of a resident").person(person_id)
    except ScopeError:
        return None
    return person["community"] if person["status"] == "active" else None


def acts_for(user: Any, community: str | None) -> bool:
    """Whether a committee member's place assignments cover ``community``. Deny by
    default, like core's staff scopes: an account with no assignment acts for no
    community, and ``community=None`` (a notice for every community) needs the
    district-wide ``("all", "")`` assignment."""
    if community is None:
        return toolkit.scope_allows(user)
    return toolkit.acts_for(user, community)


def member_communities(session: Session, kernel: Any, user: Any) -> list[dict[str, Any]]:
    """The communities a committee member acts for, with their names (the forms offer
    these instead of asking for a typed 12-digit code)."""
    rows = reader(session, kernel, "the communities a member acts for").communities()
    return [c for c in rows if acts_for(user, c["code"])]


def community_names(session: Session, kernel: Any) -> dict[str, str]:
    """``code → name`` of every community: a stored code is shown as its name."""
    return {c["code"]: c["name"] for c in
            reader(session, kernel, "name a community on a page").communities()}
