"""Configuration of the fusion tracker: per-class and per-sensor sections, loadable from YAML.

A YAML file (``configs/kitti-fusion3d.yaml``) holds one mapping with the keys of
:class:`FusionTrackerConfig`; ``classes`` maps a class name (as in the detections'
``class_names``) to a :class:`ClassConfig`, ``sensors`` maps a sensor name (the fusion node's
input name) to a :class:`SensorConfig`. Classes and sensors not listed use ``default_class`` and
a box sensor with default noise. :func:`load_fusion_config` validates the file and names the key
of any error (``kitti-fusion3d.yaml: classes.Car.min_hits: expected an integer, got 'x'``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fusion.errors import TrackingError
from fusion.geometry3d import VERTICAL_AXES
from fusion.measurements import BearingNoise, BoxNoise, RadarNoise
from fusion.motion_world import MotionNoise
from percept.config import build, load_yaml
from percept.errors import ConfigError

ASSIGNMENTS = ("hungarian", "greedy")
COSTS = ("giou3d", "iou3d", "centre")
SENSOR_KINDS = ("box", "radar", "camera")
CONFIDENCES = ("mean", "latest")


def _finite(owner: str, name: str, value: float, low: float = 0.0) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= low):
        raise TrackingError(f"{owner}.{name}: expected a finite number >= {low:g}, got {value!r}")


@dataclass(frozen=True)
class ClassConfig:
    """Tracking settings of one object class.

    Attributes:
        motion: motion model and process noise.
        cost: association cost of box measurements: ``giou3d`` (``1 - GIoU``), ``iou3d``
            (``1 - IoU``) or ``centre`` (centre distance, metres).
        match_thresh: largest cost of a match (1.2 accepts GIoU > -0.2).
        assignment: ``hungarian`` (optimal) or ``greedy`` (cheapest pair first).
        gate_probability: Mahalanobis gate on the box centre (chi-square quantile of 3 degrees at
            this probability); 0 disables it.
        max_dist_m: pairs with centres farther apart never match (and are not clipped).
        min_hits: box matches that confirm a track (its birth counts).
        max_age_s: a track unmatched by boxes for longer than this (seconds) is removed.
        report_coasting_s: confirmed tracks unmatched for at most this long are still reported.
        init_min_score: lowest detection score that starts a track.
        confidence: the detection scores a track's confidence follows: ``mean`` (of all matched)
            or ``latest`` (the last matched, so that an evaluation averaging a track's reported
            confidences gets the mean detection score over its reported frames).
        confidence_hits: the confidence is ``(s - score_floor) * n / (n + confidence_hits)`` with
            ``n`` the box matches: tracks with few matches rank lower (0 disables the factor).
        score_floor: the lowest score the detector emits (0 for probabilities; about -1 for
            PointRCNN's logits), so that the factor shrinks every confidence towards it.
    """

    motion: MotionNoise = field(default_factory=MotionNoise)
    cost: Literal["giou3d", "iou3d", "centre"] = "giou3d"
    match_thresh: float = 1.2
    assignment: Literal["hungarian", "greedy"] = "hungarian"
    gate_probability: float = 0.0
    max_dist_m: float = 10.0
    min_hits: int = 3
    max_age_s: float = 0.15
    report_coasting_s: float = 0.15
    init_min_score: float = -math.inf
    confidence: Literal["mean", "latest"] = "mean"
    confidence_hits: float = 0.0
    score_floor: float = 0.0

    def __post_init__(self) -> None:
        if self.cost not in COSTS:
            raise TrackingError(f"ClassConfig.cost: expected one of {COSTS}, got {self.cost!r}")
        if self.assignment not in ASSIGNMENTS:
            raise TrackingError(
                f"ClassConfig.assignment: expected one of {ASSIGNMENTS}, got {self.assignment!r}"
            )
        for name in ("match_thresh", "max_age_s", "report_coasting_s"):
            _finite("ClassConfig", name, getattr(self, name))
        _finite("ClassConfig", "max_dist_m", self.max_dist_m, 1e-9)
        if not 0 <= self.gate_probability < 1:
            raise TrackingError(
                f"ClassConfig.gate_probability: expected 0 <= p < 1, got {self.gate_probability!r}"
            )
        if self.min_hits < 1:
            raise TrackingError(f"ClassConfig.min_hits: expected >= 1, got {self.min_hits!r}")
        if math.isnan(self.init_min_score):
            raise TrackingError("ClassConfig.init_min_score: expected a number, got NaN")
        if self.confidence not in CONFIDENCES:
            raise TrackingError(
                f"ClassConfig.confidence: expected one of {CONFIDENCES}, got {self.confidence!r}"
            )
        _finite("ClassConfig", "confidence_hits", self.confidence_hits)
        _finite("ClassConfig", "score_floor", self.score_floor, -math.inf)


@dataclass(frozen=True)
class SensorConfig:
    """One input sensor.

    Attributes:
        kind: ``box`` (Detections3D boxes), ``radar`` (RadarScan targets or radar Detections3D
            positions with velocity) or ``camera`` (Detections2D box centres as bearings).
        box, radar, camera: the noise of that kind's measurement.
        initiates: whether unmatched measurements start tracks (box sensors only).
        latency_s: how long the reorder buffer holds this sensor's measurements (seconds after
            their stamp, on the node clock) before processing them in stamp order.
        range_rate_compensated: radar range rates are already ego-motion compensated.
        intrinsics: camera ``fx, fy, cx, cy`` in pixels (camera sensors only).
        gate_probability: Mahalanobis gate of radar and camera measurements (chi-square quantile).
        vertical: the vertical axis of the sensor's box frame, ``"z"`` (z up) or ``"y"`` (KITTI
            camera, y down): how box headings are read.
    """

    kind: Literal["box", "radar", "camera"] = "box"
    box: BoxNoise = field(default_factory=BoxNoise)
    radar: RadarNoise = field(default_factory=RadarNoise)
    camera: BearingNoise = field(default_factory=BearingNoise)
    initiates: bool = True
    latency_s: float = 0.0
    range_rate_compensated: bool = False
    intrinsics: tuple[float, ...] = ()
    gate_probability: float = 0.99
    vertical: Literal["y", "z"] = "z"

    def __post_init__(self) -> None:
        if self.vertical not in VERTICAL_AXES:
            raise TrackingError(
                f"SensorConfig.vertical: expected one of {VERTICAL_AXES}, got {self.vertical!r}"
            )
        if self.kind not in SENSOR_KINDS:
            raise TrackingError(f"SensorConfig.kind: expected one of {SENSOR_KINDS}, got {self.kind!r}")
        _finite("SensorConfig", "latency_s", self.latency_s)
        if self.kind == "camera" and (len(self.intrinsics) != 4 or min(self.intrinsics[:2]) <= 0):
            raise TrackingError(
                f"SensorConfig.intrinsics: a camera needs fx, fy, cx, cy with fx, fy > 0, "
                f"got {list(self.intrinsics)}"
            )
        if not 0 < self.gate_probability < 1:
            raise TrackingError(
                f"SensorConfig.gate_probability: expected 0 < p < 1, got {self.gate_probability!r}"
            )


@dataclass(frozen=True)
class FusionTrackerConfig:
    """The fusion tracker's settings (one configuration for every sequence).

    Attributes:
        fixed_frame: the frame tracks live in (z up), the ``frame_id`` of the ego poses.
        ego_frame: the moving frame the poses locate; sensor frames hang below it in the tree.
        classes: per-class settings by class name; others use ``default_class``.
        default_class: settings of a class not in ``classes``.
        sensors: per-sensor settings by sensor name; others are box sensors with default noise.
        confirm_early: report tracks as confirmed during the first ``min_hits`` frames of a stream
            (AB3DMOT's rule).
        max_extrapolation_s: how far a measurement's stamp may lie outside the ego poses.
    """

    fixed_frame: str = "world"
    ego_frame: str = "ego"
    classes: dict[str, ClassConfig] = field(default_factory=dict)
    default_class: ClassConfig = field(default_factory=ClassConfig)
    sensors: dict[str, SensorConfig] = field(default_factory=dict)
    confirm_early: bool = True
    max_extrapolation_s: float = 0.2

    def __post_init__(self) -> None:
        if not self.fixed_frame or not self.ego_frame or self.fixed_frame == self.ego_frame:
            raise TrackingError(
                f"FusionTrackerConfig: fixed_frame {self.fixed_frame!r} and ego_frame "
                f"{self.ego_frame!r} must be two different non-empty names"
            )
        _finite("FusionTrackerConfig", "max_extrapolation_s", self.max_extrapolation_s)
        if len(self.sensors) > 32:
            raise TrackingError(
                f"FusionTrackerConfig.sensors: at most 32 (uint32 mask), got {len(self.sensors)}"
            )

    def for_class(self, name: str) -> ClassConfig:
        """The settings of class ``name``."""
        return self.classes.get(name, self.default_class)

    def for_sensor(self, name: str) -> SensorConfig:
        """The settings of sensor ``name``."""
        return self.sensors.get(name) or SensorConfig()


def load_fusion_config(path: str | Path) -> FusionTrackerConfig:
    """Read and validate a fusion tracker YAML file; errors name the file and key."""
    p = Path(path)
    data = load_yaml(p)
    try:
        return build(FusionTrackerConfig, data, p.name)
    except TrackingError as exc:
        raise ConfigError(f"{p.name}: {exc}") from exc
