"""How many labelled moving objects of View-of-Delft frames the radar clusterer finds.

Per frame: radar targets ``radar/training/velodyne/ID.bin`` (radar frame), labels
``lidar/training/label_2/ID.txt`` (KITTI format, camera frame) moved into the radar frame with
the radar's own calibration ``radar/training/calib/ID.txt`` (its ``Tr_velo_to_cam`` is radar ->
camera), and the annotation attributes ``radar/training/label_2/ID.json``.

*Moving* (the documented rule): the annotators' ``activity`` is ``moving`` or ``pushed`` (a
bicycle walked by hand). A moving label is *found* when a ``moving`` cluster's centre lies within
``max_dist`` (default 2 m) of the label's centre on the ground plane (radar elevation is coarse).
The labelled region is the camera image (labels exist only there); a ``moving`` cluster there
that is farther than ``max_dist`` from every label (any type or activity) is *false*. Scores:

* ``moving``: every moving label;
* ``visible``: moving labels with at least one radar target inside the box grown by
  ``VISIBLE_MARGIN_M`` (the others cannot be found by any radar-only method);
* ``doppler``: labels whose targets inside that grown box have a median ``|v_r_compensated|`` of at
  least ``DOPPLER_MOVING_MPS`` (the alternative rule, from the radar itself, whatever the label says).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.lidar.base import CentreScore, score_centres
from perception.radar.clusterer import RadarObjectClusterer, radar_targets
from perception.radar.config import CLASS_NAMES
from sensors.datasets.kitti_object import list_samples, load_object_sample, read_vod_activity
from sensors.radar import load_vod_radar

__all__ = ["MOVING_ACTIVITIES", "RadarFrameEval", "evaluate_frame", "evaluate_vod", "points_in_boxes",
           "total"]

MOVING_ACTIVITIES: tuple[str, ...] = ("moving", "pushed")
MATCH_DIST_M = 2.0
VISIBLE_MARGIN_M = 0.3
DOPPLER_MOVING_MPS = 0.3
CLASS_MOVING = CLASS_NAMES.index("moving")


@dataclass(frozen=True)
class RadarFrameEval:
    """Scores of one frame (see the module docstring); ``seconds``: time of ``extract``."""

    sample: str
    moving: CentreScore
    visible: CentreScore
    doppler: CentreScore
    seconds: float


def points_in_boxes(points: np.ndarray, centre: np.ndarray, size: np.ndarray, yaw: np.ndarray,
                    margin: float = 0.0) -> np.ndarray:
    """bool (B, N): which of (N, 3) points lie in which of B upright boxes (z-up frame).

    Boxes: ``centre`` (B, 3), ``size`` (B, 3) length/width/height, ``yaw`` (B,) radians; every
    side is moved out by ``margin`` metres.
    """
    d = np.asarray(points, np.float64)[None, :, :3] - np.asarray(centre, np.float64)[:, None, :]
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    along, across = d[..., 0] * c + d[..., 1] * s, -d[..., 0] * s + d[..., 1] * c
    half = np.asarray(size, np.float64)[:, None, :] / 2 + margin
    return ((np.abs(along) <= half[..., 0]) & (np.abs(across) <= half[..., 1])
            & (np.abs(d[..., 2]) <= half[..., 2]))


def evaluate_frame(clusterer: RadarObjectClusterer, vod_root: Path, frame_id: str,
                   max_dist: float = MATCH_DIST_M) -> RadarFrameEval:
    """Cluster one View-of-Delft radar frame and score it against its labels."""
    radar_root, lidar_root = vod_root / "radar" / "training", vod_root / "lidar" / "training"
    sample = load_object_sample(radar_root, frame_id, label_root=lidar_root)
    activity = np.array(read_vod_activity(radar_root / "label_2" / f"{frame_id}.json", sample.labels), object)
    scan = load_vod_radar(sample.points_path, frame_id="radar")
    t0 = time.perf_counter()
    dets = clusterer.extract(scan)
    seconds = time.perf_counter() - t0
    centre, size, yaw = sample.labels_in_sensor()
    targets = radar_targets(scan, clusterer.config.velocity_field)
    inside = points_in_boxes(targets.xyz, centre, size, yaw, VISIBLE_MARGIN_M)
    counts = inside.sum(axis=1)
    speed = np.array([np.median(np.abs(targets.v_r[m])) if m.any() else 0.0 for m in inside])
    moving = np.isin(activity, MOVING_ACTIVITIES)
    image_size = load_object_sample(lidar_root, frame_id).image_size()
    is_moving = dets.class_id == CLASS_MOVING
    det_xy = dets.centre[is_moving, :2].astype(np.float64)
    region = sample.in_image(dets.centre[is_moving].astype(np.float64), image_size)
    lab_xy = centre[:, :2]

    def score(evaluated: np.ndarray) -> CentreScore:
        return score_centres(frame_id, det_xy, region, lab_xy, evaluated, max_dist)

    return RadarFrameEval(sample=frame_id, moving=score(moving), visible=score(moving & (counts > 0)),
                          doppler=score((counts > 0) & (speed >= DOPPLER_MOVING_MPS)), seconds=seconds)


def evaluate_vod(clusterer: RadarObjectClusterer, vod_root: Path, frames: Sequence[str] | None = None,
                 max_dist: float = MATCH_DIST_M) -> list[RadarFrameEval]:
    """:func:`evaluate_frame` on ``frames`` (default: every radar frame under ``vod_root``), in order."""
    ids = list(frames) if frames is not None else list_samples(vod_root / "radar" / "training")
    return [evaluate_frame(clusterer, vod_root, f, max_dist) for f in ids]


def total(results: Sequence[RadarFrameEval]) -> RadarFrameEval:
    """The sums of ``results``' scores and times."""
    empty = CentreScore("total", 0, 0, 0, 0)
    return RadarFrameEval(sample="total", moving=sum((r.moving for r in results), empty),
                          visible=sum((r.visible for r in results), empty),
                          doppler=sum((r.doppler for r in results), empty),
                          seconds=sum(r.seconds for r in results))
