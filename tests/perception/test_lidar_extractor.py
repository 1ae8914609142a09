"""LidarObjectExtractor on synthetic scenes (boxes on a sloped ground, noise) and on bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from percept.config import build
from percept.errors import ConfigError
from percept.messages import Detections3D, PointCloud
from perception.errors import DetectorError
from perception.lidar import (
    DEFAULT_CLASSES,
    GroundConfig,
    LidarObjectExtractor,
    LidarObjectsConfig,
    ObjectConfigError,
)
from tests.perception.lidar_scenes import box_points, ground_points, ground_z, scene

CAR = ((12.0, -3.0), (4.4, 1.8, 1.5), 0.5)
PEDESTRIAN = ((8.0, 4.0), (0.6, 0.5, 1.75), 0.0)
CYCLIST = ((20.0, 6.0), (1.8, 0.6, 1.7), -0.3)


def _yaw_error(a: float, b: float) -> float:
    """Heading difference modulo pi (a lidar box has no front), radians."""
    return abs((a - b + math.pi / 2) % math.pi - math.pi / 2)


def _nearest(dets: Detections3D, xy: tuple[float, float]) -> int:
    return int(np.argmin(np.hypot(dets.centre[:, 0] - xy[0], dets.centre[:, 1] - xy[1])))


def _check_box(dets: Detections3D, box, pos_tol: float, size_tol: float, yaw_tol_deg: float) -> int:
    (cx, cy), size, yaw = box
    i = _nearest(dets, (cx, cy))
    centre = [cx, cy, float(ground_z(cx)) + size[2] / 2]
    np.testing.assert_allclose(dets.centre[i], centre, atol=pos_tol)
    np.testing.assert_allclose(dets.size[i], size, atol=size_tol)
    assert _yaw_error(float(dets.yaw[i]), yaw) < math.radians(yaw_tol_deg)
    return i


@pytest.mark.parametrize("ground", ["grid", "ransac"])
@pytest.mark.parametrize("box_method", ["lshape", "min_area"])
def test_recovers_centre_size_yaw_and_class(ground, box_method):
    cloud = scene([CAR, PEDESTRIAN, CYCLIST], seed=1)
    cfg = build(LidarObjectsConfig, {"ground": {"method": ground}, "box": {"method": box_method}})
    dets = LidarObjectExtractor(cfg).extract(cloud, stamp_ns=5, frame_id="lidar_top", seq=3)
    assert (dets.stamp_ns, dets.frame_id, dets.seq) == (5, "lidar_top", 3)
    assert dets.class_names == ("Car", "Pedestrian", "Cyclist", "unknown")
    assert len(dets) == 3  # the ground is gone, nothing else stands on it
    for box, name in ((CAR, "Car"), (PEDESTRIAN, "Pedestrian"), (CYCLIST, "Cyclist")):
        i = _check_box(dets, box, pos_tol=0.1, size_tol=0.15, yaw_tol_deg=3 if name == "Car" else 10)
        assert dets.class_names[dets.class_id[i]] == name and 0.5 < dets.confidence[i] <= 1.0


@pytest.mark.parametrize("criterion", ["closeness", "area", "variance"])
def test_lshape_from_the_two_visible_sides(criterion):
    cloud = scene([CAR], seed=2, visible_only=True)
    dets = LidarObjectExtractor(build(LidarObjectsConfig, {"box": {"criterion": criterion}})).extract(cloud)
    assert len(dets) == 1
    _check_box(dets, CAR, pos_tol=0.1, size_tol=0.15, yaw_tol_deg=3)


def test_car_seen_from_behind_is_completed_away_from_the_sensor():
    rng = np.random.default_rng(3)
    rear = box_points((15.0, 0.0), (4.2, 1.75, 1.45), 0.0, rng, faces=("-x",))
    cloud = np.concatenate([ground_points(rng), rear])
    only_car = dataclasses.replace(LidarObjectsConfig(), classes=DEFAULT_CLASSES[:1])
    dets = LidarObjectExtractor(only_car).extract(cloud)
    assert len(dets) == 1 and dets.class_id[0] == 0
    # the rear face is at x = 12.9; completed to the typical car length the centre moves forward
    typical_l = DEFAULT_CLASSES[0].typical[0]
    np.testing.assert_allclose(dets.centre[0, :2], [12.9 + typical_l / 2, 0.0], atol=0.1)
    np.testing.assert_allclose(dets.size[0, :2], [typical_l, 1.75], atol=0.1)
    assert _yaw_error(float(dets.yaw[0]), 0.0) < math.radians(3)


def test_deterministic_and_accepts_pointcloud_fields():
    cloud = scene([CAR, PEDESTRIAN], seed=4)
    ex = LidarObjectExtractor(LidarObjectsConfig(ground=GroundConfig(method="ransac")))
    a = ex.extract(cloud)
    msg = PointCloud(stamp_ns=1, frame_id="velo", points=np.ascontiguousarray(cloud[:, [3, 2, 0, 1]]),
                     fields=("intensity", "z", "x", "y"))
    b = ex.extract(msg)
    for name in ("centre", "size", "yaw", "class_id", "confidence"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_empty_and_all_ground_clouds_give_no_objects():
    ex = LidarObjectExtractor()
    for cloud in (np.zeros((0, 4), np.float32), scene([], seed=5), np.ones((2, 3))):
        dets = ex.extract(cloud, stamp_ns=7, frame_id="lidar")
        assert len(dets) == 0 and dets.centre.shape == (0, 3) and dets.stamp_ns == 7


def test_keep_unknown_false_drops_unclassified_objects():
    wall = ((15.0, 8.0), (8.0, 0.3, 2.5), 0.0)  # too long for any class, short enough to keep
    cloud = scene([CAR, wall], seed=6)
    with_unknown = LidarObjectExtractor().extract(cloud)
    assert sorted(with_unknown.class_names[i] for i in with_unknown.class_id) == ["Car", "unknown"]
    without = LidarObjectExtractor(LidarObjectsConfig(keep_unknown=False)).extract(cloud)
    assert [without.class_names[i] for i in without.class_id] == ["Car"]


@pytest.mark.parametrize("cloud, match", [
    (np.array([[1.0, 2.0, np.nan], [1.0, 2.0, 3.0]]), r"1 of 2 points have non-finite"),
    (np.ones((5, 2)), r"expected a numeric \(N, >=3\) array"),
    (np.array([["a", "b", "c"]]), "expected a numeric"),
])
def test_bad_clouds_raise_one_line_detector_error(cloud, match):
    with pytest.raises(DetectorError, match=match):
        LidarObjectExtractor().extract(cloud)


def test_pointcloud_without_xyz_fields_is_refused():
    msg = PointCloud(stamp_ns=0, frame_id="l", points=np.zeros((3, 3), np.float32), fields=("x", "y", "i"))
    with pytest.raises(DetectorError, match=r"no field\(s\) \['z'\]"):
        LidarObjectExtractor().extract(msg)


@pytest.mark.parametrize("data, match", [
    ({"cluster": {"tolerance": 0}}, r"cfg\.cluster: cluster\.tolerance: expected a finite value > 0"),
    ({"ground": {"method": "plane"}}, r"cfg\.ground\.method: expected one of \['ransac', 'grid'\]"),
    ({"ground": {"ring_edges": [30, 15]}}, r"ground\.ring_edges: expected ascending"),
    ({"min_range": 60}, r"min_range: expected 0 <= min_range < max_range"),
    ({"box": {"min_height": 5}}, r"box\.min_height: expected < max_height"),
    ({"classes": [{"name": "Car", "length": [2, 1], "width": [0, 2], "height": [1, 2],
                   "typical": [4, 2, 1.5]}]}, r"classes\[Car\]\.length: expected 0 <= low < high"),
])
def test_bad_config_names_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        build(LidarObjectsConfig, data, "cfg")
    with pytest.raises(ObjectConfigError):
        GroundConfig(threshold=-1.0)
