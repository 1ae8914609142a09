"""Ground-plane homography: image pixels <-> ground-plane metres, estimated from marked point pairs.

A camera looking at a flat ground maps ground points ``(x, y)`` (metres, in a ground frame of the
user's choice, e.g. x east, y north) to pixels ``(u, v)`` by a 3x3 homography. ``H`` here maps
**image to ground**: ``[x, y, 1] ~ H @ [u, v, 1]``. It is estimated from four or more pairs in
general position (no three collinear when there are exactly four) with ``cv2.findHomography``,
optionally with RANSAC to ignore mismarked pairs.

Pair files (``percept calibrate ground --pairs``):

* YAML: ``pairs:`` a list of ``{image: [u, v], ground: [x, y]}`` mappings or ``[u, v, x, y]``
  lists, and optionally ``image_size: [width, height]``;
* CSV: one pair per line ``u,v,x,y``; lines starting with ``#`` are comments, and the first
  other line may be a header naming the columns.

Ground calibration YAML (:func:`save_ground_yaml`, read by :func:`load_ground_yaml` and by scene
configs through ``calibration:``)::

    version: 1
    homography: [[h11, h12, h13], [h21, h22, h23], [h31, h32, h33]]  # image px -> ground m
    image_size: [960, 540]          # optional
    pairs: 6                        # informative: pairs used, inliers, reprojection errors
    inliers: 6
    rms_error_m: 0.012
    max_error_m: 0.031
    rms_error_px: 0.42
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from calib.errors import CalibrationError
from calib.formats import _fail, _get, _mapping, _numbers, _read_yaml, _unknown

__all__ = [
    "GroundCalibration",
    "GroundPairs",
    "apply_homography",
    "check_homography",
    "estimate_ground_homography",
    "homography_jacobian",
    "load_ground_yaml",
    "read_pairs",
    "save_ground_yaml",
]

#: ``w`` of the projective divide at or below which a point is at/behind the horizon (no ground point).
HORIZON_EPS = 1e-12


def apply_homography(H: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) float64 ``H``-mapped points of (N, 2) ``points``; NaN rows where ``w <= 0`` (for an
    image->ground ``H``: pixels at or above the horizon)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h = np.asarray(H, dtype=np.float64)
    w = pts @ h[2, :2] + h[2, 2]
    ok = w > HORIZON_EPS
    out = np.full((len(pts), 2), np.nan)
    num = pts[ok] @ h[:2, :2].T + h[:2, 2]
    out[ok] = num / w[ok, None]
    return out


def homography_jacobian(H: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2, 2) derivative of the ``H``-mapped point w.r.t. the input point at each of (N, 2)
    ``points`` (for image->ground: metres per pixel); NaN where ``w <= 0``."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h = np.asarray(H, dtype=np.float64)
    mapped = apply_homography(h, pts)
    w = pts @ h[2, :2] + h[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        jac = (h[None, :2, :2] - mapped[:, :, None] * h[None, 2:3, :2]) / w[:, None, None]
    jac[~(w > HORIZON_EPS)] = np.nan
    return jac


@dataclass(frozen=True)
class GroundPairs:
    """Marked correspondences: ``image`` (N, 2) pixels and ``ground`` (N, 2) metres, row by row."""

    image: np.ndarray
    ground: np.ndarray
    image_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class GroundCalibration:
    """An image->ground homography and how well it fits its pairs.

    Attributes:
        H: (3, 3) float64, image pixels -> ground metres, normalised to ``H[2, 2] = 1``.
        image_size: ``(width, height)`` pixels, if known.
        pairs: number of pairs given; inliers: (N,) bool, the pairs the fit used.
        rms_error_m, max_error_m: ground-side reprojection error over the inliers, metres.
        rms_error_px: image-side error (ground points mapped back by ``H^-1``), pixels.
    """

    H: np.ndarray
    image_size: tuple[int, int] | None = None
    pairs: int = 0
    inliers: np.ndarray | None = None
    rms_error_m: float = math.nan
    max_error_m: float = math.nan
    rms_error_px: float = math.nan

    @property
    def inlier_count(self) -> int:
        return int(self.pairs if self.inliers is None else np.count_nonzero(self.inliers))


def _check_general_position(pts: np.ndarray, what: str, where: str) -> None:
    """Refuse point sets a homography cannot be fitted to: all collinear, or (four points) three."""
    span = float(np.ptp(pts, axis=0).max()) or 1.0
    tol = 1e-6 * span * span

    def area(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return abs(float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))) / 2.0

    if len(pts) == 4:
        for i, j, k in itertools.combinations(range(4), 3):
            if area(pts[i], pts[j], pts[k]) <= tol:
                raise CalibrationError(f"{where}: {what} points {i + 1}, {j + 1} and {k + 1} are collinear; "
                                       "four pairs need no three in a line")
    centred = pts - pts.mean(axis=0)
    if np.linalg.svd(centred, compute_uv=False)[-1] <= 1e-6 * span * math.sqrt(len(pts)):
        raise CalibrationError(f"{where}: all {what} points lie on one line")


def estimate_ground_homography(pairs: GroundPairs, ransac: bool = False, ransac_threshold_m: float = 0.5,
                               where: str = "pairs") -> GroundCalibration:
    """Fit ``H`` (image -> ground) to ``pairs``; raise :class:`CalibrationError` (one line) when
    there are fewer than 4 pairs, they are degenerate, or the fit fails."""
    img, gnd = np.asarray(pairs.image, np.float64), np.asarray(pairs.ground, np.float64)
    if img.shape != gnd.shape or img.ndim != 2 or img.shape[1] != 2:
        raise CalibrationError(f"{where}: expected (N, 2) image and ground points, "
                               f"got {img.shape} and {gnd.shape}")
    if len(img) < 4:
        raise CalibrationError(f"{where}: need at least 4 image<->ground pairs, got {len(img)}")
    if not (np.all(np.isfinite(img)) and np.all(np.isfinite(gnd))):
        raise CalibrationError(f"{where}: points must be finite numbers")
    _check_general_position(img, "image", where)
    _check_general_position(gnd, "ground", where)
    method = cv2.RANSAC if ransac else 0
    H, mask = cv2.findHomography(img, gnd, method, ransac_threshold_m)
    if H is None or not np.all(np.isfinite(H)) or abs(H[2, 2]) < 1e-12 or abs(np.linalg.det(H)) < 1e-15:
        raise CalibrationError(f"{where}: no homography fits these pairs (degenerate or inconsistent)")
    H = H / H[2, 2]
    inliers = np.ones(len(img), bool) if mask is None else mask.reshape(-1).astype(bool)
    mapped = apply_homography(H, img[inliers])
    if not np.all(np.isfinite(mapped)):
        raise CalibrationError(f"{where}: the fitted homography puts marked image points beyond the horizon")
    err_m = np.linalg.norm(mapped - gnd[inliers], axis=1)
    back = apply_homography(np.linalg.inv(H), gnd[inliers])
    err_px = np.linalg.norm(back - img[inliers], axis=1)
    return GroundCalibration(H=H, image_size=pairs.image_size, pairs=len(img), inliers=inliers,
                             rms_error_m=float(np.sqrt(np.mean(err_m**2))), max_error_m=float(err_m.max()),
                             rms_error_px=float(np.sqrt(np.nanmean(err_px**2))))


def _image_size(value: Any, path: Path | str, key: str) -> tuple[int, int]:
    size = _numbers(value, path, key, n=2)
    if np.any(size <= 0) or np.any(size != np.round(size)):
        raise _fail(path, key, f"expected [width, height] positive integers, got {value!r}")
    return int(size[0]), int(size[1])


def _pair_row(item: Any, path: Path | str, key: str) -> np.ndarray:
    if isinstance(item, Mapping):
        _unknown(item, {"image", "ground"}, path, key)
        return np.concatenate([_numbers(_get(item, "image", path, key), path, f"{key}.image", n=2),
                               _numbers(_get(item, "ground", path, key), path, f"{key}.ground", n=2)])
    if isinstance(item, list):
        return _numbers(item, path, key, n=4)
    raise _fail(path, key, f"expected {{image: [u, v], ground: [x, y]}} or [u, v, x, y], got {item!r}")


def _read_csv(path: Path) -> np.ndarray:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot read ({exc})") from exc
    rows: list[list[float]] = []
    header = False
    for lineno, row in enumerate(csv.reader(lines), start=1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells or cells[0].startswith("#"):
            continue
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if not rows and not header:
                header = True  # the first line that is not a comment may name the columns
                continue
            raise CalibrationError(f"{path}: line {lineno}: expected numbers u,v,x,y, got {row}") from None
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise CalibrationError(f"{path}: line {lineno}: expected 4 finite numbers u,v,x,y, "
                                   f"got {len(values)}")
        rows.append(values)
    return np.array(rows, np.float64).reshape(-1, 4)


def read_pairs(path: Path | str) -> GroundPairs:
    """Image<->ground pairs from a ``.csv`` or YAML file (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise CalibrationError(f"{p}: no such file")
    size = None
    if p.suffix.lower() == ".csv":
        rows = _read_csv(p)
    else:
        doc = _mapping(_read_yaml(p), p, "(top level)")
        _unknown(doc, {"pairs", "image_size"}, p, "")
        items = _get(doc, "pairs", p, "")
        if not isinstance(items, list):
            raise _fail(p, "pairs", f"expected a list, got {type(items).__name__}")
        rows = np.array([_pair_row(it, p, f"pairs[{i}]") for i, it in enumerate(items)]).reshape(-1, 4)
        if "image_size" in doc:
            size = _image_size(doc["image_size"], p, "image_size")
    return GroundPairs(image=rows[:, :2], ground=rows[:, 2:], image_size=size)


def save_ground_yaml(path: Path | str, calib: GroundCalibration) -> None:
    """Write ``calib`` as a ground calibration YAML (see the module docstring)."""
    doc: dict[str, Any] = {"version": 1, "homography": [[float(x) for x in row] for row in calib.H]}
    if calib.image_size is not None:
        doc["image_size"] = [int(calib.image_size[0]), int(calib.image_size[1])]
    doc.update(pairs=calib.pairs, inliers=calib.inlier_count, rms_error_m=calib.rms_error_m,
               max_error_m=calib.max_error_m, rms_error_px=calib.rms_error_px)
    Path(path).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def check_homography(value: Any, path: Path | str, key: str) -> np.ndarray:
    """A (3, 3) float64 invertible, finite homography from 3 rows of 3 numbers (or 9 numbers)."""
    H = _numbers(value, path, key, n=9, rows=3).reshape(3, 3)
    if abs(np.linalg.det(H)) < 1e-15:
        raise _fail(path, key, "homography is singular")
    return H


def load_ground_yaml(path: Path | str) -> GroundCalibration:
    """Read a ground calibration YAML; errors name the file and key."""
    p = Path(path)
    doc = _mapping(_read_yaml(p), p, "(top level)")
    _unknown(doc, {"version", "homography", "image_size", "pairs", "inliers", "rms_error_m", "max_error_m",
                   "rms_error_px"}, p, "")
    if _get(doc, "version", p, "") != 1:
        raise _fail(p, "version", f"expected 1, got {doc['version']!r}")
    H = check_homography(_get(doc, "homography", p, ""), p, "homography")
    size = _image_size(doc["image_size"], p, "image_size") if "image_size" in doc else None
    info = {k: float(doc[k]) for k in ("rms_error_m", "max_error_m", "rms_error_px")
            if isinstance(doc.get(k), float | int) and not isinstance(doc.get(k), bool)}
    pairs = doc.get("pairs", 0)
    return GroundCalibration(H=H / H[2, 2] if abs(H[2, 2]) > 1e-12 else H, image_size=size,
                             pairs=pairs if isinstance(pairs, int) else 0, **info)
