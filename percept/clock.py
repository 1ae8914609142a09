"""Clocks: the only way nodes read time, so a log can be re-run in virtual time.

Live nodes get a :class:`WallClock`; a replay driver gives them a :class:`VirtualClock` that it
advances to each recorded message's time, so node code never calls ``time`` itself and timers
fire at the same virtual instants on every re-run.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from percept.errors import PerceptError


@runtime_checkable
class Clock(Protocol):
    """Source of the current time in integer nanoseconds."""

    def now_ns(self) -> int:
        """Current time, nanoseconds since the Unix epoch (or log epoch)."""
        ...

    @property
    def is_virtual(self) -> bool:
        """True when time only moves when a driver advances it."""
        ...


class WallClock:
    """System real time (``time.time_ns``), comparable across processes and with sensor stamps."""

    is_virtual = False

    def now_ns(self) -> int:
        return time.time_ns()


class VirtualClock:
    """Time set by a driver (replay); never moves backwards.

    Args:
        start_ns: initial time in nanoseconds.
    """

    is_virtual = True

    def __init__(self, start_ns: int = 0) -> None:
        self._now = int(start_ns)

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, t_ns: int) -> None:
        """Move time forward to ``t_ns``; an earlier ``t_ns`` is an error."""
        if t_ns < self._now:
            raise PerceptError(f"virtual clock cannot go back from {self._now} to {t_ns}")
        self._now = int(t_ns)
