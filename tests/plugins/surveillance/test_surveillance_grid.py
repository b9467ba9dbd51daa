"""A grid worker's finding referred as a safety incident (``grid.finding.referred`` with
kind "incident", the grid plugin's contract): one incident per finding however often the
event comes, raised through the same service (timeline, ``surveillance.incident.raised``,
the officers of that community see it), other kinds ignored. The grid plugin is not
enabled here: the test declares the event type as the grid plugin does and publishes a
grid-shaped payload on the bus."""

from __future__ import annotations

import pytest
from marshmallow import Schema, fields
from sqlalchemy import func, select
from surveillance_kit import bearer, make_user

from core.events.delivery import deliver_pending
from core.events.models import OutboxEvent
from plugins.surveillance.models import Incident
from plugins.surveillance.services.grid import GRID_CLIENT, kind_for

API = "/api/v1/surveillance"


class FindingReferred(Schema):
    finding_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    community = fields.String(required=True)
    grid = fields.String(required=True, allow_none=True)
    person_id = fields.Integer(required=True, allow_none=True)
    household_id = fields.Integer(required=True, allow_none=True)
    category = fields.String(required=True)
    summary = fields.String(required=True)
    service_code = fields.String(required=True, allow_none=True)
    referred_by = fields.Integer(required=True)


@pytest.fixture(scope="module")
def bus(sv):
    bus = sv.kernel.bus
    if "grid.finding.referred" not in bus.types:  # the grid plugin is not enabled here
        bus._owner = "grid"
        try:
            bus.declare("grid.finding.referred", FindingReferred, "test: the grid contract")
        finally:
            bus._owner = "core"
    return bus


def refer(sv, bus, finding_id, kind="incident", **extra):
    payload = {"finding_id": finding_id, "kind": kind, "community": sv.C1, "grid": sv.G1,
               "person_id": None, "household_id": None, "category": "safety",
               "summary": "楼道堆放杂物，堵塞消防通道", "service_code": None,
               "referred_by": extra.pop("referred_by"), **extra}
    with sv.kernel.db.session_scope() as session:
        bus.publish(session, "grid.finding.referred", payload)
    deliver_pending(sv.app)


def grid_incidents(sv):
    with sv.kernel.db.session_scope() as session:
        return [(i.id, i.kind, i.source, i.community_code, i.grid_code, i.description,
                 i.raised_by_id, [s.action for s in i.timeline], i.idempotency_key)
                for i in session.scalars(select(Incident).where(Incident.source == "grid")
                                         .order_by(Incident.id))]


def test_a_referred_finding_becomes_one_incident(sv, bus):
    worker = make_user(sv.app, "gridworker", "community_worker", [("community", sv.C1)])
    refer(sv, bus, 501, referred_by=worker.id, category="fire_lane_blocked")
    made = grid_incidents(sv)
    assert len(made) == 1
    iid, kind, source, community, grid, words, by, steps, key = made[0]
    assert (kind, source, community, grid) == ("fire_lane_blocked", "grid", sv.C1, sv.G1)
    assert words == "楼道堆放杂物，堵塞消防通道" and by == worker.id
    assert steps == ["raised"] and key == "grid:501"
    # the same finding again (a redelivery, a second publish): still one
    refer(sv, bus, 501, referred_by=worker.id, category="fire_lane_blocked")
    assert len(grid_incidents(sv)) == 1
    # raised through the incident service: its event, and the officers of C1 see it
    with sv.kernel.db.session_scope() as session:
        raised = session.scalars(select(OutboxEvent.payload).where(
            OutboxEvent.name == "surveillance.incident.raised")).all()
        assert any(p["incident_id"] == iid and p["source"] == "grid" for p in raised)
        assert session.scalar(select(Incident.ingest_client_id).where(
            Incident.id == iid)) == GRID_CLIENT
    http = sv.app.test_client()
    seen = http.get(f"{API}/incidents/{iid}", headers=bearer(sv.token("officer")))
    assert seen.status_code == 200 and seen.json["source"] == "grid"
    assert http.get(f"{API}/incidents/{iid}",
                    headers=bearer(sv.token("officer2"))).status_code == 404  # C2 only
    page = sv.client["officer"].get(f"/surveillance/incidents/{iid}").get_data(as_text=True)
    assert "网格员上报" in page or "by a grid worker" in page


def test_other_kinds_are_not_incidents(sv, bus):
    before = len(grid_incidents(sv))
    refer(sv, bus, 601, kind="matter", referred_by=1)
    refer(sv, bus, 602, kind="offer", referred_by=1, service_code="elderly_allowance")
    assert len(grid_incidents(sv)) == before
    with sv.kernel.db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Incident).where(
            Incident.idempotency_key.in_(["grid:601", "grid:602"]))) == 0


def test_categories_map_to_incident_kinds():
    assert kind_for("theft") == "theft"
    assert kind_for("fire") == "fire_hazard"
    assert kind_for("safety") == "other" and kind_for(None) == "other"
