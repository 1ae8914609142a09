"""Chessboard calibration against synthetic views rendered through a camera with known intrinsics.

The renderer works backwards: every output pixel (2x2 supersampled) is undistorted to a ray with
the true K / distortion (OpenCV), the ray is intersected with the board plane and the hit is
coloured by square parity (board with a white margin on a grey background). Pose generation is
seeded, so every run sees the same views.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import pytest

from calib.chessboard import (
    ChessboardConfig,
    calibrate,
    find_corners,
    frames_from_images,
    frames_from_video,
)
from calib.errors import CalibrationError

BOARD = (9, 6)
SQUARE_M = 0.025
SIZE = (1280, 720)
K_TRUE = np.array([[900.0, 0.0, 645.0], [0.0, 905.0, 355.0], [0.0, 0.0, 1.0]])
D_TRUE = np.array([-0.12, 0.05, 0.001, -0.0005])
FISHEYE_SIZE = (640, 480)
K_FISHEYE = np.array([[330.0, 0.0, 322.0], [0.0, 331.0, 241.0], [0.0, 0.0, 1.0]])
D_FISHEYE = np.array([0.06, -0.02, 0.004, -0.001])
SS = 2  # supersampling factor per axis


@functools.lru_cache(maxsize=4)
def _rays(k: tuple[float, ...], d: tuple[float, ...], size: tuple[int, int], model: str):
    """Undistorted normalized coordinates (x/z, y/z) of every sub-pixel sample: two (H*SS, W*SS) arrays."""
    w, h = size
    off = (np.arange(SS) + 0.5) / SS - 0.5
    u = (np.arange(w)[:, None] + off).reshape(-1)
    v = (np.arange(h)[:, None] + off).reshape(-1)
    uu, vv = np.meshgrid(u, v)
    pts = np.stack([uu.ravel(), vv.ravel()], axis=1).reshape(-1, 1, 2)
    K, D = np.array(k).reshape(3, 3), np.array(d)
    if model == "fisheye":
        xy = cv2.fisheye.undistortPoints(pts, K, D)
    else:
        term = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
        xy = cv2.undistortPoints(pts, K, D, criteria=term)
    xy = xy.reshape(h * SS, w * SS, 2)
    return xy[..., 0].astype(np.float32), xy[..., 1].astype(np.float32)


def _project(obj: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray, D: np.ndarray,
             model: str) -> np.ndarray:
    rv = cv2.Rodrigues(R)[0]
    if model == "fisheye":
        p, _ = cv2.fisheye.projectPoints(obj.reshape(1, -1, 3), rv, t.reshape(3, 1), K, D)
    else:
        p, _ = cv2.projectPoints(obj, rv, t, K, D)
    return p.reshape(-1, 2)


def _outline() -> np.ndarray:
    """(120, 3) points along the outer edge of the white margin, board frame, metres."""
    cols, rows = BOARD
    e = np.linspace(0.0, 1.0, 30)
    x0, x1, y0, y1 = -2 * SQUARE_M, (cols + 1) * SQUARE_M, -2 * SQUARE_M, (rows + 1) * SQUARE_M
    edges = [np.stack([x0 + (x1 - x0) * e, np.full_like(e, yy)], 1) for yy in (y0, y1)]
    edges += [np.stack([np.full_like(e, xx), y0 + (y1 - y0) * e], 1) for xx in (x0, x1)]
    p = np.concatenate(edges)
    return np.concatenate([p, np.zeros((len(p), 1))], axis=1)


def render(R: np.ndarray, t: np.ndarray, K: np.ndarray = K_TRUE, D: np.ndarray = D_TRUE,
           size: tuple[int, int] = SIZE, model: str = "pinhole") -> np.ndarray:
    """(H, W) uint8 image of the board at pose (R, t) (board -> camera) seen by camera (K, D)."""
    cols, rows = BOARD
    x, y = _rays(tuple(K.ravel()), tuple(D), size, model)
    w, h = size
    p = _project(_outline(), R, t, K, D, model)
    u0, v0 = (np.floor(p.min(0)) - 3).clip(0, [w, h]).astype(int)
    u1, v1 = (np.ceil(p.max(0)) + 4).clip(0, [w, h]).astype(int)
    img = np.full((h, w), 120, np.uint8)
    xs, ys = x[v0 * SS:v1 * SS, u0 * SS:u1 * SS], y[v0 * SS:v1 * SS, u0 * SS:u1 * SS]
    n = R[:, 2]  # ray (x, y, 1) * s hits the plane n . X = n . t; board coords in squares
    s = np.float32(n @ t / SQUARE_M) / (n[0] * xs + n[1] * ys + n[2])
    bx = np.floor((R[0, 0] * xs + R[1, 0] * ys + R[2, 0]) * s - np.float32(R[:, 0] @ t / SQUARE_M))
    by = np.floor((R[0, 1] * xs + R[1, 1] * ys + R[2, 1]) * s - np.float32(R[:, 1] @ t / SQUARE_M))
    front = s > 0
    squares = front & (bx >= -1) & (bx <= cols - 1) & (by >= -1) & (by <= rows - 1)
    margin = front & (bx >= -2) & (bx <= cols) & (by >= -2) & (by <= rows)
    roi = np.where(margin, np.float32(235), np.float32(120))
    roi[squares & ((bx + by) % 2 == 0)] = 20
    img[v0:v1, u0:u1] = roi.reshape(v1 - v0, SS, u1 - u0, SS).mean(axis=(1, 3)).round().astype(np.uint8)
    return img


def random_poses(n: int, K: np.ndarray = K_TRUE, D: np.ndarray = D_TRUE, size: tuple[int, int] = SIZE,
                 model: str = "pinhole", seed: int = 7, max_deg: float = 35.0):
    """``n`` seeded board poses (R, t): 0.3-0.6 m away, tilted up to ``max_deg``, fully in view."""
    rng = np.random.default_rng(seed)
    cols, rows = BOARD
    centre = np.array([(cols - 1) * SQUARE_M / 2, (rows - 1) * SQUARE_M / 2, 0.0])
    w, h = size
    out = []
    while len(out) < n:
        dist = rng.uniform(0.3, 0.6)
        rx, ry = np.radians(rng.uniform(-max_deg, max_deg, 2))
        rz = np.radians(rng.uniform(-20, 20))
        R = (cv2.Rodrigues(np.array([0.0, 0.0, rz]))[0] @ cv2.Rodrigues(np.array([0.0, ry, 0.0]))[0]
             @ cv2.Rodrigues(np.array([rx, 0.0, 0.0]))[0])
        off_x, off_y = rng.uniform(-0.5, 0.5, 2)
        c = np.array([off_x * dist * w / K[0, 0], off_y * dist * h / K[1, 1], dist])
        t = c - R @ centre
        p = _project(_outline(), R, t, K, D, model)
        if np.all((p > 5) & (p < [w - 6, h - 6])):
            out.append((R, t))
    return out


@functools.lru_cache(maxsize=1)
def rendered_views() -> tuple[np.ndarray, ...]:
    """18 views through the pinhole camera (K_TRUE, D_TRUE), rendered once per process."""
    return tuple(render(R, t) for R, t in random_poses(18))


def write_views(folder: Path, images) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        cv2.imwrite(str(folder / f"view_{i:02d}.png"), img)
    return folder


def _rel(measured: float, truth: float) -> float:
    return abs(measured - truth) / abs(truth)


def _assert_intrinsics(cam, K: np.ndarray, tol: float) -> None:
    for name, truth in (("fx", K[0, 0]), ("fy", K[1, 1]), ("cx", K[0, 2]), ("cy", K[1, 2])):
        measured = getattr(cam, name)
        assert _rel(measured, truth) < tol, f"{name}: {measured:.3f} vs truth {truth} (> {tol:.1%})"


def test_detected_corners_match_the_projection_of_the_true_board():
    (R, t), img = random_poses(1)[0], rendered_views()[0]
    corners = find_corners(img, BOARD)
    truth = _project(ChessboardConfig().object_points(), R, t, K_TRUE, D_TRUE, "pinhole")
    err = min(np.linalg.norm(c - truth, axis=1).mean() for c in (corners, corners[::-1]))
    assert corners.shape == (54, 2) and corners.dtype == np.float32
    assert err < 0.3
    assert find_corners(np.full((720, 1280), 128, np.uint8), BOARD) is None


def test_calibrate_recovers_known_pinhole_intrinsics():
    result = calibrate(rendered_views(), ChessboardConfig(board=BOARD, square_m=SQUARE_M))
    cam = result.camera
    print(f"\npinhole truth fx 900 fy 905 cx 645 cy 355 k1 -0.12 k2 0.05 | measured fx {cam.fx:.3f} "
          f"fy {cam.fy:.3f} cx {cam.cx:.3f} cy {cam.cy:.3f} dist {np.round(cam.dist, 5).tolist()} "
          f"rms {result.rms:.4f} px")
    _assert_intrinsics(cam, K_TRUE, 0.005)
    assert result.rms < 0.3
    assert abs(cam.dist[0] - D_TRUE[0]) < 0.01
    assert (cam.width, cam.height) == SIZE and result.image_size == SIZE and cam.model == "pinhole"
    assert result.views_used == 18 and len(result.per_view_errors) == 18
    assert result.view_indices == list(range(18))
    assert max(result.per_view_errors) < 0.5
    assert sum(result.rejected.values()) == 0


def test_calibrate_recovers_known_fisheye_intrinsics():
    poses = random_poses(18, K_FISHEYE, D_FISHEYE, FISHEYE_SIZE, "fisheye", seed=3)
    views = [render(R, t, K_FISHEYE, D_FISHEYE, FISHEYE_SIZE, "fisheye") for R, t in poses]
    result = calibrate(views, ChessboardConfig(model="fisheye"))
    cam = result.camera
    print(f"\nfisheye truth fx 330 fy 331 cx 322 cy 241 | measured fx {cam.fx:.3f} fy {cam.fy:.3f} "
          f"cx {cam.cx:.3f} cy {cam.cy:.3f} rms {result.rms:.4f} px")
    assert cam.model == "fisheye" and cam.dist.shape == (4,)
    _assert_intrinsics(cam, K_FISHEYE, 0.01)
    assert result.rms < 0.3


def test_blurred_and_inconsistent_views_are_rejected():
    views = list(rendered_views()[:9])
    blurred = cv2.GaussianBlur(rendered_views()[0], (0, 0), 5.0)
    assert find_corners(blurred, BOARD) is not None  # still found, but too soft to trust
    # a view through a different lens: consistent corners, inconsistent with the other views
    d_other = np.array([0.15, 0.0, 0.0, 0.0])
    other = render(*random_poses(10)[9], K_TRUE, d_other)
    result = calibrate([*views, blurred, other], ChessboardConfig())
    assert result.rejected["blurred"] == 1
    assert result.rejected["outlier"] == 1
    assert result.views_used == 9 and result.view_indices == list(range(9))
    _assert_intrinsics(result.camera, K_TRUE, 0.01)


def test_video_calibrates_and_rejects_duplicate_frames(tmp_path):
    path = tmp_path / "board.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, SIZE)
    assert writer.isOpened()
    for img in rendered_views():
        for _ in range(2):  # every pose twice: the second copy is a near-duplicate
            writer.write(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    writer.release()
    result = calibrate(frames_from_video(path, step=1), ChessboardConfig())
    assert result.views_used == 18
    assert result.rejected["degenerate"] == 18
    assert result.view_indices == list(range(0, 36, 2))
    _assert_intrinsics(result.camera, K_TRUE, 0.005)
    assert result.rms < 0.3
    # step 2 skips the duplicates
    assert calibrate(frames_from_video(path, step=2), ChessboardConfig()).rejected["degenerate"] == 0


def test_folder_without_a_chessboard_is_an_error(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(4):
        img = np.full((480, 640, 3), 90, np.uint8)
        for _ in range(25):
            p = rng.integers(0, [640, 480], 2)
            cv2.circle(img, (int(p[0]), int(p[1])), int(rng.integers(5, 60)),
                       tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
        cv2.imwrite(str(tmp_path / f"scene_{i}.jpg"), img)
    with pytest.raises(CalibrationError, match="no chessboard with 9x6 inner corners found in any of the 4"):
        calibrate(frames_from_images(tmp_path), ChessboardConfig())


def test_too_few_views_names_the_count_and_reasons(tmp_path):
    write_views(tmp_path, rendered_views()[:3])
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(CalibrationError, match=r"only 3 usable views .* need at least 8") as info:
        calibrate(frames_from_images(tmp_path), ChessboardConfig())
    assert "0 blurred" in str(info.value) and "0 without a board" in str(info.value)


def test_images_of_different_sizes_are_an_error():
    small = cv2.resize(rendered_views()[1], (640, 360))
    with pytest.raises(CalibrationError, match=r"frame 1: image size 640x360 differs from .* 1280x720"):
        calibrate([rendered_views()[0], small], ChessboardConfig())


def test_bad_sources_are_errors(tmp_path):
    with pytest.raises(CalibrationError, match="no images"):
        frames_from_images(tmp_path)
    with pytest.raises(CalibrationError, match="not a folder"):
        frames_from_images(tmp_path / "missing")
    bogus = tmp_path / "clip.avi"
    bogus.write_bytes(b"this is not a video")
    with pytest.raises(CalibrationError, match="unreadable video"):
        frames_from_video(bogus)
    with pytest.raises(CalibrationError, match="no such video"):
        frames_from_video(tmp_path / "none.avi")
    with pytest.raises(CalibrationError, match="no frames"):
        calibrate([], ChessboardConfig())
    with pytest.raises(CalibrationError, match="expected a uint8 image"):
        calibrate([np.zeros((10, 10), np.float32)], ChessboardConfig())


def test_config_is_validated():
    with pytest.raises(CalibrationError, match="board"):
        ChessboardConfig(board=(2, 6))
    with pytest.raises(CalibrationError, match="min_views"):
        ChessboardConfig(min_views=10, max_views=5)
    with pytest.raises(CalibrationError, match="model"):
        ChessboardConfig(model="omni")  # type: ignore[arg-type]
    obj = ChessboardConfig(board=(4, 3), square_m=0.1).object_points()
    assert obj.shape == (12, 3) and np.allclose(obj[5], [0.1, 0.1, 0.0])
