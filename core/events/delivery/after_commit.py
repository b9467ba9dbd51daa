"""After commit: the ``event_published`` signal and the dispatcher's wake-up happen only
once the transaction that published has committed (never for one rolled back).

Session-event bookkeeping, separate from delivery: the bus calls :func:`track_published`
when it publishes; the listeners on SQLAlchemy's ``Session`` class do the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from core.events import signals

if TYPE_CHECKING:
    from core.events import EventBus

_PUBLISHED_KEY = "shequ.events.published"


class _Published:
    """Names published in one session, per transaction, until it commits or rolls back.

    Kept in ``session.info``; the listeners that call it are registered once, on the
    ``Session`` class (:func:`_listen_once`). After the root transaction
    commits, the names published in it are sent with :data:`signals.event_published` and
    the bus's dispatcher is woken; names published inside a savepoint that rolled back, or
    in a transaction that ended without committing, are dropped.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[Any, Any, EventBus, str]] = []  # root, innermost, bus, name

    def add(self, session: Session, bus: EventBus, name: str) -> None:
        root = session.get_transaction()
        inner = session.get_nested_transaction() or root
        self.entries.append((root, inner, bus, name))

    def after_commit(self, session: Session) -> None:
        root = session.get_transaction()
        mine = [(bus, name) for r, _, bus, name in self.entries if r is root]
        self.entries = [e for e in self.entries if e[0] is not root]
        by_bus: dict[int, tuple[EventBus, list[str]]] = {}
        for bus, name in mine:
            by_bus.setdefault(id(bus), (bus, []))[1].append(name)
        for bus, names in by_bus.values():
            signals.send(signals.event_published, bus, names=names)
            if bus.dispatcher is not None:
                bus.dispatcher.wake()

    def after_soft_rollback(self, session: Session, previous: SessionTransaction) -> None:
        def inside(tx: Any) -> bool:
            while tx is not None:
                if tx is previous:
                    return True
                tx = tx.parent
            return False

        self.entries = [e for e in self.entries if not inside(e[1])]

    def after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:  # root ended: committed (already sent) or discarded
            self.entries = [e for e in self.entries if e[0] is not transaction]


def _published_state(session: Session) -> _Published | None:
    # ``Session.info`` is created lazily; sessions that never published have none to look in.
    info = session.__dict__.get("info")
    return info.get(_PUBLISHED_KEY) if info else None


def _on_after_commit(session: Session) -> None:
    state = _published_state(session)
    if state is not None and state.entries:
        state.after_commit(session)


def _on_after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    state = _published_state(session)
    if state is not None and state.entries:
        state.after_soft_rollback(session, previous)


def _on_after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    state = _published_state(session)
    if state is not None and state.entries:
        state.after_transaction_end(session, transaction)


_LISTENERS = (
    ("after_commit", _on_after_commit),
    ("after_soft_rollback", _on_after_soft_rollback),
    ("after_transaction_end", _on_after_transaction_end),
)


def _listen_once() -> None:
    """Attach the after-commit bookkeeping to the ``Session`` class, once per process.

    Listening per session instance (as this once did) made SQLAlchemy build a per-instance
    dispatcher for three events on every session that published, which cost more than the
    insert itself; class-level listeners are set up once, and for sessions that never
    published they are a dictionary lookup that finds nothing. The class is SQLAlchemy's
    ``Session``, which ``core.db``'s sessionmaker creates, so sessions built directly
    (``Session(bind=...)``, as some tests do) are covered too."""
    for name, fn in _LISTENERS:
        if not sa_event.contains(Session, name, fn):
            sa_event.listen(Session, name, fn)


_listen_once()


def track_published(bus: EventBus, session: Session, name: str) -> None:
    """Remember that ``name`` was published in ``session``'s current transaction, so the
    ``event_published`` signal and the dispatcher wake-up happen after it commits."""
    info = session.info
    state = info.get(_PUBLISHED_KEY)
    if state is None:
        state = info[_PUBLISHED_KEY] = _Published()
    state.add(session, bus, name)
