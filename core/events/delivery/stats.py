"""What a delivery round did (:class:`RunStats`) and the callables a round is driven by.

Apart because every seam returns or sums these: fan-out, delivery, ``shequ worker`` and
the thread all report in the same counters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime

Clock = Callable[[], datetime]

StopFlag = Callable[[], bool]


@dataclass
class RunStats:
    """What one round (or a sum of rounds) did; ``more`` means a limit was hit, so work is
    probably still waiting and the caller should not sleep before the next round."""

    fanned_out: int = 0  # outbox events fanned out
    created: int = 0  # delivery rows created by the fan-out
    delivered: int = 0
    failed: int = 0  # attempts that raised (the ones that went dead included)
    dead: int = 0  # deliveries parked as dead letters
    more: bool = False

    @property
    def attempted(self) -> int:
        return self.delivered + self.failed

    @property
    def idle(self) -> bool:
        return not (self.fanned_out or self.attempted or self.more)

    def add(self, other: RunStats) -> RunStats:
        for f in fields(self):
            if f.name == "more":
                self.more = self.more or other.more
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self) if f.name != "more"}

    def summary(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.as_dict().items())
