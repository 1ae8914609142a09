"""A bounded reorder buffer for late and out-of-order measurements, with per-sensor latencies.

Each measurement of sensor ``s`` stamped ``t`` is held until the node clock passes
``t + latency(s)`` (the sensor's ``latency_s``, its worst expected delay), then released with
everything else that is due, in stamp order (ties in arrival order). A measurement stamped before
the last released one can no longer be fused in order: it is counted (``late``) and dropped, as
is the oldest one when the buffer is full (``overflow``). So measurements that arrive shuffled
within their sensor's window come out exactly as if they had arrived sorted.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping
from typing import Generic, TypeVar

from fusion.errors import TrackingError
from percept.counters import Counters

T = TypeVar("T")


class ReorderStats(Counters, ints="accepted released late overflow"):
    """Counters: accepted, released, late (dropped) and overflow (dropped) measurements."""


class ReorderBuffer(Generic[T]):
    """Holds ``(stamp_ns, sensor, item)`` until due, releases them in stamp order.

    Args:
        latencies_s: per-sensor hold time in seconds (sensors not listed use ``default_latency_s``).
        default_latency_s: hold time of other sensors.
        capacity: most items held at once.
    """

    def __init__(
        self,
        latencies_s: Mapping[str, float] | None = None,
        default_latency_s: float = 0.0,
        capacity: int = 10_000,
    ) -> None:
        lat = dict(latencies_s or {})
        for name, value in [*lat.items(), ("default", default_latency_s)]:
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise TrackingError(
                    f"reorder latency of {name!r}: expected a finite number >= 0 s, got {value!r}"
                )
        if capacity < 1:
            raise TrackingError(f"reorder capacity: expected >= 1, got {capacity!r}")
        self._latency_ns = {k: round(v * 1e9) for k, v in lat.items()}
        self._default_ns = round(default_latency_s * 1e9)
        self.capacity = capacity
        self._heap: list[tuple[int, int, int, str, T]] = []  # (due, stamp, order, sensor, item)
        self._order = itertools.count()
        self.released_ns: int | None = None
        self.stats = ReorderStats()

    def __len__(self) -> int:
        return len(self._heap)

    def latency_ns(self, sensor: str) -> int:
        """The hold time of ``sensor`` in nanoseconds."""
        return self._latency_ns.get(sensor, self._default_ns)

    def push(self, stamp_ns: int, sensor: str, item: T) -> bool:
        """Hold ``item``; False (counted as late) when it is older than what was released."""
        if self.released_ns is not None and stamp_ns < self.released_ns:
            self.stats.late += 1
            return False
        if len(self._heap) >= self.capacity:
            self._pop_oldest()
            self.stats.overflow += 1
        heapq.heappush(
            self._heap, (stamp_ns, next(self._order), stamp_ns + self.latency_ns(sensor), sensor, item)
        )
        self.stats.accepted += 1
        return True

    def _pop_oldest(self) -> tuple[int, str, T]:
        stamp, _, _, sensor, item = heapq.heappop(self._heap)
        return stamp, sensor, item

    def pop_due(self, now_ns: int) -> list[tuple[int, str, T]]:
        """Release, in stamp order, every item whose stamp is at or before the earliest deadline
        still pending: items are released while the oldest held one is due at ``now_ns``."""
        out = []
        while self._heap and self._heap[0][2] <= now_ns:
            out.append(self._pop_oldest())
        return self._released(out)

    def flush(self) -> list[tuple[int, str, T]]:
        """Release everything held, in stamp order (at shutdown)."""
        out = [self._pop_oldest() for _ in range(len(self._heap))]
        return self._released(out)

    def _released(self, out: list[tuple[int, str, T]]) -> list[tuple[int, str, T]]:
        if out:
            self.released_ns = out[-1][0]
            self.stats.released += len(out)
        return out
