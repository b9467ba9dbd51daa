"""Shared helpers of the volunteers tests: an app with only this plugin, a small world
(two verified residents in C1, a worker assigned to C1, one in C2) and an activity
maker that calls the services as the pages do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

import plugins.volunteers
from core.testing import C1, C2, RegistryData, ensure_user
from core.toolkit import kernel_of, utcnow
from plugins.volunteers import services as sv

API = "/api/v1/volunteers"


@pytest.fixture
def app(make_app):
    return make_app(plugins=["volunteers"], extra={"volunteers": plugins.volunteers})


@dataclass
class World:
    app: Any
    data: RegistryData
    p1: int
    p2: int
    resident: Any
    resident2: Any
    worker: Any

    def session(self):
        return kernel_of(self.app).db.session_scope()

    def activity(self, *, capacity: int = 2, starts_in: timedelta = timedelta(hours=2),
                 hours: float = 2, community: str = C1, deadline_before: timedelta =
                 timedelta(minutes=10), title: str = "敬老院陪伴") -> int:
        start = utcnow().replace(microsecond=0) + starts_in
        with self.app.app_context(), self.session() as session:
            data = sv.ActivityInput(
                title=title, place="养老驿站", starts_at=start,
                ends_at=start + timedelta(hours=2), signup_deadline=start - deadline_before,
                capacity=capacity, hours=hours)
            return sv.create_activity(session, community=community, actor=None, data=data).id


def bind_second(app: Any, person_id: int) -> Any:
    """A second verified resident account (the fixture binds one per role)."""
    from core.identity.models import User

    user = ensure_user(app, "resident", username="test_resident2")
    with app.app_context(), kernel_of(app).db.session_scope() as session:
        row = session.get(User, user.id)
        row.person_id, row.verified_at, row.verification_method = person_id, utcnow(), "self"
    return ensure_user(app, "resident", username="test_resident2")


@pytest.fixture
def world(app) -> World:
    data = RegistryData(app)
    p1 = data.person("张三")
    p2 = data.person("李四", born="1990-05-05", sex="F")
    resident = data.bind("resident", p1)
    resident2 = bind_second(app, p2)
    worker = data.assign("community_worker", C1)
    data.assign("committee_member", C2)
    return World(app, data, p1, p2, resident, resident2, worker)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


__all__ = ["API", "C1", "C2", "World", "app", "bearer", "bind_second", "world"]
