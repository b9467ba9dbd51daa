"""In-process signals (blinker) around the event bus.

Signals are *not* events: they are not persisted, not retried and only reach receivers in
the same process. They exist for observers that must not change what happens — metrics,
logging, tests waiting for a delivery, a dashboard counter — where an outbox row would be
overkill. Anything that must happen *because* of an event belongs in a subscriber.

Every signal is sent with the :class:`~core.events.EventBus` as sender, so receivers can
listen to one app only: ``event_delivered.connect(fn, sender=kernel.bus)``. A receiver that
raises is logged and ignored; it never breaks publishing or delivery.
"""

from __future__ import annotations

import logging
from typing import Any

from blinker import Namespace, Signal

log = logging.getLogger("shequ.events")

signals = Namespace()

#: Sent after a transaction that published events has committed, in the committing thread.
#: Keyword arguments: ``names`` — the event names published in that transaction, in order.
event_published: Signal = signals.signal(
    "shequ.event-published",
    doc="Events were committed to the outbox. kwargs: names (list[str]).",
)

#: Sent after a delivery was committed as delivered, in the delivering thread or worker.
#: Keyword arguments: ``event`` (:class:`~core.events.Event`), ``subscriber`` (its id).
event_delivered: Signal = signals.signal(
    "shequ.event-delivered",
    doc="A subscriber handled an event. kwargs: event (Event), subscriber (str).",
)

#: Sent after a delivery was parked as a dead letter (``events.max_attempts`` reached).
#: Keyword arguments: ``event``, ``subscriber``, ``error`` (the last error text).
event_dead_lettered: Signal = signals.signal(
    "shequ.event-dead-lettered",
    doc="A delivery gave up after max_attempts. kwargs: event, subscriber, error (str).",
)


def send(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` without letting a faulty receiver break the caller: signals are sent
    after commits, where an exception would only confuse the code that committed."""
    if not signal.receivers:
        return
    try:
        signal.send(sender, **kwargs)
    except Exception:
        log.exception("a receiver of signal %s raised; ignored", signal.name)


__all__ = ["event_dead_lettered", "event_delivered", "event_published", "send", "signals"]
