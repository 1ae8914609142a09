"""Percept YAML round trip and validation; ROS camera_info and OpenCV FileStorage readers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from calib import (
    CalibrationError,
    CameraModel,
    FrameTree,
    Rig,
    Transform,
    load_opencv_yaml,
    load_percept_yaml,
    load_ros_camera_info,
    save_percept_yaml,
)

K = np.array([[1000.0, 0.0, 959.5], [0.0, 1001.0, 539.5], [0.0, 0.0, 1.0]])

GOOD = """\
version: 1
cameras:
  front:
    width: 1920
    height: 1080
    model: pinhole
    K: [1000, 0, 959.5, 0, 1001, 539.5, 0, 0, 1]
    dist: [-0.1, 0.01, 0, 0, 0]
  rear:
    width: 1280
    height: 800
    model: fisheye
    K: [[400, 0, 640], [0, 400, 400], [0, 0, 1]]
    dist: [0.01, -0.002, 0, 0]
transforms:
  - parent: base_link
    child: front
    translation: [1.5, 0.0, 1.2]
    rotation: [-0.5, 0.5, -0.5, 0.5]
  - parent: base_link
    child: rear
    translation: [-1.0, 0.0, 1.0]
    rotation: [[0, 0, -1], [1, 0, 0], [0, -1, 0]]
time_offsets_ns:
  front: -12000000
"""


def _write(tmp_path: Path, text: str, name: str = "cam.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_load_hand_written_percept_yaml(tmp_path: Path) -> None:
    rig = load_percept_yaml(_write(tmp_path, GOOD))
    assert rig.version == 1 and set(rig.cameras) == {"front", "rear"}
    np.testing.assert_array_equal(rig.cameras["front"].K, K)
    assert rig.cameras["rear"].model == "fisheye" and rig.camera("rear").width == 1280
    # a camera looking forward along the vehicle x axis: optical z = base x
    T = rig.tree.lookup("base_link", "front")
    np.testing.assert_allclose(T.rotation @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(T.rotation @ [1, 0, 0], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(
        rig.tree.lookup("base_link", "rear").rotation @ [0, 0, 1], [-1, 0, 0], atol=1e-12
    )
    assert rig.tree.time_offset_ns("front") == -12_000_000 and rig.tree.time_offset_ns("rear") == 0
    with pytest.raises(CalibrationError, match="no camera 'side'"):
        rig.camera("side")


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    tree = FrameTree()
    for parent, child in (("base_link", "lidar_top"), ("lidar_top", "camera_front"), ("base_link", "imu")):
        q = rng.normal(size=4)
        tree.add(parent, child, Transform.from_quaternion(q / np.linalg.norm(q), rng.normal(size=3)))
    tree.set_time_offset("camera_front", 3_500_000)
    cams = {
        "camera_front": CameraModel(1920, 1080, K, [-0.28, 0.09, 1e-3, -5e-4, -0.012, 0.0, 0.0, 0.0]),
        "camera_fish": CameraModel(1280, 800, K, [0.05, -0.01, 0.003, -0.0004], model="fisheye"),
    }
    rig = Rig(cameras=cams, tree=tree)
    path = tmp_path / "rig.yaml"
    save_percept_yaml(path, rig)
    assert path.read_text().splitlines()[1] == "version: 1"
    back = load_percept_yaml(path)
    assert back.cameras == cams
    assert [(p, c) for p, c, _ in back.tree.edges()] == [(p, c) for p, c, _ in tree.edges()]
    for (_, _, a), (_, _, b) in zip(back.tree.edges(), tree.edges(), strict=True):
        np.testing.assert_allclose(a.as_matrix(), b.as_matrix(), atol=1e-12)
    assert back.tree.time_offsets() == {"camera_front": 3_500_000}
    assert set(back.tree.frames()) == set(tree.frames()) | {"camera_fish"}
    np.testing.assert_allclose(
        back.tree.lookup("imu", "camera_front").as_matrix(),
        tree.lookup("imu", "camera_front").as_matrix(),
        atol=1e-12,
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "K: [1000, 0, 959.5, 0, 1001, 539.5, 0, 0, 1]",
            "K: [1000, 0, 959.5, 0, 1001, 539.5, 0, 0]",
            r"cam\.yaml: cameras\.front\.K: expected 9 numbers, got 8",
        ),
        (
            "K: [1000, 0, 959.5,",
            "K: [-1000, 0, 959.5,",
            r"cam\.yaml: cameras\.front\.K: focal lengths must be positive",
        ),
        (
            "K: [[400, 0, 640], [0, 400, 400], [0, 0, 1]]",
            "K: [[400, 0, 640], [0, 400, 400]]",
            r"cam\.yaml: cameras\.rear\.K: expected 3 rows of equal length",
        ),
        ("    width: 1280\n", "", r"cam\.yaml: cameras\.rear\.width: missing required key"),
        ("version: 1", "version: 2", r"cam\.yaml: version: unsupported version 2"),
        ("version: 1\n", "", r"cam\.yaml: version: missing required key"),
        (
            "    translation: [1.5, 0.0, 1.2]\n",
            "",
            r"cam\.yaml: transforms\[0\]\.translation: missing required key",
        ),
        (
            "[[0, 0, -1], [1, 0, 0], [0, -1, 0]]",
            "[[0, 0, -1], [1, 0, 0], [0, -1, 0.01]]",
            r"cam\.yaml: transforms\[1\]\.rotation: not orthonormal: max \|R·Rᵀ - I\| = 0\.01",
        ),
        (
            "[[0, 0, -1], [1, 0, 0], [0, -1, 0]]",
            "[[0, 0, 1], [1, 0, 0], [0, -1, 0]]",
            r"cam\.yaml: transforms\[1\]\.rotation: determinant -1",
        ),
        (
            "[-0.5, 0.5, -0.5, 0.5]",
            "[-0.5, 0.5, -0.5, 0.6]",
            r"cam\.yaml: transforms\[0\]\.rotation: quaternion norm is 1\.05",
        ),
        (
            "dist: [0.01, -0.002, 0, 0]",
            "dist: [0.01, -0.002, 0]",
            r"cam\.yaml: cameras\.rear\.dist: the fisheye model takes 0 or 4 coefficients, got 3",
        ),
        ("model: pinhole", "model: pinhole\n    fov: 90", r"cam\.yaml: cameras\.front\.fov: unknown key"),
        ("  front: -12000000", "  front: 1.5e-3", r"cam\.yaml: time_offsets_ns\.front: expected an integer"),
        (
            "    child: rear",
            "    child: front",
            r"cam\.yaml: transforms\[1\]: frame 'front' already has parent",
        ),
        (
            "    width: 1920",
            "    width: wide",
            r"cam\.yaml: cameras\.front\.width: expected an integer, got 'wide'",
        ),
    ],
)
def test_percept_yaml_errors_name_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(CalibrationError, match=message):
        load_percept_yaml(_write(tmp_path, GOOD.replace(old, new, 1)))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"missing\.yaml: cannot read"):
        load_percept_yaml(tmp_path / "missing.yaml")
    with pytest.raises(CalibrationError, match=r"bad\.yaml:2: expected ',' or '\]'.*at line 1, column 10\)$"):
        load_percept_yaml(_write(tmp_path, "cameras: [a, b\n", "bad.yaml"))
    with pytest.raises(CalibrationError, match=r"list\.yaml: <document>: expected a mapping"):
        load_percept_yaml(_write(tmp_path, "- 1\n", "list.yaml"))


ROS_CALIB = """\
image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [423.9, 0, 319.5, 0, 424.5, 239.5, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.21, 0.04, 0.0005, -0.0002, 0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [350.1, 0, 320.2, 0, 0, 380.2, 240.1, 0, 0, 0, 1, 0]
"""

ROS2_ECHO = """\
header:
  stamp:
    sec: 1700000000
    nanosec: 5
  frame_id: camera_left
height: 800
width: 1280
distortion_model: equidistant
d:
- 0.05
- -0.01
- 0.003
- -0.0004
k:
- 410.0
- 0.0
- 640.0
- 0.0
- 411.0
- 400.0
- 0.0
- 0.0
- 1.0
r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
p: [410.0, 0.0, 640.0, 0.0, 0.0, 411.0, 400.0, 0.0, 0.0, 0.0, 1.0, 0.0]
binning_x: 0
binning_y: 0
roi:
  x_offset: 0
  y_offset: 0
  height: 0
  width: 0
  do_rectify: false
---
"""


def test_ros_camera_info_files(tmp_path: Path) -> None:
    cam = load_ros_camera_info(_write(tmp_path, ROS_CALIB, "left.yaml"))
    assert (cam.width, cam.height, cam.model) == (640, 480, "pinhole")
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (423.9, 424.5, 319.5, 239.5)
    np.testing.assert_array_equal(cam.dist, [-0.21, 0.04, 0.0005, -0.0002, 0])
    fish = load_ros_camera_info(_write(tmp_path, ROS2_ECHO, "echo.yaml"))
    assert (fish.width, fish.height, fish.model, fish.fx) == (1280, 800, "fisheye", 410.0)
    np.testing.assert_array_equal(fish.dist, [0.05, -0.01, 0.003, -0.0004])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "0, 424.5, 239.5, 0, 0, 1]",
            "0, 424.5, 239.5, 0, 0]",
            r"ros\.yaml: camera_matrix\.data: expected 9 numbers, got 8",
        ),
        ("image_width: 640\n", "", r"ros\.yaml: image_width: missing required key"),
        ("[423.9,", "[-423.9,", r"ros\.yaml: camera_matrix: K: focal lengths must be positive"),
        ("plumb_bob", "double_sphere", r"ros\.yaml: distortion_model: unsupported 'double_sphere'"),
        (
            "  data: [-0.21, 0.04, 0.0005, -0.0002, 0]",
            "  data: [-0.21, 0.04, 0.0005]",
            r"ros\.yaml: distortion_coefficients: dist: the pinhole model takes",
        ),
    ],
)
def test_ros_camera_info_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        load_ros_camera_info(_write(tmp_path, ROS_CALIB.replace(old, new, 1), "ros.yaml"))


OPENCV_SAMPLE = """\
%YAML:1.0
---
calibration_time: "Mon Jan  1 12:00:00 2024"
nframes: 20
image_width: 640
image_height: 480
board_width: 9
board_height: 6
square_size: 2.5e-02
flags: 0
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 5.3591573396163199e+02, 0., 3.4228315473308373e+02, 0.,
       5.3591573396163199e+02, 2.3557082909788173e+02, 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 5
   cols: 1
   dt: d
   data: [ -2.6637260909660682e-01, -3.8588898922304653e-02,
       1.7831947042852964e-03, -2.8122100441115472e-04,
       2.3839153080878486e-01 ]
avg_reprojection_error: 3.9259098975581364e-01
"""


def test_opencv_filestorage_sample_file(tmp_path: Path) -> None:
    cam = load_opencv_yaml(_write(tmp_path, OPENCV_SAMPLE, "out_camera_data.yml"))
    assert (cam.width, cam.height, cam.model) == (640, 480, "pinhole")
    assert cam.fx == pytest.approx(535.91573396163199) and cam.cy == pytest.approx(235.57082909788173)
    assert cam.dist.shape == (5,) and cam.dist[4] == pytest.approx(0.23839153080878486)


def test_opencv_filestorage_written_by_opencv(tmp_path: Path) -> None:
    path = tmp_path / "fish.yaml"
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", 1280)
    fs.write("image_height", 800)
    fs.write("fisheye_model", 1)
    fs.write("camera_matrix", K)
    fs.write("distortion_coefficients", np.array([[0.05], [-0.01], [0.003], [-0.0004]]))
    fs.release()
    cam = load_opencv_yaml(path)
    assert cam.model == "fisheye" and cam.size == (1280, 800)
    np.testing.assert_array_equal(cam.K, K)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "camera_matrix: !!opencv-matrix",
            "intrinsics: !!opencv-matrix",
            r"cv\.yml: camera_matrix: missing required key",
        ),
        ("image_height: 480\n", "", r"cv\.yml: image_height: missing required key"),
        (
            "[ 5.3591573396163199e+02,",
            "[ -5.3591573396163199e+02,",
            r"cv\.yml: camera_matrix: K: focal lengths",
        ),
        ("rows: 5", "rows: 4", r"cv\.yml: distortion_coefficients: malformed matrix"),
        (
            "2.3839153080878486e-01 ]",
            "2.3839153080878486e-01, 0.0 ]",
            r"cv\.yml: distortion_coefficients: malformed",
        ),
        ("   rows: 5", "   rows: 3", None),
    ],
)
def test_opencv_filestorage_errors(tmp_path: Path, old: str, new: str, message: str | None) -> None:
    assert old in OPENCV_SAMPLE
    text = OPENCV_SAMPLE.replace(old, new, 1)
    if message is None:  # 3 coefficients: drop two from the data as well
        text = text.replace(
            "1.7831947042852964e-03, -2.8122100441115472e-04,\n       2.3839153080878486e-01 ]", "1e-3 ]"
        )
        message = r"cv\.yml: distortion_coefficients: dist: the pinhole model takes .* got 3"
    with pytest.raises(CalibrationError, match=message):
        load_opencv_yaml(_write(tmp_path, text, "cv.yml"))
    with pytest.raises(CalibrationError, match=r"none\.yml: cannot read"):
        load_opencv_yaml(tmp_path / "none.yml")
