"""Foxglove views: schema data a fresh protobuf pool can load, and upright cubes in both frame conventions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from google.protobuf import text_format
from google.protobuf.descriptor_pb2 import FileDescriptorSet
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass

from fusion.geometry3d import bev, bev_corners, vertical_span
from percept.detections import Detections
from percept.message import Message
from percept.messages import Detections2D, Detections3D, Event, Image, PointCloud, Tracks
from replay.foxglove import message_view, schema_data, vertical_axis

rng = np.random.default_rng(5)
KITTI_FIELDS = ("x", "y", "z", "length", "width", "height", "yaw")


def detections3d(frame_id: str, centre: np.ndarray, size: np.ndarray, yaw: np.ndarray) -> Detections3D:
    n = len(centre)
    return Detections3D(stamp_ns=5, frame_id=frame_id, centre=centre.astype(np.float32),
                        size=size.astype(np.float32), yaw=yaw.astype(np.float32),
                        class_id=np.zeros(n, np.int32), confidence=np.ones(n, np.float32),
                        class_names=("Car",))


def tracks3d(frame_id: str, centre: np.ndarray, size: np.ndarray, yaw: np.ndarray) -> Tracks:
    n = len(centre)
    state = np.concatenate([centre, size, yaw[:, None]], axis=1).astype(np.float32)
    return Tracks(stamp_ns=5, frame_id=frame_id, track_id=np.arange(n) + 1, class_id=np.zeros(n, np.int32),
                  confidence=np.ones(n, np.float32), state=state, age=np.ones(n, np.int32),
                  status=np.ones(n, np.uint8), sensors=np.ones(n, np.uint32), state_fields=KITTI_FIELDS,
                  class_names=("Car",))


def one_of_each_view() -> list[Message]:
    bgr = rng.integers(0, 255, (6, 8, 3), np.uint8)
    det = Detections(xyxy=[[1, 2, 5, 6]], confidence=[0.9], class_id=[0])
    boxes = (rng.uniform(-5, 5, (2, 3)), rng.uniform(1, 4, (2, 3)), rng.uniform(-3, 3, 2))
    return [
        Image.from_bgr(bgr, stamp_ns=1, frame_id="cam"),
        Image.from_bgr(bgr, stamp_ns=1, frame_id="cam", jpeg_quality=80),
        PointCloud(stamp_ns=1, frame_id="lidar", points=rng.random((10, 4), np.float32)),
        Detections2D(stamp_ns=1, frame_id="cam", detections=det, class_names=("car",)),
        detections3d("lidar", *boxes),
        tracks3d("camera_0_rect", *boxes),
        Event(stamp_ns=1, frame_id="site", event_type="intrusion", severity="info", text="zone A"),
    ]


def test_schema_data_loads_in_a_fresh_pool_and_decodes_each_view() -> None:
    kinds = set()
    for msg in one_of_each_view():
        view = message_view(msg)
        assert view is not None
        name = view.DESCRIPTOR.full_name
        kinds.add(name)
        fds = FileDescriptorSet.FromString(schema_data(type(view)))
        files = [f.name for f in fds.file]
        assert files[-1] == view.DESCRIPTOR.file.name and len(set(files)) == len(files)
        for i, f in enumerate(fds.file):  # every dependency comes before the file that needs it
            assert set(f.dependency) <= set(files[:i]), (f.name, list(f.dependency))
        pool = DescriptorPool()
        for f in fds.file:
            pool.Add(f)
        cls = GetMessageClass(pool.FindMessageTypeByName(name))
        wire = view.SerializeToString()
        decoded = cls.FromString(wire)
        assert decoded.SerializeToString() == wire
        assert text_format.MessageToString(decoded) == text_format.MessageToString(view)  # every field
        if name == "foxglove.SceneUpdate":
            assert len(decoded.entities) == 2 and decoded.entities[1].cubes[0].size.x > 0
    assert kinds == {"foxglove.RawImage", "foxglove.CompressedImage", "foxglove.PointCloud",
                     "foxglove.ImageAnnotations", "foxglove.SceneUpdate", "foxglove.Log"}
    deps = {f.name for f in FileDescriptorSet.FromString(schema_data(type(message_view(
        one_of_each_view()[4])))).file}
    assert {"foxglove/CubePrimitive.proto", "foxglove/Pose.proto", "google/protobuf/timestamp.proto",
            "google/protobuf/duration.proto"} <= deps


@pytest.mark.parametrize(("frame_id", "vertical"), [
    ("camera_0_rect", "y"), ("camera_left", "y"), ("camera", "y"), ("cam0", "y"), ("CAM_FRONT", "y"),
    ("left_camera_optical_frame", "y"), ("lidar", "z"), ("velodyne", "z"), ("ego", "z"), ("world", "z"),
    ("base_link", "z"), ("camshaft", "z"), ("", "z"),
])
def test_vertical_axis_from_frame_id(frame_id: str, vertical: str) -> None:
    assert vertical_axis(frame_id) == vertical


def quat_matrix(q: object) -> np.ndarray:
    x, y, z, w = q.x, q.y, q.z, q.w  # type: ignore[attr-defined]
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def cube_corners(cube: object) -> np.ndarray:
    """(8, 3) corners of a decoded Foxglove cube: pose position + rotation of (+-size / 2)."""
    p, s = cube.pose.position, cube.size  # type: ignore[attr-defined]
    half = np.array([s.x, s.y, s.z]) / 2
    signs = np.array(list(itertools.product((-1, 1), repeat=3)), np.float64)
    return np.array([p.x, p.y, p.z]) + (signs * half) @ quat_matrix(cube.pose.orientation).T  # type: ignore


def box_corners(centre: np.ndarray, size: np.ndarray, yaw: float, vertical: str) -> np.ndarray:
    """(8, 3) corners of one box by :mod:`fusion.geometry3d`: ground polygon times vertical span."""
    uv, theta = bev(centre[None], np.array([yaw]), vertical)
    ground = bev_corners(uv, size[None, :2], theta)[0]
    lo, hi = vertical_span(centre[None], size[None], vertical)
    out = []
    for (u, v), h in itertools.product(ground, (lo[0], hi[0])):
        out.append((u, h, v) if vertical == "y" else (u, v, h))
    return np.array(out)


def same_points(a: np.ndarray, b: np.ndarray) -> bool:
    return np.allclose(np.array(sorted(map(tuple, a.round(5)))), np.array(sorted(map(tuple, b.round(5)))),
                       atol=1e-4)


@pytest.mark.parametrize("frame_id", ["camera_0_rect", "camera_left", "lidar", "ego"])
@pytest.mark.parametrize("make", [detections3d, tracks3d])
def test_cube_corners_match_the_box_corners(frame_id: str, make: object) -> None:
    n = 6
    centre = rng.uniform(-20, 20, (n, 3))
    size = np.stack([rng.uniform(3, 5, n), rng.uniform(1.5, 2, n), rng.uniform(1, 1.8, n)], axis=1)
    yaw = rng.uniform(-np.pi, np.pi, n)
    yaw[0] = 0.3  # a car-like box 0.3 rad off the frame axes
    msg = make(frame_id, centre, size, yaw)  # type: ignore[operator]
    vertical = vertical_axis(frame_id)
    scene = message_view(msg)
    assert scene is not None and len(scene.entities) == n
    c32, s32, y32 = (np.asarray(a, np.float32).astype(np.float64) for a in (centre, size, yaw))
    for i, entity in enumerate(scene.entities):
        assert entity.frame_id == frame_id
        got = cube_corners(entity.cubes[0])
        assert same_points(got, box_corners(c32[i], s32[i], float(y32[i]), vertical))
        up = 1 if vertical == "y" else 2
        assert np.ptp(got[:, up]) == pytest.approx(s32[i, 2], abs=1e-4)  # upright: height on the vertical
