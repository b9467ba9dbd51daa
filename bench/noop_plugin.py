"""``bench_noop``: a bench-only plugin with one event type and one no-op subscriber.

``event_delivery`` makes ``shequ worker`` load it without installing anything: the bench
writes a ``bench_noop-0.dist-info`` directory (``METADATA`` + ``entry_points.txt`` naming
this module in the ``shequ.plugins`` group) into a temporary directory on the workers'
``PYTHONPATH``, and lists ``bench_noop`` in ``plugins.enabled``. Discovery is the same
``importlib.metadata`` entry-point lookup an installed plugin goes through.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from core.hookspecs import PluginInfo, hookimpl

EVENT = "bench_noop.ping.sent"

info = PluginInfo(
    id="bench_noop",
    version="0.1.0",
    title="Bench no-op subscriber",
    description="Benchmark only: declares bench_noop.ping.sent and subscribes a handler "
    "that does nothing, so event_delivery measures the delivery machinery.",
)


class PingSent(Schema):
    n = fields.Integer(required=True)
    note = fields.String(required=True)


@hookimpl
def register_event_types(bus: Any) -> None:
    bus.declare(EVENT, PingSent, "Benchmark ping (bench/noop_plugin.py).")


def noop(event: Any, session: Any) -> None:
    """Does nothing: what is measured is claiming, the savepoint and the delivered mark."""


@hookimpl
def register_event_handlers(bus: Any) -> None:
    bus.subscribe(EVENT, noop, name="noop")
