"""Identity: who is asking, and what they may do.

``init_app`` wires Flask-Login (cookie sessions for pages) and bearer tokens (for the
API), and merges the permission and role tables declared by core and by plugins. The
helpers :func:`has_permission` and :func:`require` are the one place permissions are
checked, deny by default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from flask import Flask, abort, current_app, g, request
from flask_login import AnonymousUserMixin, LoginManager, current_user
from sqlalchemy import select

from core.db import current_session
from core.hookspecs import Permission
from core.identity.models import User
from core.identity.permissions import CORE_PERMISSIONS, CORE_ROLE_GRANTS, ROLES
from core.identity.services import resolve_permissions, token_lookup


class Anonymous(AnonymousUserMixin):
    id = None
    username = ""
    display_name = ""
    kind = "anonymous"
    role_names: list[str] = []
    permissions: frozenset[str] = frozenset()


class Principal:
    """Wraps a :class:`User` for the request with its resolved permissions (narrowed by the
    token when the request came with one)."""

    def __init__(self, user: User, permissions: frozenset[str], via_token: bool = False):
        self.user = user
        self.permissions = permissions
        self.via_token = via_token

    def __getattr__(self, name: str) -> Any:
        return getattr(self.user, name)

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.user.id}.{self.user.session_version}"


def make_hasher(env: str) -> PasswordHasher:
    """argon2id with the library's defaults; the test environment uses cheap parameters
    (a real hash costs ~0.3 s on 2 cores and the suite logs in hundreds of times)."""
    if env == "test":
        return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    return PasswordHasher()


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
    app.extensions["shequ.hasher"] = make_hasher(kernel.config.app["env"])

    lm = LoginManager()
    lm.anonymous_user = Anonymous
    lm.login_view = "identity.login"
    lm.login_message = None
    lm.init_app(app)

    @lm.user_loader
    def load_user(token: str) -> Principal | None:
        try:
            uid, version = (int(x) for x in token.split(".", 1))
        except ValueError:
            return None
        user = current_session().get(User, uid)
        if user is None or not user.is_active or user.session_version != version:
            return None
        return Principal(user, resolve_permissions(user.role_names, kernel.roles))

    @lm.request_loader
    def load_from_bearer(req: Any) -> Principal | None:
        header = req.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = token_lookup(current_session(), header[7:].strip())
        if token is None:
            g.bad_token = True
            return None
        granted = resolve_permissions(token.user.role_names, kernel.roles)
        if token.permissions is not None:
            granted = granted & frozenset(token.permissions)
        g.via_token = True
        return Principal(token.user, granted, via_token=True)

    from core.identity.views import bp

    app.register_blueprint(bp)


def has_permission(user: Any, permission: str) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and permission in user.permissions


def require(permission: str) -> Callable:
    """Deny unless the current user holds ``permission``: 401 when nobody is signed in,
    403 otherwise (pages turn 401 into a redirect to the login page)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if request.path.startswith("/api/"):
                    abort(
                        401,
                        description="Sign in, or send a valid token as "
                        "'Authorization: Bearer <token>'.",
                    )
                return current_app.login_manager.unauthorized()
            if permission not in current_user.permissions:
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator


def find_user(username: str) -> User | None:
    return current_session().scalar(select(User).where(User.username == username))
