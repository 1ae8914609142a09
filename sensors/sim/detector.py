"""A simulated 2D object detector working on a camera's ground-truth view.

Per visible actor the detector misses with probability
``miss_base + miss_occlusion * (1 - visible) + miss_distance * (depth / max_range_m) ** 2``
(clipped to [0, 1]); hits get the amodal ground-truth box (pixels of the camera) with Gaussian
corner noise of ``box_noise_frac * box size + box_noise_px`` pixels; a Poisson number of false
positives is added. Latency is ``latency_ms`` plus Gaussian jitter.
"""

from __future__ import annotations

import numpy as np

from percept.detections import Detections
from sensors.sim.camera import CameraView
from sensors.sim.classes import CLASSES
from sensors.sim.scenario import DetectorSpec
from sensors.sim.world import WorldState

MIN_BOX_PX = 2.0


def miss_probability(spec: DetectorSpec, visible: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(M,) probability of missing actors with visible fractions (M,) at depths (M,) metres."""
    p = (spec.miss_base + spec.miss_occlusion * (1.0 - visible)
         + spec.miss_distance * (depth / spec.max_range_m) ** 2)
    return np.clip(p, 0.0, 1.0)


def gt_boxes(state: WorldState, view: CameraView) -> Detections:
    """Ground-truth 2D boxes of all (even partly) visible actors: amodal boxes clipped to the
    image, ``confidence`` = visible fraction, with ``track_id``."""
    wh = view.xyxy[:, 2:] - view.xyxy[:, :2]
    keep = (view.visible > 0) & np.all(wh >= MIN_BOX_PX, axis=1)
    idx = view.index[keep]
    return Detections(xyxy=view.xyxy[keep], confidence=view.visible[keep].astype(np.float32),
                      class_id=state.class_id[idx], track_id=state.track_id[idx])


class SimDetector:
    """Draws detections of one camera from its view; all randomness from ``rng``."""

    def __init__(self, spec: DetectorSpec, width: int, height: int, rng: np.random.Generator) -> None:
        self.spec = spec
        self.size = (width, height)
        self.rng = rng

    def detect(self, state: WorldState, view: CameraView) -> tuple[Detections, int]:
        """(detections, latency_ns) for one frame."""
        s, rng = self.spec, self.rng
        w, h = self.size
        box_wh = view.xyxy[:, 2:] - view.xyxy[:, :2]
        cand = ((view.visible >= s.min_visible) & (view.depth <= s.max_range_m)
                & np.all(box_wh >= MIN_BOX_PX, axis=1))
        p_miss = miss_probability(s, view.visible, view.depth)
        draws = rng.random(len(view.index))
        hit = cand & (draws >= p_miss)
        boxes = view.xyxy[hit].astype(np.float64)
        sigma = s.box_noise_frac * np.repeat(box_wh[hit], 2, axis=0).reshape(-1, 4) + s.box_noise_px
        boxes = boxes + rng.standard_normal(boxes.shape) * sigma
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w - 1)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h - 1)
        boxes[:, 2] = np.maximum(boxes[:, 2], boxes[:, 0] + 1.0)
        boxes[:, 3] = np.maximum(boxes[:, 3], boxes[:, 1] + 1.0)
        vis, depth = view.visible[hit], view.depth[hit]
        conf = np.clip(0.35 + 0.6 * vis * (1.0 - 0.5 * depth / s.max_range_m)
                       + 0.05 * rng.standard_normal(len(vis)), 0.05, 0.99)
        cls = state.class_id[view.index[hit]]
        n_fp = int(rng.poisson(s.false_positives_per_frame))
        fp_wh = rng.uniform(10, 80, size=(n_fp, 2))
        fp_c = np.stack([rng.uniform(0, w, n_fp), rng.uniform(h / 3, h, n_fp)], axis=1)
        fp = np.concatenate([fp_c - fp_wh / 2, fp_c + fp_wh / 2], axis=1)
        fp[:, [0, 2]] = np.clip(fp[:, [0, 2]], 0, w - 1)
        fp[:, [1, 3]] = np.clip(fp[:, [1, 3]], 0, h - 1)
        fp_cls = rng.choice([CLASSES["car"].class_id, CLASSES["pedestrian"].class_id], size=n_fp)
        dets = Detections(
            xyxy=np.concatenate([boxes, fp]).astype(np.float32),
            confidence=np.concatenate([conf, rng.uniform(0.3, 0.6, n_fp)]).astype(np.float32),
            class_id=np.concatenate([cls, fp_cls]).astype(np.int32),
        )
        latency_ms = max(1.0, s.latency_ms + s.latency_jitter_ms * float(rng.standard_normal()))
        return dets, round(latency_ms * 1e6)
