"""Capture stamps from a source's own time base: stream time of files, driver time of devices.

A sensor reports when it captured a sample on its own clock (a video's presentation time, a
V4L2 buffer's driver timestamp); the node knows when the sample arrived, on the node clock. The
capture stamp is the source time mapped onto the node clock by an offset, and it must never be
later than the arrival: a sample cannot be captured after it was read.

:class:`SourceClock` keeps ``offset = min(arrival - source time)`` over the samples seen (all of
them, or the last ``window`` ones), so ``stamp = source time + offset <= arrival`` for every sample:

* For a file played in real time the first frame fixes the mapping (stamp = arrival) and the
  later frames keep the stream's spacing exactly, unless one is read *before* its mapped time
  (the first read was late, or playback runs faster than real time): then the mapping is lowered
  so that frame is stamped with its read time, and :attr:`SourceClock.lowered` counts it.
* For a live device the minimum over a sliding window is the driver-to-clock offset plus the
  smallest transport delay seen lately: it follows a drifting driver clock, and a driver clock
  that jumps back (a reset) starts the estimate over.
"""

from __future__ import annotations

from collections import deque


class SourceClock:
    """Maps source times (ns) to node-clock capture stamps never later than arrival.

    Args:
        window: samples the minimum is taken over (None: every sample since the last reset,
            i.e. a file's mapping, fixed at its first frame and only ever lowered).
        lower: whether a sample read before its mapped time lowers the mapping (False keeps
            the first frame's mapping whatever happens: offline runs on a virtual clock, where
            time only moves when the runner says so).
    """

    def __init__(self, window: int | None = None, lower: bool = True) -> None:
        if window is not None and window < 1:
            raise ValueError(f"window: expected >= 1 sample or None, got {window}")
        self.window = window
        self.lower = lower
        self.lowered = 0
        self._offset: int | None = None
        self._recent: deque[tuple[int, int]] = deque()  # (sample index, offset), offsets increasing
        self._count = 0
        self._last_source: int | None = None

    @property
    def offset_ns(self) -> int | None:
        """Current ``stamp - source time``, None before the first sample."""
        return self._offset

    def reset(self) -> None:
        """Forget the mapping (a new playback, or a driver clock that jumped)."""
        self._offset = None
        self._recent.clear()
        self._last_source = None

    def stamp(self, source_ns: int, arrival_ns: int) -> int:
        """The capture stamp of a sample with source time ``source_ns`` that arrived at ``arrival_ns``."""
        if self._last_source is not None and source_ns < self._last_source:
            self.reset()  # the source clock went back: a new time base
        self._last_source = source_ns
        offset = arrival_ns - source_ns
        if self.window is None:
            if self._offset is None:
                self._offset = offset
            elif offset < self._offset and self.lower:
                self._offset = offset
                self.lowered += 1
            return source_ns + self._offset
        self._count += 1
        recent = self._recent
        while recent and recent[-1][1] >= offset:
            recent.pop()
        recent.append((self._count, offset))
        while recent[0][0] <= self._count - self.window:
            recent.popleft()
        if self._offset is not None and recent[0][1] < self._offset:
            self.lowered += 1
        self._offset = recent[0][1]
        return source_ns + self._offset
