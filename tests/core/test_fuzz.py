"""Schemathesis fuzzes every operation of the OpenAPI document, anonymously and with an
admin token: no 500s, and every response conforms to the document."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from core.testing import ensure_user

PLUGINS = ["gov_services", "commerce", "self_governance", "surveillance", "hello"]


@pytest.fixture
def fuzz_app(make_app):
    return make_app(plugins=PLUGINS)


@pytest.fixture
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


@pytest.fixture
def admin_headers(fuzz_app):
    from core.identity.models import User
    from core.identity.services import create_token

    user = ensure_user(fuzz_app, "admin")
    kernel = fuzz_app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        _, token = create_token(
            session,
            session.get(User, user.id),
            name="fuzz",
            permissions=None,
            expires_days=None,
            granted={"*"},
        )
    return {"Authorization": f"Bearer {token}"}


schema = schemathesis.pytest.from_fixture("api_schema")
FUZZ = settings(
    max_examples=int(os.environ.get("SHEQU_FUZZ_EXAMPLES", "30")),  # CI: fewer on PostgreSQL
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@schema.parametrize()
@FUZZ
def test_api_anonymous(case):
    case.call_and_validate()


@schema.parametrize()
@FUZZ
def test_api_as_admin(case, admin_headers):
    # Swap the generated credential for a real one, but keep negative cases that drop the
    # header entirely: those must still be refused.
    if case.headers and "Authorization" in case.headers:
        case.headers["Authorization"] = admin_headers["Authorization"]
    elif case.operation.definition.raw.get("security") is None:
        case.headers = {**(case.headers or {}), **admin_headers}
    case.call_and_validate()
