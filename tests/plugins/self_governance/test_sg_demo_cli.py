"""Demo data, the CLI and the home-page widget (own app: the demo seeds its own registry)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from core.cli import AppContext
from core.db import utcnow
from core.registry.models import Person
from core.testing import app_today, build_test_app
from plugins.self_governance.models import Notice, Proposal, Thread, Vote


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    app, cleanup = build_test_app(tmp_path_factory.mktemp("sgdemo"), plugins=["self_governance"])
    yield app
    cleanup()


def test_demo_is_seeded_once_and_shows_on_the_home_page(demo_app):
    from core.demo import seed

    seed(demo_app, echo=lambda _: None)
    seed(demo_app, echo=lambda _: None)  # idempotent
    kernel = demo_app.extensions["shequ"]
    with kernel.db.session_scope() as db:
        assert db.scalar(select(func.count()).select_from(Notice)) == 2
        assert db.scalar(select(func.count()).select_from(Vote)) == 1
        assert db.scalar(select(func.count()).select_from(Proposal)) == 1
        assert db.scalar(select(func.count()).select_from(Thread)) == 1
    home = demo_app.test_client().get("/").get_data(as_text=True)
    assert "关于小区二次供水水箱清洗的通知" in home  # the dashboard widget


def test_the_demo_committee_member_acts_for_the_demo_community(demo_app):
    """Deny by default: the demo committee account is assigned the demo community (an
    unassigned member would act for none), so the demo's committee pages work."""
    from core.identity.models import User
    from plugins.self_governance import services as sv

    kernel = demo_app.extensions["shequ"]
    with kernel.db.session_scope() as db:
        member = db.scalar(select(User).where(User.username == "committee"))
        community = db.scalars(select(Vote.community)).first()
        assert {(s.kind, s.code) for s in member.scopes} == {("community", community)}
        assert sv.acts_for(member, community) and not sv.acts_for(member, "110105999999")


def test_cli_counts_due_votes(demo_app):
    kernel = demo_app.extensions["shequ"]
    with kernel.db.session_scope() as db:
        db.execute(update(Vote).values(closes_at=utcnow() - timedelta(seconds=1)))
    group = click.Group()
    kernel.plugins.call_ordered("register_commands", cli=group)
    ctx = AppContext()
    ctx._app = demo_app  # the command reuses this app instead of building one from config
    result = CliRunner().invoke(group, ["self-governance", "close-due"], obj=ctx)
    assert result.exit_code == 0, result.output
    assert "votes counted: 1" in result.output
    with kernel.db.session_scope() as db:
        vote = db.scalars(select(Vote)).one()
        assert vote.closed_at is not None and vote.result["turnout"] == 0
        assert vote.result["quorum_met"] is False


def test_cli_opens_an_evaluation_and_names_group_reps(demo_app):
    kernel = demo_app.extensions["shequ"]
    group = click.Group()
    kernel.plugins.call_ordered("register_commands", cli=group)
    ctx = AppContext()
    ctx._app = demo_app
    runner = CliRunner()
    args = [
        "self-governance",
        "evaluation",
        "--community",
        "110105001001",
        "--year",
        "2024",
        "--member",
        "刘主任|主任",
        "--member",
        "李委员|委员",
    ]
    result = runner.invoke(group, args, obj=ctx)
    assert result.exit_code == 0, result.output
    assert "open for 2 members" in result.output
    again = runner.invoke(group, args, obj=ctx)
    assert again.exit_code != 0 and "exists already" in again.output
    result = runner.invoke(
        group,
        [
            "self-governance",
            "group-rep",
            "--community",
            "110105001001",
            "--person",
            "1",
            "--group",
            "第一组",
        ],
        obj=ctx,
    )
    assert result.exit_code == 0, result.output
    from plugins.self_governance.models import GroupRep

    with kernel.db.session_scope() as db:
        assert db.scalar(select(func.count()).select_from(GroupRep)) == 1
        minor = db.scalar(select(Person.id).where(
            Person.birth_date > app_today(demo_app) - timedelta(days=365 * 17),
            Person.status == "active").limit(1))
    assert minor is not None, "the demo has children"

    def rep(person: int, group_name: str = "第二组", community: str = "110105001001") -> Any:
        return runner.invoke(group, ["self-governance", "group-rep", "--community", community,
                                     "--person", str(person), "--group", group_name], obj=ctx)

    # the page's rules, not fewer: an adult, of this community, with a group name
    refused = rep(minor)
    assert refused.exit_code == 2 and "18" in refused.output, refused.output
    assert rep(1, community="110105999999").exit_code == 2
    assert rep(1, group_name="  ").exit_code == 2
    with kernel.db.session_scope() as db:
        assert db.scalar(select(func.count()).select_from(GroupRep)) == 1


def test_migrations_match_the_models(demo_app):
    from core import migrate

    kernel = demo_app.extensions["shequ"]
    tree = next(t for t in migrate.trees_for(kernel.plugins) if t.owner == "self_governance")
    assert migrate.schema_diff(kernel.db.engine, tree) == []
