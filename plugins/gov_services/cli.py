"""``shequ gov_services ...``: the daily proactive job, the catalogue and the deadlines,
calling the same services as the pages and the API."""

from __future__ import annotations

import click

from core.toolkit import pass_ctx


@click.group("gov_services")
def gov_services() -> None:
    """One-stop public services."""


@gov_services.command("proactive")
@pass_ctx
def proactive(ctx) -> None:
    """Evaluate the catalogue's proactive offers over the whole registry now (the event
    workers do it daily): notify residents with an account, list the others for outreach."""
    from plugins.gov_services.jobs import proactive as job

    with ctx.app.app_context():
        click.echo(job(ctx.app))


@gov_services.command("deadlines")
@pass_ctx
def deadlines(ctx) -> None:
    """Warn the handling staff of cases due soon or overdue, once per due date, now
    (``shequ worker`` does it hourly)."""
    from plugins.gov_services.jobs import deadlines as job

    with ctx.app.app_context():
        click.echo(job(ctx.app))


@gov_services.command("catalogue")
@pass_ctx
def catalogue(ctx) -> None:
    """List the services: code, name, database, stages and total working days."""
    from plugins.gov_services.services import gov

    for s in gov(ctx.kernel).catalogue.services.values():
        click.echo(
            f"{s.code}\t{s.name_zh}\t{s.database}\t{'>'.join(s.stages)}"
            f"\t{s.total_days()}d\t{s.source}"
        )


@gov_services.command("overdue")
@pass_ctx
def overdue(ctx) -> None:
    """Open applications past their due date (all communities)."""
    from plugins.gov_services.services import queue_query

    class _All:
        scopes = [type("S", (), {"kind": "all", "code": ""})()]

    with ctx.kernel.db.session_scope() as session:
        rows = list(session.scalars(queue_query(_All(), overdue=True)))
        for a in rows:
            click.echo(f"{a.reference}\t{a.service_code}\t{a.state}\t{a.due_on}\t{a.community}")
    click.echo(f"overdue: {len(rows)}")
