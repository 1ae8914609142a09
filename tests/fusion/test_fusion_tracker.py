"""FusionTracker: ego-motion compensation, box/radar/camera updates, gating, bad input, config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calib.transform import FrameTree, Transform
from fusion.ego import EgoPoses
from fusion.fusion_config import ClassConfig, FusionTrackerConfig, SensorConfig, load_fusion_config
from fusion.fusion_tracker import FusionTracker
from fusion.motion_world import MotionNoise
from percept.detections import Detections
from percept.errors import ConfigError
from percept.messages import Detections2D, Detections3D, RadarScan
from tests.rejects import assert_rejects

STEP = 100_000_000


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _boxes(stamp: int, centres, frame: str = "lidar", yaw=0.0, cls=0) -> Detections3D:
    c = np.asarray(centres, np.float32).reshape(-1, 3)
    n = len(c)
    return Detections3D(
        stamp_ns=stamp,
        frame_id=frame,
        centre=c,
        size=np.tile([4.0, 1.8, 1.5], (n, 1)),
        yaw=np.full(n, yaw),
        class_id=np.full(n, cls),
        confidence=np.full(n, 0.9),
        class_names=("Car",),
    )


def _driving_ego(tree: FrameTree | None = None, speed: float = 10.0, turn: float = 0.05) -> EgoPoses:
    ego = EgoPoses("world", "ego", tree)
    for k in range(60):
        ego.add(k * STEP, Transform(_rot_z(turn * k * 0.1), [speed * k * 0.1, 0.0, 0.0]))
    return ego


def _lidar_tree() -> FrameTree:
    tree = FrameTree()
    tree.add("ego", "lidar", Transform(np.eye(3), [1.0, 0.0, 1.8]))
    return tree


def test_static_object_seen_from_moving_ego_has_near_zero_speed() -> None:
    tree = _lidar_tree()
    ego = _driving_ego(tree)
    tracker = FusionTracker(FusionTrackerConfig(classes={"Car": ClassConfig(min_hits=2)}), ego)
    parked = np.array([40.0, 5.0, 0.75])
    rng = np.random.default_rng(0)
    for k in range(40):
        T_lidar_from_world = ego.fixed_from("lidar", k * STEP).inverse()
        seen = T_lidar_from_world.apply(parked[None]) + rng.normal(0, 0.05, 3)
        out = tracker.update_boxes(_boxes(k * STEP, seen, yaw=-0.05 * k * 0.1), "lidar")
    assert len(out) == 1 and out.frame_id == "world"
    speed = float(np.linalg.norm(out.state[0, 7:9]))
    assert speed < 0.3
    assert np.allclose(out.state[0, :3], parked, atol=0.2)
    ego_out = tracker.in_ego(out)  # the same car, relative to the ego
    expected = ego.fixed_from_ego(out.stamp_ns).inverse().apply(parked[None])[0]
    assert ego_out.frame_id == "ego" and np.allclose(ego_out.state[0, :3], expected, atol=0.2)


@pytest.mark.parametrize("model", ["cv", "ctrv"])
def test_moving_object_velocity_converges(model: str) -> None:
    cfg = FusionTrackerConfig(classes={"Car": ClassConfig(motion=MotionNoise(model=model), min_hits=1)})
    tracker = FusionTracker(cfg)
    for k in range(30):
        out = tracker.update_boxes(
            _boxes(k * STEP, [[5.0 + 8.0 * k * 0.1, 2.0, 0.7]], frame="world"), "lidar"
        )
    assert len(out) == 1
    assert out.state[0, 7] == pytest.approx(8.0, abs=0.3) and abs(out.state[0, 8]) < 0.3
    assert out.covariance is not None and out.covariance.shape == (1, 10, 10)


def test_radar_range_rate_corrects_speed_along_line_of_sight() -> None:
    cfg = FusionTrackerConfig(
        classes={"Car": ClassConfig(min_hits=1)},
        sensors={"lidar": SensorConfig(), "radar": SensorConfig(kind="radar")},
    )
    with_radar, without = FusionTracker(cfg), FusionTracker(cfg)
    for k in range(4):  # too few boxes to know the speed well
        box = _boxes(2 * k * STEP, [[20.0 + 10.0 * 2 * k * 0.1, 0.0, 0.7]], frame="world")
        with_radar.update_boxes(box, "lidar")
        out_lidar = without.update_boxes(box, "lidar")
        r = 20.0 + 10.0 * (2 * k + 1) * 0.1
        f4 = np.float32
        scan = RadarScan(
            stamp_ns=(2 * k + 1) * STEP,
            frame_id="world",
            range_m=np.array([r], f4),
            azimuth_rad=np.zeros(1, f4),
            range_rate_mps=np.array([10.0], f4),
            rcs_dbsm=np.array([10.0], f4),
        )
        out_radar = with_radar.update_radar(scan, "radar")
    assert out_radar.sensors[0] == 0b11 and out_radar.sensor_names == ("lidar", "radar")
    err_radar = abs(with_radar.groups["Car"].X[0, 7] - 10.0)
    err_lidar = abs(without.groups["Car"].X[0, 7] - 10.0)
    assert err_radar < err_lidar
    assert out_lidar.sensors[0] == 0b01


def test_camera_bearing_pulls_track_sideways() -> None:
    cam = SensorConfig(kind="camera", intrinsics=(700.0, 700.0, 640.0, 360.0))
    cfg = FusionTrackerConfig(classes={"Car": ClassConfig(min_hits=1)}, sensors={"cam": cam})
    tree = FrameTree()  # camera at the ego origin looking along +x (optical z forward)
    tree.add("ego", "cam", Transform(np.array([[0, 0, 1.0], [-1, 0, 0], [0, -1, 0]]), [0, 0, 0]))
    ego = EgoPoses("world", "ego", tree)
    ego.add(0, Transform.identity())
    tracker = FusionTracker(cfg, ego)
    tracker.update_boxes(_boxes(0, [[20.0, 0.0, 0.0]], frame="world"), "lidar")
    u = 640.0 - 700.0 * 1.0 / 20.0  # the object is 1 m to the left (+y) at 20 m
    det = Detections2D(
        stamp_ns=0, frame_id="cam", detections=Detections([[u - 20, 340, u + 20, 380]], [0.9], [0])
    )
    out = tracker.update_camera(det, "cam")
    assert 0.2 < out.state[0, 1] <= 1.0


def test_unreachable_frame_and_old_stamp_are_counted_and_skipped() -> None:
    tracker = FusionTracker(FusionTrackerConfig(classes={"Car": ClassConfig(min_hits=1)}), _driving_ego())
    tracker.update_boxes(_boxes(5 * STEP, [[1.0, 2.0, 0.0]], frame="world"), "lidar")
    out = tracker.update_boxes(_boxes(6 * STEP, [[1.0, 2.0, 0.0]], frame="nowhere"), "lidar")
    assert tracker.stats.unreachable == 1 and tracker.stats.born == 1 and out.track_id.tolist() == [1]
    tracker.update_boxes(_boxes(4 * STEP, [[1.0, 2.0, 0.0]], frame="world"), "lidar")
    assert tracker.stats.out_of_order == 1
    bad = _boxes(7 * STEP, [[1.0, 2.0, 0.0], [np.nan, 0, 0]], frame="world")
    bad = Detections3D(
        **{
            **{
                n: getattr(bad, n)
                for n in ("stamp_ns", "frame_id", "centre", "yaw", "class_id", "confidence", "class_names")
            },
            "size": [[0.0, 1.8, 1.5], [4.0, 1.8, 1.5]],
        }
    )  # zero size, NaN centre
    tracker.update_boxes(bad, "lidar")
    assert tracker.stats.invalid == 2


def test_yaw_flip_does_not_spin_the_track() -> None:
    tracker = FusionTracker(FusionTrackerConfig(classes={"Car": ClassConfig(min_hits=1)}))
    for k in range(10):
        yaw = 3.1 if k % 2 else 3.1 - math.pi  # back to front every other frame
        out = tracker.update_boxes(_boxes(k * STEP, [[10.0, 0.0, 0.0]], frame="world", yaw=yaw), "lidar")
    assert len(out) == 1
    d = (out.state[0, 6] - 3.1 + math.pi / 2) % math.pi - math.pi / 2
    assert abs(d) < 0.05


def test_greedy_and_centre_association_keep_two_objects_apart() -> None:
    cls = ClassConfig(cost="centre", match_thresh=2.0, assignment="greedy", min_hits=1)
    tracker = FusionTracker(FusionTrackerConfig(classes={"Car": cls}))
    for k in range(10):
        out = tracker.update_boxes(
            _boxes(k * STEP, [[0.3 * k, 0, 0], [0.3 * k, 3.0, 0]], frame="world"), "lidar"
        )
    assert sorted(out.track_id.tolist()) == [1, 2]


def test_yaml_errors_name_the_key(tmp_path) -> None:
    p = tmp_path / "f.yaml"
    assert_rejects(load_fusion_config, p, "classes:\n  Car:\n    min_hits: many\n", ConfigError,
                   r"f.yaml.classes.Car.min_hits")
    assert_rejects(load_fusion_config, p, "classes:\n  Car:\n    motion: {model: bicycle}\n", ConfigError,
                   r"classes.Car.motion")


def test_shared_kitti_config_loads() -> None:
    from pathlib import Path

    cfg = load_fusion_config(Path(__file__).parents[2] / "configs" / "trackers" / "kitti-fusion3d.yaml")
    assert set(cfg.classes) == {"Car", "Pedestrian", "Cyclist"}
    assert cfg.classes["Pedestrian"].assignment == "greedy" and cfg.classes["Cyclist"].cost == "centre"
