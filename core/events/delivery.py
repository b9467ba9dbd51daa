"""Delivering outbox events to subscribers (placeholder until the delivery engine lands)."""

from __future__ import annotations

from typing import Any


def init_app(app: Any, kernel: Any, bus: Any) -> None:
    return None
