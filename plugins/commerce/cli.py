"""``shequ commerce ...``: the command line calls the same services as the pages and API."""

from __future__ import annotations

import click

from core.toolkit import pass_ctx


@click.group()
def commerce() -> None:
    """Service hotline: re-dispatch, merchant staff, overdue tickets, caller data."""


@commerce.command("redispatch")
@pass_ctx
def redispatch(ctx) -> None:
    """Offer tickets whose merchant did not accept in time to the next merchant now
    (``shequ worker`` does it every minute)."""
    from plugins.commerce.jobs import redispatch as job

    with ctx.app.app_context():
        click.echo(job(ctx.app))


@commerce.command("erase-caller-data")
@pass_ctx
def erase_caller_data(ctx) -> None:
    """Erase what callers gave the hotline (their own phone, address, name) from tickets
    closed longer ago than ``caller_data_retention_days`` now (``shequ worker`` does it
    every hour)."""
    from plugins.commerce.jobs import erase_caller_data as job

    with ctx.app.app_context():
        click.echo(job(ctx.app))


@commerce.command("bind-staff")
@click.argument("username")
@click.argument("merchant_id", type=int)
@pass_ctx
def bind_staff_cmd(ctx, username: str, merchant_id: int) -> None:
    """Bind a staff account to a merchant (the merchant portal shows that merchant)."""
    from core.toolkit import find_account
    from plugins.commerce.models import Merchant
    from plugins.commerce.services import CommerceError, bind_staff

    with ctx.kernel.db.session_scope() as session:
        user = find_account(session, username)
        if user is None:
            raise click.BadParameter("no such account", param_hint="username")
        if session.get(Merchant, merchant_id) is None:
            raise click.BadParameter("no such merchant", param_hint="merchant_id")
        try:
            bind_staff(session, user.id, merchant_id)
        except CommerceError as exc:
            raise click.ClickException(exc.message) from None
    click.echo(f"{username} works for merchant {merchant_id}")


@commerce.command("overdue")
@pass_ctx
def overdue(ctx) -> None:
    """List tickets past their response or completion time."""
    from plugins.commerce.services import tickets_query

    with ctx.kernel.db.session_scope() as session:
        rows = list(session.scalars(tickets_query(overdue=True).limit(500)))
        for t in rows:
            click.echo(f"{t.id}\t{t.state}\t{t.category or '-'}\t{t.created_at:%Y-%m-%d %H:%M}")
        click.echo(f"{len(rows)} overdue")
