"""RadarObjectClusterer on synthetic scans from a moving car: moving objects, clutter, velocities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from percept.config import build
from percept.errors import ConfigError
from percept.messages import RadarScan
from perception.errors import DetectorError
from perception.radar import CLASS_NAMES, RadarObjectClusterer, RadarObjectsConfig, cluster_velocity
from sensors.radar import scan_from_xyz
from tests.perception.radar_scenes import CAR_V, PED_V, radial, scene


def test_moving_objects_found_with_velocities_static_world_dropped():
    scan, truth = scene()
    dets = RadarObjectClusterer().extract(scan)
    assert (dets.stamp_ns, dets.frame_id, dets.seq, dets.class_names) == (9, "radar", 2, CLASS_NAMES)
    assert len(dets) == 2 and set(dets.class_id.tolist()) == {CLASS_NAMES.index("moving")}
    car = int(np.argmin(np.linalg.norm(dets.centre[:, :2] - [8.0, 3.0], axis=1)))
    ped = 1 - car
    np.testing.assert_allclose(dets.centre[car], truth["car"].mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(dets.velocity[car], CAR_V, atol=1e-3)  # least squares over a wide azimuth
    assert abs(math.atan2(CAR_V[1], CAR_V[0]) - dets.yaw[car]) < 1e-3
    # the pedestrian spans < 8 degrees: radial velocity only, along its line of sight
    los = truth["ped"].mean(axis=0)
    los[2] = 0.0
    los /= np.linalg.norm(los)
    np.testing.assert_allclose(dets.velocity[ped], los * radial(truth["ped"], PED_V).mean(), atol=1e-3)
    assert np.all(dets.size >= np.array(RadarObjectsConfig().min_size) - 1e-6)
    assert dets.confidence[car] > dets.confidence[ped] > 0


def test_keep_static_adds_static_clusters():
    scan, _ = scene()
    dets = RadarObjectClusterer(RadarObjectsConfig(keep_static=True)).extract(scan)
    names = [CLASS_NAMES[i] for i in dets.class_id]
    assert names.count("moving") == 2 and names.count("static") >= 1
    static = dets.class_id == CLASS_NAMES.index("static")
    np.testing.assert_allclose(dets.velocity[static], 0.0, atol=1e-6)
    rail = int(np.argmin(np.linalg.norm(dets.centre[:, :2] - [24.5, -8.0], axis=1)))
    assert static[rail] and dets.size[rail, 0] >= 9.0  # the rail is one cluster along its length


def test_without_compensated_field_range_rate_is_used():
    scan, _ = scene(compensated=False)
    dets = RadarObjectClusterer().extract(scan)
    # seen from a moving car without compensation, the static world moves: many more clusters
    assert len(dets) > 2


def test_polar_only_scan_equals_cartesian():
    scan, _ = scene()
    polar = RadarScan(stamp_ns=scan.stamp_ns, frame_id=scan.frame_id, range_m=scan.range_m,
                      azimuth_rad=scan.azimuth_rad, elevation_rad=scan.elevation_rad,
                      range_rate_mps=scan.range_rate_mps, rcs_dbsm=scan.rcs_dbsm, extra=scan.extra,
                      extra_fields=scan.extra_fields)
    a, b = RadarObjectClusterer().extract(scan), RadarObjectClusterer().extract(polar)
    np.testing.assert_allclose(a.centre, b.centre, atol=1e-4)
    np.testing.assert_allclose(a.velocity, b.velocity, atol=1e-3)


def test_zero_targets_and_all_static():
    empty = scan_from_xyz(np.zeros((0, 3)), np.zeros(0), np.zeros(0), stamp_ns=1, frame_id="radar",
                          extra=np.zeros((0, 1)), extra_fields=("v_r_compensated",))
    dets = RadarObjectClusterer().extract(empty)
    assert len(dets) == 0 and dets.velocity.shape == (0, 3) and dets.stamp_ns == 1
    xyz = np.random.default_rng(1).uniform(5, 30, (50, 3))
    still = scan_from_xyz(xyz, np.zeros(50), np.zeros(50), stamp_ns=2, frame_id="radar")
    assert len(RadarObjectClusterer().extract(still)) == 0


def test_non_finite_targets_raise_detector_error():
    scan, _ = scene()
    bad = scan.rcs_dbsm.copy()
    bad[3] = np.nan
    broken = scan_from_xyz(scan.xyz, scan.range_rate_mps, bad, stamp_ns=0, frame_id="radar",
                           extra=scan.extra, extra_fields=scan.extra_fields)
    with pytest.raises(DetectorError, match="radar scan: 1 of 84 targets have non-finite values"):
        RadarObjectClusterer().extract(broken)


def test_cluster_velocity_exact_least_squares_and_radial_fallback():
    az = np.radians([-10.0, 0.0, 12.0])
    xyz = np.column_stack([10 * np.cos(az), 10 * np.sin(az), np.zeros(3)])
    v = np.array([-3.0, 4.0, 0.0])
    full, used = cluster_velocity(xyz, radial(xyz, v), math.radians(8))
    assert used and np.allclose(full, v)
    along, used = cluster_velocity(xyz[:1], radial(xyz[:1], v), math.radians(8))
    assert not used and np.allclose(along, xyz[0] / 10 * radial(xyz[:1], v)[0])


@pytest.mark.parametrize("data, match", [
    ({"eps": 0}, r"cfg: eps: expected a finite value > 0"),
    ({"min_points": 0}, r"cfg: min_points: expected >= 1"),
    ({"min_size": [1, 1]}, r"cfg\.min_size: expected 3 items"),
    ({"moving_speed": -1}, r"cfg: moving_speed: expected a finite value >= 0"),
    ({"velocity_field": ""}, r"cfg: velocity_field: expected a non-empty field name"),
])
def test_bad_config_names_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        build(RadarObjectsConfig, data, "cfg")


def test_targets_outside_the_field_of_view_are_clutter():
    side = np.array([[0.0, 14.0, 0.0], [0.0, 14.5, 0.0], [0.2, 15.0, 0.0]])  # abeam: azimuth ~90 deg
    ahead = side[:, [1, 0, 2]]  # the same pair straight ahead
    for xyz, n in ((side, 0), (ahead, 1)):
        scan = scan_from_xyz(xyz, np.full(3, -2.0), np.zeros(3), stamp_ns=0, frame_id="radar")
        dets = RadarObjectClusterer().extract(scan)
        assert len(dets) == n
    tall = np.array([[10.0, 0.0, -3.0], [10.0, 0.2, 3.0], [10.1, 0.0, 0.0]])
    scan = scan_from_xyz(tall, np.full(3, -2.0), np.zeros(3), stamp_ns=0, frame_id="radar")
    dets = RadarObjectClusterer(RadarObjectsConfig(eps=7.0)).extract(scan)
    assert len(dets) == 1 and dets.size[0, 2] == RadarObjectsConfig().max_height


def test_azimuth_spread_across_the_rear_does_not_wrap():
    az = np.radians([170.0, 180.0, -168.0])  # 22 degrees around the +-pi seam
    xyz = np.column_stack([10 * np.cos(az), 10 * np.sin(az), np.zeros(3)])
    v = np.array([2.0, -1.0, 0.0])
    full, used = cluster_velocity(xyz, radial(xyz, v), math.radians(8))
    assert used and np.allclose(full, v)
    _, used = cluster_velocity(xyz, radial(xyz, v), math.radians(30))
    assert not used
