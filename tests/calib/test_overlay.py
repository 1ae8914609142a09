"""Lidar-over-image overlay: synthetic geometry and colours, and the real KITTI object sample."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from calib import CalibrationError, lidar_overlay, load_kitti_calib, read_velodyne_bin, write_overlay
from calib.overlay import range_colors, visible_points

SYNTH = (
    "P0: 700 0 600 0 0 700 180 0 0 0 1 0\nP1: 700 0 600 -380 0 700 180 0 0 0 1 0\n"
    "P2: 700 0 600 0 0 700 180 0 0 0 1 0\nP3: 700 0 600 -330 0 700 180 0 0 0 1 0\n"
    "R0_rect: 1 0 0 0 1 0 0 0 1\nTr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0\n"
)


@pytest.fixture
def synth_calib(tmp_path: Path):
    path = tmp_path / "calib.txt"
    path.write_text(SYNTH)
    return load_kitti_calib(path)


def test_range_colors_near_red_far_blue() -> None:
    near, far = range_colors(np.array([0.0, 200.0]), max_range_m=50.0)
    assert near[2] > 100 and near[0] < 50  # BGR: red dominates
    assert far[0] > 100 and far[2] < 50  # blue dominates


def test_points_land_where_the_calibration_says(synth_calib) -> None:
    img = np.full((360, 1200, 3), 40, np.uint8)
    # velo x forward, y left, z up -> camera x = -y, y = -z, z = x
    pts = np.array(
        [
            [5.0, 0.0, 0.0, 0.3],  # near, straight ahead -> (600, 180)
            [40.0, -4.0, 2.0, 0.1],  # far, right and up -> (600 + 700*4/40, 180 - 700*2/40) = (670, 145)
            [-5.0, 0.0, 0.0, 0.0],  # behind the lidar: not drawn
            [5.0, 50.0, 0.0, 0.0],  # far outside the image: not drawn
            [np.nan, 0.0, 0.0, 0.0],  # broken return: ignored
        ]
    )
    out = lidar_overlay(img, pts, synth_calib, cam=2, radius=1, max_range_m=50.0)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(img, np.full_like(img, 40))  # input untouched
    changed = np.argwhere(np.any(out != 40, axis=2))
    assert {tuple(p) for p in changed} == {
        (180 + dy, 600 + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if abs(dx) + abs(dy) <= 1
    } | {(145 + dy, 670 + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if abs(dx) + abs(dy) <= 1}
    b, _, r = out[180, 600].astype(int)
    assert r > b  # near is red
    b, _, r = out[145, 670].astype(int)
    assert b > r  # far is blue


def test_visible_points_are_those_drawn(synth_calib) -> None:
    pts = np.array([[5.0, 0.0, 0.0], [40.0, -4.0, 2.0], [-5.0, 0.0, 0.0], [5.0, 50.0, 0.0],
                    [np.nan, 0.0, 0.0], [0.2, 0.0, 0.0]])  # the last: closer than min_depth_m
    assert visible_points(pts, synth_calib, 2, (360, 1200)).tolist() == [True, True, False, False, False,
                                                                         False]
    assert visible_points(pts, synth_calib, 2, (200, 620)).tolist() == [True] + [False] * 5  # narrower
    with pytest.raises(CalibrationError, match=r"\(N, 3\+\)"):
        visible_points(np.zeros(3), synth_calib, 2, (10, 10))


def test_no_visible_points_leaves_image_unchanged(synth_calib) -> None:
    img = np.full((50, 60, 3), 7, np.uint8)
    assert np.array_equal(lidar_overlay(img, np.zeros((0, 4), np.float32), synth_calib), img)
    assert np.array_equal(lidar_overlay(img, np.array([[0.0, 0.0, 0.0], [-3.0, 1.0, 0.0]]), synth_calib), img)
    assert range_colors(np.zeros(0)).shape == (0, 3)


def test_bad_inputs(synth_calib, tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"\(H, W, 3\) uint8"):
        lidar_overlay(np.zeros((10, 10), np.uint8), np.zeros((1, 3)), synth_calib)
    with pytest.raises(CalibrationError, match=r"\(N, 3\+\)"):
        lidar_overlay(np.zeros((10, 10, 3), np.uint8), np.zeros((5, 2)), synth_calib)
    with pytest.raises(CalibrationError, match=r"overlay\.nope: cannot write overlay"):
        write_overlay(
            tmp_path / "overlay.nope", np.zeros((10, 10, 3), np.uint8), np.zeros((1, 3)), synth_calib
        )


@pytest.mark.data
def test_kitti_object_overlay_png(shared_data, tmp_path: Path) -> None:
    root = shared_data("kitti_object", "training")
    calib = load_kitti_calib(root / "calib" / "000000.txt")
    pts = read_velodyne_bin(root / "velodyne" / "000000.bin")
    img = cv2.imread(str(root / "image_2" / "000000.png"))
    out_path = tmp_path / "overlay_000000.png"
    out = write_overlay(out_path, img, pts, calib, cam=2)
    back = cv2.imread(str(out_path))
    assert back is not None and np.array_equal(back, out)
    changed = np.any(out != img, axis=2)
    h = img.shape[0]
    # the 64-beam lidar covers the lower part of the image (road, pedestrian) but not the sky
    assert changed[h // 2 :].mean() > 0.3
    assert changed[: h // 6].mean() < 0.02
    # the labelled pedestrian is drawn in near colours: red over blue inside its box
    x1, y1, x2, y2 = (round(float(v)) for v in (root / "label_2" / "000000.txt").read_text().split()[4:8])
    box = out[y1:y2, x1:x2].astype(int)
    drawn = changed[y1:y2, x1:x2]
    assert drawn.mean() > 0.3
    assert np.median(box[drawn][:, 2] - box[drawn][:, 0]) > 100
