"""Camera measurement models of the fusion tracker, through the camera calibration.

Both work in the ideal (undistorted) pinhole camera of :class:`calib.camera.CameraModel`: the
measured pixels are undistorted first (:mod:`fusion.fusion_inputs`), the tracks are projected
without distortion. Frames: the optical frame (x right, y down, z forward) posed in the fixed
frame by ``T_fixed_from_camera`` at the frame's stamp. See :mod:`fusion.measurements` for the
model interface (``R``, ``updated``, ``predict``, ``residual``).

* :class:`BearingModel` -- ``bearing`` (rad, ``atan2(x, z)``, positive right) and ``elevation``
  (rad, positive up) of the track's box centre, measured at the 2D box centre
  (:func:`bearings_from_rays`).
* :class:`CameraBoxModel` -- the four edges of the 2D box as angles: ``bearing_left``,
  ``bearing_right`` (``atan(x / z)`` of the leftmost and rightmost image column) and
  ``elevation_top``, ``elevation_bottom`` (``atan(-y / z)`` of the top and bottom row), predicted
  as the extremes of the track's 8 box corners (a tight 2D box of the 3D box, as an amodal
  detector draws it). Unlike the centre bearing it sees the range through the box's angular size
  and its bottom's depression below the horizon. :meth:`CameraBoxModel.hidden` tells which tracks
  the camera cannot see (behind it, or occluded by a nearer track).

Both are nonlinear (numeric Jacobians) and correct the centre and the motion only; the box edges
also width and height (:data:`fusion.measurements.MOTION_ROWS`).
"""

from __future__ import annotations

import numpy as np

from calib.transform import Transform
from fusion.geometry3d import bev_corners, wrap_angle
from fusion.measurements import MOTION_ROWS, BearingNoise
from fusion.motion_world import numeric_jacobian
from percept.boxes import box_area, box_intersection

#: Nearest depth (m, optical z) of a box corner :class:`CameraBoxModel` still predicts.
NEAR_M = 0.3
#: A track whose predicted 2D box is covered this much by a nearer track's is hidden from the camera.
HIDDEN_COVER = 0.5


def bearings_from_rays(rays: np.ndarray) -> np.ndarray:
    """(N, 2) ``bearing, elevation`` (rad) of rays (N, 3) in the optical frame (x right, y down,
    z forward; e.g. :meth:`calib.camera.CameraModel.unproject` of pixels)."""
    r = np.asarray(rays, np.float64).reshape(-1, 3)
    return np.stack([np.arctan2(r[:, 0], r[:, 2]), np.arctan2(-r[:, 1], np.hypot(r[:, 0], r[:, 2]))], axis=1)


class BearingModel:
    """Bearing and elevation (2,) of a track's centre seen by a camera at a pose in the fixed frame."""

    angle_rows = (0, 1)
    updated: tuple[int, ...] | None = MOTION_ROWS

    def __init__(self, noise: BearingNoise, T_fixed_from_camera: Transform) -> None:
        self.R = noise.matrix()
        self.T = T_fixed_from_camera

    def _h(self, X: np.ndarray) -> np.ndarray:
        c = (X[:, :3] - self.T.translation) @ self.T.rotation
        return np.stack([np.arctan2(c[:, 0], c[:, 2]), np.arctan2(-c[:, 1], np.hypot(c[:, 0], c[:, 2]))],
                        axis=1)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._h(X), numeric_jacobian(self._h, X, self.angle_rows)

    @staticmethod
    def residual(z: np.ndarray, zhat: np.ndarray) -> np.ndarray:
        return wrap_angle(z - zhat)


def box_corners(X: np.ndarray) -> np.ndarray:
    """(T, 8, 3) corners of track boxes ``X`` (T, >= 7; z-up fixed frame): the ground-plane
    footprint (:func:`fusion.geometry3d.bev_corners`) at the bottom, then at the top."""
    foot = bev_corners(X[:, :2], X[:, 4:6], X[:, 3])  # (T, 4, 2)
    low, high = X[:, 2] - X[:, 6] / 2, X[:, 2] + X[:, 6] / 2
    z = np.concatenate([np.repeat(low[:, None], 4, 1), np.repeat(high[:, None], 4, 1)], axis=1)
    return np.concatenate([np.concatenate([foot, foot], axis=1), z[..., None]], axis=2)


class CameraBoxModel:
    """The edges (4,) of the 2D box of a track's 3D box seen by a camera at a pose in the fixed
    frame: ``bearing_left, bearing_right, elevation_top, elevation_bottom`` (rad, module docstring).

    Args:
        noise: bearing noise of the left/right edges, elevation noise of the top/bottom edges.
        T_fixed_from_camera: the camera's (optical frame) pose at the frame's stamp.
    """

    angle_rows = (0, 1, 2, 3)
    updated: tuple[int, ...] | None = (*MOTION_ROWS, 5, 6)

    def __init__(self, noise: BearingNoise, T_fixed_from_camera: Transform) -> None:
        b, e = noise.bearing_std, noise.elevation_std
        self.R = np.diag(np.square([b, b, e, e]))
        self.size_fraction = noise.size_fraction
        self.T = T_fixed_from_camera

    def noise(self, z: np.ndarray) -> np.ndarray:
        """(D, 4, 4) covariances of the box edges ``z`` (D, 4) (see :class:`BearingNoise`)."""
        z = np.asarray(z, np.float64).reshape(-1, 4)
        extent = np.abs(np.stack([z[:, 1] - z[:, 0], z[:, 1] - z[:, 0], z[:, 2] - z[:, 3],
                                  z[:, 2] - z[:, 3]], axis=1))
        var = np.diag(self.R)[None, :] + (self.size_fraction * extent) ** 2
        return var[:, :, None] * np.eye(4)[None]

    def _h(self, X: np.ndarray) -> np.ndarray:
        c = (box_corners(X) - self.T.translation) @ self.T.rotation  # (T, 8, 3) optical frame
        depth = c[..., 2]
        front = depth.min(axis=1) > NEAR_M
        safe = np.where(depth > NEAR_M, depth, 1.0)
        xn, yn = c[..., 0] / safe, c[..., 1] / safe
        out = np.stack([np.arctan(xn.min(1)), np.arctan(xn.max(1)), np.arctan(-yn.min(1)),
                        np.arctan(-yn.max(1))], axis=1)
        out[~front] = np.nan
        return out

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``h(X)`` (T, 4) and ``H`` (T, 4, 10); NaN rows for boxes reaching behind the camera."""
        return self._h(X), numeric_jacobian(self._h, X, self.angle_rows)

    @staticmethod
    def residual(z: np.ndarray, zhat: np.ndarray) -> np.ndarray:
        return wrap_angle(z - zhat)

    def hidden(self, X: np.ndarray) -> np.ndarray:
        """(T,) bool: tracks the camera cannot see -- reaching behind it, or with at least
        :data:`HIDDEN_COVER` of their predicted 2D box covered by one nearer track's box. A camera
        box must not correct an occluded track (whose uncertain prediction would take any box)."""
        zhat = self._h(X)
        out = ~np.isfinite(zhat).all(axis=1)
        if len(X) < 2:
            return out
        boxes = np.nan_to_num(np.stack([zhat[:, 0], -zhat[:, 2], zhat[:, 1], -zhat[:, 3]], axis=1))
        depth = np.linalg.norm(X[:, :3] - self.T.translation, axis=1)
        cover = box_intersection(boxes, boxes) / np.maximum(box_area(boxes), 1e-12)[:, None]
        nearer = (depth[None, :] < depth[:, None]) & ~out[None, :]
        return out | (np.where(nearer, cover, 0.0).max(axis=1) >= HIDDEN_COVER)
