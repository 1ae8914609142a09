"""Draw lidar points over a camera image to check an extrinsic calibration by eye.

Points are projected with a :class:`calib.kitti.KittiCalib` (velodyne frame -> rectified image
``cam``) and drawn as small dots coloured by their range from the lidar (OpenCV ``JET``
colormap: near = red, far = blue). Far points are drawn first so that near ones stay on top.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from calib.errors import CalibrationError
from calib.kitti import KittiCalib

log = logging.getLogger(__name__)


def _check_image(image_bgr: np.ndarray) -> np.ndarray:
    img = np.asarray(image_bgr)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise CalibrationError(f"overlay: expected an (H, W, 3) uint8 BGR image, got {img.shape} {img.dtype}")
    return img


def range_colors(ranges: np.ndarray, max_range_m: float = 50.0, min_range_m: float = 0.0) -> np.ndarray:
    """(N,) ranges in metres -> (N, 3) uint8 BGR colours, red at ``min_range_m``, blue at ``max_range_m``."""
    r = np.asarray(ranges, dtype=np.float64).reshape(-1)
    if r.size == 0:
        return np.zeros((0, 3), np.uint8)
    span = max(max_range_m - min_range_m, 1e-9)
    level = np.clip(1.0 - (r - min_range_m) / span, 0.0, 1.0)
    lut_in = np.round(level * 255.0).astype(np.uint8).reshape(-1, 1)
    return cv2.applyColorMap(lut_in, cv2.COLORMAP_JET).reshape(-1, 3)


def _project_visible(points_velo: np.ndarray, calib: KittiCalib, cam: int, image_hw: tuple[int, int],
                     min_depth_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xyz (N, 3) float64, uv (N, 2) pixels, visible (N,) bool) of velodyne points (N, 3+)."""
    pts = np.asarray(points_velo)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise CalibrationError(f"overlay: expected (N, 3+) lidar points, got shape {pts.shape}")
    xyz = pts[:, :3].astype(np.float64)
    finite = np.all(np.isfinite(xyz), axis=1)
    uv, depth = calib.project_velo(np.where(finite[:, None], xyz, 0.0), cam)
    h, w = image_hw
    with np.errstate(invalid="ignore"):
        keep = (finite & (depth > min_depth_m) & (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5)
                & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5))
    return xyz, uv, keep


def visible_points(points_velo: np.ndarray, calib: KittiCalib, cam: int, image_hw: tuple[int, int],
                   min_depth_m: float = 0.5) -> np.ndarray:
    """(N,) bool: which velodyne points (N, 3+, metres) :func:`lidar_overlay` draws into an image of
    ``image_hw`` (height, width) pixels: finite, more than ``min_depth_m`` in front of camera
    ``cam`` and projecting inside the image."""
    return _project_visible(points_velo, calib, cam, image_hw, min_depth_m)[2]


def lidar_overlay(
    image_bgr: np.ndarray,
    points_velo: np.ndarray,
    calib: KittiCalib,
    cam: int = 2,
    radius: int = 1,
    max_range_m: float = 50.0,
    min_depth_m: float = 0.5,
) -> np.ndarray:
    """A copy of ``image_bgr`` (H, W, 3) uint8 with the lidar points that fall inside it drawn on.

    ``points_velo`` (N, 3+) in the velodyne frame (metres; extra columns ignored). Points closer
    than ``min_depth_m`` to the camera plane or outside the image are skipped. Colour encodes the
    range ``|p|`` from the lidar, saturating at ``max_range_m``.
    """
    img = _check_image(image_bgr).copy()
    xyz, uv, keep = _project_visible(points_velo, calib, cam, img.shape[:2], min_depth_m)
    idx = np.flatnonzero(keep)
    ranges = np.linalg.norm(xyz[idx], axis=1)
    order = idx[np.argsort(-ranges)]
    colors = range_colors(np.linalg.norm(xyz[order], axis=1), max_range_m)
    pix = np.round(uv[order]).astype(np.int32)
    for (u, v), c in zip(pix, colors, strict=True):
        cv2.circle(img, (int(u), int(v)), radius, (int(c[0]), int(c[1]), int(c[2])), -1, cv2.LINE_8)
    log.debug("lidar_overlay: drew %d of %d points into camera %d", len(order), len(xyz), cam)
    return img


def write_overlay(
    path: Path | str,
    image_bgr: np.ndarray,
    points_velo: np.ndarray,
    calib: KittiCalib,
    cam: int = 2,
    **style: float,
) -> np.ndarray:
    """Render :func:`lidar_overlay` and write it to ``path`` (PNG/JPEG by suffix); returns the image.

    ``style`` is passed on to :func:`lidar_overlay` (``radius``, ``max_range_m``, ``min_depth_m``).
    """
    out = lidar_overlay(image_bgr, points_velo, calib, cam, **style)  # type: ignore[arg-type]
    path = Path(path)
    try:
        ok = cv2.imwrite(str(path), out)
    except cv2.error as exc:
        raise CalibrationError(f"{path}: cannot write overlay ({exc.err})") from exc
    if not ok:
        raise CalibrationError(f"{path}: cannot write overlay (unknown extension or unwritable folder)")
    return out
