"""What the polled live sources share (:mod:`sensors.ars408` CAN radar, :mod:`sensors.velodyne` UDP
lidar): a timer that drains the device every ``poll_period_s`` seconds at most a bounded number of
frames/packets at a time, and rate-limited warnings about the bad ones it skips.
"""

from __future__ import annotations

import logging

__all__ = ["require_polling", "warn_bad"]


def require_polling(config: object, period: str, batch: str, *,
                    within: tuple[str, int, int] | None = None) -> None:
    """``ValueError`` unless the fields ``period`` (seconds) and ``batch`` (items per poll) of
    ``config`` are both > 0 and, with ``within=(name, lo, hi)``, the integer field ``name`` (the
    device's address: a port, a sensor id) is in ``lo..hi`` (checked first)."""
    if within is not None:
        name, lo, hi = within
        value = getattr(config, name)
        if not lo <= value <= hi:
            raise ValueError(f"{name}: expected {lo}..{hi}, got {value}")
    if getattr(config, period) <= 0 or getattr(config, batch) <= 0:
        raise ValueError(f"{period} and {batch} must be > 0")


def warn_bad(log: logging.Logger | logging.LoggerAdapter, count: int, what: str, detail: object) -> None:
    """Log the ``count``-th (1-based) skipped bad input as ``"<what> (<count> so far): <detail>"``:
    the first 10, then every 1000th, so that a broken device cannot flood the log."""
    if count <= 10 or count % 1000 == 0:
        log.warning("%s (%d so far): %s", what, count, detail)
