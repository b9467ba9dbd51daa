"""Notices to many residents: staff address the residents of a building, a grid, a
community or a thematic group, in-app and by SMS and e-mail, see the count before sending,
and read a delivery report afterwards (docs/notices.md).

``init_app`` declares ``core.notice.queued``, subscribes the batch deliverer to it and
registers the pages (``/notices``). The API blueprint is mounted by ``core.api.core_api``
(area ``notices``).
"""

from __future__ import annotations

from typing import Any


def init_app(app: Any, kernel: Any) -> None:
    """Wire the notices area into ``app``; idempotent (tests build several apps)."""
    from core.notices.services import QUEUED_EVENT, NoticeQueued, make_batch_subscriber

    bus = kernel.bus
    if QUEUED_EVENT not in bus.types:
        bus.declare(QUEUED_EVENT, NoticeQueued,
                    "A notice has deliveries waiting: the next batch is due.")
        bus.subscribe(QUEUED_EVENT,
                      make_batch_subscriber(bus, kernel.config.app["default_locale"]),
                      name="notices_deliver_batch")
    if "notices" not in app.blueprints:
        from core.notices.views import bp

        app.register_blueprint(bp)
