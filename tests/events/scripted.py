"""Scripted tracks for the events tests: ``Tracks`` messages built from positions over time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from events.engine import EventEngine
from events.scene import Scene, scene_from_dict
from percept.messages import Event, Tracks, TrackStatus

#: The simulator's class names (class_id indexes them).
CLASSES = ("car", "truck", "pedestrian", "cyclist", "bag")
PED, CAR, BAG = 2, 0, 4
S = 1_000_000_000  # ns per second

#: A row: (track_id, x, y), optionally followed by a dict of extras: class_id, status, age,
#: sigma (std of x and y, metres), box (x1, y1, x2, y2 for 2D messages).
Row = tuple[Any, ...]


def tracks_3d(t_s: float, rows: Sequence[Row], frame_id: str = "world", covariance: bool = False) -> Tracks:
    """3D ``Tracks`` (state ``x, y, z, l, w, h``) at ``t_s`` seconds; ``sigma`` extras need ``covariance``."""
    n = len(rows)
    extra = [r[3] if len(r) > 3 else {} for r in rows]
    size = [e.get("size", (0.5, 0.6, 1.75)) for e in extra]
    state = np.array([[r[1], r[2], s[2] / 2, *s] for r, s in zip(rows, size, strict=True)],
                     np.float32).reshape(n, 6)
    cov = None
    if covariance:
        cov = np.zeros((n, 6, 6), np.float32)
        for i, e in enumerate(extra):
            cov[i] = np.eye(6, dtype=np.float32) * e.get("sigma", 0.05) ** 2
    return Tracks(stamp_ns=round(t_s * S), frame_id=frame_id,
                  track_id=np.array([r[0] for r in rows], np.int64),
                  class_id=np.array([e.get("class_id", PED) for e in extra], np.int32),
                  confidence=np.ones(n, np.float32), state=state, covariance=cov,
                  age=np.array([e.get("age", 10) for e in extra], np.int32),
                  status=np.array([e.get("status", TrackStatus.CONFIRMED) for e in extra], np.uint8),
                  sensors=np.zeros(n, np.uint32), state_fields=("x", "y", "z", "l", "w", "h"),
                  class_names=CLASSES)


def tracks_2d(t_s: float, rows: Sequence[tuple[int, Sequence[float]]], frame_id: str = "camera",
              age: int = 10, class_id: int = PED) -> Tracks:
    """2D ``Tracks`` (state ``x1, y1, x2, y2, vx, vy``) from ``(track_id, box)`` rows."""
    n = len(rows)
    state = np.array([[*box, 0.0, 0.0] for _, box in rows], np.float32).reshape(n, 6)
    return Tracks(stamp_ns=round(t_s * S), frame_id=frame_id,
                  track_id=np.array([r[0] for r in rows], np.int64),
                  class_id=np.full(n, class_id, np.int32), confidence=np.ones(n, np.float32), state=state,
                  age=np.full(n, age, np.int32), status=np.full(n, TrackStatus.CONFIRMED, np.uint8),
                  sensors=np.ones(n, np.uint32), state_fields=("x1", "y1", "x2", "y2", "vx", "vy"),
                  class_names=CLASSES)


Path = Callable[[float], tuple[float, float] | tuple[float, float, dict[str, Any]] | None]


def timeline(paths: dict[int, Path], t_end: float, dt: float = 0.1, t0: float = 0.0,
             covariance: bool = False) -> list[Tracks]:
    """3D Tracks every ``dt`` from ``t0`` to ``t_end``; ``paths[id](t)`` gives the position (and
    extras) of a track at ``t``, or None while it is absent."""
    out = []
    for k in range(round((t_end - t0) / dt) + 1):
        t = t0 + k * dt
        rows = []
        for tid, path in paths.items():
            p = path(t)
            if p is not None:
                rows.append((tid, *p))
        out.append(tracks_3d(t, rows, covariance=covariance))
    return out


def straight(start: tuple[float, float], velocity: tuple[float, float], t_from: float = 0.0,
             t_to: float = 1e9, **extra: Any) -> Path:
    """A track moving from ``start`` at ``velocity`` between ``t_from`` and ``t_to``."""
    def at(t: float) -> tuple[float, float, dict[str, Any]] | None:
        if not t_from - 1e-9 <= t <= t_to + 1e-9:
            return None
        return start[0] + velocity[0] * (t - t_from), start[1] + velocity[1] * (t - t_from), extra
    return at


def scene(rules: list[dict[str, Any]], zones: dict[str, Any] | None = None,
          lines: dict[str, Any] | None = None, **top: Any) -> Scene:
    """A ground-frame scene ``test`` with the given rules, zones and lines."""
    return scene_from_dict({"name": "test", "camera": "cam", "frame": "ground", "zones": zones or {},
                            "lines": lines or {}, "rules": rules, **top})


def run(engine: EventEngine, messages: Iterable[Tracks]) -> list[Event]:
    """Every event the engine emits over ``messages``."""
    return [e for m in messages for e in engine.update(m)]


def starts(events: Iterable[Event]) -> list[Event]:
    return [e for e in events if e.phase == "start"]


SQUARE = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]
