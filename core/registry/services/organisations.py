"""Organisations (companies, social organisations, institutions) in a community: their
fields, registration and updates, with the same history and events as persons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.registry import codes
from core.registry.errors import NotFound, RegistryError
from core.registry.models import (
    Organisation,
    Person,
)
from core.registry.services.common import (
    ORG_FIELDS,
    _check_version,
    _flush,
    _get,
    record_change,
)
from core.registry.services.places import (
    _place_codes,
    community_by_code,
    grid_by_code,
)
from core.registry.validation import (
    IdentifierError,
    parse_credit_code,
)
from core.rules import N_

# ------------------------------------------------------------------------------ organisations


def clean_organisation(session: Session, data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = N_("Enter the organisation's name.")
    out["name"] = name[:200]
    try:
        out["credit_code"] = parse_credit_code(str(data.get("credit_code") or "")).code
    except IdentifierError as exc:
        errors["credit_code"] = exc.message
    try:
        out["type"] = codes.parse_code(data.get("type"), codes.ORG_TYPES) or "enterprise"
    except KeyError:
        errors["type"] = N_("Unknown organisation type.")
    out["address"] = str(data.get("address") or "").strip()[:300]
    rep = data.get("legal_rep_id")
    if rep not in (None, ""):
        rep_person = session.get(Person, int(rep))
        if rep_person is None or rep_person.status == "merged":
            errors["legal_rep_id"] = N_("The legal representative is not a registered person.")
    out["legal_rep_id"] = int(rep) if rep not in (None, "") else None
    out["status"] = data.get("status") or "active"
    if out["status"] not in ("active", "closed"):
        errors["status"] = N_("An organisation is active or closed.")
    out["community_id"] = out["grid_id"] = None
    try:
        if data.get("community"):
            out["community_id"] = community_by_code(session, data["community"]).id
        if data.get("grid"):
            grid = grid_by_code(session, data["grid"])
            if out["community_id"] is not None and grid.community_id != out["community_id"]:
                errors["grid"] = N_("The grid belongs to another community.")
            out["grid_id"], out["community_id"] = grid.id, grid.community_id
    except NotFound as exc:
        errors[exc.field] = str(exc)
    if errors:
        first = next(iter(errors))
        raise RegistryError(errors[first], first, errors=errors)
    return out


def register_organisation(
    session: Session, data: Mapping[str, Any], *, bus: Any, actor: Any = None,
    via: str = "core",
) -> Organisation:
    """Register an organisation keyed by its credit code. Publishes
    ``registry.organisation.registered``."""
    clean = clean_organisation(session, data)
    if session.scalar(select(Organisation.id).where(
            Organisation.credit_code == clean["credit_code"])) is not None:
        raise RegistryError(N_("An organisation with this credit code is registered already."),
                            "credit_code")
    org = Organisation(**clean, version=1)
    session.add(org)
    session.flush()
    record_change(session, "organisation", org.id, {"*": (None, "created")}, actor=actor,
                  via=via)
    community, _ = _place_codes(session, org.community_id, None)
    bus.publish(session, "registry.organisation.registered",
                {"organisation_id": org.id, "community": community, "via": via})
    return org


def update_organisation(
    session: Session,
    org_id: int,
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    bus: Any,
    actor: Any = None,
    via: str = "core",
) -> Organisation:
    org = _get(session, Organisation, org_id, "organisation")
    _check_version(org, expected_version)
    unknown = sorted(set(changes) - set(ORG_FIELDS))
    if unknown:
        raise RegistryError(N_("These fields cannot be changed here: %(fields)s."),
                            unknown[0], fields=", ".join(unknown))
    community, grid = _place_codes(session, org.community_id, org.grid_id)
    current = {"name": org.name, "credit_code": org.credit_code, "type": org.type,
               "address": org.address, "legal_rep_id": org.legal_rep_id,
               "community": community, "grid": grid, "status": org.status}
    clean = clean_organisation(session, current | dict(changes))
    diff = {f: (getattr(org, f), v) for f, v in clean.items() if getattr(org, f) != v}
    if not diff:
        return org
    if "credit_code" in diff and session.scalar(select(Organisation.id).where(
            Organisation.credit_code == clean["credit_code"], Organisation.id != org.id)):
        raise RegistryError(N_("An organisation with this credit code is registered already."),
                            "credit_code")
    for f, (_old, new) in diff.items():
        setattr(org, f, new)
    record_change(session, "organisation", org.id, diff, actor=actor, via=via)
    _flush(session, org)
    bus.publish(session, "registry.organisation.updated",
                {"organisation_id": org.id, "fields": sorted(diff), "version": org.version,
                 "via": via})
    return org
