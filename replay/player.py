"""Playback of a recorded log onto the bus at its original (rate-scaled) timing.

The :class:`Player` re-sends each logged message's wire frames unchanged with
:meth:`percept.bus.Publisher.send_frames`. Send times are scheduled against ``time.monotonic``
from one base point (log time ``base_log_ns`` <-> monotonic ``base_mono``), so scheduling errors
never accumulate: message ``i`` is due at ``base_mono + (t_i - base_log_ns) / rate``. Pausing,
stepping and seeking re-base that point. All controls are thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from percept.bus import Publisher
from replay.errors import LogError
from replay.log import LoggedMessage, LogReader

log = logging.getLogger(__name__)

#: Sleep in ``wait`` until this close to a deadline, then spin (seconds).
SPIN_S = 0.0015


@dataclass(frozen=True)
class Progress:
    """Where playback is.

    Attributes:
        position_s: log time of the last sent message, seconds after the log's first message.
        duration_s: log span (first to last message of the whole log), seconds.
        sent: messages sent since the player started (all loops).
        paused: whether playback is paused.
        loops: completed passes over the log.
    """

    position_s: float
    duration_s: float
    sent: int
    paused: bool
    loops: int


def log_span_ns(reader: LogReader) -> tuple[int, int]:
    """``(first, last)`` log time in ns over all topics of ``reader``'s log; ``(0, 0)`` if empty."""
    summary = reader.summary()
    return (summary.start_ns, summary.end_ns) if summary.count else (0, 0)


class Player:
    """Publishes a log's messages at their recorded timing.

    Args:
        log_path: the MCAP log.
        target: endpoint(s) to bind a new :class:`Publisher` on, or an existing publisher (then
            only this player's thread may send on it while it plays).
        rate: speed factor (2.0: twice real time); ``None``: as fast as possible.
        loop: start again at ``start_s`` after the last message.
        start_s, end_s: play only log times in ``[first + start_s, first + end_s]``, seconds.
        topics: topic prefixes to play (``None``: all).
        paused: start paused (use :meth:`step` / :meth:`resume`).
        progress: called from the playing thread after every message and on state changes.
        wait_subscribers: before playing, wait up to ``wait_timeout_s`` for this many subscriptions.
        skip_bad: play every readable message of a truncated or corrupt log (see
            :class:`~replay.log.LogReader`); :attr:`available` says how many there are.

    Attributes:
        available: percept messages the log holds (readable ones, with ``skip_bad``), all topics.
    """

    def __init__(self, log_path: str | Path, target: str | Sequence[str] | Publisher, *,
                 rate: float | None = 1.0, loop: bool = False, start_s: float = 0.0,
                 end_s: float | None = None, topics: Sequence[str] | None = None,
                 paused: bool = False, progress: Callable[[Progress], None] | None = None,
                 wait_subscribers: int = 0, wait_timeout_s: float = 5.0,
                 skip_bad: bool = False) -> None:
        if rate is not None and rate <= 0:
            raise LogError(f"{log_path}: rate must be > 0 or None (max), got {rate}")
        self.path = Path(log_path)
        self.reader = LogReader(self.path, skip_bad=skip_bad)
        summary = self.reader.summary()
        self.available = summary.count
        self.first_ns, self.last_ns = (summary.start_ns, summary.end_ns) if summary.count else (0, 0)
        self._own_pub = not isinstance(target, Publisher)
        self.publisher = Publisher(target) if self._own_pub else target  # type: ignore[arg-type]
        self.rate = rate
        self.loop = loop
        self.start_ns = self.first_ns + round(start_s * 1e9)
        self.end_ns = None if end_s is None else self.first_ns + round(end_s * 1e9)
        self.topics = list(topics) if topics else None
        self.progress = progress
        self.wait_subscribers = wait_subscribers
        self.wait_timeout_s = wait_timeout_s
        self.sent = 0
        self.loops = 0
        self.position_ns = self.start_ns
        self._paused = paused
        self._steps = 0
        self._seek_to: int | None = None
        self._stop = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- controls (any thread) ------------------------------------------------------------------
    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def toggle(self) -> None:
        with self._cond:
            self._paused = not self._paused
            self._cond.notify_all()

    def step(self) -> None:
        """Send the next message now (while paused; then stay paused)."""
        with self._cond:
            self._steps += 1
            self._cond.notify_all()

    def seek(self, seconds: float) -> None:
        """Continue from log time ``first + seconds`` (clamped to the played range)."""
        with self._cond:
            target = self.first_ns + round(seconds * 1e9)
            hi = self.end_ns if self.end_ns is not None else self.last_ns
            self._seek_to = min(max(target, self.start_ns), hi)
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def duration_s(self) -> float:
        return (self.last_ns - self.first_ns) / 1e9

    # -- running --------------------------------------------------------------------------------
    def start(self) -> Player:
        """Play in a background thread."""
        self._thread = threading.Thread(target=self.run, name="percept-player", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the background thread; ``True`` if it finished."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        self.stop()
        self.join(5.0)
        if self._own_pub:
            self.publisher.close()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _messages(self, from_ns: int) -> Iterator[LoggedMessage]:
        return self.reader.messages(self.topics, start_ns=from_ns, end_ns=self.end_ns)

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(Progress((self.position_ns - self.first_ns) / 1e9, self.duration_s,
                                   self.sent, self._paused, self.loops))

    def run(self) -> int:
        """Play (blocking) until the end (or :meth:`stop`); return the number of messages sent."""
        if self.wait_subscribers:
            self.publisher.wait_for_subscribers(self.wait_subscribers, self.wait_timeout_s)
        from_ns = self.start_ns
        while True:
            outcome = self._play_pass(from_ns)
            if outcome is None:
                break
            from_ns = outcome
        self._report()
        return self.sent

    def _play_pass(self, from_ns: int) -> int | None:
        """One pass from ``from_ns``; returns where to continue (seek/loop) or ``None`` to stop."""
        it = self._messages(from_ns)
        base_mono = time.monotonic()
        base_log: int | None = None
        for m in it:
            with self._cond:
                while True:
                    if self._stop:
                        return None
                    if self._seek_to is not None:
                        target, self._seek_to = self._seek_to, None
                        self.position_ns = target
                        return target
                    if self._steps:
                        self._steps -= 1
                        base_log = None  # re-base after a step
                        break
                    if self._paused:
                        base_log = None
                        self._cond.wait()
                        continue
                    if base_log is None:
                        base_mono, base_log = time.monotonic(), m.log_time_ns
                    if self.rate is None:
                        break
                    due = base_mono + (m.log_time_ns - base_log) / 1e9 / self.rate
                    left = due - time.monotonic()
                    if left <= 0:
                        break
                    if left > SPIN_S:
                        self._cond.wait(left - SPIN_S)
                        continue
                    # spin the last stretch outside the lock-free path for precision
                    while time.monotonic() < due:
                        pass
                    break
            if not self.publisher.send_frames(m.frames):
                log.warning("%s: send of %s at %d ns dropped", self.path, m.topic, m.log_time_ns)
            self.sent += 1
            self.position_ns = m.log_time_ns
            self._report()
        if self.loop and not self._stop:
            self.loops += 1
            return self.start_ns
        self.loops += 1
        return None
