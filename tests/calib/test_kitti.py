"""KITTI calibration: real object / tracking files, 3D label boxes against 2D labels, lidar vs labels."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from calib import CalibrationError, box3d_corners, load_kitti_calib, read_velodyne_bin
from calib.kitti import KittiCalib

log = logging.getLogger(__name__)

KEYS = ("P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.mark.data
def test_tracking_3d_boxes_project_onto_2d_labels(shared_data) -> None:
    calib = load_kitti_calib(shared_data("kitti_tracking", "calib", "0001.txt"))
    image_dir = shared_data("kitti_tracking", "image_02_sparse", "0001")
    sizes = {}
    for png in sorted(image_dir.glob("*.png")):
        img = cv2.imread(str(png))
        assert img is not None, png
        sizes[int(png.stem)] = (img.shape[1], img.shape[0])
    assert sizes
    ious = []
    for line in shared_data("kitti_tracking", "label_02", "0001.txt").read_text().splitlines():
        f = line.split()
        frame = int(f[0])
        if frame not in sizes or f[2] == "DontCare":
            continue
        w_img, h_img = sizes[frame]
        label_box = np.array(f[6:10], dtype=float)
        h, w, l, x, y, z, ry = (float(v) for v in f[10:17])  # noqa: E741
        uv, depth = calib.project_rect(box3d_corners(h, w, l, x, y, z, ry), cam=2)
        if np.any(depth <= 0.0):
            continue  # a box reaching behind the camera has no finite hull
        lo = np.clip(uv.min(axis=0), 0, [w_img - 1, h_img - 1])
        hi = np.clip(uv.max(axis=0), 0, [w_img - 1, h_img - 1])
        ious.append(_iou(np.concatenate([lo, hi]), label_box))
    median = float(np.median(ious))
    log.info("KITTI tracking 0001: %d boxes in frames %s, median IoU %.3f", len(ious), sorted(sizes), median)
    assert len(ious) >= 10
    assert median >= 0.7, f"median IoU {median:.3f} over {len(ious)} boxes"


@pytest.mark.data
def test_object_calib_lidar_points_fill_labelled_boxes(shared_data) -> None:
    root = shared_data("kitti_object", "training")
    calib = load_kitti_calib(root / "calib" / "000000.txt")
    pts = read_velodyne_bin(root / "velodyne" / "000000.bin")
    assert pts.shape == ((root / "velodyne" / "000000.bin").stat().st_size // 16, 4)
    img = cv2.imread(str(root / "image_2" / "000000.png"))
    h_img, w_img = img.shape[:2]
    rect = calib.velo_to_rect().apply(pts[:, :3].astype(np.float64))
    uv, depth = calib.project_velo(pts, cam=2)
    np.testing.assert_allclose(calib.project_rect(rect, 2)[0], uv, equal_nan=True)
    inside = (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w_img) & (uv[:, 1] >= 0) & (uv[:, 1] < h_img)
    assert inside.sum() > 10_000
    # The labelled pedestrian: the most common lidar depth inside its 2D box (the rest is the
    # wall behind) is its labelled depth, and the lidar points around its 3D box are centred on
    # it (a wrong extrinsic would shift them).
    f = (root / "label_2" / "000000.txt").read_text().split()
    assert f[0] == "Pedestrian"
    x1, y1, x2, y2 = (float(v) for v in f[4:8])
    h, w, l, x, y, z, ry = (float(v) for v in f[8:15])  # noqa: E741
    in_box = inside & (uv[:, 0] >= x1) & (uv[:, 0] <= x2) & (uv[:, 1] >= y1) & (uv[:, 1] <= y2)
    counts, edges = np.histogram(depth[in_box], bins=np.arange(0.0, 80.0, 0.5))
    assert abs(edges[counts.argmax()] + 0.25 - z) < 1.0
    c, s = np.cos(ry), np.sin(ry)
    local = (rect - [x, y, z]) @ np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]]).T  # box frame, y down
    near = (
        (np.abs(local[:, 0]) < l / 2 + 0.5)
        & (local[:, 1] < -0.2)  # above the ground
        & (local[:, 1] > -h - 0.5)
        & (np.abs(local[:, 2]) < w / 2 + 0.5)
    )
    assert near.sum() > 100
    centre = local[near].mean(axis=0)
    assert abs(centre[0]) < 0.25 and abs(centre[2]) < 0.25, centre


@pytest.mark.data
def test_rig_from_kitti_reproduces_projection_matrices(shared_data) -> None:
    calib = load_kitti_calib(shared_data("kitti_object", "training", "calib", "000000.txt"))
    assert calib.Tr_imu_to_velo is not None and calib.P[2].shape == (3, 4)
    rig = calib.rig(1242, 375)
    assert rig.tree.frames() == ["lidar_top", "camera_0", "camera_1", "camera_2", "camera_3", "imu"]
    rng = np.random.default_rng(0)
    velo = np.column_stack([rng.uniform(5, 40, 200), rng.uniform(-10, 10, 200), rng.uniform(-2, 2, 200)])
    for i in range(4):
        T = rig.tree.lookup(f"camera_{i}", "lidar_top")
        expected, _ = calib.project_velo(velo, cam=i)
        np.testing.assert_allclose(rig.cameras[f"camera_{i}"].project(T.apply(velo)), expected, atol=1e-6)
    T_velo_imu = rig.tree.lookup("lidar_top", "imu").as_matrix()[:3]
    np.testing.assert_allclose(T_velo_imu, calib.Tr_imu_to_velo, atol=1e-6)


def _tracking_style(calib: KittiCalib) -> str:
    rows = [f"P{i} " + " ".join(f"{v:.12e}" for v in calib.P[i].ravel()) for i in range(4)]
    rows.append("R_rect " + " ".join(f"{v:.12e}" for v in calib.R0_rect.ravel()))
    rows.append("Tr_velo_cam " + " ".join(f"{v:.12e}" for v in calib.Tr_velo_to_cam.ravel()))
    rows.append("Tr_imu_velo " + " ".join(f"{v:.12e}" for v in calib.Tr_imu_to_velo.ravel()))
    return "\n".join(rows) + "\n"


@pytest.mark.data
def test_tracking_style_without_colons_matches(shared_data, tmp_path: Path) -> None:
    obj = load_kitti_calib(shared_data("kitti_tracking", "calib", "0001.txt"))
    path = tmp_path / "0001.txt"
    path.write_text(_tracking_style(obj))
    trk = load_kitti_calib(path)
    for i in range(4):
        np.testing.assert_allclose(trk.P[i], obj.P[i])
    np.testing.assert_allclose(trk.R0_rect, obj.R0_rect, atol=1e-12)
    np.testing.assert_allclose(trk.Tr_velo_to_cam, obj.Tr_velo_to_cam)
    np.testing.assert_allclose(trk.Tr_imu_to_velo, obj.Tr_imu_to_velo)


@pytest.mark.data
def test_view_of_delft_calib_without_imu(shared_data) -> None:
    calib = load_kitti_calib(shared_data("vod", "lidar", "training", "calib", "00549.txt"))
    assert calib.Tr_imu_to_velo is None
    assert "imu" not in calib.rig(1936, 1216).tree.frames()


SYNTH = (
    "P0: 700 0 600 0 0 700 180 0 0 0 1 0\nP1: 700 0 600 -380 0 700 180 0 0 0 1 0\n"
    "P2: 700 0 600 45 0 700 180 0.2 0 0 1 0.003\nP3: 700 0 600 -330 0 700 180 2 0 0 1 0.003\n"
    "R0_rect: 1 0 0 0 1 0 0 0 1\nTr_velo_to_cam: 0 -1 0 0 0 0 -1 -0.08 1 0 0 -0.27\n"
    "Tr_imu_to_velo: 1 0 0 -0.8 0 1 0 0.3 0 0 1 -0.8\ncalib_time: 09-Jan-2012 13:57:47\n"
)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("R0_rect: 1 0 0 0 1 0 0 0 1\n", "", r"calib\.txt: R0_rect: missing required key"),
        (
            "R0_rect: 1 0 0 0 1 0 0 0 1",
            "R0_rect: 1 0 0 0 1 0 0 0",
            r"calib\.txt: R0_rect: expected 9 numbers, got 8",
        ),
        (
            "R0_rect: 1 0 0 0 1 0 0 0 1",
            "R0_rect: 1 0.01 0 0 1 0 0 0 1",
            r"calib\.txt: R0_rect: not orthonormal: .* = 0\.01",
        ),
        ("0 -1 0 0 0 0 -1", "0 -1 0 0 0 0 1", r"calib\.txt: Tr_velo_to_cam: determinant -1"),
        ("P2: 700", "P2: -700", r"calib\.txt: P2: focal lengths must be positive"),
        ("P3: 700 0 600", "P3: 700 zero 600", r"calib\.txt: P3 \(line 4\): not numbers"),
    ],
)
def test_kitti_errors_name_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = tmp_path / "calib.txt"
    path.write_text(SYNTH)
    calib = load_kitti_calib(path)  # the unmodified file is fine
    assert calib.P[2][2, 3] == 0.003 and calib.Tr_imu_to_velo is not None
    assert old in SYNTH
    path.write_text(SYNTH.replace(old, new, 1))
    with pytest.raises(CalibrationError, match=message):
        load_kitti_calib(path)


def test_velodyne_reader_and_camera_index(tmp_path: Path) -> None:
    pts = np.arange(40, dtype=np.float32).reshape(10, 4)
    (tmp_path / "a.bin").write_bytes(pts.tobytes())
    np.testing.assert_array_equal(read_velodyne_bin(tmp_path / "a.bin"), pts)
    (tmp_path / "b.bin").write_bytes(pts.tobytes()[:-4])
    with pytest.raises(CalibrationError, match=r"b\.bin: size 156 bytes is not a multiple of 16"):
        read_velodyne_bin(tmp_path / "b.bin")
    (tmp_path / "calib.txt").write_text(SYNTH)
    calib = load_kitti_calib(tmp_path / "calib.txt")
    with pytest.raises(CalibrationError, match=r"calib\.txt: no camera 4"):
        calib.camera(4, 100, 100)
    # a point straight ahead of the lidar lands on camera 0's principal point row
    uv, depth = calib.project_velo(np.array([[10.0, 0.0, -0.08], [-5.0, 0.0, 0.0]]), cam=0)
    np.testing.assert_allclose(uv[0], [600.0, 180.0])
    assert depth[0] == pytest.approx(9.73) and np.all(np.isnan(uv[1]))


def test_box3d_corners_geometry() -> None:
    c = box3d_corners(h=1.5, w=2.0, l=4.0, x=1.0, y=2.0, z=10.0, ry=np.pi / 2)
    assert c.shape == (8, 3)
    np.testing.assert_allclose(c[:4, 1], 2.0)  # bottom face at label y
    np.testing.assert_allclose(c[4:, 1], 0.5)  # top face h above (y down)
    # rotated by 90 degrees the length runs along z
    np.testing.assert_allclose(np.ptp(c[:, 2]), 4.0)
    np.testing.assert_allclose(np.ptp(c[:, 0]), 2.0)
