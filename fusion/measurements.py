"""Measurement models of the fusion tracker and the batched extended-Kalman update.

Each model predicts, for track states ``X`` (T, 10) of :mod:`fusion.motion_world` (fixed frame,
z up), the expected measurement ``h(X)`` (T, M) and its Jacobian ``H`` (T, M, 10), and owns its
noise ``R`` (M, M):

* :class:`BoxModel` -- a 3D box ``x, y, z, yaw, length, width, height`` already transformed into
  the fixed frame (lidar or a 3D detector; camera 3D boxes too). Linear. The yaw residual is
  wrapped and turned by pi when the box was seen back to front.
* :class:`RadarModel` -- ``range`` (m), ``azimuth`` (rad, counter-clockwise about the sensor's
  +z from its +x) and ``range_rate`` (m/s, positive receding) relative to a sensor at a known
  pose and velocity in the fixed frame. Nonlinear; the range rate is the track's velocity
  relative to the sensor projected on the line of sight, so it corrects the speed along it.
* :class:`BearingModel` -- a camera's ``bearing`` (rad, atan2(x, z) in the optical frame: x right,
  y down, z forward) and ``elevation`` (rad, up positive) of the box centre, from a 2D box
  centre through the intrinsics (:func:`bearings_from_pixels`). Nonlinear.

:func:`ekf_update` corrects many tracks at once; :func:`mahalanobis` gives the (T, D) squared
normalised innovations used for gating (compare with a chi-square quantile of M degrees).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calib.transform import Transform
from fusion.errors import TrackingError
from fusion.geometry3d import wrap_angle
from fusion.motion_world import NBOX, NSTATE, MotionModel, numeric_jacobian


def _positive(owner: str, **values: float) -> None:
    for name, v in values.items():
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise TrackingError(f"{owner}.{name}: expected a finite number > 0, got {v!r}")


@dataclass(frozen=True)
class BoxNoise:
    """Noise of a 3D box measurement (standard deviations): centre (m, ground and vertical),
    yaw (rad), size (m)."""

    position_std: float = 0.3
    vertical_std: float = 0.3
    yaw_std: float = 0.3
    size_std: float = 0.2

    def __post_init__(self) -> None:
        _positive("BoxNoise", position_std=self.position_std, vertical_std=self.vertical_std,
                  yaw_std=self.yaw_std, size_std=self.size_std)

    def matrix(self) -> np.ndarray:
        """(7, 7) diagonal covariance."""
        return np.diag(np.square([self.position_std, self.position_std, self.vertical_std, self.yaw_std,
                                  self.size_std, self.size_std, self.size_std]))


@dataclass(frozen=True)
class RadarNoise:
    """Noise of a radar target: range (m), azimuth (rad), range rate (m/s)."""

    range_std: float = 0.5
    azimuth_std: float = 0.02
    range_rate_std: float = 0.3

    def __post_init__(self) -> None:
        _positive("RadarNoise", range_std=self.range_std, azimuth_std=self.azimuth_std,
                  range_rate_std=self.range_rate_std)

    def matrix(self) -> np.ndarray:
        return np.diag(np.square([self.range_std, self.azimuth_std, self.range_rate_std]))


@dataclass(frozen=True)
class BearingNoise:
    """Noise of a camera bearing and elevation (rad)."""

    bearing_std: float = 0.01
    elevation_std: float = 0.02

    def __post_init__(self) -> None:
        _positive("BearingNoise", bearing_std=self.bearing_std, elevation_std=self.elevation_std)

    def matrix(self) -> np.ndarray:
        return np.diag(np.square([self.bearing_std, self.elevation_std]))


class BoxModel:
    """Linear 3D box measurement (7,) of the first seven state entries."""

    angle_rows = (3,)

    def __init__(self, noise: BoxNoise) -> None:
        self.R = noise.matrix()
        self._H = np.hstack([np.eye(NBOX), np.zeros((NBOX, NSTATE - NBOX))])

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``h(X)`` (T, 7) and ``H`` (T, 7, 10)."""
        return X[:, :NBOX].copy(), np.broadcast_to(self._H, (len(X), NBOX, NSTATE))

    @staticmethod
    def residual(z: np.ndarray, zhat: np.ndarray) -> np.ndarray:
        """``z - zhat`` (..., 7) with the yaw wrapped and a back-to-front box turned by pi."""
        y = z - zhat
        d = wrap_angle(y[..., 3])
        y[..., 3] = np.where(np.abs(d) > math.pi / 2, wrap_angle(d + math.pi), d)
        return y


class RadarModel:
    """Range, azimuth and range rate (3,) of a track seen by a radar at a pose in the fixed frame.

    Args:
        noise: the sensor's noise.
        T_fixed_from_sensor: the radar's pose at the scan's stamp (azimuth about its +z).
        sensor_velocity: (3,) the radar's own velocity in the fixed frame, m/s (the range rate is
            relative to it; pass zeros for ego-motion-compensated range rates).
        motion: the class's motion model (for the velocity of the state).
    """

    angle_rows = (1,)

    def __init__(self, noise: RadarNoise, T_fixed_from_sensor: Transform, sensor_velocity: np.ndarray,
                 motion: MotionModel) -> None:
        self.R = noise.matrix()
        self.T = T_fixed_from_sensor
        self.v_sensor = np.asarray(sensor_velocity, np.float64).reshape(3)
        self.motion = motion

    def _h(self, X: np.ndarray) -> np.ndarray:
        rel = X[:, :3] - self.T.translation
        local = rel @ self.T.rotation  # rows: R^T (p - s)
        rng = np.maximum(np.linalg.norm(rel, axis=1), 1e-6)
        vel, _ = self.motion.velocity(X)
        rate = np.einsum("ij,ij->i", rel, vel - self.v_sensor) / rng
        return np.stack([rng, np.arctan2(local[:, 1], local[:, 0]), rate], axis=1)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``h(X)`` (T, 3) and ``H`` (T, 3, 10)."""
        return self._h(X), numeric_jacobian(self._h, X, self.angle_rows)

    @staticmethod
    def residual(z: np.ndarray, zhat: np.ndarray) -> np.ndarray:
        y = z - zhat
        y[..., 1] = wrap_angle(y[..., 1])
        return y


def bearings_from_pixels(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 2) ``bearing, elevation`` (rad) of pixels (N, 2) through intrinsics ``K`` (3, 3)."""
    uv = np.asarray(uv, np.float64).reshape(-1, 2)
    xn = (uv[:, 0] - K[0, 2]) / K[0, 0]
    yn = (uv[:, 1] - K[1, 2]) / K[1, 1]
    return np.stack([np.arctan(xn), np.arctan2(-yn, np.hypot(xn, 1.0))], axis=1)


class BearingModel:
    """Bearing and elevation (2,) of a track's centre seen by a camera at a pose in the fixed frame
    (optical frame: x right, y down, z forward)."""

    angle_rows = (0, 1)

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


def innovation_covariance(P: np.ndarray, H: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(T, M, M) ``H P Hᵀ + R``."""
    return H @ P @ H.transpose(0, 2, 1) + R


def mahalanobis(model: BoxModel | RadarModel | BearingModel, X: np.ndarray, P: np.ndarray,
                z: np.ndarray, dims: slice | None = None) -> np.ndarray:
    """(T, D) squared Mahalanobis distances of measurements ``z`` (D, M) from every track's
    predicted measurement, over the measurement components ``dims`` (default all)."""
    if len(X) == 0 or len(z) == 0:
        return np.zeros((len(X), len(z)))
    zhat, H = model.predict(X)
    S = innovation_covariance(P, H, model.R)
    y = model.residual(z[None, :, :], zhat[:, None, :])  # (T, D, M)
    if dims is not None:
        S, y = S[:, dims, dims], y[..., dims]
    Sinv = np.linalg.inv(S)
    return np.einsum("tdm,tmk,tdk->td", y, Sinv, y)


def ekf_update(model: BoxModel | RadarModel | BearingModel, X: np.ndarray, P: np.ndarray,
               z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corrected means (K, 10) and covariances (K, 10, 10) of K tracks, each with one measurement
    row of ``z`` (K, M) (Joseph form, symmetrised; yaw wrapped)."""
    if len(X) == 0:
        return X, P
    zhat, H = model.predict(X)
    S = innovation_covariance(P, H, model.R)
    K = np.linalg.solve(S, H @ P).transpose(0, 2, 1)  # P Hᵀ S⁻¹ (S, P symmetric)
    y = model.residual(z, zhat)
    X1 = X + np.einsum("knm,km->kn", K, y)
    X1[:, 3] = wrap_angle(X1[:, 3])
    A = np.eye(NSTATE) - K @ H
    P1 = A @ P @ A.transpose(0, 2, 1) + K @ model.R @ K.transpose(0, 2, 1)
    return X1, (P1 + P1.transpose(0, 2, 1)) / 2
