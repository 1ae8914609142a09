"""The tracks of one class as columns: batched Kalman state plus lifecycle bookkeeping.

:class:`TrackSet` holds T tracks of one class in the fixed frame: means ``X`` (T, 10) and
covariances ``P`` (T, 10, 10) of :mod:`fusion.motion_world`, and per track its id, box-match
count (``hits``), stamps of birth and last box match (ns), the running sum and count of matched
detection scores and the latest one (the track confidence, :attr:`TrackSet.confidence`, is their
mean or the latest, per the class's ``confidence``), the sensor bitmask and whether it has
been confirmed. Rows are appended at birth and dropped together (:meth:`keep`).

Lifecycle (per class, :class:`~fusion.fusion_config.ClassConfig`): a track is born from an
unmatched box, confirmed once ``hits >= min_hits`` (for good), reported while unmatched for at
most ``report_coasting_s`` and removed when unmatched for longer than ``max_age_s``; with
``merge_iou`` > 0, of two tracks whose boxes overlap that much (3D IoU; two objects cannot) the
one with fewer hits goes (:meth:`merge_duplicates`). Time comparisons allow 1 ms of stamp jitter.
"""

from __future__ import annotations

import numpy as np

from fusion.fusion_config import ClassConfig
from fusion.geometry3d import box_overlaps
from fusion.motion_world import NSTATE, MotionModel

JITTER_NS = 1_000_000


class TrackSet:
    """All tracks of one class (see the module docstring for the columns)."""

    def __init__(self, config: ClassConfig) -> None:
        self.config = config
        self.motion = MotionModel(config.motion)
        self.X = np.zeros((0, NSTATE))
        self.P = np.zeros((0, NSTATE, NSTATE))
        self.ids = np.zeros(0, np.int64)
        self.hits = np.zeros(0, np.int64)
        self.birth_ns = np.zeros(0, np.int64)
        self.last_ns = np.zeros(0, np.int64)
        self.score_sum = np.zeros(0)
        self.score_n = np.zeros(0, np.int64)
        self.last_score = np.zeros(0)
        self.sensors = np.zeros(0, np.uint32)
        self.confirmed = np.zeros(0, bool)

    def __len__(self) -> int:
        return len(self.ids)

    def predict(self, dt_s: float) -> None:
        """Advance every track by ``dt_s`` seconds."""
        self.X, self.P = self.motion.predict(self.X, self.P, dt_s)

    def add(self, ids: np.ndarray, X: np.ndarray, P: np.ndarray, score: np.ndarray, stamp_ns: int,
            sensor_bit: int) -> None:
        """Append new tracks (ids (N,), means (N, 10), covariances (N, 10, 10), scores (N,))."""
        n = len(ids)
        self.X, self.P = np.concatenate([self.X, X]), np.concatenate([self.P, P])
        self.ids = np.concatenate([self.ids, ids])
        self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
        self.birth_ns = np.concatenate([self.birth_ns, np.full(n, stamp_ns, np.int64)])
        self.last_ns = np.concatenate([self.last_ns, np.full(n, stamp_ns, np.int64)])
        self.score_sum = np.concatenate([self.score_sum, np.asarray(score, np.float64)])
        self.score_n = np.concatenate([self.score_n, np.ones(n, np.int64)])
        self.last_score = np.concatenate([self.last_score, np.asarray(score, np.float64)])
        self.sensors = np.concatenate([self.sensors, np.full(n, sensor_bit, np.uint32)])
        self.confirmed = np.concatenate([self.confirmed, np.full(n, self.config.min_hits <= 1)])

    def matched(self, rows: np.ndarray, X: np.ndarray, P: np.ndarray, stamp_ns: int, sensor_bit: int,
                score: np.ndarray | None = None) -> None:
        """Store the corrected state of ``rows``; with box ``score`` (K,) also count hits and scores."""
        self.X[rows], self.P[rows] = X, P
        self.sensors[rows] |= np.uint32(sensor_bit)
        if score is None:
            return
        self.hits[rows] += 1
        self.last_ns[rows] = stamp_ns
        self.score_sum[rows] += score
        self.score_n[rows] += 1
        self.last_score[rows] = score
        self.confirmed[rows] |= self.hits[rows] >= self.config.min_hits

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is True."""
        for name in ("X", "P", "ids", "hits", "birth_ns", "last_ns", "score_sum", "score_n", "last_score",
                     "sensors", "confirmed"):
            setattr(self, name, getattr(self, name)[mask])

    def prune(self, stamp_ns: int) -> int:
        """Remove tracks unmatched for longer than ``max_age_s``; return how many."""
        alive = stamp_ns - self.last_ns <= self.config.max_age_s * 1e9 + JITTER_NS
        self.keep(alive)
        return int((~alive).sum())

    def merge_duplicates(self) -> int:
        """Remove the weaker (fewer hits, then younger) of every pair of tracks whose boxes overlap
        by at least ``merge_iou`` (3D IoU); return how many went."""
        if self.config.merge_iou <= 0 or len(self) < 2:
            return 0
        boxes = (self.X[:, :3], self.X[:, 4:7], self.X[:, 3])
        iou = np.triu(box_overlaps(boxes, boxes, "z", max_dist=float(self.X[:, 4].max())), k=1)
        alive = np.ones(len(self), bool)
        for i, j in zip(*np.nonzero(iou >= self.config.merge_iou), strict=True):
            if alive[i] and alive[j]:
                weaker = j if (self.hits[i], -self.birth_ns[i]) >= (self.hits[j], -self.birth_ns[j]) else i
                alive[weaker] = False
        self.keep(alive)
        return int((~alive).sum())

    def reportable(self, stamp_ns: int, early: bool) -> np.ndarray:
        """(T,) bool: confirmed (or ``early`` in the stream) and matched within ``report_coasting_s``."""
        recent = stamp_ns - self.last_ns <= self.config.report_coasting_s * 1e9 + JITTER_NS
        return recent & (self.confirmed | early)

    @property
    def confidence(self) -> np.ndarray:
        """(T,) ``(s - score_floor) * n / (n + confidence_hits)``: ``s`` the mean (or, with
        ``confidence: latest``, the latest) score of the matched detections, ``n`` their count."""
        c = self.config
        score = self.last_score if c.confidence == "latest" else self.score_sum / np.maximum(self.score_n, 1)
        if c.confidence_hits == 0 and c.score_floor == 0:
            return score
        return (score - c.score_floor) * self.score_n / (self.score_n + c.confidence_hits)
