"""ByteTrack-style 2D multi-object tracker of image boxes, time-aware.

Per frame (:meth:`Tracker2D.update`): drop invalid boxes, predict every track to the frame's
stamp, then associate in three stages -- (1) high-score detections vs CONFIRMED and LOST tracks,
(2) low-score detections vs the CONFIRMED tracks left, (3) the high-score detections left vs
TENTATIVE tracks -- then age the unmatched tracks and start new ones from unmatched detections
scoring at least ``new_track_thresh``.

Input policy:
    * Boxes with a NaN/inf coordinate or score, or a non-positive width/height, are dropped and
      counted in ``stats.dropped_invalid`` (never tracked); boxes under ``min_box_area`` pixels²
      are dropped and counted in ``stats.dropped_small``.
    * Stamps: a frame OLDER than the last accepted one is dropped whole (no track changes),
      counted in ``stats.out_of_order`` and answered with zero rows. A frame with the SAME stamp is
      processed with dt = 0 (no motion prediction; tracks still age by one frame).

Detection scores: MOT15 ``det.txt`` (Faster R-CNN, as used by SORT) holds scores in [0.5, 1.0]
(already cut at 0.5; median about 0.97), so the defaults ``track_high = 0.7`` /
``new_track_thresh = 0.8`` sit inside that range and ``track_low = 0.1`` admits every remaining
box to the second stage. The values were chosen once for all MOT15 sequences (no per-sequence
tuning); for a detector scoring in [0, 1] they are close to ByteTrack's usual 0.6 / 0.7.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from fusion.association import assign, cost_matrix
from fusion.cmc import estimate_camera_motion
from fusion.errors import TrackingError
from fusion.lifecycle import IdCounter, LifecycleConfig, Track, TrackState, initiate, mark_missed, reported
from fusion.motion import BoxMotion, BoxMotionConfig
from percept.counters import Counters
from percept.detections import Detections

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tracker2DConfig:
    """The tracker's settings; the defaults are the one configuration used for every sequence.

    Attributes:
        track_high: detections scoring >= this enter stage 1 (and may start tracks).
        track_low: detections scoring in [track_low, track_high) enter stage 2; lower ones are ignored.
        new_track_thresh: minimum score of an unmatched detection to start a track.
        match_thresh: stage-1 gate on the cost (1 - IoU, times score when ``fuse_score``).
        low_match_thresh: stage-2 gate on 1 - IoU.
        tentative_match_thresh: stage-3 gate on 1 - IoU.
        fuse_score: stage-1 cost is ``1 - IoU * score`` (ByteTrack's score fusion).
        cost: geometric cost kind: 'iou', 'giou' or 'centre'.
        class_agnostic: associate across classes (a track still keeps its birth class).
        min_box_area: boxes smaller than this (pixels²) are dropped.
        cmc: camera-motion compensation on ``image``: 'none', 'sparse' (LK optical flow) or 'ecc'.
        lifecycle: confirmation and removal rules; motion: Kalman noise.
    """

    track_high: float = 0.7
    track_low: float = 0.1
    new_track_thresh: float = 0.8
    match_thresh: float = 0.8
    low_match_thresh: float = 0.5
    tentative_match_thresh: float = 0.7
    fuse_score: bool = True
    cost: str = "iou"
    class_agnostic: bool = False
    min_box_area: float = 10.0
    cmc: str = "none"
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    motion: BoxMotionConfig = field(default_factory=BoxMotionConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.track_low <= self.track_high:
            raise TrackingError(f"Tracker2DConfig: need 0 <= track_low <= track_high, "
                                f"got {self.track_low}, {self.track_high}")
        if self.cmc not in ("none", "sparse", "ecc"):
            raise TrackingError(f"Tracker2DConfig.cmc: expected 'none', 'sparse' or 'ecc', got {self.cmc!r}")
        if self.cost not in ("iou", "giou", "centre"):
            raise TrackingError(f"Tracker2DConfig.cost: expected 'iou', 'giou' or 'centre', "
                                f"got {self.cost!r}")


class TrackerStats(Counters, ints="frames dropped_invalid dropped_small out_of_order"):
    """Counters: frames processed, boxes dropped (invalid / too small), frames out of order."""


class Tracker2D:
    """Tracks boxes of one image stream. ``ids`` may be shared to keep ids unique across streams."""

    def __init__(self, config: Tracker2DConfig | None = None, ids: IdCounter | None = None) -> None:
        self.config = config or Tracker2DConfig()
        self._shared_ids = ids
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and counters (ids keep increasing: they are never reused)."""
        if not hasattr(self, "ids"):
            self.ids = self._shared_ids or IdCounter()
        self.tracks: list[Track] = []
        self.stats = TrackerStats()
        self.last_stamp_ns: int | None = None
        self._prev_gray: np.ndarray | None = None

    def update(self, detections: Detections, stamp_ns: int, image: np.ndarray | None = None) -> Detections:
        """Process one frame; return the CONFIRMED tracks matched in it (state boxes, track_id set)."""
        if self.last_stamp_ns is not None and stamp_ns < self.last_stamp_ns:
            self.stats.out_of_order += 1
            log.warning("frame at %d ns older than last %d ns: dropped", stamp_ns, self.last_stamp_ns)
            return Detections.empty(with_track_id=True)
        first = self.last_stamp_ns is None
        dt_s = 0.0 if first else (stamp_ns - self.last_stamp_ns) * 1e-9
        self.last_stamp_ns = stamp_ns
        self.stats.frames += 1
        dets = self._valid(detections)
        for t in self.tracks:
            t.predict(dt_s)
        self._compensate(image)
        cfg = self.config
        high = np.flatnonzero(dets.confidence >= cfg.track_high)
        low = np.flatnonzero((dets.confidence >= cfg.track_low) & (dets.confidence < cfg.track_high))
        pool = [t for t in self.tracks if t.state in (TrackState.CONFIRMED, TrackState.LOST)]
        tentative = [t for t in self.tracks if t.state == TrackState.TENTATIVE]
        left_tracks, high = self._match(pool, dets, high, cfg.match_thresh, stamp_ns, cfg.fuse_score)
        left_confirmed = [t for t in left_tracks if t.state == TrackState.CONFIRMED]
        self._match(left_confirmed, dets, low, cfg.low_match_thresh, stamp_ns, False)
        _, high = self._match(tentative, dets, high, cfg.tentative_match_thresh, stamp_ns, False)
        for t in self.tracks:
            if not t.updated:
                mark_missed(t, stamp_ns, cfg.lifecycle)
        self.tracks = [t for t in self.tracks if t.state != TrackState.REMOVED]
        for i in high[dets.confidence[high] >= cfg.new_track_thresh]:
            motion = BoxMotion(dets.xyxy[i], cfg.motion)
            self.tracks.append(initiate(self.ids, motion, dets.confidence[i], dets.class_id[i],
                                        stamp_ns, first, cfg.lifecycle))
        return self._output()

    def _valid(self, dets: Detections) -> Detections:
        """Drop (and count) invalid and too-small boxes."""
        xyxy = dets.xyxy.astype(np.float64)
        wh = xyxy[:, 2:] - xyxy[:, :2]
        ok = np.isfinite(xyxy).all(axis=1) & np.isfinite(dets.confidence) & (wh > 0).all(axis=1)
        self.stats.dropped_invalid += int((~ok).sum())
        big = ok & (np.where(ok, wh[:, 0] * wh[:, 1], 0) >= self.config.min_box_area)
        self.stats.dropped_small += int((ok & ~big).sum())
        if (~ok).any():
            log.debug("dropped %d invalid boxes", int((~ok).sum()))
        return dets[np.flatnonzero(big)]

    def _match(self, tracks: list[Track], dets: Detections, idx: np.ndarray, thresh: float,
               stamp_ns: int, fuse: bool) -> tuple[list[Track], np.ndarray]:
        """Assign ``dets[idx]`` to ``tracks``, update matched tracks; return those left unmatched."""
        if not tracks or len(idx) == 0:
            return tracks, idx
        boxes = np.array([t.box for t in tracks])
        cost = cost_matrix(self.config.cost, boxes, dets.xyxy[idx])
        if fuse:
            cost = 1.0 - (1.0 - cost) * dets.confidence[idx][None, :]
        infeasible = None
        if not self.config.class_agnostic:
            classes = np.array([t.class_id for t in tracks])
            infeasible = classes[:, None] != dets.class_id[idx][None, :]
        result = assign(cost, thresh, infeasible)
        for r, c in result.matches:
            d = idx[c]
            tracks[r].update(dets.xyxy[d], dets.confidence[d], stamp_ns, self.config.lifecycle)
        return [tracks[r] for r in result.unmatched_rows], idx[result.unmatched_cols]

    def _compensate(self, image: np.ndarray | None) -> None:
        """Shift tracks by the camera motion estimated between the previous and this image."""
        if self.config.cmc == "none" or image is None:
            return
        affine, self._prev_gray = estimate_camera_motion(self._prev_gray, image, self.config.cmc)
        if affine is not None:
            for t in self.tracks:
                t.motion.shift(affine)

    def _output(self) -> Detections:
        out = reported(self.tracks)
        if not out:
            return Detections.empty(with_track_id=True)
        return Detections(xyxy=np.array([t.box for t in out], np.float32),
                          confidence=np.array([t.confidence for t in out], np.float32),
                          class_id=np.array([t.class_id for t in out], np.int32),
                          track_id=np.array([t.id for t in out], np.int64))


class MultiStreamTracker:
    """One :class:`Tracker2D` per stream key (e.g. camera ``frame_id``), same config, ids unique
    across all streams."""

    def __init__(self, config: Tracker2DConfig | None = None) -> None:
        self.config = config or Tracker2DConfig()
        self.ids = IdCounter()
        self.trackers: dict[str, Tracker2D] = {}

    def tracker(self, key: str) -> Tracker2D:
        """The tracker of stream ``key`` (created on first use)."""
        if key not in self.trackers:
            self.trackers[key] = Tracker2D(self.config, self.ids)
        return self.trackers[key]

    def update(self, key: str, detections: Detections, stamp_ns: int,
               image: np.ndarray | None = None) -> Detections:
        """:meth:`Tracker2D.update` on stream ``key``."""
        return self.tracker(key).update(detections, stamp_ns, image)

