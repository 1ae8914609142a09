"""SORT baseline (Bewley et al. 2016, "Simple Online and Realtime Tracking"), for benchmarks only.

A faithful re-implementation of the reference ``sort.py``: per track a constant-velocity Kalman
filter on ``[u, v, s, r, du, dv, ds]`` (box centre in pixels, area in square pixels, aspect
ratio w/h, and velocities per frame), Hungarian assignment on IoU with a 0.3 gate, tracks deleted
after ``max_age`` frames without a detection and reported once they have ``min_hits``
consecutive hits (or during the first ``min_hits`` frames). The interface matches
``fusion.tracker2d.Tracker2D.update`` so the two can be compared on the same detections; time
stamps are ignored (SORT predicts one step per call).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from fusion.errors import TrackingError
from percept.boxes import box_iou
from percept.detections import Detections


@dataclass(frozen=True)
class SortConfig:
    """SORT parameters (the reference defaults)."""

    max_age: int = 1
    min_hits: int = 3
    iou_threshold: float = 0.3


def _to_z(box: np.ndarray) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] + w / 2, box[1] + h / 2, w * h, w / h])


def _to_box(x: np.ndarray) -> np.ndarray:
    w = np.sqrt(max(x[2] * x[3], 0.0))
    h = x[2] / w if w > 0 else 0.0
    return np.array([x[0] - w / 2, x[1] - h / 2, x[0] + w / 2, x[1] + h / 2])


_F = np.eye(7)
_F[0, 4] = _F[1, 5] = _F[2, 6] = 1.0
_H = np.eye(4, 7)
_R = np.diag([1.0, 1.0, 10.0, 10.0])
_Q = np.diag([1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 0.0001])


class _KalmanBoxTrack:
    """One SORT track: Kalman state x (7,), covariance P (7, 7), as in the reference code."""

    def __init__(self, box: np.ndarray, track_id: int, conf: float, cls: int) -> None:
        self.x = np.zeros(7)
        self.x[:4] = _to_z(box)
        self.P = np.diag([10.0, 10.0, 10.0, 10.0, 10000.0, 10000.0, 10000.0])
        self.id = track_id
        self.conf, self.cls = conf, cls
        self.time_since_update = 0
        self.hits = self.hit_streak = self.age = 0

    def predict(self) -> np.ndarray:
        if self.x[6] + self.x[2] <= 0:
            self.x[6] = 0.0
        self.x = _F @ self.x
        self.P = _F @ self.P @ _F.T + _Q
        self.age += 1
        if self.time_since_update > 0:
            self.hit_streak = 0
        self.time_since_update += 1
        return _to_box(self.x)

    def update(self, box: np.ndarray, conf: float, cls: int) -> None:
        self.time_since_update = 0
        self.hits += 1
        self.hit_streak += 1
        self.conf, self.cls = conf, cls
        y = _to_z(box) - _H @ self.x
        s = _H @ self.P @ _H.T + _R
        k = self.P @ _H.T @ np.linalg.inv(s)
        self.x = self.x + k @ y
        self.P = (np.eye(7) - k @ _H) @ self.P


class SortTracker:
    """SORT with the ``Tracker2D.update`` interface; ids start at 1."""

    def __init__(self, config: SortConfig | None = None) -> None:
        self.config = config or SortConfig()
        if self.config.max_age < 1 or self.config.min_hits < 0:
            raise TrackingError(f"SortConfig: max_age must be >= 1 and min_hits >= 0, got {self.config}")
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; ids restart at 1."""
        self._tracks: list[_KalmanBoxTrack] = []
        self._frame_count = 0
        self._next_id = 1

    def update(self, detections: Detections, stamp_ns: int, image: np.ndarray | None = None) -> Detections:
        """One frame: detections (N rows, xyxy pixels) in, reported tracks (track_id set) out."""
        cfg = self.config
        self._frame_count += 1
        dets = detections.xyxy.astype(np.float64)
        valid = np.all(np.isfinite(dets), axis=1) & (dets[:, 2] > dets[:, 0]) & (dets[:, 3] > dets[:, 1])
        dets, confs, classes = dets[valid], detections.confidence[valid], detections.class_id[valid]

        preds = [t.predict() for t in self._tracks]
        keep = [i for i, p in enumerate(preds) if np.all(np.isfinite(p))]
        self._tracks = [self._tracks[i] for i in keep]
        trks = np.array([preds[i] for i in keep]).reshape(-1, 4)

        matched: list[tuple[int, int]] = []
        unmatched_dets = set(range(len(dets)))
        if len(dets) and len(trks):
            iou = box_iou(dets, trks)
            rows, cols = linear_sum_assignment(-iou)
            for d, t in zip(rows.tolist(), cols.tolist(), strict=True):
                if iou[d, t] >= cfg.iou_threshold:
                    matched.append((d, t))
                    unmatched_dets.discard(d)
        for d, t in matched:
            self._tracks[t].update(dets[d], float(confs[d]), int(classes[d]))
        for d in sorted(unmatched_dets):
            self._tracks.append(_KalmanBoxTrack(dets[d], self._next_id, float(confs[d]), int(classes[d])))
            self._next_id += 1

        boxes, ids, out_conf, out_cls = [], [], [], []
        alive: list[_KalmanBoxTrack] = []
        for t in self._tracks:
            confirmed = t.hit_streak >= cfg.min_hits or self._frame_count <= cfg.min_hits
            if t.time_since_update < 1 and confirmed:
                boxes.append(_to_box(t.x))
                ids.append(t.id)
                out_conf.append(t.conf)
                out_cls.append(t.cls)
            if t.time_since_update <= cfg.max_age:
                alive.append(t)
        self._tracks = alive
        if not boxes:
            return Detections.empty(with_track_id=True)
        return Detections(np.array(boxes, np.float32), np.array(out_conf, np.float32),
                          np.array(out_cls, np.int32), np.array(ids, np.int64))
