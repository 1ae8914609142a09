"""Centre-distance recall of the lidar object extractor on KITTI-object-style samples.

A labelled object is *found* when a detection's centre lies within ``max_dist`` (default 1 m,
3D distance) of the label's geometric centre, both in the lidar frame: labels are moved from
the rectified camera frame with the sample's calibration (:mod:`sensors.datasets.kitti_object`;
KITTI's label location is the bottom centre, raised by h/2). Only labels within ``max_range``
(ground-plane distance from the lidar) count. The *labelled region* is what the annotators saw:
the camera image (``image_2``) and ``max_range``; a detection there whose centre is more than
``max_dist`` from every label (of any type) is *false*. Three scores per sample:

* ``target``: the labels of the target types (default ``Car``), any detection;
* ``target_as_class``: the same labels, only detections guessed as the target class
  (``false`` = detections of that class near no label);
* ``objects``: every label (all types but ``DontCare``), any detection.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perception.lidar.base import CentreScore, score_centres
from perception.lidar.extractor import LidarObjectExtractor
from sensors.datasets.kitti_object import ObjectSample, list_samples, load_object_sample
from sensors.lidar import load_kitti_bin

__all__ = ["LidarSampleEval", "evaluate_roots", "evaluate_sample", "total"]

MATCH_DIST_M = 1.0
MAX_RANGE_M = 30.0


@dataclass(frozen=True)
class LidarSampleEval:
    """Scores of one sample (see the module docstring); ``seconds``: time of ``extract``."""

    sample: str
    target: CentreScore
    target_as_class: CentreScore
    objects: CentreScore
    seconds: float


def evaluate_sample(extractor: LidarObjectExtractor, sample: ObjectSample, target: Sequence[str] = ("Car",),
                    target_class: str = "Car", max_range: float = MAX_RANGE_M,
                    max_dist: float = MATCH_DIST_M, name: str = "") -> LidarSampleEval:
    """Run ``extractor`` on the sample's scan and score it against its labels (``name`` default: its id)."""
    points = load_kitti_bin(sample.points_path)
    t0 = time.perf_counter()
    dets = extractor.extract(points, frame_id="lidar")
    seconds = time.perf_counter() - t0
    keep = sample.labels.boxes.class_id >= 0
    centre, _, _ = sample.labels_in_sensor()
    types = np.array(sample.labels.types, dtype=object)[keep]
    near = np.hypot(centre[:, 0], centre[:, 1]) <= max_range
    det_c = dets.centre.astype(np.float64)
    region = (np.hypot(det_c[:, 0], det_c[:, 1]) <= max_range) & sample.in_image(det_c, sample.image_size())
    is_target = near & np.isin(types, list(target))
    as_class = dets.class_id == dets.class_names.index(target_class) if target_class in dets.class_names \
        else np.zeros(len(dets), bool)
    name = name or sample.sample_id
    return LidarSampleEval(
        sample=name,
        target=score_centres(name, det_c, region, centre, is_target, max_dist),
        target_as_class=score_centres(name, det_c[as_class], region[as_class], centre, is_target, max_dist),
        objects=score_centres(name, det_c, region, centre, near, max_dist),
        seconds=seconds)


def evaluate_roots(extractor: LidarObjectExtractor, roots: Mapping[str, Path],
                   **kwargs: Any) -> list[LidarSampleEval]:
    """:func:`evaluate_sample` on every sample of every KITTI-object-style ``training`` root, in
    order; samples are named ``<key>/<id>``."""
    return [evaluate_sample(extractor, load_object_sample(root, sid), name=f"{key}/{sid}", **kwargs)
            for key, root in roots.items() for sid in list_samples(root)]


def total(results: Sequence[LidarSampleEval]) -> LidarSampleEval:
    """The sums of ``results``' scores and times."""
    empty = CentreScore("total", 0, 0, 0, 0)
    return LidarSampleEval(
        sample="total",
        target=sum((r.target for r in results), empty),
        target_as_class=sum((r.target_as_class for r in results), empty),
        objects=sum((r.objects for r in results), empty),
        seconds=sum(r.seconds for r in results))
