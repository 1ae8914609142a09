"""Point-sensor births: radar targets and mono camera boxes start tracks where no track gates them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calib.camera import CameraModel
from calib.transform import FrameTree, Transform
from fusion.births import Births, camera_births, initial_states, not_duplicates, radar_births
from fusion.ego import EgoPoses
from fusion.errors import TrackingError
from fusion.fusion_config import ClassConfig, FusionTrackerConfig, SensorConfig
from fusion.fusion_tracker import FusionTracker
from fusion.measurements import BearingNoise, BoxNoise, RadarNoise
from fusion.motion_world import MotionModel, MotionNoise
from percept.detections import Detections
from percept.messages import Detections2D, Detections3D, RadarScan

STEP = 50_000_000
CAR = (4.5, 1.8, 1.5)
#: optical frame (x right, y down, z forward) of a camera looking along +x, 1.5 m up
R_OPTICAL = np.array([[0, 0, 1.0], [-1, 0, 0], [0, -1, 0]])
K = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])


def _scan(stamp: int, targets, frame: str = "world") -> RadarScan:
    t = np.asarray(targets, np.float32).reshape(-1, 3)
    return RadarScan(stamp_ns=stamp, frame_id=frame, range_m=t[:, 0], azimuth_rad=t[:, 1],
                     range_rate_mps=t[:, 2], rcs_dbsm=np.full(len(t), 10, np.float32))


def _radar_tracker(**cls) -> FusionTracker:
    radar = SensorConfig(kind="radar", initiates=True, reflection="nearest", range_rate_compensated=True,
                         class_map={"target": "Car"})
    lidar = SensorConfig(box=BoxNoise(yaw_std=0.05))  # the near-side point turns with the heading
    return FusionTracker(FusionTrackerConfig(classes={"Car": ClassConfig(min_hits=3, **cls)},
                                             confirm_early=False, sensors={"radar": radar, "lidar": lidar}))


def test_radar_birth_puts_the_target_on_the_near_side_with_its_speed() -> None:
    same = (Transform.identity(), np.zeros(3), Transform.identity(), CAR, RadarNoise())
    b = radar_births(np.array([[30.0, 0.0, 12.0]]), *same, "nearest", 0.0)
    assert np.allclose(b.z[0], [30.0 + CAR[0] / 2, 0.0, CAR[2] / 2, 0.0, *CAR])
    assert b.R[0, 0, 4] > 0  # a longer car has its centre farther: centre and length correlate
    X, P = initial_states(MotionModel(MotionNoise()), b)
    assert X[0, 7] == pytest.approx(12.0, abs=0.1) and abs(X[0, 8]) < 1e-6
    assert P[0, 7, 7] < RadarNoise().range_rate_std ** 2 * 1.01 < P[0, 8, 8]  # along the line of sight
    centre = radar_births(np.array([[30.0, 0.0, 12.0]]), *same, "centre", 0.0)
    assert centre.z[0, 0] == pytest.approx(30.0)


def test_radar_alone_starts_confirms_and_follows_a_car() -> None:
    tracker = _radar_tracker()
    for k in range(12):  # a car 40 m ahead driving away at 8 m/s, its rear seen by the radar
        out = tracker.update_radar(_scan(k * STEP, [[40.0 + 8.0 * k * STEP * 1e-9, 0.0, 8.0]]), "radar")
        if k == 1:
            assert tracker.stats.born == 1 and len(out) == 0  # tentative until min_hits
    assert tracker.stats.born == 1 and len(out) == 1 and out.class_names == ("Car",)
    assert out.state[0, 0] == pytest.approx(40.0 + 8.0 * 11 * STEP * 1e-9 + CAR[0] / 2, abs=0.3)
    assert out.state[0, 7] == pytest.approx(8.0, abs=0.3)


def test_radar_starts_nothing_where_a_track_gates_it() -> None:
    tracker = _radar_tracker()
    boxes = Detections3D(stamp_ns=0, frame_id="world", centre=[[32.25, 0.0, 0.75]], size=[CAR], yaw=[0.0],
                         class_id=[0], confidence=[0.9], class_names=("Car",))
    tracker.update_boxes(boxes, "lidar")
    tracker.update_radar(_scan(STEP, [[30.1, 0.005, 0.0], [30.0, math.radians(30), 0.0]]), "radar")
    assert tracker.stats.born == 2  # the lidar car, and the target 15 m to its left; not the car's rear
    assert sorted(len(g) for g in tracker.groups.values()) == [2]


def test_not_duplicates_compares_with_both_covariances() -> None:
    b = Births(np.array([[10.0, 0, 0.75, 0, *CAR], [10.0, 8.0, 0.75, 0, *CAR]]),
               np.broadcast_to(np.eye(7) * 0.25, (2, 7, 7)).copy(), np.arange(2))
    X = np.zeros((1, 10))
    X[0, :7] = [10.8, 0.2, 0.75, 0, *CAR]
    assert not_duplicates(b, X, np.eye(10)[None] * 0.25).tolist() == [False, True]
    assert not_duplicates(b, np.zeros((0, 10)), np.zeros((0, 10, 10))).all()


def _camera_tracker(initiates: bool = True) -> tuple[FusionTracker, CameraModel, Transform]:
    cam = SensorConfig(kind="camera", camera_model="box", initiates=initiates, image_size=(640, 480),
                       intrinsics=(500.0, 500.0, 319.5, 239.5), camera=BearingNoise(0.003, 0.003),
                       class_map={"car": "Car"})
    tree = FrameTree()
    tree.add("ego", "cam", Transform(R_OPTICAL, [0.0, 0.0, 1.5]))
    ego = EgoPoses("world", "ego", tree)
    for k in range(40):
        ego.add(k * STEP, Transform.identity())
    cfg = FusionTrackerConfig(classes={"Car": ClassConfig(min_hits=3)}, sensors={"cam": cam},
                              confirm_early=False)
    return FusionTracker(cfg, ego), CameraModel(640, 480, K, np.zeros(0)), tree.lookup("ego", "cam")


def _car_box(camera: CameraModel, T_ego_cam: Transform, centre) -> list[float]:
    """The tight 2D box (pixels) of a car's 3D box at ``centre`` (ego frame, heading +x)."""
    length, w, h = CAR
    corners = np.array([[centre[0] + sx * length / 2, centre[1] + sy * w / 2, sz * h]
                        for sx in (-1, 1) for sy in (-1, 1) for sz in (0, 1)])
    px = camera.project(T_ego_cam.inverse().apply(corners))
    return [*px.min(axis=0), *px.max(axis=0)]


def test_mono_initialisation_on_the_ground_plane() -> None:
    camera = CameraModel(640, 480, K, np.zeros(0))
    T = Transform(R_OPTICAL, [0.0, 0.0, 1.5])
    box = np.array(_car_box(camera, T, (25.0, 1.0)))
    sides = np.array([[box[0], box[1:4:2].mean()], [box[2], box[1:4:2].mean()], [box[0:3:2].mean(), box[1]],
                      [box[0:3:2].mean(), box[3]]])
    rays = camera.unproject(sides)
    xn, yn = rays[:, 0] / rays[:, 2], rays[:, 1] / rays[:, 2]
    z = np.array([[math.atan(xn[0]), math.atan(xn[1]), math.atan(-yn[2]), math.atan(-yn[3])]])
    b = camera_births(z, T, Transform.identity(), CAR, BearingNoise(0.003, 0.003), 0.0)
    assert np.allclose(b.z[0, :2], [25.0, 1.0], atol=0.3) and b.z[0, 2] == pytest.approx(CAR[2] / 2)
    assert b.R[0, 0, 0] > b.R[0, 1, 1]  # less sure along the ray than across it
    up = z.copy()
    up[0, 3] = 0.05  # a box bottom above the horizon never meets the ground
    assert len(camera_births(up, T, Transform.identity(), CAR, BearingNoise(), 0.0)) == 0


def test_camera_alone_starts_and_confirms_a_track() -> None:
    tracker, camera, T = _camera_tracker()
    for k in range(6):
        box = _car_box(camera, T, (20.0, -1.5))
        out = tracker.update_camera(Detections2D(stamp_ns=k * STEP, frame_id="cam", class_names=("car",),
                                                 detections=Detections([box], [0.8], [0])), "cam")
    assert tracker.stats.born == 1 and len(out) == 1
    assert np.allclose(out.state[0, :2], [20.0, -1.5], atol=0.5)
    quiet, _, _ = _camera_tracker(initiates=False)
    frame = Detections2D(stamp_ns=0, frame_id="cam", detections=Detections([box], [0.8], [0]))
    quiet.update_camera(frame, "cam")
    assert quiet.stats.born == 0  # beside other sensors a camera only corrects


def test_a_centre_model_camera_cannot_start_tracks() -> None:
    with pytest.raises(TrackingError, match="initiates"):
        SensorConfig(kind="camera", intrinsics=(500.0, 500.0, 320.0, 240.0), initiates=True)
