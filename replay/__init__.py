"""Record and replay: MCAP logs of bus traffic, playback, deterministic re-runs, import, reports.

Works on wire bytes and imports only ``percept``.
"""

from replay.errors import LogError

__all__ = ["LogError"]
