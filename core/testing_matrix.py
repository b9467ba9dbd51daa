"""The vocabulary of the permission matrix (tests/core/test_permission_matrix.py): who may
call an endpoint and what they get back.

The matrix walks every URL rule of the app and fails on any rule nobody declared, so deny
by default is checked, not hoped for (docs/requirements.md R07, R08). Core declares its own rules;
each built-in plugin declares its rules next to its tests, in
``tests/plugins/<plugin>/permissions.py``, a module with three names:

* ``MATRIX``: ``{(endpoint, method): E(...)}``;
* ``PUBLIC_VIEWS``: ``{endpoint: reason}`` for views that need no permission;
* ``SAMPLE_VALUES``: ``{url_argument: value}`` for the plugin's URL parameters (ids that
  belong to nobody, so object checks answer 404).

so a plugin's endpoints and their declared answers change in the same commit, in files
the plugin owns.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from core.current import kernel_of

ROLES = (
    "resident",
    "community_worker",
    "committee_member",
    "hotline_operator",
    "merchant",
    "security_officer",
    "auditor",
    "admin",
)
ANON = "anonymous"
PUBLIC = "public"  # anyone, signed in or not
LOGIN = "login"  # any signed-in account
WRITE = ("POST", "PUT", "PATCH", "DELETE")


def only(*roles: str) -> frozenset[str]:
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown
    return frozenset(roles)


def ok(*codes: int) -> frozenset[int]:
    return frozenset(codes)


@dataclass(frozen=True)
class E:
    """Who may call an endpoint with a method, and what they get."""

    who: object  # PUBLIC, LOGIN or a frozenset of roles
    ok: frozenset[int] = frozenset({200})
    anon: frozenset[int] | None = None  # for PUBLIC entries, when anonymous differs
    denied: int = 403
    fresh: bool = False  # the call ends the session: use a throwaway signed-in client
    notes: str = field(default="", compare=False)


@dataclass
class Fragments:
    matrix: dict[tuple[str, str], E] = field(default_factory=dict)
    public_views: dict[str, str] = field(default_factory=dict)
    sample_values: dict[str, object] = field(default_factory=dict)


def load_fragments(root: Path) -> Fragments:
    """Merge every ``<root>/*/permissions.py``. Two fragments declaring the same endpoint,
    or the same URL argument with different values, is an error: one would silently win."""
    merged = Fragments()
    for path in sorted(root.glob("*/permissions.py")):
        spec = importlib.util.spec_from_file_location(f"_matrix_{path.parent.name}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for key, entry in getattr(module, "MATRIX", {}).items():
            assert key not in merged.matrix, f"{key} declared twice (again in {path})"
            merged.matrix[key] = entry
        merged.public_views.update(getattr(module, "PUBLIC_VIEWS", {}))
        for name, value in getattr(module, "SAMPLE_VALUES", {}).items():
            assert merged.sample_values.get(name, value) == value, (
                f"URL argument {name!r} has two sample values (again in {path})"
            )
            merged.sample_values[name] = value
    return merged


def token_for_app(app: Flask, role: str, permissions: list[str] | None = None) -> str:
    """A bearer token of ``test_<role>`` on ``app`` itself (``core.testing.token_for`` is
    bound to the ``app`` fixture, not to the matrix's own app), narrowed to
    ``permissions`` when given."""
    from core.identity.models import User
    from core.identity.services import create_token, resolve_permissions
    from core.testing import ensure_user

    user = ensure_user(app, role)
    kernel = kernel_of(app)
    with kernel.db.session_scope() as session:
        u = session.get(User, user.id)
        granted = resolve_permissions(u.role_names, kernel.roles)
        _, plaintext = create_token(session, u, name=f"matrix {role}", permissions=permissions,
                                    expires_days=None, granted=set(granted))
    return plaintext
