"""Community affairs (居民自治): notices and financial disclosure, the residents' forum,
proposals, votes and elections, democratic evaluation and supervision of the committee.

See docs/plugins/self_governance.md. Other plugins reach this one only through events:
it posts public notices for ``surveillance.public_alert.published`` and
``commerce.public_works.completed`` and publishes ``self_governance.proposal.answered``,
``self_governance.vote.closed`` and ``self_governance.post.hidden`` — to which it also
subscribes itself, to tell the resident concerned (services/outcomes.py).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.toolkit import DemoContext, NavItem, Panel, Permission, PluginInfo, hookimpl


class SelfGovernanceConfig(Schema):
    """``[plugins.self_governance]`` in the config file; validated at start-up."""

    verified_only_posting = fields.Boolean(load_default=True)
    reports_to_hide = fields.Integer(load_default=3, validate=validate.Range(1, 100))
    new_user_days = fields.Integer(load_default=7, validate=validate.Range(0, 365))
    new_user_posts_per_hour = fields.Integer(load_default=5, validate=validate.Range(1, 1000))
    proposal_threshold = fields.Integer(load_default=10, validate=validate.Range(1, 100000))
    proposal_support_days = fields.Integer(load_default=30, validate=validate.Range(1, 365))
    #: Working days the committee has to answer a resident's question on a statement.
    question_answer_days = fields.Integer(load_default=10, validate=validate.Range(1, 90))


info = PluginInfo(
    id="self_governance",
    version="0.1.0",
    title="Community affairs",
    title_zh="居民自治",
    description="Notices, the residents' forum, proposals, votes and supervision of the committee.",
    requires_core=">=1.0,<2",
    # identity: exact age (18+ may vote); household: one vote per household; dwelling:
    # one vote per dwelling in an owners' assembly; ownership: owners and exclusive areas
    # (Civil Code art. 278 double majorities).
    data_scopes=(
        "registry.person.basic",
        "registry.person.identity",
        "registry.household",
        "registry.dwelling",
        "registry.grid",
        "registry.ownership",
    ),
    config_schema=SelfGovernanceConfig,
)

PUBLISH = "self_governance.notice.publish"
MODERATE = "self_governance.forum.moderate"
ANSWER = "self_governance.proposal.answer"
MANAGE_VOTES = "self_governance.vote.manage"
#: Personal acts (``require_personal``): never in the assisted channel; named so that an
#: API token can be given them or not (a token narrowed to something else cannot vote).
CAST = "self_governance.vote.cast"
RATE = "self_governance.evaluation.rate"


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.self_governance.views import bp

    return [bp]


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.self_governance.api import blp

    return [blp]


@hookimpl
def register_commands(cli: Any) -> None:
    from plugins.self_governance.cli import group

    cli.add_command(group)


@hookimpl
def register_event_types(bus: Any) -> None:
    from plugins.self_governance import schemas

    bus.declare(
        "self_governance.proposal.answered",
        schemas.ProposalAnsweredEvent,
        "The committee answered a proposal (accepted, rejected or needs study).",
    )
    bus.declare(
        "self_governance.vote.closed",
        schemas.VoteClosedEvent,
        "A vote was counted after its close: turnout, quorum and outcome.",
    )
    bus.declare(
        "self_governance.post.hidden",
        schemas.PostHiddenEvent,
        "A forum post was hidden (after reports, or by a moderator).",
    )


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from plugins.self_governance.services import (
        on_public_alert,
        on_public_works_completed,
        outcomes,
    )

    bus.subscribe(
        "surveillance.public_alert.published", on_public_alert, name="public_alert_notice"
    )
    bus.subscribe(
        "commerce.public_works.completed", on_public_works_completed, name="public_works_notice"
    )
    # the resident is told of their own proposal's answer, the result of a vote they
    # took part in, and a moderator hiding their post (services/outcomes.py)
    bus.subscribe("self_governance.proposal.answered", outcomes.on_proposal_answered,
                  name="tell_proposal_author")
    bus.subscribe("self_governance.vote.closed", outcomes.on_vote_closed, name="tell_voters")
    bus.subscribe("self_governance.post.hidden", outcomes.on_post_hidden,
                  name="tell_post_author")


@hookimpl
def register_jobs(app: Any) -> list[Any]:
    from core.toolkit import Job
    from plugins.self_governance.jobs import close_due

    return [
        Job(
            "self_governance.close_due",
            60,
            close_due,
            "count closed votes, open closed evaluations, expire proposals",
        ),
    ]


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(PUBLISH, "Publish notices and financial statements", "发布公告和财务公开"),
        Permission(MODERATE, "Moderate the forum", "管理论坛"),
        Permission(ANSWER, "Answer proposals and residents' questions", "答复提议和居民提问"),
        Permission(MANAGE_VOTES, "Create and count votes and evaluations", "组织投票和评议"),
        Permission(CAST, "Cast my own ballot (never for someone else)", "本人投票（不可代投）"),
        Permission(
            RATE,
            "Rate the committee myself (never for someone else)",
            "本人参加民主评议（不可代评）",
        ),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "committee_member": [PUBLISH, MODERATE, ANSWER, MANAGE_VOTES],
        "resident": [CAST, RATE],
    }


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/self-governance/", order=30)]


@hookimpl
def dashboard_widgets(user: Any) -> list[Panel]:
    """The latest notices on the home page (public notices: anyone may read them)."""
    from flask import render_template

    from core.toolkit import current_kernel, current_session, localized
    from plugins.self_governance.services import home_notices

    notices = home_notices(current_session(), current_kernel(), limit=3)
    html = render_template("self_governance/widget.html", notices=notices)
    return [Panel(title=localized(info.title, info.title_zh), html=html, order=30)]


@hookimpl
def seed_demo_data(session: Any, demo: DemoContext) -> None:
    from plugins.self_governance.demo import seed

    seed(session, demo)
