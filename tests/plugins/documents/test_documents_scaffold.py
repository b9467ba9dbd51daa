"""Documents's own tests, on the fixtures Shequ ships as its ``shequ`` pytest plugin
(core/testing.py). They pass as generated; run them with ``pytest`` (SQLite) or with
SHEQU_TEST_DATABASE_URL=postgresql+psycopg://... pytest (PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

import plugins.documents
from core.testing import C1, C2, RegistryData, assert_api_fuzzes, csrf_token
from core.toolkit import kernel_of
from plugins.documents.models import DocumentsItem
from plugins.documents.services import create_item

PAGE = "/documents/"
API = "/api/v1/documents/items"


@pytest.fixture
def app(make_app):
    """Every fixture built on ``app`` (client, client_as, token_for, events, db_session)
    sees an app with only this plugin enabled. ``extra`` hands the package in directly,
    so the tests run before it is installed; once it is, the same module is used."""
    return make_app(plugins=["documents"], extra={"documents": plugins.documents})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_migration_made_the_table(app):
    tables = set(inspect(kernel_of(app).db.engine).get_table_names())
    assert {"documents_item", "documents_alembic_version"} <= tables


def test_the_page_lists_and_adds(client_as):
    worker = client_as("community_worker")
    assert worker.get(PAGE).status_code == 200
    token = csrf_token(worker, PAGE)
    resp = worker.post(PAGE, data={"title": "第一条", "csrf_token": token})
    assert resp.status_code == 302
    assert "第一条" in worker.get(PAGE).get_data(as_text=True)
    again = worker.post(PAGE, data={"title": "第一条", "csrf_token": token})
    assert again.status_code == 400  # the rule, shown at the field


def test_residents_read_but_do_not_add(client, client_as):
    resident = client_as("resident")
    page = resident.get(PAGE)
    assert page.status_code == 200 and 'name="title"' not in page.get_data(as_text=True)
    token = csrf_token(resident, PAGE)
    assert resident.post(PAGE, data={"title": "x", "csrf_token": token}).status_code == 403
    assert client.get(PAGE).status_code in (302, 401)  # signed out: to the sign-in page


def test_api(client, token_for):
    assert client.get(API).status_code == 401
    resident = bearer(token_for("resident"))
    assert client.get(API, headers=resident).json["total"] == 0
    assert client.post(API, json={"title": "x"}, headers=resident).status_code == 403
    worker = bearer(token_for("community_worker"))
    created = client.post(API, json={"title": "第一条"}, headers=worker)
    assert created.status_code == 201, created.json
    taken = client.post(API, json={"title": "第一条"}, headers=worker)
    assert taken.status_code == 409
    assert taken.json["error"]["fields"] == {"title": ["An item with this title exists already."]}
    item = client.get(f"{API}/{created.json['id']}", headers=resident)
    assert item.json["title"] == "第一条"
    missing = client.get(f"{API}/999999", headers=resident)
    assert missing.status_code == 404 and missing.json["error"]["message"] == "No such item."


def test_follows_a_move_in_the_registry(app):
    data = RegistryData(app)  # real registry rows, real registry.person.moved events
    person = data.person("张三")
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as session:
        create_item(session, title="借书证", created_by_id=None, person_id=person, community=C1)
    data.move(person, "d3")  # to a dwelling in community C2
    data.deliver()  # run the subscribers
    with app.app_context(), kernel.db.session_scope() as session:
        assert session.scalar(select(DocumentsItem.community)) == C2


def test_api_survives_the_fuzzer(app):
    assert_api_fuzzes(app, "/api/v1/documents", max_examples=10)
