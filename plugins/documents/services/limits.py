"""A small per-client rate limit for the public verification (page and API): a sliding
window of one minute per IP address, kept per app in the kernel's state. It bounds what a
scraper can learn by guessing codes (64 random bits each make guessing hopeless anyway)
without a shared store; with several workers each counts its own."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from core.toolkit import current_kernel

PLUGIN = "documents"


def allow(client: str, *, kernel: Any = None, now: float | None = None) -> int:
    """0 when ``client`` may verify now, else the seconds to wait."""
    kernel = kernel if kernel is not None else current_kernel()
    state = kernel.state(PLUGIN)
    limit = kernel.plugins.settings(PLUGIN)["verify_per_minute"]
    lock = state.setdefault("limit_lock", threading.Lock())
    now = time.monotonic() if now is None else now
    with lock:
        hits: dict[str, deque[float]] = state.setdefault("limit_hits", {})
        if len(hits) > 10000:  # forget idle clients
            for key in [k for k, v in hits.items() if not v or v[-1] < now - 60]:
                del hits[key]
        window = hits.setdefault(client, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            return max(1, int(60 - (now - window[0])) + 1)
        window.append(now)
        return 0
