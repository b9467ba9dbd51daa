"""Every /api response is JSON with one error shape; never HTML, never a traceback."""

import pytest
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, fields

from core.hookspecs import PluginInfo, hookimpl


class Body(Schema):
    name = fields.String(required=True)


class Probe:
    """A plugin with endpoints that exercise the error paths."""

    info = PluginInfo(id="probe", version="1.0", title="Probe")

    @hookimpl
    def register_api(self, api):
        bp = ApiBlueprint("probe_api", __name__)

        @bp.route("/things", methods=["POST"])
        @bp.arguments(Body)
        @bp.response(201, Body)
        def create(data):
            return data

        @bp.route("/crash")
        @bp.response(200)
        def crash():
            raise RuntimeError("secret internals: password=hunter2")

        @bp.route("/database-down")
        @bp.response(200)
        def database_down():
            _refused_connection()

        @bp.route("/conflict")
        @bp.response(200)
        def conflict():
            from flask_smorest import abort

            abort(409, message="Already taken.")

        return [bp]

    @hookimpl
    def register_blueprints(self, app):
        from flask import Blueprint

        bp = Blueprint("probe", __name__)

        @bp.route("/database-down")
        def page_database_down():
            _refused_connection()

        return [bp]


def _refused_connection():
    """A real refused connection (nothing listens on port 1), as when PostgreSQL is down."""
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none",
                           connect_args={"connect_timeout": 2})
    try:
        engine.connect()
    finally:
        engine.dispose()


@pytest.fixture
def probe_app(make_app):
    return make_app(plugins=["probe"], extra={"probe": Probe()})


def probe_token(app):
    from core.identity.models import User
    from core.identity.services import create_token
    from core.testing import ensure_user

    user = ensure_user(app, "resident")
    with app.extensions["shequ"].db.session_scope() as session:
        return create_token(
            session,
            session.get(User, user.id),
            name="t",
            permissions=None,
            expires_days=None,
            granted=set(),
        )[1]


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    err = resp.get_json()["error"]
    assert err["status"] == status and err["code"] == code
    assert len(err["request_id"]) >= 8
    return err


def test_not_found_and_method_not_allowed(client):
    assert_error(client.get("/api/v1/nothing/here"), 404, "not_found")
    resp = client.delete("/api/v1/identity/me")
    assert_error(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


def test_unauthenticated_and_forbidden(client, token_for):
    err = assert_error(client.get("/api/v1/identity/users"), 401, "unauthenticated")
    assert "Bearer" in err["message"]
    resident = token_for("resident")
    assert_error(
        client.get("/api/v1/identity/users", headers={"Authorization": f"Bearer {resident}"}),
        403,
        "forbidden",
    )
    assert_error(
        client.get("/api/v1/identity/me", headers={"Authorization": "Bearer shq_forged"}),
        401,
        "unauthenticated",
    )


def test_token_reads_and_pagination(client, token_for):
    admin = token_for("admin")
    auth = {"Authorization": f"Bearer {admin}"}
    me = client.get("/api/v1/identity/me", headers=auth).get_json()
    assert me["username"] == "test_admin" and "core.plugins.read" in me["permissions"]
    assert me["person_id"] is None and me["is_verified"] is False and me["acting_for"] is False
    page = client.get("/api/v1/identity/users?page=1&page_size=1", headers=auth)
    assert page.status_code == 200
    body = page.get_json()
    assert body["page"] == 1 and body["page_size"] == 1 and len(body["items"]) == 1
    assert '"total"' in page.headers["X-Pagination"]
    beyond = client.get("/api/v1/identity/users?page=99", headers=auth).get_json()
    assert beyond["items"] == []
    err = assert_error(
        client.get("/api/v1/identity/users?page_size=1000", headers=auth), 422, "invalid"
    )
    assert "page_size" in err["fields"]


def test_token_scope_narrows_permissions(client, token_for):
    narrow = token_for("admin", permissions=["core.plugins.read"])
    resp = client.get("/api/v1/identity/users", headers={"Authorization": f"Bearer {narrow}"})
    assert_error(resp, 403, "forbidden")


def test_body_errors(probe_app):
    client = probe_app.test_client()
    url = "/api/v1/probe/things"
    from core.testing import login

    cookie_client = probe_app.test_client()
    login(cookie_client, probe_app, "resident")
    err = assert_error(cookie_client.post(url, json={"name": "x"}), 400, "bad_request")
    assert "CSRF" in err["message"]  # a signed-in cookie request must carry the token
    assert_error(
        client.post(url, json={"name": "x"}, headers={"Authorization": "Bearer nope"}),
        401,
        "unauthenticated",
    )
    token_headers = {}
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {probe_token(probe_app)}"
    assert_error(
        client.post(url, data="name=x", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    )
    assert_error(
        client.post(url, data=b'{"name": ', content_type="application/json"), 400, "bad_request"
    )
    assert_error(
        client.post(url, data=b"\xff\xfe", content_type="application/json"), 400, "bad_request"
    )
    err = assert_error(client.post(url), 400, "bad_request")  # the body is required
    assert "JSON body" in err["message"]
    nested = "[" * 100_000 + "]" * 100_000  # deeper than the parser's recursion limit
    assert_error(client.post(url, data=nested, content_type="application/json"), 400,
                 "bad_request")
    err = assert_error(client.post(url, json={"name": 5, "extra": 1}), 422, "invalid")
    assert set(err["fields"]) == {"name", "extra"}
    assert client.post(url, json={"name": "ok"}, headers=token_headers).status_code == 201
    big = '{"name": "' + "x" * (17 * 1024 * 1024) + '"}'
    assert_error(
        client.post(url, data=big, content_type="application/json"), 413, "payload_too_large"
    )


def test_conflict_and_server_error_hide_internals(probe_app, caplog):
    client = probe_app.test_client()
    assert_error(client.get("/api/v1/probe/conflict"), 409, "conflict")
    resp = client.get("/api/v1/probe/crash")
    err = assert_error(resp, 500, "server_error")
    text = resp.get_data(as_text=True)
    assert "hunter2" not in text and "Traceback" not in text
    assert any(err["request_id"] in r.getMessage() for r in caplog.records)


def test_database_outage_is_a_503_with_retry_after(probe_app):
    """An unreachable database is temporary: 503 and Retry-After, on the API as JSON and on
    pages as the friendly error page; never a 500 or a traceback (tests/reliability stops
    a real database; this is the same answer in-process)."""
    client = probe_app.test_client()
    resp = client.get("/api/v1/probe/database-down")
    err = assert_error(resp, 503, "unavailable")
    assert "database" in err["message"] and int(resp.headers["Retry-After"]) > 0
    assert "5432" not in resp.get_data(as_text=True)
    page = client.get("/probe/database-down")
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert int(page.headers["Retry-After"]) > 0
    assert "Traceback" not in page.get_data(as_text=True)


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import validate

    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/identity/me" in spec["paths"]
    assert "Error" in spec["components"]["schemas"]


def test_api_docs_page_renders_offline(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/v1/identity/users" in html
    assert "https://" not in html and "http://" not in html.replace("http://localhost", "")


def test_healthz_reports_each_check(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"] == {"ok": True, "pending": []}
    assert body["checks"]["plugins"]["loaded"] == [
        "gov_services",
        "commerce",
        "self_governance",
        "surveillance",
    ]
    assert "pending" in body["checks"]["events"]
