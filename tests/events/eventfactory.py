"""Events for the sink tests: ``percept.messages.Event`` with its lifecycle fields filled."""

from __future__ import annotations

from typing import Any

import numpy as np

from percept.messages import Event


def make_event(n: int = 0, *, event_type: str = "intrusion", phase: str = "start", camera: str = "cam1",
               zone: str = "lawn", track_ids: tuple[int, ...] = (7,), event_id: str | None = None,
               snapshot: bytes = b"", **kw: Any) -> Event:
    """Event number ``n`` (stamp ``1e9 + n`` ms, ``seq`` n) of one camera, v2 fields filled."""
    return Event(stamp_ns=kw.pop("stamp_ns", 1_000_000_000 + n * 1_000_000), frame_id=camera, seq=n,
                 event_type=event_type, severity=kw.pop("severity", "warning"), track_ids=track_ids,
                 zone=zone, evidence=kw.pop("evidence", {"dwell_s": 1.5 + n, "n": n}),
                 text=kw.pop("text", f"event {n}"),
                 event_id=event_id if event_id is not None else f"{camera}-{event_type}-{n}", phase=phase,
                 camera=camera, snapshot=np.frombuffer(snapshot, dtype=np.uint8).copy(), **kw)
