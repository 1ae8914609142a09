"""Events for the sink tests, with the lifecycle fields of ``Event`` v2 (issue 12).

``make_event`` builds a ``percept.messages.Event``. While the ``Event`` of this build has no
lifecycle fields yet (they come with the rules branch), it builds :class:`_EventV2Standin`, a
test-only subclass that carries them under the same names; once ``Event`` has them the stand-in
is unused (delete it and the ``HAS_V2`` switch then).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from percept.message import ArraySpec, Scalar
from percept.messages import Event

LIFECYCLE = ("event_id", "phase", "camera", "snapshot")
#: Whether this build's ``Event`` carries the lifecycle fields itself.
HAS_V2 = set(LIFECYCLE) <= {f.name for f in dataclasses.fields(Event)}


@dataclass(frozen=True, kw_only=True, eq=False)
class _EventV2Standin(Event):
    """``Event`` plus the v2 lifecycle fields, for these tests only (own schema name)."""

    SCHEMA: ClassVar[str] = "tests.EventV2Standin"
    SCALARS: ClassVar[Mapping[str, Scalar]] = {
        **Event.SCALARS, "event_id": Scalar.STR, "phase": Scalar.STR, "camera": Scalar.STR,
    }
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = {"snapshot": ArraySpec(("u1",), ((None,),))}

    event_id: str = ""
    phase: str = "start"
    camera: str = ""
    snapshot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))


def make_event(n: int = 0, *, event_type: str = "intrusion", phase: str = "start", camera: str = "cam1",
               zone: str = "lawn", track_ids: tuple[int, ...] = (7,), event_id: str | None = None,
               snapshot: bytes = b"", **kw: Any) -> Event:
    """Event number ``n`` (stamp ``1e9 + n`` ms, ``seq`` n) of one camera, v2 fields filled."""
    cls = Event if HAS_V2 else _EventV2Standin
    return cls(stamp_ns=kw.pop("stamp_ns", 1_000_000_000 + n * 1_000_000), frame_id=camera, seq=n,
               event_type=event_type, severity=kw.pop("severity", "warning"), track_ids=track_ids,
               zone=zone, evidence=kw.pop("evidence", {"dwell_s": 1.5 + n, "n": n}),
               text=kw.pop("text", f"event {n}"),
               event_id=event_id if event_id is not None else f"{camera}-{event_type}-{n}", phase=phase,
               camera=camera, snapshot=np.frombuffer(snapshot, dtype=np.uint8).copy(), **kw)
