"""The learned normal-motion model of a scene: per-cell distributions of track speed and occupancy.

A camera's image is cut into a ``columns x rows`` grid. For every observation of a track of a
*normal* class (``person`` on a walkway) the model counts, in the cell of the track's box centre,

* the track's **speed normalised by its box height**, in heights per second (h/s, a unit free of
  the camera's distance to the object: a walker covers about 0.3-0.8 of its own height per
  second whatever its size in pixels), as a histogram over log speed (:data:`SPEED_EDGES`);
* the **occupancy**: how many observations fell in the cell.

Fitted offline from normal logs (``percept anomaly fit``), or from the scene itself (a robust
statistic: a whole video that is mostly normal, or online with a warm-up), it answers how unusual
a speed is at a place: :meth:`NormalMotionModel.speed_z` is the robust z of the speed,
``(log speed - median) / sigma`` with sigma from the interquartile range, under the cell's
distribution (shrunk toward the whole scene's with ``prior_count`` pseudo-observations, so sparse
cells borrow from the scene; z = 3: three robust sigmas faster than usual there). Positions are
normalised image coordinates in [0, 1] (x right, y down); speeds in h/s.

:class:`TrackFeatures` turns a stream of ``percept.messages.Tracks`` (2D image tracks, state
fields ``x1, y1, x2, y2`` in pixels) into per-track observations (centre, height, speed,
confidence) that fitting and scoring (:mod:`events.normal_score`) share.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from events.errors import EventsError
from percept.messages import Tracks, TrackStatus

#: Bin edges of the speed histograms, natural log of heights per second (0.01 .. 30 h/s).
SPEED_EDGES: np.ndarray = np.linspace(math.log(0.01), math.log(30.0), 97)
#: Speeds are floored here (h/s) before the log: a standing person is "slow", not -inf.
SPEED_FLOOR = 0.01
MODEL_FORMAT = "percept.normal_motion/1"
#: Interquartile range of a standard normal, in sigmas.
IQR_PER_SIGMA = 1.349
#: Floor of a cell's log-speed sigma (a histogram bin's width): a cell of identical speeds does
#: not make the next slightly different one infinitely rare.
MIN_LOG_SIGMA = float(SPEED_EDGES[1] - SPEED_EDGES[0])


@dataclass(frozen=True)
class NormalModelConfig:
    """Settings of a :class:`NormalMotionModel` and of the features it is fitted on.

    Attributes:
        grid: (columns, rows) of cells over the image.
        speed_window_s: a track's speed is its box-centre displacement over the last this many
            seconds of its own measured boxes, divided by the time and its median box height.
        min_track_s: a track contributes a speed only once it has been measured this long.
        prior_count: pseudo-observations of the whole-scene distribution added to every cell.
        classes: class names whose tracks are the scene's normal traffic (what is learned).
    """

    grid: tuple[int, int] = (8, 6)
    speed_window_s: float = 0.5
    min_track_s: float = 0.3
    prior_count: float = 30.0
    classes: tuple[str, ...] = ("person",)

    def __post_init__(self) -> None:
        if len(self.grid) != 2 or min(self.grid) < 1:
            raise EventsError(f"normal.grid: expected [columns, rows] >= 1, got {list(self.grid)}")
        for name in ("speed_window_s", "min_track_s", "prior_count"):
            if not getattr(self, name) > 0:
                raise EventsError(f"normal.{name}: expected > 0, got {getattr(self, name)}")
        if not self.classes:
            raise EventsError("normal.classes: expected at least one class name")


@dataclass(frozen=True)
class Observation:
    """One measured observation of a track.

    Attributes:
        track_id, class_name, confidence: from the ``Tracks`` row.
        cx, cy: box centre, normalised image coordinates in [0, 1]; height_px: box height, pixels.
        speed: heights per second over the speed window, ``nan`` until the track is old enough.
        measured: the row is a matched (CONFIRMED) update, not a coasting LOST prediction.
        inside: the box overlaps the image. age_s: seconds since the track's first measured box.
        since_measured_s: seconds since the track's last measured box (0 for a measured row).
    """

    track_id: int
    class_name: str
    confidence: float
    cx: float
    cy: float
    height_px: float
    speed: float
    measured: bool
    inside: bool
    age_s: float
    since_measured_s: float


@dataclass
class _History:
    first_ns: int
    boxes: deque[tuple[int, float, float, float]] = field(default_factory=lambda: deque(maxlen=64))


class TrackFeatures:
    """Per-track history of one image stream -> :class:`Observation` per ``Tracks`` row.

    ``image_wh`` is the image size in pixels (positions are normalised by it). Tracks not seen
    for ``forget_s`` seconds are forgotten.
    """

    def __init__(self, config: NormalModelConfig, image_wh: tuple[int, int], forget_s: float = 10.0) -> None:
        if min(image_wh) <= 0:
            raise EventsError(f"image size: expected positive (width, height), got {image_wh}")
        self.config = config
        self.image_wh = (int(image_wh[0]), int(image_wh[1]))
        self.forget_ns = int(forget_s * 1e9)
        self._hist: dict[int, _History] = {}

    def update(self, tracks: Tracks) -> list[Observation]:
        """Observations of every row of ``tracks`` (CONFIRMED rows extend the track's history)."""
        fields = tracks.state_fields
        try:
            cols = [fields.index(n) for n in ("x1", "y1", "x2", "y2")]
        except ValueError:
            raise EventsError(f"Tracks.state_fields: expected image boxes x1, y1, x2, y2, "
                              f"got {fields}") from None
        now = int(tracks.stamp_ns)
        boxes = np.asarray(tracks.state, np.float64)[:, cols]
        w, h = self.image_wh
        out = []
        for row, box in enumerate(boxes):
            tid = int(tracks.track_id[row])
            cid = int(tracks.class_id[row])
            name = tracks.class_names[cid] if 0 <= cid < len(tracks.class_names) else str(cid)
            measured = int(tracks.status[row]) == TrackStatus.CONFIRMED
            cx, cy, bh = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(box[3] - box[1], 1e-3)
            hist = self._hist.setdefault(tid, _History(now))
            if measured:
                hist.boxes.append((now, cx, cy, bh))
            inside = bool(box[2] > 0 and box[0] < w and box[3] > 0 and box[1] < h)
            last_ns = hist.boxes[-1][0] if hist.boxes else hist.first_ns
            out.append(Observation(tid, name, float(tracks.confidence[row]), cx / w, cy / h, bh,
                                   self._speed(hist, now), measured, inside, (now - hist.first_ns) * 1e-9,
                                   (now - last_ns) * 1e-9))
        self._hist = {k: v for k, v in self._hist.items()
                      if v.boxes and now - v.boxes[-1][0] <= self.forget_ns}
        return out

    def _speed(self, hist: _History, now: int) -> float:
        c = self.config
        if not hist.boxes or (hist.boxes[-1][0] - hist.first_ns) * 1e-9 < c.min_track_s:
            return math.nan
        last = hist.boxes[-1]
        start = next((b for b in hist.boxes if (last[0] - b[0]) * 1e-9 <= c.speed_window_s), last)
        dt = (last[0] - start[0]) * 1e-9
        if dt <= 0:
            return math.nan
        height = float(np.median([b[3] for b in hist.boxes]))
        return math.hypot(last[1] - start[1], last[2] - start[2]) / dt / height


class NormalMotionModel:
    """Per-cell histograms of log speed and occupancy counts (see the module docstring)."""

    def __init__(self, config: NormalModelConfig | None = None) -> None:
        self.config = config or NormalModelConfig()
        cols, rows = self.config.grid
        self.speed_counts = np.zeros((rows * cols, len(SPEED_EDGES) - 1), np.float64)
        self.occupancy = np.zeros(rows * cols, np.float64)

    @property
    def n_observations(self) -> int:
        """Observations counted so far."""
        return int(self.occupancy.sum())

    def cell(self, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
        """Cell index of normalised positions (clipped into the grid)."""
        cols, rows = self.config.grid
        i = np.clip((np.asarray(cx) * cols).astype(int), 0, cols - 1)
        j = np.clip((np.asarray(cy) * rows).astype(int), 0, rows - 1)
        return j * cols + i

    def add(self, cx: np.ndarray, cy: np.ndarray, speed: np.ndarray) -> None:
        """Count observations at normalised positions; ``nan`` speeds count toward occupancy only."""
        cells = self.cell(cx, cy)
        np.add.at(self.occupancy, cells, 1.0)
        speed = np.asarray(speed, np.float64)
        ok = np.isfinite(speed)
        np.add.at(self.speed_counts, (cells[ok], _speed_bin(speed[ok])), 1.0)

    def add_observations(self, observations: list[Observation]) -> int:
        """Count the measured observations of normal classes; returns how many were counted."""
        normal = set(self.config.classes)
        rows = [o for o in observations if o.measured and o.class_name in normal]
        if rows:
            self.add(np.array([o.cx for o in rows]), np.array([o.cy for o in rows]),
                     np.array([o.speed for o in rows]))
        return len(rows)

    def speed_z(self, cx: np.ndarray, cy: np.ndarray, speed: np.ndarray) -> np.ndarray:
        """How unusually fast each speed (h/s) is at its position: the robust z of its log under
        the cell's shrunk distribution, ``(log s - median) / (IQR / 1.349)`` (``nan`` where the speed
        is ``nan``, and everywhere while the model has no speed observations)."""
        speed = np.asarray(speed, np.float64)
        scene = self.speed_counts.sum(axis=0)
        if scene.sum() <= 0:  # nothing learned yet (an online model in its warm-up)
            return np.full(speed.shape, np.nan)
        prior = scene / scene.sum() * self.config.prior_count
        cells = self.cell(cx, cy)
        ok = np.isfinite(speed)
        z = np.full(speed.shape, np.nan)
        if ok.any():
            q25, med, q75 = _quantiles(self.speed_counts[cells[ok]] + prior, (0.25, 0.5, 0.75))
            sigma = np.maximum((q75 - q25) / IQR_PER_SIGMA, MIN_LOG_SIGMA)
            z[ok] = (np.log(np.maximum(speed[ok], SPEED_FLOOR)) - med) / sigma
        return z

    def occupancy_ratio(self, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
        """Observations in each position's cell relative to the mean cell (1 = average traffic)."""
        total = self.occupancy.sum()
        if total <= 0:
            raise EventsError("normal-motion model: no observations fitted yet")
        return self.occupancy[self.cell(cx, cy)] / (total / len(self.occupancy))

    def to_dict(self) -> dict[str, object]:
        """A JSON-able description (config, histogram edges, counts)."""
        return {"format": MODEL_FORMAT, "config": asdict(self.config), "speed_edges": SPEED_EDGES.tolist(),
                "speed_counts": self.speed_counts.tolist(), "occupancy": self.occupancy.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, object], where: str = "model") -> NormalMotionModel:
        """The model :meth:`to_dict` described; errors name ``where`` and the key."""
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise EventsError(f"{where}: not a normal-motion model (format {MODEL_FORMAT!r} expected)")
        cfg = dict(data.get("config") or {})  # type: ignore[call-overload]
        try:
            config = NormalModelConfig(grid=tuple(cfg["grid"]), speed_window_s=float(cfg["speed_window_s"]),
                                       min_track_s=float(cfg["min_track_s"]),
                                       prior_count=float(cfg["prior_count"]), classes=tuple(cfg["classes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise EventsError(f"{where}: config: {exc}") from exc
        model = cls(config)
        if not np.allclose(np.asarray(data.get("speed_edges"), np.float64), SPEED_EDGES):
            raise EventsError(f"{where}: speed_edges differ from this version's histogram bins")
        for name in ("speed_counts", "occupancy"):
            arr = np.asarray(data.get(name), np.float64)
            if arr.shape != getattr(model, name).shape or not np.isfinite(arr).all() or (arr < 0).any():
                raise EventsError(f"{where}: {name}: expected non-negative counts of shape "
                                  f"{getattr(model, name).shape}, got {arr.shape}")
            setattr(model, name, arr)
        return model

    def save(self, path: str | Path) -> None:
        """Write the model as JSON."""
        Path(path).write_text(json.dumps(self.to_dict()), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> NormalMotionModel:
        """Read a model :meth:`save` wrote; errors name the file."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise EventsError(f"{p}: cannot read a normal-motion model: {exc}") from exc
        return cls.from_dict(data, str(p))


def _quantiles(counts: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Quantiles (log speed) of histograms ``counts`` (M, bins) over :data:`SPEED_EDGES`, linear
    within a bin; one (M,) array per ``q``."""
    cdf = np.cumsum(counts, axis=1)
    cdf = np.concatenate([np.zeros((len(counts), 1)), cdf / cdf[:, -1:]], axis=1)
    out = []
    for q in qs:
        k = np.clip((cdf < q).sum(axis=1) - 1, 0, counts.shape[1] - 1)
        rows = np.arange(len(counts))
        lo, hi = cdf[rows, k], cdf[rows, k + 1]
        frac = np.where(hi > lo, (q - lo) / np.where(hi > lo, hi - lo, 1.0), 0.5)
        out.append(SPEED_EDGES[k] + frac * (SPEED_EDGES[k + 1] - SPEED_EDGES[k]))
    return out


def _speed_bin(speed: np.ndarray) -> np.ndarray:
    logs = np.log(np.maximum(np.asarray(speed, np.float64), SPEED_FLOOR))
    return np.clip(np.searchsorted(SPEED_EDGES, logs, side="right") - 1, 0, len(SPEED_EDGES) - 2)
