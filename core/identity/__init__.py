"""Identity: who is asking, and what they may do.

``init_app`` wires Flask-Login (server-side sessions for pages) and bearer tokens (for the
API), merges the permission and role tables declared by core and by plugins, and applies
administrators' overrides. The helpers here are the one place access is decided, deny by
default: :func:`require` for functions, :func:`can_access` / :func:`check_access` for
objects (resident A never reaches resident B's records: 404, not 403, so existence does
not leak either).

**API tokens only narrow.** A token's permission set bounds every endpoint: ``require(p)``
needs ``p`` in the owner's permissions intersected with the token's; the account gates
(:func:`require_login`, :func:`require_verified`, :func:`require_personal`) take the name
of the permission a *narrowed* token must carry (``require_login("identity.own.sessions")``)
and, written bare, refuse every narrowed token — an endpoint nobody named is not something
a narrowed token was given. A browser session, or a token that was not narrowed, needs only
the sign-in for these gates.

**The assisted channel never widens power** (decided for issue 15, finding 1). While a
worker at the counter or on the hotline acts for a resident, the principal *represents* the
resident — ``account``, ``id`` and ``person_id`` are the resident's, so "my applications"
and other owned records work — but it carries:

* ``permissions``: the resident's, without :data:`PERSONAL_PERMISSIONS`, and without
  anything beyond an ordinary resident's rights that the agent does not hold too (a resident
  account that is also, say, a committee member lends none of that to its helper);
* ``actor`` / ``agent``: the worker, named on every record; ``agent_permissions`` and
  ``agent_scopes``: the worker's own, against which every reveal of personal data is
  checked (the registry treats an assisted principal as *not* the person);
* personal acts are refused: :func:`require_personal` (ballots, evaluations, verification,
  credentials, tokens, sessions) never passes in the assisted channel.

Starting a session is refused outside the agent's places (``scope_allows`` on the
resident's community or grid, deny by default); hotline operators may assist any caller.
Every start, stop, expiry and refused start is in the audit log with the agent named.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask_login import AnonymousUserMixin, LoginManager, current_user

from core.audit.services import log_audit
from core.audit.web import request_facts
from core.db import current_session, utcnow
from core.hookspecs import Permission
from core.identity.models import User, UserSession
from core.identity.permissions import (
    CORE_PERMISSIONS,
    CORE_ROLE_GRANTS,
    OWN_PERMISSIONS,
    PERSONAL_PERMISSIONS,
    ROLES,
)
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
    "PERSONAL_PERMISSIONS",
    "Principal",
    "assisted_permissions",
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
    agent_permissions: frozenset[str] = frozenset()
    agent_scopes: list[Any] = []
    token_permissions = None
    via_token = False
    session_row_id = None


class Principal:
    """The signed-in account for this request: a snapshot (:class:`Account`) read in one
    statement, with its effective permissions (narrowed by the token when the request came
    with one). ``user`` loads the ORM row only when a view really needs it.

    ``token_permissions`` is the narrowing set of the token the request came with (``None``
    for browser sessions and for tokens that were not narrowed). In the assisted channel
    the account is the resident's, ``agent`` the worker acting for them, ``permissions``
    the resident's non-personal ones (:func:`assisted_permissions`) and
    ``agent_permissions`` / ``agent_scopes`` the worker's own: see the module docstring."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, account: Account | User, permissions: frozenset[str], *, token: str = "",
                 session_row_id: int | None = None, via_token: bool = False,
                 agent: Account | None = None, acting_reason: str = "",
                 agent_permissions: frozenset[str] = frozenset(),
                 token_permissions: frozenset[str] | None = None):
        self.account = account if isinstance(account, Account) else Account.of(account)
        self.permissions = permissions
        self.session_token = token
        self.session_row_id = session_row_id
        self.via_token = via_token
        self.agent = agent
        self.acting_reason = acting_reason
        self.agent_permissions = agent_permissions if agent is not None else frozenset()
        self.token_permissions = token_permissions
        self._user: User | None = account if isinstance(account, User) else None

    @property
    def user(self) -> User:
        """The ORM row, loaded on first use in the request's session."""
        if self._user is None or self._user not in current_session():
            self._user = current_session().get(User, self.account.id)
        return self._user  # type: ignore[return-value]  # the signed-in account's row exists

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

    @property
    def assisted(self) -> bool:
        """True while a worker acts for this account (the assisted channel)."""
        return self.agent is not None

    @property
    def agent_scopes(self) -> tuple[Any, ...]:
        """Where the agent may act (their scopes); empty outside the assisted channel."""
        return tuple(self.agent.scopes) if self.agent is not None else ()


def assisted_permissions(
    resident: frozenset[str], agent: frozenset[str], ordinary: Iterable[str]
) -> frozenset[str]:
    """What a worker may do while acting for a resident: the resident's permissions minus
    the personal ones, and of those beyond an ordinary resident's rights (``ordinary``:
    the ``resident`` role's), only the ones the agent holds too. Never more than the
    resident has, never a personal act, and no power the agent's own role lacks."""
    ordinary = frozenset(ordinary)
    return frozenset(
        p for p in resident
        if p not in PERSONAL_PERMISSIONS and (p in ordinary or p in agent)
    )


def current_principal() -> Any:
    return current_user._get_current_object()


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
    for granted in roles.values():  # plugin roles too: everyone has their own account
        granted.update(OWN_PERMISSIONS)
    roles["admin"] = set(permissions)
    kernel.permissions = permissions
    kernel.roles = roles
    kernel.role_cache = {"at": -1.0, "roles": roles}
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
        roles = roles_now()
        permissions = resolve_permissions(account.role_names, roles)
        agent_permissions: frozenset[str] = frozenset()
        if grant.acting_for_id is not None:
            resident = None
            if grant.acting_until is not None and grant.acting_until > utcnow():
                resident = load_account(session, grant.acting_for_id)
            if resident is not None and resident.is_active:
                account, agent, reason = resident, grant.account, grant.acting_reason
                agent_permissions = permissions
                permissions = assisted_permissions(
                    resolve_permissions(resident.role_names, roles), agent_permissions,
                    roles.get("resident", ()),
                )
                g.on_behalf_of_id = resident.id
            else:
                from core.identity.services import stop_assist

                row = session.get(UserSession, grant.session_id)
                stop_assist(session, row, agent=grant.account)
                session.commit()
        return Principal(account, permissions, token=token, session_row_id=grant.session_id,
                         agent=agent, acting_reason=reason, agent_permissions=agent_permissions)

    @lm.request_loader
    def load_from_bearer(req: Any) -> Principal | None:
        header = req.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        grant = account_for_token(current_session(), header[7:].strip())
        if grant is None:
            return None
        granted = resolve_permissions(grant.account.role_names, roles_now())
        narrowed = None
        if grant.permissions is not None:
            narrowed = frozenset(grant.permissions)
            granted = granted & narrowed
        return Principal(grant.account, granted, via_token=True, token_permissions=narrowed)

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

    from core.identity import limits

    limits.init_app(app, kernel)  # the pages are registered by create_app (core/app.py)

    from core.identity.events import register_identity_events

    register_identity_events(kernel.bus, kernel.plugins)


_ALWAYS_ALLOWED = frozenset(
    {"identity.password", "identity.logout", "static", "web.set_language", "web.set_elder"}
)


def has_permission(user: Any, permission: str) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and permission in user.permissions


def _record_denial(permission: str) -> None:
    """Permission denials belong in the audit log (with the agent, in the assisted
    channel, and the resident they acted for)."""
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


def _deny_with(status: int, permission: str, description: str) -> None:
    _record_denial(permission)
    abort(status, description=description)


def _deny(status: int, permission: str = "") -> None:
    """Refuse and record it: permission denials belong in the audit log."""
    if status == 401:
        abort(401, description="Sign in, or send a valid token as 'Authorization: Bearer <token>'.")
    _record_denial(permission)
    abort(status)


def _token_allows(user: Any, permission: str | None) -> bool:
    """On a request with a narrowed token, the token must carry ``permission`` (and its
    owner still hold it); an endpoint that names none is out of a narrowed token's reach.
    Browser sessions and tokens that were not narrowed are not limited here."""
    if getattr(user, "token_permissions", None) is None:
        return True
    return permission is not None and permission in user.permissions


def _refuse_assisted(marker: str) -> None:
    """A personal act tried in the assisted channel: recorded like any denial; pages lead
    back to the account page with a word of explanation, the API answers 403."""
    if request.path.startswith("/api/"):
        _deny_with(403, marker, "Only the person themselves can do this, not someone acting "
                                "for them.")
    _record_denial(marker)
    from flask import flash
    from flask_babel import gettext

    flash(gettext("Only the resident can do this, not someone acting for them."), "error")
    abort(redirect(url_for("account.index")))


def _gate(marker: str, allowed: Callable[[Any], bool], *,
          personal: bool = False) -> Callable:
    """A view decorator: nobody signed in → 401 (pages redirect to sign-in instead);
    signed in but ``allowed(user)`` false → 403, recorded. ``marker`` is kept on the view
    so tests can prove that every endpoint is gated (and which permission a narrowed
    token needs). ``personal`` gates refuse the assisted channel first."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user._get_current_object()  # one lookup, not one per question
            if not user.is_authenticated:
                if request.path.startswith("/api/"):
                    _deny(401)
                return current_app.login_manager.unauthorized()
            if personal and user.agent is not None:
                _refuse_assisted(marker)
            if not allowed(user):
                _deny(403, marker)
            return view(*args, **kwargs)

        wrapped.required_permission = marker  # type: ignore[attr-defined]  # read by the gate tests
        return wrapped

    return decorator


def require(permission: str) -> Callable:
    """Deny unless the current user holds ``permission`` (deny by default). On a token
    request that is the owner's permissions intersected with the token's."""
    return _gate(permission, lambda user: permission in user.permissions)


def _account_gate(make: Callable[..., Callable]) -> Callable:
    """Let an account gate be written bare (``@require_login``, as before 1.1) or with the
    permission a narrowed token must carry (``@require_login("identity.own.sessions")``)."""

    @functools.wraps(make)
    def gate(permission: Any = None, /, **options: Any) -> Callable:
        if callable(permission):
            return make(None, **options)(permission)
        return make(permission, **options)

    return gate


@_account_gate
def require_login(permission: str | None = None) -> Callable:
    """Any signed-in account (a resident's own pages). ``permission`` names what a
    narrowed API token must carry to reach the endpoint; written bare, no narrowed token
    does. Browser sessions need only the sign-in."""
    return _gate(permission or "@login", lambda user: _token_allows(user, permission))


@_account_gate
def require_verified(permission: str | None = None) -> Callable:
    """Only accounts bound to a registry person (applying for services); ``permission`` as
    for :func:`require_login`."""
    return _gate(permission or "@verified",
                 lambda user: user.is_verified and _token_allows(user, permission))


@_account_gate
def require_personal(permission: str | None = None, *, verified: bool = True) -> Callable:
    """Acts only the person may do themselves — casting a ballot, evaluating the committee,
    verifying identity, changing credentials, tokens or sessions: never in the assisted
    channel, and (unless ``verified=False``, for acts on the account itself) only for a
    verified account. ``permission`` as for :func:`require_login`."""
    return _gate(
        permission or "@personal",
        lambda user: (user.is_verified or not verified) and _token_allows(user, permission),
        personal=True,
    )


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
    if not can_access(current_user._get_current_object(), **kwargs):
        _deny(404, kwargs.get("permission") or "@owner")


def session_row() -> UserSession | None:
    rid = getattr(current_user, "session_row_id", None)
    return current_session().get(UserSession, rid) if rid else None
