"""``shequ self-governance ...``: the command line calls the same services as the pages."""

from __future__ import annotations

import click

from core.toolkit import pass_ctx


@click.group("self-governance")
def group() -> None:
    """Community affairs (居民自治)."""


@group.command("close-due")
@pass_ctx
def close_due(ctx) -> None:
    """Count every vote past its close and expire proposals past their deadline now
    (``shequ worker`` does it every minute; pages also count a due vote when opened)."""
    from plugins.self_governance.jobs import close_due as job

    with ctx.app.app_context():
        click.echo(job(ctx.app))


@group.command("evaluation")
@click.option("--community", required=True, help="Community code (12 digits).")
@click.option("--year", type=int, required=True)
@click.option("--days", type=int, default=30, show_default=True, help="Days it stays open.")
@click.option(
    "--member",
    "members",
    multiple=True,
    required=True,
    help='A committee member to rate, "name|post" (repeat for each).',
)
@pass_ctx
def evaluation(ctx, community: str, year: int, days: int, members: tuple[str, ...]) -> None:
    """Open the yearly democratic evaluation (民主评议) of the committee members."""
    from datetime import timedelta

    from core.toolkit import utcnow
    from plugins.self_governance import services as sv

    pairs = [[*m.split("|", 1), ""][:2] for m in members]
    try:
        with ctx.kernel.db.session_scope() as session:
            rnd = sv.create_round(
                session,
                community=community,
                year=year,
                members=[(n.strip()[:50], p.strip()[:50]) for n, p in pairs],
                closes_at=utcnow() + timedelta(days=days),
            )
            rid = rnd.id
    except sv.GovernanceError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.field) from None
    click.echo(f"evaluation {rid} open for {len(pairs)} members")


@group.command("group-rep")
@click.option("--community", required=True, help="Community code (12 digits).")
@click.option("--person", "person_id", type=int, required=True, help="Registry person id.")
@click.option("--group", "group_name", required=True, help="Residents' group name, e.g. 第三组.")
@pass_ctx
def group_rep(ctx, community: str, person_id: int, group_name: str) -> None:
    """Designate a residents' group representative (who votes in ``group_rep`` votes).

    The same rule as the committee's page (an active adult resident of the community, a
    group name), read as a system job: whoever runs the command line holds the server."""
    from plugins.self_governance import services as sv

    try:
        with ctx.app.app_context(), ctx.kernel.db.session_scope() as session:
            sv.name_group_rep(session, ctx.kernel, community=community, person_id=person_id,
                              group_name=group_name, actor=None)
    except sv.GovernanceError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.field) from None
    click.echo(f"person {person_id} represents {group_name.strip()} in {community}")
