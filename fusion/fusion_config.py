"""Configuration of the fusion tracker: per-class and per-sensor sections, loadable from YAML.

A YAML file (``configs/trackers/kitti-fusion3d.yaml``) holds one mapping with the keys of
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

from calib.camera import CameraModel
from calib.errors import CalibrationError
from fusion.errors import TrackingError
from fusion.geometry3d import VERTICAL_AXES
from fusion.measurements import REFLECTIONS, BearingNoise, BoxNoise, RadarNoise
from fusion.motion_world import MotionNoise
from percept.config import build, load_yaml
from percept.errors import ConfigError

ASSIGNMENTS = ("hungarian", "greedy")
COSTS = ("giou3d", "iou3d", "centre")
SENSOR_KINDS = ("box", "radar", "camera")
CAMERA_MODELS = ("centre", "box")
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
        gate_probability: Mahalanobis gate of box measurements (chi-square quantile at this
            probability); 0 disables it.
        gate_on: what the box gate compares: ``centre`` (x, y, z; 3 degrees, default noise) or
            ``box`` (all seven box entries with the sensor's noise: a box of the wrong size or
            heading, e.g. two objects merged into one cluster, does not update a track).
        max_dist_m: pairs with centres farther apart never match (and are not clipped).
        min_hits: box matches that confirm a track (its birth counts).
        max_age_s: a track unmatched by boxes for longer than this (seconds) is removed.
        report_coasting_s: confirmed tracks unmatched for at most this long are still reported.
        init_min_score: lowest detection score that starts a track.
        init_size: ``length, width, height`` (m) of a track started by a point sensor (a radar
            target or a camera box, :mod:`fusion.births`), which does not measure the size.
        merge_iou: two tracks whose boxes overlap at least this much (3D IoU) are one object:
            the one with fewer hits is removed (0: never; for sensors that may start an object twice).
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
    gate_on: Literal["centre", "box"] = "centre"
    max_dist_m: float = 10.0
    min_hits: int = 3
    max_age_s: float = 0.15
    report_coasting_s: float = 0.15
    init_min_score: float = -math.inf
    init_size: tuple[float, float, float] = (4.5, 1.8, 1.5)
    merge_iou: float = 0.0
    confidence: Literal["mean", "latest"] = "mean"
    confidence_hits: float = 0.0
    score_floor: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.merge_iou <= 1:
            raise TrackingError(f"ClassConfig.merge_iou: expected 0 <= IoU <= 1, got {self.merge_iou!r}")
        if len(self.init_size) != 3 or not all(math.isfinite(v) and v > 0 for v in self.init_size):
            raise TrackingError(f"ClassConfig.init_size: expected 3 sizes > 0 m, got {list(self.init_size)}")
        if self.gate_on not in ("centre", "box"):
            raise TrackingError(f"ClassConfig.gate_on: expected centre or box, got {self.gate_on!r}")
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
        initiates: whether measurements no track gates start tracks (None: box sensors do, radar
            and camera sensors do not; their births follow :mod:`fusion.births`).
        latency_s: how long the reorder buffer holds this sensor's measurements (seconds after
            their stamp, on the node clock) before processing them in stamp order.
        range_rate_compensated: radar range rates are already ego-motion compensated.
        intrinsics: camera ``fx, fy, cx, cy`` in pixels (camera sensors only).
        gate_probability: Mahalanobis gate of radar and camera measurements (chi-square quantile).
        vertical: the vertical axis of the sensor's box frame, ``"z"`` (z up) or ``"y"`` (KITTI
            camera, y down): how box headings are read.
        class_map: the sensor's class names renamed to tracker classes (names not listed are
            kept; the targets of a raw ``RadarScan`` have the class ``target``).
        reflection: radar sensors: the track point a target measures, ``centre`` or ``nearest``
            (the box point nearest to the radar, :class:`~fusion.measurements.RadarModel`).
        camera_model: camera sensors: ``centre`` (bearing and elevation of the 2D box centre,
            :class:`~fusion.camera_models.BearingModel`) or ``box`` (the four box edges,
            :class:`~fusion.camera_models.CameraBoxModel`).
        distortion: camera sensors: OpenCV distortion coefficients of ``intrinsics`` (pixels are
            undistorted through :class:`calib.camera.CameraModel`).
        image_size: camera sensors: ``width, height`` in pixels; with it, ``box`` measurements
            touching the image border (cut by it) are skipped (counted ``truncated``).
    """

    kind: Literal["box", "radar", "camera"] = "box"
    box: BoxNoise = field(default_factory=BoxNoise)
    radar: RadarNoise = field(default_factory=RadarNoise)
    camera: BearingNoise = field(default_factory=BearingNoise)
    initiates: bool | None = None
    latency_s: float = 0.0
    range_rate_compensated: bool = False
    intrinsics: tuple[float, ...] = ()
    gate_probability: float = 0.99
    vertical: Literal["y", "z"] = "z"
    class_map: dict[str, str] = field(default_factory=dict)
    reflection: Literal["centre", "nearest"] = "centre"
    camera_model: Literal["centre", "box"] = "centre"
    distortion: tuple[float, ...] = ()
    image_size: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self._check_point_sensor()
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
        if self.kind == "camera":
            self.camera_calibration()  # validates intrinsics, distortion and image size together

    def _check_point_sensor(self) -> None:
        if self.reflection not in REFLECTIONS:
            raise TrackingError(
                f"SensorConfig.reflection: expected one of {REFLECTIONS}, got {self.reflection!r}"
            )
        if self.camera_model not in CAMERA_MODELS:
            raise TrackingError(
                f"SensorConfig.camera_model: expected one of {CAMERA_MODELS}, got {self.camera_model!r}"
            )
        if self.kind == "camera" and self.initiates and self.camera_model != "box":
            raise TrackingError("SensorConfig.initiates: a camera starts tracks only with camera_model: box")
        if self.image_size and (len(self.image_size) != 2 or min(self.image_size) <= 0):
            raise TrackingError(
                f"SensorConfig.image_size: expected width, height > 0, got {list(self.image_size)}"
            )

    @property
    def starts_tracks(self) -> bool:
        """Whether this sensor's ungated measurements start tracks (``initiates`` or its default)."""
        return self.kind == "box" if self.initiates is None else bool(self.initiates)

    def camera_calibration(self) -> CameraModel:
        """The camera's :class:`~calib.camera.CameraModel` (camera sensors; without ``image_size``
        the size is that of an image centred on the principal point)."""
        fx, fy, cx, cy = self.intrinsics
        w, h = self.image_size or (max(1, round(2 * cx + 1)), max(1, round(2 * cy + 1)))
        try:
            return CameraModel(int(w), int(h), [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], list(self.distortion))
        except CalibrationError as exc:
            raise TrackingError(f"SensorConfig (camera): {exc}") from exc


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
        ground_z: height of the (flat) ground in the ego frame, metres: point-sensor births
            (:mod:`fusion.births`) stand their boxes on it.
    """

    fixed_frame: str = "world"
    ego_frame: str = "ego"
    classes: dict[str, ClassConfig] = field(default_factory=dict)
    default_class: ClassConfig = field(default_factory=ClassConfig)
    sensors: dict[str, SensorConfig] = field(default_factory=dict)
    confirm_early: bool = True
    max_extrapolation_s: float = 0.2
    ground_z: float = 0.0

    def __post_init__(self) -> None:
        if not self.fixed_frame or not self.ego_frame or self.fixed_frame == self.ego_frame:
            raise TrackingError(
                f"FusionTrackerConfig: fixed_frame {self.fixed_frame!r} and ego_frame "
                f"{self.ego_frame!r} must be two different non-empty names"
            )
        _finite("FusionTrackerConfig", "max_extrapolation_s", self.max_extrapolation_s)
        _finite("FusionTrackerConfig", "ground_z", self.ground_z, -math.inf)
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
