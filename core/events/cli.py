"""``shequ events ...`` (inspect deliveries, retry dead letters) and ``shequ worker``.

Each command receives the invocation's :class:`~core.cli.context.AppContext` as
``ctx`` (``click.pass_obj``: the ``shequ`` group puts it in ``ctx.obj`` and builds the
app at most once); this module never imports ``core.cli``, which imports it.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from core.current import kernel_of

if TYPE_CHECKING:
    from core.cli.context import AppContext


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _print_rows(rows: list[Any], *, errors: bool) -> None:
    if not rows:
        click.echo("(none)")
        return
    for r in rows:
        when = _when(r.delivered_at) if r.status == "delivered" else _when(r.next_attempt_at)
        click.echo(
            f"#{r.id:<6} {r.status:<9} attempts={r.attempts:<3} {when}  "
            f"{r.event_name} #{r.event_id} -> {r.subscriber}"
        )
        if errors and r.last_error:
            click.echo(f"        last error: {r.last_error}")


@click.group()
def events() -> None:
    """Event deliveries and dead letters."""


@events.command("list")
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]), default=None,
              help="Only deliveries with this status.")
@click.option("--subscriber", default=None, help="Only this subscriber ('plugin:name').")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.pass_obj
def events_list(ctx: AppContext, status: str | None, subscriber: str | None, limit: int) -> None:
    """Counts by status, then the most recent deliveries."""
    from core.events.delivery import list_deliveries, status_counts

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        counts = status_counts(session)
        rows = list_deliveries(session, status=status, subscriber=subscriber, limit=limit)
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
    _print_rows(rows, errors=status != "delivered")


@events.command("dead")
@click.option("--subscriber", default=None, help="Only this subscriber ('plugin:name').")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.pass_obj
def events_dead(ctx: AppContext, subscriber: str | None, limit: int) -> None:
    """Dead letters (deliveries that failed events.max_attempts times) with their last error."""
    from core.events.delivery import list_deliveries

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        rows = list_deliveries(session, status="dead", subscriber=subscriber, limit=limit)
    _print_rows(rows, errors=True)
    known = set(kernel.bus.subscribers)
    gone = sorted({r.subscriber for r in rows} - known)
    if gone:
        click.echo(f"note: not registered here (plugin disabled?): {', '.join(gone)}")


@events.command("retry")
@click.option("--id", "ids", type=int, multiple=True, help="Delivery id (repeatable).")
@click.option("--subscriber", default=None, help="Every dead letter of this subscriber.")
@click.option("--all", "retry_all", is_flag=True, help="Every dead letter.")
@click.pass_obj
def events_retry(
    ctx: AppContext, ids: tuple[int, ...], subscriber: str | None, retry_all: bool
) -> None:
    """Send dead letters again: back to pending, attempts reset."""
    from core.events.delivery import retry_dead

    if not (ids or subscriber or retry_all):
        raise click.UsageError("say which: --id N (repeatable), --subscriber S, or --all")
    if retry_all and (ids or subscriber):
        raise click.UsageError("--all cannot be combined with --id or --subscriber")
    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        count = retry_dead(session, ids=list(ids) if ids else None, subscriber=subscriber)
    click.echo(f"{count} dead letter(s) set back to pending")


@events.command("types")
@click.pass_obj
def events_types(ctx: AppContext) -> None:
    """Declared event types with their owner, documentation and subscribers."""
    bus = ctx.kernel.bus
    if not bus.types:
        click.echo("(no event types declared)")
    for name in sorted(bus.types):
        et = bus.types[name]
        click.echo(f"{name}  [{et.owner}]")
        if et.doc:
            click.echo(f"    {et.doc}")
        # The payload's keys (a field's data_key: ``fields``, not the attribute ``fields_``).
        fields = ", ".join(sorted(f.data_key or n for n, f in et.schema._declared_fields.items()))
        if fields:
            click.echo(f"    payload: {fields}")
        subs = [s.id for s in bus.subscribers_for(name)]
        click.echo(f"    subscribers: {', '.join(subs) if subs else '-'}")
    orphans = [s for s in bus.subscribers.values() if not any(s.matches(n) for n in bus.types)]
    for sub in orphans:
        click.echo(f"note: subscriber {sub.id} matches no declared event ({sub.pattern})")


@click.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--batch", type=click.IntRange(1, 10000), default=None,
              help="Events and deliveries per round (default: events.batch_size).")
@click.option("--poll", type=click.FloatRange(0.01, 3600), default=None,
              help="Seconds between polls when idle (default: events.poll_interval).")
@click.option("--report", type=click.FloatRange(0.1, 86400), default=10.0, show_default=True,
              help="Seconds between progress lines.")
@click.pass_obj
def worker(
    ctx: AppContext, once: bool, batch: int | None, poll: float | None, report: float
) -> None:
    """Deliver events from the outbox until SIGTERM or Ctrl+C.

    Run as many as you like against PostgreSQL: they share the work without delivering
    the same event to the same subscriber twice at once. A signal lets the delivery in
    progress finish and commit; a second Ctrl+C aborts.
    """
    from core.events.delivery import RunStats, run_once
    from core.jobs import Schedule

    app = ctx.app
    kernel = kernel_of(app)
    from core.metrics import prepare_multiprocess

    # The instance's metrics directory, as `shequ run` uses: a web worker on this host
    # answers a scrape with this worker's job counters too (core/metrics.py).
    prepare_multiprocess(kernel.config.instance_path / "metrics")
    bus = kernel.bus
    poll = poll if poll is not None else float(bus.settings["poll_interval"])
    stop = threading.Event()
    if bus.settings["delivery"] == "thread":
        click.echo("note: events.delivery is 'thread': web processes deliver too (fine on "
                   "PostgreSQL; set it to 'worker' when running workers)")

    def on_signal(signum: int, _frame: Any) -> None:
        click.echo(f"{signal.Signals(signum).name}: finishing the current delivery, then exit")
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl+C aborts

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    schedule = Schedule(app, kernel.jobs)
    total = RunStats()
    interval = RunStats()
    last_report = time.monotonic()
    click.echo(f"worker: {len(bus.subscribers)} subscribers, {len(bus.types)} event types, "
               f"{len(kernel.jobs)} periodic jobs, "
               f"batch={batch or bus.settings['batch_size']}, poll={poll}s"
               + (", once" if once else ""))
    try:
        with app.app_context():
            while not stop.is_set():
                try:
                    stats = run_once(kernel.db, bus, batch_size=batch, should_stop=stop.is_set)
                except Exception as exc:  # database restarts, deadlocks: log and go on
                    if once:
                        raise
                    click.echo(f"round failed: {type(exc).__name__}: {exc}", err=True)
                    stop.wait(min(30.0, poll * 5))
                    continue
                for line in schedule.run_due():
                    click.echo(f"{time.strftime('%H:%M:%S')} {line}")
                total.add(stats)
                interval.add(stats)
                now = time.monotonic()
                if now - last_report >= report and not interval.idle:
                    click.echo(f"{time.strftime('%H:%M:%S')} {interval.summary()}")
                    interval = RunStats()
                    last_report = now
                if once and stats.idle:
                    break
                if not stats.more and not once:
                    stop.wait(poll)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"worker stopped: {total.summary()}")


__all__ = ["events", "worker"]
