"""The demo registry: deterministic for a seed, valid identifiers, the shape the issue
asks for (street, communities, grids, buildings, dwellings, households, floating tenants,
曾/单/解 surnames, organisations), demo accounts bound, and idempotent."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from core.hookspecs import DemoContext
from core.identity.models import User
from core.registry.demo import seed_registry
from core.registry.models import Community, Household, Organisation, Person
from core.registry.testing import ensure_registry
from core.registry.validation import is_valid_credit_code, is_valid_id_number
from core.testing import app_today, ensure_user

pytestmark = pytest.mark.with_plugins()


def seeded(app, *, persons=1500, seed=7, users=False):
    kernel = ensure_registry(app)
    demo = DemoContext()
    if users:
        for role in ("resident", "community_worker", "admin"):
            ensure_user(app, role)
    session = kernel.db.Session()
    if users:
        for role in ("resident", "community_worker", "admin"):
            demo.users[role] = session.scalar(select(User).where(
                User.username == f"test_{role}"))
    stats = seed_registry(session, demo, persons=persons, seed=seed, bus=kernel.bus)
    session.commit()
    return session, demo, stats


def snapshot(session):
    return session.execute(select(Person.name, Person.id_number, Person.sex, Person.birth_date,
                                  Person.phone, Person.hukou_type, Person.relation)
                           .order_by(Person.id)).all()


def test_same_seed_same_registry(make_app):
    a, _, stats_a = seeded(make_app(plugins=[]), seed=11)
    b, _, stats_b = seeded(make_app(plugins=[]), seed=11)
    c, _, _ = seeded(make_app(plugins=[]), seed=12)
    try:
        assert stats_a == stats_b
        assert snapshot(a) == snapshot(b)
        assert snapshot(a) != snapshot(c)
    finally:
        for s in (a, b, c):
            s.close()


def test_the_default_demo_has_the_issues_shape(app):
    session, demo, stats = seeded(app, persons=8000, seed=20240601, users=True)
    try:
        assert stats["persons"] == 8000
        assert (stats["streets"], stats["communities"], stats["grids"]) == (1, 3, 12)
        assert 55 <= stats["buildings"] <= 75
        assert 2800 <= stats["dwellings"] <= 3500
        assert 2200 <= stats["households"] <= 3200
        assert stats["organisations"] == 40
        assert stats["floating"] > 800 and stats["overseas"] > 10 and stats["rentals"] > 300
        ids = session.scalars(select(Person.id_number).where(
            Person.id_type.in_(["resident_id", "hmt_residence_permit"]))).all()
        assert all(is_valid_id_number(n) for n in ids)
        assert len(set(ids)) == len(ids)
        assert all(is_valid_credit_code(c) for c in session.scalars(
            select(Organisation.credit_code)))
        surnames = Counter(n[0] for n in session.scalars(select(Person.name)))
        assert surnames["曾"] and surnames["单"] and surnames["解"]
        sexes = Counter(session.scalars(select(Person.sex)))
        assert 0.4 < sexes["M"] / stats["persons"] < 0.6
        sixty = app_today().replace(year=app_today().year - 60, day=1)
        elders = session.scalar(select(func.count()).select_from(Person).where(
            Person.birth_date < sixty))
        children = session.scalar(select(func.count()).select_from(Person).where(
            Person.birth_date > app_today().replace(year=app_today().year - 14, day=1)))
        assert elders > 800 and children > 300
        heads = session.scalar(select(func.count()).select_from(Household).where(
            Household.head_id.is_not(None)))
        assert heads == stats["households"]
        # the demo community and accounts
        assert demo.community.code == "110105001001"
        resident = demo.users["resident"]
        assert resident.is_verified and resident.verification_method == "in_person"
        assert resident.verified_by_id == demo.users["community_worker"].id
        person = session.get(Person, resident.person_id)
        assert person.relation == "02" and person.community_id == demo.community.id
        assert [(s.kind, s.code) for s in demo.users["community_worker"].scopes] == [
            ("community", "110105001001")]
        # searching it works, incl. the surname readings
        from core.registry.services import search_persons

        page = search_persons(session, actor=None, query="zeng", per_page=50)
        assert page.total and all(i["name"].startswith("曾") for i in page.items)
        # a second run changes nothing and still fills the demo context
        again = DemoContext()
        assert seed_registry(session, again, persons=8000) == {
            k: v for k, v in stats.items() if k not in ("floating", "overseas", "rentals")}
        assert again.community.code == "110105001001"
        assert session.scalar(select(func.count()).select_from(Community)) == 3
    finally:
        session.close()


def test_it_scales(app):
    session, _demo, stats = seeded(app, persons=30000, seed=3)
    try:
        assert stats["persons"] == 30000
        assert stats["communities"] == 12
        # the large load dropped and rebuilt the indexes: they are all back
        from sqlalchemy import inspect

        names = {ix["name"] for ix in inspect(session.get_bind()).get_indexes("registry_person")}
        assert {"ix_registry_person_name_pinyin", "ix_registry_person_phone",
                "ix_registry_person_community_pinyin"} <= names
    finally:
        session.close()
