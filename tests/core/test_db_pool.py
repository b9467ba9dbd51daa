"""PostgreSQL connections are pinged on checkout only after sitting idle
(core/db.py ``_ping_when_idle``): busy traffic saves a round trip a request, and a
connection that went stale while idle is still replaced before anyone uses it."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import core.db
from core.db import make_engine
from core.testing import TEST_DB_ENV

pytestmark = pytest.mark.skipif(
    not os.environ.get(TEST_DB_ENV, "").startswith("postgresql"),
    reason="the ping is PostgreSQL's (SQLite has no server connection to go stale)",
)


@pytest.fixture
def engine():
    engine = make_engine(os.environ[TEST_DB_ENV], pool_size=1)
    yield engine
    engine.dispose()


def _kill_pooled_connection(engine) -> None:
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    killer = make_engine(os.environ[TEST_DB_ENV])
    with killer.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()


def test_an_idle_connection_that_died_is_replaced_before_use(engine, monkeypatch):
    _kill_pooled_connection(engine)
    monkeypatch.setattr(core.db, "IDLE_PING_SECONDS", 0.0)  # it has been idle "long enough"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_a_busy_connection_is_not_pinged_and_a_dead_one_fails_once(engine, monkeypatch):
    monkeypatch.setattr(core.db, "IDLE_PING_SECONDS", 3600.0)  # just used: no ping
    _kill_pooled_connection(engine)
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))  # the unpinged, dead connection fails its statement
    with engine.connect() as conn:  # the pool was invalidated: the next one is fresh
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
