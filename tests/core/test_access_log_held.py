"""Held counts of the access log (core/audit/services.py, ``_HeldCounts``): the first
masked display of a day is in the log before the answer; a repeat of it only adds to its
count, which reaches the database within HELD_COUNT_SECONDS — without anyone reading the
log in this process — or at once when this process reads the log or disposes of its
engine. A reveal is written before the answer every time.

What the database holds is read by a second app instance on the same database (its own
engine, nothing held): what another worker process or the person's own page elsewhere
would see."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from core.app import create_app
from core.audit.models import AccessEntry
from core.audit.services import HELD_COUNT_SECONDS
from core.current import kernel_of
from core.registry.testing import C1
from core.testing import RegistryData, access_log

pytestmark = pytest.mark.with_plugins()


@pytest.fixture
def other_instance(app):
    second = create_app(kernel_of(app).config)
    yield second
    kernel_of(second).bus.stop()
    kernel_of(second).db.dispose()


@pytest.fixture
def reader(app, token_for):
    """A worker of C1 with a bearer token, and the person they read."""
    data = RegistryData(app)
    person = data.person("王芳")
    data.assign("community_worker", C1)
    headers = {"Authorization": f"Bearer {token_for('community_worker')}"}
    client = app.test_client(use_cookies=False)
    return client, headers, f"/api/v1/registry/persons/{person}", person


def stored(other, person_id: int, *, masked: bool) -> tuple[int, int]:
    """(rows, summed count) the database holds for the person, read by the other app."""
    with kernel_of(other).db.session_scope() as session:
        rows, total = session.execute(
            select(func.count(), func.coalesce(func.sum(AccessEntry.count), 0))
            .where(AccessEntry.subject_person_id == person_id,
                   AccessEntry.masked.is_(masked))).one()
    return int(rows), int(total)


def test_the_first_masked_display_is_stored_before_the_answer(reader, other_instance):
    client, headers, url, person = reader
    assert client.get(url, headers=headers).status_code == 200
    assert stored(other_instance, person, masked=True) == (1, 1)


def test_a_repeat_reaches_the_database_within_the_bound(reader, other_instance):
    client, headers, url, person = reader
    for _ in range(3):
        assert client.get(url, headers=headers).status_code == 200
    done = time.monotonic()
    while stored(other_instance, person, masked=True) != (1, 3):
        assert time.monotonic() - done < HELD_COUNT_SECONDS + 2.0, stored(
            other_instance, person, masked=True)
        time.sleep(0.05)


def test_reading_the_log_in_this_process_sees_every_count(app, reader):
    client, headers, url, person = reader
    for _ in range(4):
        assert client.get(url, headers=headers).status_code == 200
    assert [(e["masked"], e["count"]) for e in access_log(app, person)] == [(True, 4)]


def test_disposing_of_the_engine_writes_what_is_held(app, reader, other_instance):
    client, headers, url, person = reader
    for _ in range(2):
        assert client.get(url, headers=headers).status_code == 200
    kernel_of(app).db.dispose()  # a worker stopping
    assert stored(other_instance, person, masked=True) == (1, 2)


def test_every_reveal_is_stored_before_the_answer(reader, other_instance):
    client, headers, url, person = reader
    body = {"fields": ["id_number"], "purpose": "核实身份"}
    for n in (1, 2):
        resp = client.post(f"{url}/reveal", json=body, headers=headers)
        assert resp.status_code == 200 and "*" not in resp.json["id_number"]
        assert stored(other_instance, person, masked=False) == (1, n)


def test_a_statement_asked_about_before_still_sees_every_count(app, reader):
    """The answer "does this statement read the log?" is kept per statement object: the
    same query object run again must still write what is held first, every time."""
    client, headers, url, person = reader
    query = select(func.coalesce(func.sum(AccessEntry.count), 0)).where(
        AccessEntry.subject_person_id == person)
    for expected in (2, 4):
        for _ in range(2):
            assert client.get(url, headers=headers).status_code == 200
        with kernel_of(app).db.session_scope() as session:
            assert session.execute(query).scalar_one() == expected
