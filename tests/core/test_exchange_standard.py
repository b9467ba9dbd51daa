"""The data standard: generated from the code, served as JSON Schema, guarded by a lock.

If ``test_no_schema_changed_without_a_version_bump`` fails, a schema's shape changed while
its version did not: bump ``STANDARD_VERSION`` in core/exchange/standard.py (core schemas)
or the plugin's ``PluginInfo.version`` (its events), then run
``shequ exchange standard --lock`` and ``shequ exchange standard > docs/data-standard.md``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.exchange import standard
from core.testing import build_test_app

ROOT = Path(__file__).resolve().parents[2]
#: The standard is published for core and the built-in plugins (the default config).
PLUGINS = ["gov_services", "commerce", "self_governance", "surveillance", "grid", "volunteers",
           "documents", "matters"]


@pytest.fixture(scope="module")
def sapp(tmp_path_factory):
    app, cleanup = build_test_app(tmp_path_factory.mktemp("standard"), plugins=PLUGINS)
    yield app
    cleanup()


@pytest.fixture(scope="module")
def schemas(sapp):
    return standard.collect(sapp.extensions["shequ"])


def test_no_schema_changed_without_a_version_bump(schemas):
    changed = standard.unbumped_changes(schemas, standard.read_lock())
    assert not changed, (
        f"schemas changed without a version bump: {changed}. Bump STANDARD_VERSION "
        "(core) or the plugin's version, then run `shequ exchange standard --lock`."
    )


def test_the_lock_is_current(schemas):
    lock = standard.read_lock()
    assert lock == standard.lock_data(schemas), (
        "core/exchange/standard.lock.json is stale: run `shequ exchange standard --lock`"
    )


def test_docs_data_standard_is_generated_from_the_code(schemas):
    text = (ROOT / "docs" / "data-standard.md").read_text(encoding="utf-8")
    assert text == standard.render_markdown(schemas), (
        "docs/data-standard.md is stale: run `shequ exchange standard > docs/data-standard.md`"
    )


def test_the_guard_catches_a_change_and_accepts_a_bump(schemas):
    lock = standard.lock_data(schemas)
    moved = next(s for s in schemas if s.name == "event.registry.person.moved")
    grown = dataclasses.replace(
        moved,
        schema={
            **moved.schema,
            "properties": {**moved.schema["properties"], "id_number": {"type": "string"}},
        },
    )
    assert standard.unbumped_changes([grown], lock) == ["event.registry.person.moved"]
    bumped = dataclasses.replace(grown, version="1.1.0")
    assert standard.unbumped_changes([bumped], lock) == []


def test_the_standard_covers_entities_events_and_code_lists(sapp, schemas):
    names = {s.name for s in schemas}
    bus = sapp.extensions["shequ"].bus
    declared = {f"event.{n}" for n in bus.types if not n.startswith("core.webhook.")}
    assert declared <= names and "event.core.webhook.queued" not in names
    assert {
        "entity.person",
        "entity.household",
        "entity.organisation",
        "envelope",
        "code.hukou_type",
        "code.relation",
        "code.community_code",
    } <= names
    relation = next(s for s in schemas if s.name == "code.relation")
    assert relation.schema["enum"][0] == "02" and "户主" in relation.schema["x-labels"]["02"]
    person = next(s for s in schemas if s.name == "entity.person").schema
    assert person["properties"]["hukou_type"]["x-code"] == "code.hukou_type"
    assert (
        "person_id"
        in next(s for s in schemas if s.name == "event.registry.person.moved").schema["required"]
    )


def test_json_schemas_are_served_and_validate_real_payloads(sapp):
    http = sapp.test_client()
    listing = http.get("/api/v1/exchange/schemas")
    assert listing.status_code == 200
    body = listing.get_json()
    assert body["standard_version"] == standard.STANDARD_VERSION
    entry = next(s for s in body["schemas"] if s["name"] == "event.registry.person.moved")
    doc = http.get(entry["url"]).get_json()
    assert doc["$id"].endswith("/event.registry.person.moved")
    assert doc["x-version"] == entry["version"]
    assert http.get("/api/v1/exchange/schemas/event.nothing.here").status_code == 404
    jsonschema = pytest.importorskip("jsonschema")
    payload = {
        "person_id": 1,
        "from_community": None,
        "to_community": "110105001001",
        "from_dwelling_id": None,
        "to_dwelling_id": 3,
        "on": "2026-01-02",
        "via": "core",
    }
    jsonschema.validate(payload, doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**payload, "person_id": "one"}, doc)
    envelope = http.get("/api/v1/exchange/schemas/envelope").get_json()
    jsonschema.validate(
        {
            "id": 5,
            "type": "registry.person.moved",
            "standard_version": "1.0.0",
            "created_at": "2026-01-02T03:04:05+00:00",
            "data": payload,
        },
        envelope,
    )
