"""``shequ exchange ...``: clients, replays and the data standard from the command line.

Each command receives the invocation's :class:`~core.cli.context.AppContext` as
``ctx`` (``click.pass_obj``: the ``shequ`` group puts it in ``ctx.obj`` and builds the
app at most once); this module never imports ``core.cli``, which imports it.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from core.cli.context import AppContext


def _client(session: Any, name: str) -> Any:
    from core.exchange.services import client_by_name

    client = client_by_name(session, name)
    if client is None:
        raise click.ClickException(f"no exchange client named '{name}'")
    return client


@click.group()
def exchange() -> None:
    """Data exchange: external clients, webhooks, the data standard."""


@exchange.command("add-client")
@click.argument("name")
@click.option("--contact", default="", help="Who to call when deliveries fail.")
@click.option("--event", "events", multiple=True, help="An event type it may receive (repeat).")
@click.option("--scope", "scopes", multiple=True, help="A registry data scope (repeat).")
@click.option("--callback", default=None, help="Webhook address; omit for feed-only clients.")
@click.pass_obj
def add_client(
    ctx: AppContext,
    name: str, contact: str, events: tuple[str, ...], scopes: tuple[str, ...], callback: str | None
) -> None:
    """Register a client; prints its webhook secret and feed token (shown once)."""
    from core.exchange import services

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        try:
            client, secret, token = services.create_client(
                session,
                kernel.bus,
                name=name,
                contact=contact,
                event_types=events,
                scopes=scopes,
                callback_url=callback,
            )
        except services.ExchangeError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"client #{client.id} {client.name}")
    click.echo(f"secret: {secret}")
    click.echo(f"token:  {token}")


@exchange.command("list")
@click.pass_obj
def list_clients(ctx: AppContext) -> None:
    """Clients with their status and grants."""
    from core.exchange.services import list_clients as all_clients

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        rows = all_clients(session)
        if not rows:
            click.echo("(none)")
        for c in rows:
            click.echo(
                f"#{c.id:<4} {c.status:<9} {c.name}  events={','.join(c.event_types)}  "
                f"scopes={','.join(c.scopes)}  callback={c.callback_url or '-'}"
            )


@exchange.command("rotate-secret")
@click.argument("name")
@click.option(
    "--grace-hours",
    type=click.FloatRange(0, 24 * 30),
    default=24.0,
    show_default=True,
    help="Hours the old secret still signs too; 0 ends it at once (a leak).",
)
@click.pass_obj
def rotate_secret(ctx: AppContext, name: str, grace_hours: float) -> None:
    """A new webhook signing secret (printed once)."""
    from core.exchange.services import rotate_secret as rotate

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        secret = rotate(session, _client(session, name), grace_hours=grace_hours)
    click.echo(f"secret: {secret}")


@exchange.command("rotate-token")
@click.argument("name")
@click.pass_obj
def rotate_token(ctx: AppContext, name: str) -> None:
    """A new feed token (printed once); the old one stops working."""
    from core.exchange.services import rotate_token as rotate

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        token = rotate(session, _client(session, name))
    click.echo(f"token: {token}")


@exchange.command("suspend")
@click.argument("name")
@click.option("--reason", required=True)
@click.pass_obj
def suspend(ctx: AppContext, name: str, reason: str) -> None:
    """Suspend a client at once: no webhook, no feed, no facts."""
    from core.exchange import services

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        try:
            services.suspend_client(session, _client(session, name), reason=reason)
        except services.ExchangeError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{name}: suspended")


@exchange.command("resume")
@click.argument("name")
@click.pass_obj
def resume(ctx: AppContext, name: str) -> None:
    """Make a suspended client active again; events of the suspension are not sent
    unless replayed (`shequ exchange replay`)."""
    from core.exchange.services import resume_client

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        resume_client(session, _client(session, name))
    click.echo(f"{name}: active")


@exchange.command("replay")
@click.argument("name")
@click.option("--from", "from_id", type=int, required=True, help="First outbox event id.")
@click.option("--to", "to_id", type=int, required=True, help="Last outbox event id.")
@click.pass_obj
def replay(ctx: AppContext, name: str, from_id: int, to_id: int) -> None:
    """Queue the client's allowed events in an id range again."""
    from core.exchange import services

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        try:
            count = services.replay(
                session, kernel.bus, _client(session, name), from_id=from_id, to_id=to_id
            )
        except services.ExchangeError as exc:
            raise click.ClickException(str(exc)) from None
    kernel.bus.wake()
    click.echo(f"{count} webhooks queued for {name}")


@exchange.command("backfill")
@click.argument("name")
@click.option("--since", required=True, metavar="EVENT_ID|DATE",
              help="The first outbox event id, or a date (YYYY-MM-DD, UTC), to start from.")
@click.option("--reason", default="", help="Why (written to the audit log).")
@click.pass_obj
def backfill(ctx: AppContext, name: str, since: str, reason: str) -> None:
    """Grant a client history from before its registration (logged). A new client's
    feed, webhooks and replays start at its registration; this moves its start back."""
    from datetime import date

    from core.exchange import services

    since = since.strip()
    kwargs: dict[str, Any] = {}
    if since.isdigit():
        kwargs["since_event"] = int(since)
    else:
        try:
            kwargs["since"] = date.fromisoformat(since)
        except ValueError:
            raise click.BadParameter("an event id or a date YYYY-MM-DD",
                                     param_hint="--since") from None
    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        try:
            start = services.grant_backfill(session, _client(session, name), reason=reason,
                                            **kwargs)
        except services.ExchangeError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{name}: feed starts after event {start} (replay older webhooks with "
               f"shequ exchange replay)")


@exchange.command("deliveries")
@click.option("--client", "name", default=None)
@click.option(
    "--status",
    default=None,
    type=click.Choice(["queued", "failed", "dead", "delivered", "cancelled"]),
)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.pass_obj
def deliveries(ctx: AppContext, name: str | None, status: str | None, limit: int) -> None:
    """Recent webhooks, newest first, with attempts and last error."""
    from core.exchange.services import list_deliveries

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        client_id = _client(session, name).id if name else None
        rows = list_deliveries(session, client_id=client_id, status=status, limit=limit)
        if not rows:
            click.echo("(none)")
        for d in rows:
            click.echo(
                f"#{d.id:<6} {d.status:<9} attempts={d.attempts:<3} {d.client_name}  "
                f"{d.event_name} #{d.event_id}"
            )
            if d.last_error:
                click.echo(f"        last error: {d.last_error}")


@exchange.command("standard")
@click.option("--json", "as_json", is_flag=True, help="The lock data (versions, fingerprints).")
@click.option(
    "--lock",
    is_flag=True,
    help="Write core/exchange/standard.lock.json (refused when a schema changed "
    "without a version bump).",
)
@click.pass_obj
def standard_cmd(ctx: AppContext, as_json: bool, lock: bool) -> None:
    """Print the data standard as Markdown (docs/data-standard.md is this output)."""
    from core.exchange import standard

    schemas = standard.collect(ctx.kernel)
    if lock:
        stale = standard.unbumped_changes(schemas, standard.read_lock())
        if stale:
            click.echo(
                "changed without a version bump (bump STANDARD_VERSION in "
                "core/exchange/standard.py, or the plugin's version): " + ", ".join(stale),
                err=True,
            )
            sys.exit(1)
        standard.write_lock(schemas)
        click.echo(f"wrote {standard.LOCK_FILE} ({len(schemas)} schemas)", err=True)
        return
    if as_json:
        click.echo(json.dumps(standard.lock_data(schemas), indent=2, sort_keys=True))
        return
    click.echo(standard.render_markdown(schemas), nl=False)
