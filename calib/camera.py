"""Camera intrinsics: the pinhole (OpenCV radtan) and fisheye (Kannala-Brandt) models.

Conventions used throughout ``calib``:

* Camera frame: x right, y down, z forward (optical axis), metres.
* Pixels: OpenCV convention, the centre of the top-left pixel is (0, 0); u grows right, v down.
* ``K`` is the (3, 3) float64 intrinsic matrix ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``.
* ``dist`` is a (k,) float64 vector: for ``model="pinhole"`` OpenCV's radial-tangential
  coefficients ``(k1, k2, p1, p2[, k3[, k4, k5, k6[, s1..s4[, tx, ty]]]])`` (k in 0, 4, 5, 8, 12,
  14); for ``model="fisheye"`` OpenCV's fisheye coefficients ``(k1, k2, k3, k4)``.

All heavy lifting is done by OpenCV (``cv2.projectPoints``, ``cv2.fisheye.*``,
``cv2.undistortPoints``, ``cv2.initUndistortRectifyMap``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from calib.errors import CalibrationError
from calib.transform import set_read_only

CameraModelKind = Literal["pinhole", "fisheye"]
PINHOLE_DIST_SIZES = (0, 4, 5, 8, 12, 14)
FISHEYE_DIST_SIZES = (0, 4)
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


def _as_points(points: np.ndarray, dim: int, what: str) -> np.ndarray:
    """``points`` as a contiguous (N, dim) float64 array, or CalibrationError naming ``what``."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1 and arr.size == dim:
        arr = arr.reshape(1, dim)
    if arr.ndim != 2 or arr.shape[1] < dim:
        raise CalibrationError(f"{what}: expected an (N, {dim}) array, got shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :dim])


def _k_entry(row: int, col: int, doc: str) -> property:
    """Read-only float property ``K[row, col]`` of a :class:`CameraModel` (pixels)."""
    return property(lambda self: float(self.K[row, col]), doc=doc)


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera: image size in pixels, ``K`` (3, 3) and distortion ``dist`` (k,).

    Construction validates shapes, positive focal lengths, positive image size and the number of
    distortion coefficients for the model, raising :class:`CalibrationError`. Arrays are copied to
    float64 and made read-only, so a model can be shared between threads.
    """

    width: int
    height: int
    K: np.ndarray
    dist: np.ndarray
    model: CameraModelKind = "pinhole"

    def __post_init__(self) -> None:
        if self.model not in ("pinhole", "fisheye"):
            raise CalibrationError(f"model: expected 'pinhole' or 'fisheye', got {self.model!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
                raise CalibrationError(f"{name}: expected a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        try:
            K = np.array(self.K, dtype=np.float64)
            dist = np.array(self.dist, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"K/dist: not numeric arrays ({exc})") from exc
        if K.size == 9 and K.shape != (3, 3):
            K = K.reshape(3, 3)
        if K.shape != (3, 3):
            raise CalibrationError(f"K: expected a (3, 3) matrix, got shape {K.shape}")
        if not np.all(np.isfinite(K)):
            raise CalibrationError(f"K: contains non-finite values: {K.tolist()}")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise CalibrationError(f"K: focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}")
        if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0.0:
            raise CalibrationError(f"K: expected last row [0, 0, 1] and K[1,0] = 0, got {K.tolist()}")
        sizes = PINHOLE_DIST_SIZES if self.model == "pinhole" else FISHEYE_DIST_SIZES
        if dist.size not in sizes:
            raise CalibrationError(
                f"dist: the {self.model} model takes {' or '.join(map(str, sizes))} coefficients, "
                f"got {dist.size}"
            )
        if not np.all(np.isfinite(dist)):
            raise CalibrationError(f"dist: contains non-finite values: {dist.tolist()}")
        if self.model == "fisheye" and dist.size == 0:
            dist = np.zeros(4)
        set_read_only(self, K=K, dist=dist)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CameraModel):
            return NotImplemented
        return (
            (self.width, self.height, self.model) == (other.width, other.height, other.model)
            and np.array_equal(self.K, other.K)
            and np.array_equal(self.dist, other.dist)
        )

    def __hash__(self) -> int:
        return hash((self.width, self.height, self.model, self.K.tobytes(), self.dist.tobytes()))

    # ------------------------------------------------------------------ accessors
    fx = _k_entry(0, 0, "Focal length along u, pixels.")
    fy = _k_entry(1, 1, "Focal length along v, pixels.")
    cx = _k_entry(0, 2, "Principal point u, pixels.")
    cy = _k_entry(1, 2, "Principal point v, pixels.")

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels, the order OpenCV wants."""
        return (self.width, self.height)

    def is_distorted(self) -> bool:
        """True when any distortion coefficient is non-zero."""
        return bool(np.any(self.dist != 0.0))

    # ------------------------------------------------------------------ geometry
    def project(self, points: np.ndarray) -> np.ndarray:
        """Project (N, 3) camera-frame points (metres) to (N, 2) float64 pixels, with distortion.

        Points with ``z <= 0`` (behind or on the camera plane) give NaN rows.
        """
        pts = _as_points(points, 3, "project: points")
        out = np.full((pts.shape[0], 2), np.nan, dtype=np.float64)
        front = pts[:, 2] > 0.0
        if not np.any(front):
            return out
        obj = pts[front].reshape(-1, 1, 3)
        zero = np.zeros((3, 1), dtype=np.float64)
        if self.model == "fisheye":
            img, _ = cv2.fisheye.projectPoints(obj, zero, zero, self.K, self.dist)
        else:
            img, _ = cv2.projectPoints(obj, zero, zero, self.K, self.dist)
        out[front] = img.reshape(-1, 2)
        return out

    def _normalized(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) distorted pixels -> (N, 2) undistorted normalized coordinates x/z, y/z."""
        px = _as_points(pixels, 2, "pixels").reshape(-1, 1, 2)
        if px.shape[0] == 0:
            return np.zeros((0, 2))
        if self.model == "fisheye":
            und = cv2.fisheye.undistortPoints(px, self.K, self.dist, criteria=_UNDISTORT_CRITERIA)
        else:
            und = cv2.undistortPoints(px, self.K, self.dist, criteria=_UNDISTORT_CRITERIA)
        return und.reshape(-1, 2).astype(np.float64)

    def unproject(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) distorted pixels -> (N, 3) unit rays in the camera frame (distortion removed)."""
        xy = self._normalized(pixels)
        rays = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def undistort_points(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) distorted pixels -> (N, 2) pixels of the ideal (distortion-free) camera with K."""
        xy = self._normalized(pixels)
        return xy @ self.K[:2, :2].T + self.K[:2, 2]

    def undistorted(self, alpha: float = 0.0) -> CameraModel:
        """The distortion-free camera that :meth:`undistort_maps` renders into.

        ``alpha`` (0..1) as in ``cv2.getOptimalNewCameraMatrix`` (fisheye: the ``balance`` of
        ``cv2.fisheye.estimateNewCameraMatrixForUndistortRectify``): 0 keeps only valid pixels,
        1 keeps every source pixel.
        """
        if not 0.0 <= alpha <= 1.0:
            raise CalibrationError(f"alpha: expected a value in [0, 1], got {alpha}")
        if not self.is_distorted():
            return CameraModel(self.width, self.height, self.K, np.zeros(0), "pinhole")
        if self.model == "fisheye":
            new_k = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(
                self.K, self.dist, self.size, np.eye(3), balance=alpha
            )
        else:
            new_k, _ = cv2.getOptimalNewCameraMatrix(self.K, self.dist, self.size, alpha, self.size)
        return CameraModel(self.width, self.height, np.asarray(new_k), np.zeros(0), "pinhole")

    def undistort_maps(self, alpha: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``(map1, map2)`` (H, W) float32 x and y source coordinates for ``cv2.remap``.

        ``cv2.remap(img, map1, map2, cv2.INTER_LINEAR)`` renders the image of
        ``self.undistorted(alpha)``.
        """
        new_k = self.undistorted(alpha).K
        if self.model == "fisheye":
            m1, m2 = cv2.fisheye.initUndistortRectifyMap(
                self.K, self.dist, np.eye(3), new_k, self.size, cv2.CV_32FC1
            )
        else:
            m1, m2 = cv2.initUndistortRectifyMap(self.K, self.dist, np.eye(3), new_k, self.size, cv2.CV_32FC1)
        return m1, m2

    def scaled(self, sx: float, sy: float) -> CameraModel:
        """The same camera for an image resized by ``(sx, sy)`` (e.g. with ``cv2.resize``).

        Focal lengths scale by the factors; the principal point keeps OpenCV's pixel-centre
        convention (``c' = (c + 0.5) * s - 0.5``); the size is rounded to whole pixels.
        """
        if not (sx > 0 and sy > 0):
            raise CalibrationError(f"scaled: factors must be positive, got sx={sx}, sy={sy}")
        K = self.K.copy()
        K[0, 0] *= sx
        K[0, 1] *= sx
        K[1, 1] *= sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        w = max(1, round(self.width * sx))
        h = max(1, round(self.height * sy))
        return CameraModel(w, h, K, self.dist.copy(), self.model)

    def in_image(self, pixels: np.ndarray) -> np.ndarray:
        """(N,) bool: pixel centres inside ``[-0.5, width-0.5) x [-0.5, height-0.5)``, NaN -> False."""
        px = _as_points(pixels, 2, "pixels")
        with np.errstate(invalid="ignore"):
            return (
                (px[:, 0] >= -0.5)
                & (px[:, 0] < self.width - 0.5)
                & (px[:, 1] >= -0.5)
                & (px[:, 1] < self.height - 0.5)
            )
