"""Multi-object tracker of oriented 3D boxes (lidar or camera 3D detections), time-aware.

AB3DMOT's recipe (Weng et al. 2020, "3D Multi-Object Tracking: A Baseline and New Evaluation
Metrics") built from this package's parts: a constant-velocity Kalman filter per box
(:class:`~fusion.motion3d.BoxMotion3D`, dt from ``stamp_ns``), a cost of ``1 - GIoU`` of the
predicted and detected 3D boxes (or ``1 - IoU``, or the centre distance in metres), gated and
assigned by the Hungarian method (:func:`~fusion.association.assign`), and the shared lifecycle
(:mod:`fusion.lifecycle`: TENTATIVE until ``n_init`` hits, LOST when missed, REMOVED after
``max_age_s``).

Per frame (:meth:`Tracker3D.update`): drop invalid boxes, predict every track to the frame's
stamp, associate detections with all live tracks (same class unless ``class_agnostic``), age the
unmatched tracks, start new tracks from unmatched detections scoring at least
``new_track_thresh``, and return the CONFIRMED tracks matched in this frame as a ``Tracks``
message in the detections' frame.

Input policy (as :class:`~fusion.tracker2d.Tracker2D`): boxes with a non-finite value or a
non-positive size are dropped and counted (``stats.dropped_invalid``); detections scoring below
``score_thresh`` are ignored (``stats.dropped_low``); a frame older than the last one is dropped
whole (``stats.out_of_order``) and answered with zero rows; a frame in another ``frame_id`` than
the first one raises :class:`~fusion.errors.TrackingError` (boxes of two frames cannot be mixed).

Scores are in the detector's own units: PointRCNN's KITTI detections carry raw classification
logits (about -0.85 to 16), so the defaults keep every detection for association and start
tracks from any of them, as AB3DMOT does, and rely on ``n_init`` to suppress one-frame false
positives.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from fusion.association import assign
from fusion.errors import TrackingError
from fusion.geometry3d import box_overlaps, centre_distance
from fusion.lifecycle import (
    IdCounter,
    LifecycleConfig,
    Track,
    TrackState,
    initiate,
    mark_missed,
    reported,
    tracks_message,
)
from fusion.motion3d import BoxMotion3D, BoxMotion3DConfig
from percept.counters import Counters
from percept.messages import Detections3D, Tracks

log = logging.getLogger(__name__)

#: Columns of ``Tracks.state`` published by the 3D tracker (metres, radians, metres per second).
STATE_FIELDS = ("x", "y", "z", "length", "width", "height", "yaw", "vx", "vy", "vz")
COSTS = ("giou3d", "iou3d", "centre")


def measurements(dets: Detections3D) -> np.ndarray:
    """float64 (N, 7) box measurements ``x y z yaw l w h`` of ``dets`` (metres, radians)."""
    return np.column_stack([dets.centre, dets.yaw, dets.size]).astype(np.float64).reshape(-1, 7)


@dataclass(frozen=True)
class Tracker3DConfig:
    """The 3D tracker's settings (one configuration for every sequence).

    Attributes:
        cost: ``"giou3d"`` (cost ``1 - GIoU``, in [0, 2]), ``"iou3d"`` (``1 - IoU``, in [0, 1]) or
            ``"centre"`` (centre distance, metres).
        match_thresh: the largest cost of a match. The default 1.2 accepts GIoU > -0.2, AB3DMOT's
            KITTI car gate.
        max_dist_m: pairs whose ground-plane centres are farther apart than this never match (and
            are not clipped: the gate that keeps the polygon work small).
        score_thresh: detections scoring below this are ignored.
        new_track_thresh: the lowest score of an unmatched detection that starts a track.
        class_agnostic: associate across classes (a track keeps the class it was born with).
        lifecycle: confirmation and removal; the defaults confirm after 3 hits and keep a missed
            track for 0.25 s (two KITTI frames), as AB3DMOT's car setting.
        motion: Kalman noise and the frame's vertical axis (``"y"`` for KITTI camera frames).
    """

    cost: str = "giou3d"
    match_thresh: float = 1.2
    max_dist_m: float = 10.0
    score_thresh: float = -math.inf
    new_track_thresh: float = -math.inf
    class_agnostic: bool = False
    lifecycle: LifecycleConfig = field(default_factory=lambda: LifecycleConfig(n_init=3, max_age_s=0.25))
    motion: BoxMotion3DConfig = field(default_factory=BoxMotion3DConfig)

    def __post_init__(self) -> None:
        if self.cost not in COSTS:
            raise TrackingError(f"Tracker3DConfig.cost: expected one of {COSTS}, got {self.cost!r}")
        if not (math.isfinite(self.match_thresh) and self.match_thresh >= 0):
            raise TrackingError(f"Tracker3DConfig.match_thresh: expected a finite number >= 0, "
                                f"got {self.match_thresh!r}")
        if not self.max_dist_m > 0:
            raise TrackingError(f"Tracker3DConfig.max_dist_m: expected > 0, got {self.max_dist_m!r}")


class Tracker3DStats(Counters, ints="frames dropped_invalid dropped_low out_of_order"):
    """Counters: frames processed, boxes dropped (invalid / low score), frames out of order."""


class Tracker3D:
    """Tracks the 3D boxes of one stream of ``Detections3D`` messages (one coordinate frame)."""

    def __init__(self, config: Tracker3DConfig | None = None, ids: IdCounter | None = None) -> None:
        self.config = config or Tracker3DConfig()
        self.ids = ids or IdCounter()
        self.tracks: list[Track] = []
        self.stats = Tracker3DStats()
        self.last_stamp_ns: int | None = None
        self.frame_id: str | None = None
        self.class_names: tuple[str, ...] = ()

    def update(self, dets: Detections3D) -> Tracks:
        """Process one frame of detections; return the CONFIRMED tracks matched in it."""
        stamp_ns = dets.stamp_ns
        if self.frame_id is not None and dets.frame_id != self.frame_id:
            raise TrackingError(f"Tracker3D: detections in frame {dets.frame_id!r}, "
                                f"tracks in {self.frame_id!r}")
        if self.last_stamp_ns is not None and stamp_ns < self.last_stamp_ns:
            self.stats.out_of_order += 1
            log.warning("frame at %d ns older than last %d ns: dropped", stamp_ns, self.last_stamp_ns)
            return self.tracks_message(dets, [])
        first = self.last_stamp_ns is None
        dt_s = 0.0 if first else (stamp_ns - self.last_stamp_ns) * 1e-9
        self.last_stamp_ns, self.frame_id = stamp_ns, dets.frame_id
        self.class_names = dets.class_names or self.class_names
        self.stats.frames += 1
        usable = self._valid(dets)
        z, score = measurements(usable), usable.confidence.astype(np.float64)
        cls = usable.class_id.astype(np.int64)
        for t in self.tracks:
            t.predict(dt_s)
        cfg = self.config
        left = self._match(self.tracks, z, score, cls, stamp_ns)
        for t in self.tracks:
            if not t.updated:
                mark_missed(t, stamp_ns, cfg.lifecycle)
        self.tracks = [t for t in self.tracks if t.state != TrackState.REMOVED]
        for i in left[score[left] >= cfg.new_track_thresh]:
            motion = BoxMotion3D(z[i], cfg.motion)
            self.tracks.append(initiate(self.ids, motion, score[i], cls[i], stamp_ns, first, cfg.lifecycle))
        return self.tracks_message(dets, reported(self.tracks))

    def _valid(self, dets: Detections3D) -> Detections3D:
        """The usable rows of ``dets``: finite, positive size, confidence at least ``score_thresh``."""
        z = measurements(dets)
        ok = np.isfinite(z).all(axis=1) & ~np.isnan(dets.confidence) & (z[:, 4:] > 0).all(axis=1)
        high = ok & (dets.confidence >= self.config.score_thresh)
        self.stats.dropped_invalid += int((~ok).sum())
        self.stats.dropped_low += int((ok & ~high).sum())
        if (~ok).any():
            log.debug("dropped %d invalid 3D boxes", int((~ok).sum()))
        return dets[high]

    def cost(self, boxes: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(T, D) association cost of track boxes (T, 7) and detections (D, 7), both ``x y z yaw l w h``."""
        cfg = self.config
        if cfg.cost == "centre":
            return centre_distance(boxes[:, :3], z[:, :3])
        a = (boxes[:, :3], boxes[:, 4:7], boxes[:, 3])
        b = (z[:, :3], z[:, 4:7], z[:, 3])
        generalized = cfg.cost == "giou3d"
        return 1.0 - box_overlaps(a, b, cfg.motion.vertical, generalized, cfg.max_dist_m)

    def _match(self, tracks: list[Track], z: np.ndarray, score: np.ndarray, cls: np.ndarray,
               stamp_ns: int) -> np.ndarray:
        """Assign detections to ``tracks`` and update the matched ones; return unmatched detection rows."""
        rows = np.arange(len(z))
        if not tracks or len(z) == 0:
            return rows
        boxes = np.array([t.box for t in tracks])
        cost = self.cost(boxes, z)
        far = centre_distance(boxes[:, :3], z[:, :3]) > self.config.max_dist_m
        if not self.config.class_agnostic:
            far |= np.array([t.class_id for t in tracks])[:, None] != cls[None, :]
        result = assign(cost, self.config.match_thresh, far)
        for r, c in result.matches:
            tracks[r].update(z[c], score[c], stamp_ns, self.config.lifecycle)
        return rows[result.unmatched_cols]

    def tracks_message(self, dets: Detections3D, tracks: list[Track]) -> Tracks:
        """``tracks`` as a ``Tracks`` message at the stamp and frame of ``dets`` (state: STATE_FIELDS)."""
        state = np.array([[*t.box[:3], *t.box[4:7], t.box[3], *t.velocity] for t in tracks],
                         np.float32).reshape(-1, len(STATE_FIELDS))
        return tracks_message(tracks, state, STATE_FIELDS, stamp_ns=dets.stamp_ns, frame_id=dets.frame_id,
                              seq=dets.seq, class_names=self.class_names)
