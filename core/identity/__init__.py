"""Identity: who is asking, and what they may do.

``init_app`` wires Flask-Login (server-side sessions for pages) and bearer tokens (for the
API), merges the permission and role tables declared by core and by plugins, and applies
administrators' overrides. The helpers here are the one place access is decided, deny by
default: :func:`require` for functions, :func:`can_access` / :func:`check_access` for
objects (resident A never reaches resident B's records: 404, not 403, so existence does
not leak either).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask_login import AnonymousUserMixin, LoginManager, current_user

from core.audit.services import log_audit
from core.audit.web import request_facts
from core.db import current_session, utcnow
from core.hookspecs import Permission
from core.identity.models import User, UserSession
from core.identity.passwords import make_hasher
from core.identity.permissions import CORE_PERMISSIONS, CORE_ROLE_GRANTS, ROLES
from core.identity.services import (
    Account,
    SessionPolicy,
    account_for_session,
    account_for_token,
    effective_roles,
    load_account,
    resolve_permissions,
    role_overrides,
    scope_allows,
)

__all__ = [
    "Principal",
    "can_access",
    "check_access",
    "current_principal",
    "has_permission",
    "require",
    "require_login",
    "require_personal",
    "require_verified",
]

#: Administrators' role changes reach every worker process within this many seconds.
ROLE_CACHE_SECONDS = 10.0


class Anonymous(AnonymousUserMixin):
    id = None
    username = ""
    display_name = ""
    kind = "anonymous"
    role_names: list[str] = []
    permissions: frozenset[str] = frozenset()
    is_verified = False
    person_id = None
    scopes: list[Any] = []
    agent = None
    session_row_id = None


class Principal:
    """The signed-in account for this request: a snapshot (:class:`Account`) read in one
    statement, with its effective permissions (narrowed by the token when the request came
    with one). ``user`` loads the ORM row only when a view really needs it. In the assisted
    channel the account is the resident's and ``agent`` the worker acting for them: the
    resident's rights, the worker's name on every record."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, account: Account | User, permissions: frozenset[str], *, token: str = "",
                 session_row_id: int | None = None, via_token: bool = False,
                 agent: Account | None = None, acting_reason: str = ""):
        self.account = account if isinstance(account, Account) else Account.of(account)
        self.permissions = permissions
        self.session_token = token
        self.session_row_id = session_row_id
        self.via_token = via_token
        self.agent = agent
        self.acting_reason = acting_reason
        self._user: User | None = account if isinstance(account, User) else None

    @property
    def user(self) -> User:
        """The ORM row, loaded on first use in the request's session."""
        if self._user is None or self._user not in current_session():
            self._user = current_session().get(User, self.account.id)
        return self._user  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        account = self.__dict__.get("account")
        if account is not None and hasattr(account, name):
            return getattr(account, name)
        return getattr(self.user, name)

    def get_id(self) -> str:
        return self.session_token

    @property
    def actor(self) -> Any:
        """Who really acts: the agent in the assisted channel, else the account."""
        return self.agent or self.account


def current_principal() -> Any:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def init_app(app: Flask, kernel: Any) -> None:
    host = kernel.plugins
    permissions: dict[str, Permission] = {p.name: p for p in CORE_PERMISSIONS}
    for pid, declared in host.call_ordered("register_permissions"):
        for perm in declared:
            if not perm.name.startswith(f"{pid}."):
                raise ValueError(f"plugin {pid}: permission {perm.name} must start with '{pid}.'")
            if perm.name in permissions:
                raise ValueError(f"plugin {pid}: permission {perm.name} is declared twice")
            permissions[perm.name] = perm
    roles: dict[str, set[str]] = {r: set() for r in ROLES}
    for role, names in CORE_ROLE_GRANTS.items():
        roles[role] |= set(names)
    for pid, grants in host.call_ordered("default_roles"):
        for role, names in grants.items():
            unknown = [n for n in names if n not in permissions]
            if unknown:
                raise ValueError(f"plugin {pid}: role {role} grants unknown {', '.join(unknown)}")
            roles.setdefault(role, set()).update(names)
    roles["admin"] = set(permissions)
    kernel.permissions = permissions
    kernel.roles = roles
    kernel.role_cache = {"at": -1.0, "roles": roles}
    kernel.hasher = make_hasher(kernel.config.app["env"])
    app.extensions["shequ.hasher"] = kernel.hasher  # kept for code written before 1.1
    policy = SessionPolicy.from_config(kernel.config.identity)

    def roles_now() -> dict[str, set[str]]:
        """Defaults plus administrators' overrides, re-read at most every few seconds."""
        cache = kernel.role_cache
        if time.monotonic() - cache["at"] > ROLE_CACHE_SECONDS:
            cache["roles"] = effective_roles(kernel.roles, role_overrides(current_session()))
            cache["at"] = time.monotonic()
        return cache["roles"]

    kernel.roles_now = roles_now

    lm = LoginManager()
    lm.anonymous_user = Anonymous
    lm.login_view = "identity.login"
    lm.login_message = None
    lm.init_app(app)

    @lm.user_loader
    def load_user(token: str) -> Principal | None:
        session = current_session()
        grant = account_for_session(session, token, policy)
        if grant is None:
            return None
        account, agent, reason = grant.account, None, ""
        if grant.acting_for_id is not None:
            resident = None
            if grant.acting_until is not None and grant.acting_until > utcnow():
                resident = load_account(session, grant.acting_for_id)
            if resident is not None and resident.is_active:
                account, agent, reason = resident, grant.account, grant.acting_reason
                g.on_behalf_of_id = resident.id
            else:
                from core.identity.services import stop_assist

                row = session.get(UserSession, grant.session_id)
                stop_assist(session, row, agent=grant.account)
                session.commit()
        return Principal(account, resolve_permissions(account.role_names, roles_now()),
                         token=token, session_row_id=grant.session_id, agent=agent,
                         acting_reason=reason)

    @lm.request_loader
    def load_from_bearer(req: Any) -> Principal | None:
        header = req.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        grant = account_for_token(current_session(), header[7:].strip())
        if grant is None:
            return None
        granted = resolve_permissions(grant.account.role_names, roles_now())
        if grant.permissions is not None:
            granted = granted & frozenset(grant.permissions)
        return Principal(grant.account, granted, via_token=True)

    @app.before_request
    def _force_password_change() -> Any:
        """After an administrator's reset, pages lead to the password form until done."""
        if (
            current_user.is_authenticated
            and not current_user.via_token
            and current_user.agent is None
            and current_user.must_change_password
            and request.endpoint not in _ALWAYS_ALLOWED
            and not request.path.startswith("/api/")
        ):
            return redirect(url_for("identity.password"))
        return None

    from core.identity import limits, views

    limits.init_app(app, kernel)
    app.register_blueprint(views.bp)
    app.register_blueprint(__import__("core.identity.admin_views", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("core.identity.account_views", fromlist=["bp"]).bp)

    from core.identity.events import register_identity_events

    register_identity_events(kernel.bus, kernel.plugins)


_ALWAYS_ALLOWED = frozenset(
    {"identity.password", "identity.logout", "static", "web.set_language", "web.set_elder"}
)


def has_permission(user: Any, permission: str) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and permission in user.permissions


def _deny(status: int, permission: str = "") -> None:
    """Refuse and record it: permission denials belong in the audit log."""
    if status != 401:
        try:
            session = current_session()
            log_audit(
                session,
                "auth.denied",
                actor=getattr(current_user, "actor", None),
                outcome="denied",
                target_type="endpoint",
                target_id=request.endpoint or "",
                detail={"permission": permission, "path": request.path[:200]},
                facts=request_facts(),
            )
            session.commit()
        except Exception:  # a failed log write must not turn a 403 into a 500
            current_app.logger.exception("could not write the audit entry for a denial")
    if status == 401:
        abort(401, description="Sign in, or send a valid token as 'Authorization: Bearer <token>'.")
    abort(status)


def _gate(marker: str, allowed: Callable[[Any], bool]) -> Callable:
    """A view decorator: nobody signed in → 401 (pages redirect to sign-in instead);
    signed in but ``allowed(user)`` false → 403, recorded. ``marker`` is kept on the view
    so tests can prove that every endpoint is gated."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if request.path.startswith("/api/"):
                    _deny(401)
                return current_app.login_manager.unauthorized()
            if not allowed(current_user):
                _deny(403, marker)
            return view(*args, **kwargs)

        wrapped.required_permission = marker  # type: ignore[attr-defined]
        return wrapped

    return decorator


def require(permission: str) -> Callable:
    """Deny unless the current user holds ``permission`` (deny by default)."""
    return _gate(permission, lambda user: permission in user.permissions)


#: Any signed-in account (a resident's own pages).
require_login = _gate("@login", lambda user: True)
#: Only accounts bound to a registry person (voting, applying for services).
require_verified = _gate("@verified", lambda user: user.is_verified)
#: Acts only the person may do themselves (casting a ballot, evaluating the committee,
#: verifying identity, credentials): verified, and never in the assisted channel.
require_personal = _gate("@personal", lambda user: user.is_verified and user.agent is None)


def can_access(
    user: Any,
    *,
    owner_id: int | None = None,
    person_id: int | None = None,
    permission: str | None = None,
    community: str | None = None,
    grid: str | None = None,
) -> bool:
    """Object-level check, the same everywhere. An object is reachable when the user owns
    it (``owner_id`` is their account, or ``person_id`` their registry person), or when
    they hold ``permission`` AND — for staff acting on a place — their scope covers the
    object's ``community`` or ``grid``."""
    if not getattr(user, "is_authenticated", False):
        return False
    if owner_id is not None and owner_id == user.id:
        return True
    if person_id is not None and user.person_id is not None and person_id == user.person_id:
        return True
    if permission is None or permission not in user.permissions:
        return False
    if community is None and grid is None:
        return True
    return scope_allows(user, community=community, grid=grid)


def check_access(**kwargs: Any) -> None:
    """:func:`can_access` for the current user, answering 404 when refused."""
    if not can_access(current_user, **kwargs):
        _deny(404, kwargs.get("permission") or "@owner")


def session_row() -> UserSession | None:
    rid = getattr(current_user, "session_row_id", None)
    return current_session().get(UserSession, rid) if rid else None
