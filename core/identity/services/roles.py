"""Roles and scopes: what an account may do (roles, their defaults from core and the
plugins, and administrators' overrides) and where (:func:`scope_allows`).

Overrides are rows of their own, so the defaults keep flowing in when a plugin adds a
permission; a permission returned to its default has no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.identity.models import RolePermission, User
from core.identity.services.errors import IdentityError
from core.rules import N_


def role_overrides(session: Session) -> list[RolePermission]:
    return list(session.scalars(select(RolePermission).order_by(RolePermission.id)))


def effective_roles(
    defaults: Mapping[str, set[str]], overrides: Iterable[RolePermission]
) -> dict[str, set[str]]:
    """Defaults from core and plugins, then each administrator override applied."""
    roles = {role: set(perms) for role, perms in defaults.items()}
    for o in overrides:
        perms = roles.setdefault(o.role, set())
        if o.granted:
            perms.add(o.permission)
        else:
            perms.discard(o.permission)
    return roles


def set_role_permission(
    session: Session,
    *,
    role: str,
    permission: str,
    granted: bool,
    admin: User,
    defaults: Mapping[str, set[str]],
    known_permissions: Iterable[str],
) -> None:
    """Grant or withdraw one permission of a role; recorded in the audit log. Returning a
    permission to its default removes the override row, so defaults keep flowing in."""
    if role not in defaults:
        raise IdentityError(N_("Unknown role '%(role)s'."), "role", role=role)
    if permission not in set(known_permissions):
        raise IdentityError(N_("Unknown permission '%(name)s'."), "permission", name=permission)
    if role == "admin" and permission.startswith("identity.") and not granted:
        raise IdentityError(N_("Administrators keep the account permissions."), "permission")
    row = session.scalar(
        select(RolePermission).where(
            RolePermission.role == role, RolePermission.permission == permission
        )
    )
    before = effective_roles(defaults, role_overrides(session)).get(role, set())
    old = permission in before
    if old == granted:
        return
    default = permission in defaults[role]
    if row is not None:
        session.delete(row)
    if granted != default:
        session.add(
            RolePermission(
                role=role, permission=permission, granted=granted, changed_by_id=admin.id
            )
        )
    log_audit(
        session,
        "admin.role.permission_changed",
        actor=admin,
        target_type="role",
        target_id=role,
        detail={"permission": permission, "old": old, "new": granted},
    )


def resolve_permissions(role_names: Iterable[str], roles: Mapping[str, set[str]]) -> frozenset[str]:
    granted: set[str] = set()
    for role in role_names:
        granted |= roles.get(role, set())
    return frozenset(granted)


def scope_allows(user: Any, *, community: str | None = None, grid: str | None = None) -> bool:
    """Whether a staff account's assignments cover this community or grid; deny by
    default (no assignment covers nothing). ``scopes`` may hold rows or ``ScopeRef``s, or
    the ``(kind, code)`` pairs of a ``toolkit.AccountView``."""
    scopes = {tuple(s) if isinstance(s, tuple) else (s.kind, s.code)
              for s in getattr(user, "scopes", None) or ()}
    if ("all", "") in scopes:
        return True
    if community and ("community", community) in scopes:
        return True
    return bool(grid and ("grid", grid) in scopes)


@dataclass(frozen=True)
class RoleState:
    """One role's effective permissions next to its defaults (from core and plugins)."""

    role: str
    granted: frozenset[str]
    default: frozenset[str]

    @property
    def added(self) -> frozenset[str]:
        return self.granted - self.default

    @property
    def removed(self) -> frozenset[str]:
        return self.default - self.granted


def role_states(session: Session, defaults: Mapping[str, set[str]]) -> list[RoleState]:
    effective = effective_roles(defaults, role_overrides(session))
    return [
        RoleState(role, frozenset(effective.get(role, set())), frozenset(perms))
        for role, perms in defaults.items()
    ]


def set_role_permissions(
    session: Session,
    *,
    role: str,
    granted: Iterable[str],
    considered: Iterable[str],
    admin: Any,
    defaults: Mapping[str, set[str]],
    known_permissions: Iterable[str],
) -> list[str]:
    """Apply a role's tick boxes: each permission in ``considered`` (those the form showed)
    is granted when it is in ``granted`` and withdrawn otherwise, one audited
    :func:`set_role_permission` per change. Returns the permissions that changed."""
    if role not in defaults:
        raise IdentityError(N_("Unknown role '%(role)s'."), "role", role=role)
    known = set(known_permissions)
    granted, considered = set(granted), set(considered)
    unknown = sorted((granted | considered) - known)
    if unknown:
        raise IdentityError(N_("Unknown permission '%(name)s'."), "permission", name=unknown[0])
    before = effective_roles(defaults, role_overrides(session)).get(role, set())
    changed = []
    for permission in sorted(considered):
        want = permission in granted
        if (permission in before) != want:
            set_role_permission(
                session,
                role=role,
                permission=permission,
                granted=want,
                admin=admin,
                defaults=defaults,
                known_permissions=known,
            )
            changed.append(permission)
    return changed
