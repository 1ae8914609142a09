"""Camera, 2D detector, lidar and radar models of the simulator against the world's ground truth."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from sensors.sim.camera import SimCamera
from sensors.sim.classes import CLASSES
from sensors.sim.detector import SimDetector, gt_boxes, miss_probability
from sensors.sim.geometry import box_corners
from sensors.sim.lidar import SimLidar
from sensors.sim.radar import SimRadar
from sensors.sim.scenario import CameraSpec, DetectorSpec, LidarSpec, MountSpec, load_scenario
from sensors.sim.world import World, WorldState


def _states(name: str, times_s: list[float], seed: int = 0) -> list[WorldState]:
    world = World(load_scenario(name), seed)
    out = []
    for t in times_s:
        world.run_until(round(t * 1e9))
        out.append(world.state())
    return out


def _static_state(centres: list[tuple[float, float]], cls: str = "car") -> WorldState:
    """Cars (or ``cls``) standing at ``centres`` facing +x, no ego."""
    n = len(centres)
    size = np.tile(np.array(CLASSES[cls].size), (n, 1))
    centre = np.array([[x, y, size[0, 2] / 2] for x, y in centres])
    return WorldState(0, np.arange(1, n + 1, dtype=np.int64), np.full(n, CLASSES[cls].class_id, np.int32),
                      centre, size, np.zeros(n), np.zeros(n), np.zeros((n, 3)), None, None)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("scenario", ["highway", "plaza"])
def test_gt_boxes_are_the_projection_of_the_boxes(scenario):
    cam = SimCamera(load_scenario(scenario).sensors.cameras[0])
    for state in _states(scenario, [2.0, 6.0]):
        view = cam.view(state)
        gt = gt_boxes(state, view)
        assert len(gt) > 0
        T_cam_from_world = cam.pose(state).inverse()
        for box, tid in zip(gt.xyxy, gt.track_id, strict=True):
            i = int(np.flatnonzero(state.track_id == tid)[0])
            corners = T_cam_from_world.apply(box_corners(state.centre[i:i + 1], state.size[i:i + 1],
                                                         state.yaw[i:i + 1])[0])
            if np.any(corners[:, 2] < 0.5):
                continue  # clipped at the near plane: the hull is not just the corners
            px = cam.model.project(corners)
            lo = np.clip(px.min(axis=0), 0, [cam.model.width - 1, cam.model.height - 1])
            hi = np.clip(px.max(axis=0), 0, [cam.model.width - 1, cam.model.height - 1])
            np.testing.assert_allclose(box, [*lo, *hi], atol=1e-3)


def test_detector_boxes_match_gt_within_noise():
    sc = load_scenario("plaza")
    spec = sc.sensors.cameras[0]
    cam = SimCamera(spec)
    det = SimDetector(spec.detector, spec.width, spec.height, np.random.default_rng(1))
    errors, matched, wanted = [], 0, 0
    for state in _states("plaza", [3.0, 5.0, 7.0, 9.0, 11.0, 13.0]):
        view = cam.view(state)
        gt = gt_boxes(state, view)
        dets, latency = det.detect(state, view)
        assert 20e6 <= latency <= 60e6
        assert dets.track_id is None
        good = gt.confidence >= 0.9
        wanted += int(good.sum())
        for g, gc, vis in zip(gt.xyxy, gt.class_id, gt.confidence, strict=True):
            ious = [_iou(g, d) for d in dets.xyxy]
            if not ious or max(ious) < 0.5:
                continue
            k = int(np.argmax(ious))
            assert dets.class_id[k] == gc
            size = np.array([g[2] - g[0], g[3] - g[1]] * 2)
            sigma = spec.detector.box_noise_frac * size + spec.detector.box_noise_px
            errors.append((dets.xyxy[k] - g) / sigma)
            matched += int(vis >= 0.9)
    z = np.concatenate(errors)
    assert len(z) > 100
    assert abs(z.mean()) < 0.3 and 0.6 < z.std() < 1.3  # unit-variance normalised residuals
    assert matched >= 0.85 * wanted  # well visible people are found


def test_misses_grow_with_occlusion_and_distance():
    spec = CameraSpec(name="c", frame_id="c", mount=MountSpec(mount="world", xyz=(0.0, 0.0, 1.5)))
    cam = SimCamera(spec)
    dspec = DetectorSpec(false_positives_per_frame=0.0)
    det = SimDetector(dspec, spec.width, spec.height, np.random.default_rng(2))
    vis_all, miss_all = [], []
    for offset in np.linspace(0.0, 6.0, 7):  # target at 30 m slides out from behind a car at 12 m
        state = _static_state([(12.0, 0.0), (30.0, float(offset))])
        view = cam.view(state)
        k = int(np.flatnonzero(state.track_id[view.index] == 2)[0])
        hits = 0
        for _ in range(300):
            dets, _ = det.detect(state, view)
            target = view.xyxy[k]
            hits += any(_iou(target, d) > 0.5 for d in dets.xyxy)
        vis_all.append(view.visible[k])
        miss_all.append(1.0 - hits / 300)
    vis_all, miss_all = np.array(vis_all), np.array(miss_all)
    assert vis_all.min() < 0.3 and vis_all.max() > 0.95  # the set-up spans the occlusion range
    assert np.corrcoef(vis_all, miss_all)[0, 1] < -0.9
    assert miss_all[np.argmax(vis_all)] < 0.1
    assert miss_all[np.argmin(vis_all)] > 0.5
    np.testing.assert_allclose(miss_all, miss_probability(dspec, vis_all, np.full(7, 30.0)), atol=0.1)
    near = miss_probability(dspec, np.ones(1), np.array([10.0]))[0]
    far = miss_probability(dspec, np.ones(1), np.array([110.0]))[0]
    assert far > near


def test_lidar_points_lie_on_boxes_or_ground():
    sc = load_scenario("highway")
    lidar = SimLidar(sc.sensors.lidars[0], np.random.default_rng(3))
    for state in _states("highway", [1.0, 6.0]):
        pts, ids = lidar.scan(state)
        assert pts.dtype == np.float32 and pts.shape[1] == 4
        rays = 16 * 900
        assert 0.3 * rays < len(pts) < rays  # the ground below the horizon, actors above it
        assert np.all((pts[:, 3] >= 0) & (pts[:, 3] <= 1))
        world = lidar.pose(state).apply(pts[:, :3].astype(np.float64))
        on_ground = np.abs(world[:, 2]) < 0.1
        in_box = np.zeros(len(world), bool)
        for i in range(len(state)):
            c, s = math.cos(state.yaw[i]), math.sin(state.yaw[i])
            rel = world - state.centre[i]
            local = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]],
                             axis=1)
            in_box |= np.all(np.abs(local) <= state.size[i] / 2 + 0.1, axis=1)
        assert np.mean(on_ground | in_box) > 0.999
        assert np.all(in_box[ids >= 0].mean() > 0.99)
        assert on_ground[ids < 0].mean() > 0.99
        # nearby actors in view are hit by many points
        near = np.linalg.norm(state.centre[:, :2] - state.ego.xy if state.ego else 0, axis=1) < 30
        for tid in state.track_id[near]:
            assert np.count_nonzero(ids == tid) > 20, tid


def test_lidar_revolution_is_fast():
    spec = LidarSpec(mount=MountSpec(mount="world", xyz=(0.0, 0.0, 1.9)), beams=32,
                     elevation_deg=(-25.0, 10.0), azimuth_step_deg=0.4)
    lidar = SimLidar(spec, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    state = _static_state([tuple(p) for p in rng.uniform(-40, 40, size=(20, 2))])
    lidar.scan(state)
    t0 = time.perf_counter()
    for _ in range(5):
        pts, _ = lidar.scan(state)
    per_rev = (time.perf_counter() - t0) / 5
    assert len(pts) > 10000
    assert per_rev < 0.2, f"{per_rev * 1e3:.0f} ms per revolution"  # ~30 ms on an idle core


def test_radar_range_rate_matches_relative_velocity():
    sc = load_scenario("highway")
    spec = sc.sensors.radars[0]
    radar = SimRadar(spec, np.random.default_rng(4))
    seen = 0
    for state in _states("highway", [1.0, 4.0, 8.0, 10.0, 11.0, 13.0]):
        ret = radar.scan(state)
        assert ret.range_m.dtype == np.float32
        pose = radar.pose(state)
        ego = state.ego
        v_radar = np.array([ego.v * math.cos(ego.yaw), ego.v * math.sin(ego.yaw), 0.0])
        rows = zip(ret.range_m, ret.azimuth_rad, ret.range_rate_mps, ret.track_id, strict=True)
        for r, az, rr, tid in rows:
            if tid < 0:
                continue
            i = int(np.flatnonzero(state.track_id == tid)[0])
            d = state.centre[i] - pose.translation
            los = d / np.linalg.norm(d)
            expected = float((state.velocity[i] - v_radar) @ los)
            assert rr == pytest.approx(expected, abs=4 * spec.range_rate_noise_mps + 0.1)
            local = pose.inverse().apply(state.centre[i])
            assert r == pytest.approx(np.linalg.norm(local), abs=0.6 * state.size[i, 0] + 1.0)
            assert az == pytest.approx(math.atan2(local[1], local[0]), abs=0.1)
            seen += 1
    assert seen >= 10
    # the lead car brakes at 9 s: by 11 s it closes in on the radar
    truth = radar.truth(_states("highway", [11.0])[0])
    assert truth.range_rate_mps.min() < -3.0
