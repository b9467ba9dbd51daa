"""Fixtures of the grid plugin's tests: an app with only this plugin, registry persons
the visit rules select, and staff scoped to a community or a grid."""

from __future__ import annotations

import pytest

import plugins.grid
from core.testing import C1, G1, RegistryData, ensure_user
from core.toolkit import kernel_of


@pytest.fixture
def app(make_app):
    return make_app(plugins=["grid"], extra={"grid": plugins.grid})


def set_scopes(app, role: str, scopes: list[tuple[str, str]]):
    from core.identity.models import User
    from core.identity.services import set_scopes as core_set_scopes

    user = ensure_user(app, role)
    admin = ensure_user(app, "admin")
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        core_set_scopes(session, session.get(User, user.id), scopes,
                        admin=session.get(User, admin.id))
    return ensure_user(app, role)


@pytest.fixture
def people(app):
    """``alone`` (80, alone in d1), ``couple`` (75, with a spouse in d2), ``young`` (30,
    also in d2); the registry rules refreshed; the grid worker scoped to grid G1, the
    community worker to C1, so both see C1's persons."""
    from plugins.grid.services import refresh_registry_rules

    data = RegistryData(app)
    alone = data.person("赵独居", born="1946-03-01", dwelling="d1")
    couple = data.person("钱老伴", born="1951-05-05", dwelling="d2")
    partner = data.person("孙老伴", born="1952-06-06", dwelling="d2", sex="F")
    young = data.person("李年轻", born="1996-01-01", dwelling="d2")
    data.deliver()
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        refresh_registry_rules(session)
    set_scopes(app, "grid_worker", [("grid", G1)])
    set_scopes(app, "community_worker", [("community", C1)])
    return {"data": data, "alone": alone, "couple": couple, "partner": partner,
            "young": young}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
