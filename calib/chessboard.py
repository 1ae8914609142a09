"""Intrinsic camera calibration from views of a planar chessboard (OpenCV).

The board is described by its number of *inner* corners ``(cols, rows)`` and the side of one
square in metres. Its frame: origin at the first inner corner, x along the ``cols`` direction,
y along ``rows``, z out of the board plane; corners lie at ``(i * square_m, j * square_m, 0)``.

Each frame goes through: corner detection (:func:`find_corners`) -> blur check (variance of the
Laplacian inside the board's bounding box) -> degeneracy checks (squares too small, near-duplicate
of an accepted view) -> at most ``max_views`` spread over the sequence -> a first calibration ->
rejection of views with a reprojection RMS above ``max_view_error_px`` or a board seen more
obliquely than ``max_tilt_deg`` -> the final calibration. Rejections are counted per reason in
:attr:`CalibrationResult.rejected`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from calib.camera import CameraModel
from calib.errors import CalibrationError
from percept.imagefiles import IMAGE_SUFFIXES
from percept.imagefiles import list_images as list_image_files

log = logging.getLogger(__name__)

REJECT_REASONS = ("no_board", "blurred", "degenerate", "outlier", "surplus")
_TERM = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-9)
_SUBPIX_TERM = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-3)
_MAX_REFITS = 3


@dataclass(frozen=True)
class ChessboardConfig:
    """Settings of a chessboard calibration.

    Attributes:
        board: inner corners ``(cols, rows)`` (a board of 10 x 7 squares has 9 x 6).
        square_m: side of one square, metres (sets the scale of extrinsics only).
        min_views: fewest usable views to calibrate from.
        max_views: most views used; surplus views are dropped evenly over the sequence.
        blur_threshold: variance of the Laplacian (grey levels^2) inside the board's bounding box
            below which a view is rejected as blurred.
        model: ``"pinhole"`` (OpenCV radtan k1, k2, p1, p2, k3) or ``"fisheye"`` (k1..k4).
        max_view_error_px: views whose reprojection RMS after a first calibration exceeds this are
            rejected as outliers and the calibration re-run.
        min_square_px: views whose median corner spacing is below this (board too small) are
            rejected as degenerate.
        min_pose_change: views whose corners moved on average less than this fraction of the image
            diagonal from an accepted view are rejected as degenerate (near-duplicate pose).
        max_tilt_deg: views where the board normal is more than this from the line of sight are
            rejected as degenerate (too oblique) after the first calibration.
    """

    board: tuple[int, int] = (9, 6)
    square_m: float = 0.025
    min_views: int = 8
    max_views: int = 60
    blur_threshold: float = 15.0
    model: Literal["pinhole", "fisheye"] = "pinhole"
    max_view_error_px: float = 1.0
    min_square_px: float = 6.0
    min_pose_change: float = 0.02
    max_tilt_deg: float = 75.0

    def __post_init__(self) -> None:
        b = tuple(self.board)
        if len(b) != 2 or not all(isinstance(n, int | np.integer) and n >= 3 for n in b):
            raise CalibrationError(
                f"board: expected two inner-corner counts >= 3 (cols, rows), got {self.board}")
        object.__setattr__(self, "board", (int(b[0]), int(b[1])))
        if self.model not in ("pinhole", "fisheye"):
            raise CalibrationError(f"model: expected 'pinhole' or 'fisheye', got {self.model!r}")
        if not self.square_m > 0:
            raise CalibrationError(f"square_m: expected a positive size in metres, got {self.square_m}")
        if not 3 <= self.min_views <= self.max_views:
            raise CalibrationError(
                f"min_views/max_views: expected 3 <= min_views <= max_views, "
                f"got {self.min_views}/{self.max_views}"
            )
        for name in ("blur_threshold", "max_view_error_px", "min_square_px", "min_pose_change"):
            if not getattr(self, name) >= 0:
                raise CalibrationError(f"{name}: expected a value >= 0, got {getattr(self, name)}")
        if not 0 < self.max_tilt_deg <= 90:
            raise CalibrationError(f"max_tilt_deg: expected a value in (0, 90], got {self.max_tilt_deg}")

    def object_points(self) -> np.ndarray:
        """(cols * rows, 3) float64 corner positions in the board frame, metres, row-major."""
        cols, rows = self.board
        grid = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * self.square_m
        return np.concatenate([grid, np.zeros((grid.shape[0], 1))], axis=1)


@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of :func:`calibrate`.

    Attributes:
        camera: the calibrated intrinsics.
        rms: overall reprojection RMS of the final calibration, pixels.
        per_view_errors: reprojection RMS of each used view, pixels, in input order.
        views_used: number of views in the final calibration.
        rejected: count of rejected frames per reason (see ``REJECT_REASONS``).
        image_size: ``(width, height)`` of the frames, pixels.
        view_indices: index in the input sequence of each used view (aligned with per_view_errors).
    """

    camera: CameraModel
    rms: float
    per_view_errors: list[float]
    views_used: int
    rejected: dict[str, int]
    image_size: tuple[int, int]
    view_indices: list[int] = field(default_factory=list)


def find_corners(gray: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """Sub-pixel inner corners of a chessboard in an (H, W) uint8 image, or None if not found.

    Returns (cols * rows, 2) float32 pixel coordinates (OpenCV convention: pixel centres at
    integers), one board row after the other. Tries ``cv2.findChessboardCornersSB`` first, then
    the classic detector refined with ``cv2.cornerSubPix``.
    """
    ok, corners = cv2.findChessboardCornersSB(gray, board, flags=cv2.CALIB_CB_NORMALIZE_IMAGE)
    if ok and corners is not None:
        return corners.reshape(-1, 2).astype(np.float32)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    ok, corners = cv2.findChessboardCorners(gray, board, flags=flags)
    if not ok or corners is None:
        return None
    spacing = _median_spacing(corners.reshape(-1, 2), board)
    win = int(np.clip(spacing / 3.0, 2, 11))
    corners = cv2.cornerSubPix(gray, corners.astype(np.float32), (win, win), (-1, -1), _SUBPIX_TERM)
    return corners.reshape(-1, 2).astype(np.float32)


def list_images(directory: str | Path) -> list[Path]:
    """Image files (by suffix, see ``IMAGE_SUFFIXES``) directly in ``directory``, sorted by name."""
    d = Path(directory)
    if not d.is_dir():
        raise CalibrationError(f"{d}: not a folder of calibration images")
    paths = sorted(list_image_files(d))  # by name, as calibration has always ordered its views
    if not paths:
        raise CalibrationError(f"{d}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return paths


def read_images(paths: Iterable[Path]) -> Iterator[tuple[Path, np.ndarray]]:
    """``(path, (H, W) uint8 grey image)`` for each readable path; unreadable ones are logged, skipped."""
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if img is None:
            log.warning("%s: unreadable image, skipped", p)
            continue
        yield p, img


def frames_from_images(directory: str | Path) -> Iterator[np.ndarray]:
    """(H, W) uint8 grey frames of the images in ``directory`` (sorted by name).

    Raises CalibrationError at once for a missing or empty folder; an unreadable file is logged
    and skipped.
    """
    paths = list_images(directory)
    return (img for _, img in read_images(paths))


def frames_from_video(path: str | Path, step: int = 1) -> Iterator[np.ndarray]:
    """Every ``step``-th frame of a video file as (H, W) uint8 grey images.

    Raises CalibrationError at once when the file is missing, cannot be opened or has no frame.
    """
    p = Path(path)
    if step < 1:
        raise CalibrationError(f"step: expected a positive frame step, got {step}")
    if not p.is_file():
        raise CalibrationError(f"{p}: no such video file")
    cap = cv2.VideoCapture(str(p))
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok or first is None:
        cap.release()
        raise CalibrationError(f"{p}: unreadable video (OpenCV could not decode a first frame)")

    def gen() -> Iterator[np.ndarray]:
        try:
            frame: np.ndarray | None = first
            while frame is not None:
                yield _to_gray(frame, "video frame")
                for _ in range(step - 1):
                    if not cap.grab():
                        return
                ok, frame = cap.read()
                if not ok:
                    return
        finally:
            cap.release()

    return gen()


def calibrate(frames: Iterable[np.ndarray], config: ChessboardConfig | None = None) -> CalibrationResult:
    """Calibrate intrinsics from frames ((H, W) grey or (H, W, 3) BGR, uint8) showing the board.

    Raises CalibrationError when no frame is given, frames differ in size, no board is found
    in any frame, or fewer than ``config.min_views`` views survive the checks.
    """
    cfg = config or ChessboardConfig()
    rejected = dict.fromkeys(REJECT_REASONS, 0)
    indices: list[int] = []
    corners: list[np.ndarray] = []
    size: tuple[int, int] | None = None
    n_frames = 0
    for idx, frame in enumerate(frames):
        n_frames += 1
        gray = _to_gray(frame, f"frame {idx}")
        h, w = gray.shape
        if size is None:
            size = (w, h)
        elif size != (w, h):
            raise CalibrationError(
                f"frame {idx}: image size {w}x{h} differs from the first frame's {size[0]}x{size[1]}; "
                "all calibration images must come from one camera at one resolution"
            )
        c = find_corners(gray, cfg.board)
        if c is None:
            rejected["no_board"] += 1
            log.debug("frame %d: no %dx%d chessboard found", idx, *cfg.board)
            continue
        sharpness = board_sharpness(gray, c)
        if sharpness < cfg.blur_threshold:
            rejected["blurred"] += 1
            log.debug("frame %d: blurred (Laplacian variance %.1f < %.1f)", idx, sharpness,
                      cfg.blur_threshold)
            continue
        why = _degenerate(c, corners, size, cfg)
        if why:
            rejected["degenerate"] += 1
            log.debug("frame %d: degenerate view (%s)", idx, why)
            continue
        indices.append(idx)
        corners.append(c)
    if n_frames == 0 or size is None:
        raise CalibrationError("no frames to calibrate from (empty folder, unreadable images or video)")
    if rejected["no_board"] == n_frames:
        raise CalibrationError(
            f"no chessboard with {cfg.board[0]}x{cfg.board[1]} inner corners found in any of the "
            f"{n_frames} frames (the board size counts inner corners, cols x rows)"
        )
    if len(corners) > cfg.max_views:
        keep = np.unique(np.linspace(0, len(corners) - 1, cfg.max_views).round().astype(int))
        rejected["surplus"] += len(corners) - len(keep)
        indices = [indices[i] for i in keep]
        corners = [corners[i] for i in keep]
    _require_views(len(corners), n_frames, rejected, cfg)

    camera, rms, errors, tilts = _fit(corners, size, cfg)
    for _ in range(_MAX_REFITS):
        bad_err = errors > cfg.max_view_error_px
        bad_tilt = tilts > cfg.max_tilt_deg
        if not (bad_err | bad_tilt).any():
            break
        for i in np.flatnonzero(bad_err | bad_tilt):
            log.info("view %d rejected: reprojection RMS %.3f px, board tilt %.1f deg",
                     indices[i], errors[i], tilts[i])
        rejected["outlier"] += int((bad_err & ~bad_tilt).sum())
        rejected["degenerate"] += int(bad_tilt.sum())
        keep_idx = np.flatnonzero(~(bad_err | bad_tilt))
        indices = [indices[i] for i in keep_idx]
        corners = [corners[i] for i in keep_idx]
        _require_views(len(corners), n_frames, rejected, cfg)
        camera, rms, errors, tilts = _fit(corners, size, cfg)
    else:
        if (errors > cfg.max_view_error_px).any():
            log.warning("after %d re-calibrations %d views still exceed %.2f px", _MAX_REFITS,
                        int((errors > cfg.max_view_error_px).sum()), cfg.max_view_error_px)
    log.info("calibrated %s camera %dx%d from %d views: RMS %.3f px, fx %.2f fy %.2f cx %.2f cy %.2f",
             cfg.model, size[0], size[1], len(corners), rms, camera.fx, camera.fy, camera.cx, camera.cy)
    return CalibrationResult(camera=camera, rms=rms, per_view_errors=[float(e) for e in errors],
                             views_used=len(corners), rejected=rejected, image_size=size,
                             view_indices=indices)


def board_sharpness(gray: np.ndarray, corners: np.ndarray) -> float:
    """Variance of the Laplacian (grey levels^2) in the bounding box of the (N, 2) corners."""
    spacing = _median_spacing(corners, None)
    lo = np.floor(corners.min(axis=0) - spacing).astype(int)
    hi = np.ceil(corners.max(axis=0) + spacing).astype(int)
    h, w = gray.shape
    roi = gray[max(lo[1], 0):min(hi[1], h), max(lo[0], 0):min(hi[0], w)]
    if roi.size < 9:
        return 0.0
    return float(cv2.Laplacian(roi, cv2.CV_64F).var())


# ---------------------------------------------------------------------- internals
def _to_gray(frame: np.ndarray, what: str) -> np.ndarray:
    img = np.asarray(frame)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.dtype != np.uint8:
        raise CalibrationError(f"{what}: expected a uint8 image, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if img.ndim != 2:
        raise CalibrationError(f"{what}: expected an (H, W) or (H, W, 3) image, got shape {img.shape}")
    return np.ascontiguousarray(img)


def _median_spacing(corners: np.ndarray, board: tuple[int, int] | None) -> float:
    """Median distance (pixels) between consecutive corners along board rows."""
    c = corners.reshape(-1, 2)
    d = np.linalg.norm(np.diff(c, axis=0), axis=1)
    if board is not None:
        cols = board[0]
        d = d[(np.arange(d.size) % cols) != cols - 1]  # drop the jumps between rows
    return float(np.median(d)) if d.size else 0.0


def _degenerate(c: np.ndarray, accepted: list[np.ndarray], size: tuple[int, int],
                cfg: ChessboardConfig) -> str:
    """Why the (N, 2) corners make a degenerate view, or ``""``."""
    spacing = _median_spacing(c, cfg.board)
    if spacing < cfg.min_square_px:
        return f"board too small: squares {spacing:.1f} px < {cfg.min_square_px} px"
    diag = float(np.hypot(*size))
    for prev in accepted:
        move = min(np.linalg.norm(c - prev, axis=1).mean(), np.linalg.norm(c[::-1] - prev, axis=1).mean())
        if move < cfg.min_pose_change * diag:
            return f"near-duplicate pose: corners moved {move:.1f} px on average"
    return ""


def _require_views(n: int, n_frames: int, rejected: dict[str, int], cfg: ChessboardConfig) -> None:
    if n >= cfg.min_views:
        return
    raise CalibrationError(
        f"only {n} usable views of the {cfg.board[0]}x{cfg.board[1]} chessboard, need at least "
        f"{cfg.min_views}; of {n_frames} frames: {rejected['no_board']} without a board, "
        f"{rejected['blurred']} blurred, {rejected['degenerate']} degenerate (near-duplicate pose, "
        f"board too small or too oblique), {rejected['outlier']} with a reprojection RMS above "
        f"{cfg.max_view_error_px} px, {rejected['surplus']} surplus"
    )


def _fit(corners: list[np.ndarray], size: tuple[int, int],
         cfg: ChessboardConfig) -> tuple[CameraModel, float, np.ndarray, np.ndarray]:
    """One OpenCV calibration: (camera, rms, (V,) per-view RMS px, (V,) board tilt degrees)."""
    obj = cfg.object_points()
    try:
        if cfg.model == "fisheye":
            objs = [obj.reshape(1, -1, 3).astype(np.float64) for _ in corners]  # (1, N, 3): OpenCV 5
            imgs = [c.reshape(1, -1, 2).astype(np.float64) for c in corners]
            flags = _fisheye_flag("CALIB_RECOMPUTE_EXTRINSIC") | _fisheye_flag("CALIB_FIX_SKEW")
            rms, K, D, rvecs, tvecs = cv2.fisheye.calibrate(objs, imgs, size, np.eye(3), np.zeros(4),
                                                            flags=flags, criteria=_TERM)
            errors = []
            for o, im, r, t in zip(objs, imgs, rvecs, tvecs, strict=True):
                proj, _ = cv2.fisheye.projectPoints(o, r, t, K, D)
                errors.append(np.sqrt(np.mean(np.sum((proj - im).reshape(-1, 2) ** 2, axis=1))))
            per_view = np.asarray(errors, dtype=np.float64)
        else:
            objs = [obj.astype(np.float32) for _ in corners]
            imgs = [c.reshape(-1, 1, 2).astype(np.float32) for c in corners]
            rms, K, D, rvecs, tvecs, _, _, per_view = cv2.calibrateCameraExtended(
                objs, imgs, size, None, None, flags=0, criteria=_TERM)
            per_view = np.asarray(per_view, dtype=np.float64).reshape(-1)
    except cv2.error as exc:
        raise CalibrationError(
            f"OpenCV {cfg.model} calibration failed on {len(corners)} views: {exc}") from exc
    centre = obj.mean(axis=0)
    tilts = []
    for r, t in zip(rvecs, tvecs, strict=True):
        R = cv2.Rodrigues(np.asarray(r, dtype=np.float64))[0]
        sight = R @ centre + np.asarray(t, dtype=np.float64).reshape(3)
        cosang = abs(float(R[:, 2] @ sight)) / max(float(np.linalg.norm(sight)), 1e-12)
        tilts.append(np.degrees(np.arccos(min(cosang, 1.0))))
    camera = CameraModel(size[0], size[1], np.asarray(K, dtype=np.float64),
                         np.asarray(D, dtype=np.float64).reshape(-1), cfg.model)
    return camera, float(rms), per_view, np.asarray(tilts)


def _fisheye_flag(name: str) -> int:
    """A fisheye calibration flag: ``cv2.fisheye.NAME`` in OpenCV 4, ``cv2.NAME`` in OpenCV 5."""
    value = getattr(cv2.fisheye, name, None)
    return int(value if value is not None else getattr(cv2, name))
