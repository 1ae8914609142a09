"""Batched motion models of oriented 3D boxes in a z-up fixed frame: CV and CTRV (extended Kalman).

Every model works on all tracks of a class at once: means ``X`` float64 (T, 10) and covariances
``P`` float64 (T, 10, 10). The first seven state entries are shared by both models, so that one
measurement model serves both: ``x, y, z`` geometric box centre (metres, fixed frame, z up),
``yaw`` heading about +z (radians, wrapped to [-pi, pi)), ``length, width, height`` (metres).
The last three differ:

* ``cv`` (constant velocity, linear): ``vx, vy, vz`` m/s. Process noise: white-noise acceleration
  per axis (``accel_std`` on the ground, ``vertical_accel_std`` up), random walks on yaw and size;
  with ``lateral_accel_std`` the ground acceleration is ``accel_std`` along the track's heading
  and ``lateral_accel_std`` across it (vehicles brake harder than they drift sideways; the noise is
  the same for a heading turned by pi, so a box seen back to front does not matter); with
  ``lateral_velocity_tau_s`` the velocity across the heading relaxes to zero with that time
  constant (a vehicle does not drift sideways for long; the dependence of this on the yaw is not
  linearised).
* ``ctrv`` (constant turn rate and velocity, nonlinear, EKF): ``v`` signed speed along the
  heading (m/s), ``omega`` yaw rate (rad/s), ``vz`` m/s. Process noise: longitudinal acceleration
  (``accel_std``) and yaw acceleration (``yaw_accel_std``) through the motion's noise gain.

:meth:`MotionModel.velocity` gives the (T, 3) centre velocity of either model and its Jacobian
(for the radar's range-rate). Time steps are seconds from ``stamp_ns`` differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fusion.errors import TrackingError
from fusion.geometry3d import wrap_angle
from fusion.motion3d import BoxProcessNoise
from percept.config import require_positive

NSTATE = 10
NBOX = 7  # x, y, z, yaw, length, width, height
MODELS = ("cv", "ctrv")


@dataclass(frozen=True)
class MotionNoise(BoxProcessNoise):
    """Process noise and initial uncertainty of one class (standard deviations).

    Attributes:
        model: ``"cv"`` or ``"ctrv"``.
        accel_std: ground-plane (CV) or longitudinal (CTRV) acceleration noise, m/s².
        lateral_accel_std: CV only: acceleration noise across the heading, m/s² (None: ``accel_std``
            in every ground direction).
        init_lateral_velocity_std: CV only: velocity uncertainty of a new track across its heading,
            m/s (None: ``init_velocity_std`` in every direction); vehicles move along their heading.
        lateral_velocity_tau_s: CV only: time constant (s) with which the velocity across the
            heading decays (None: it is constant like the rest).
        vertical_accel_std: vertical acceleration noise, m/s².
        yaw_rate_std: heading random walk of CV, rad/√s.
        yaw_accel_std: yaw-rate random walk of CTRV, rad/s²·√s.
        size_rate_std: size random walk, m/√s.
        init_velocity_std: velocity (CV) or speed (CTRV) uncertainty of a new track, m/s.
        init_yaw_rate_std: yaw-rate uncertainty of a new CTRV track, rad/s.

    ``accel_std``, ``vertical_accel_std``, ``yaw_rate_std``, ``size_rate_std`` and
    ``init_velocity_std`` are those of :class:`fusion.motion3d.BoxProcessNoise`.
    """

    model: Literal["cv", "ctrv"] = "cv"
    yaw_accel_std: float = 1.0
    init_yaw_rate_std: float = 0.5
    lateral_accel_std: float | None = None
    init_lateral_velocity_std: float | None = None
    lateral_velocity_tau_s: float | None = None

    POSITIVE = (*BoxProcessNoise.POSITIVE, "yaw_accel_std", "init_yaw_rate_std")

    def __post_init__(self) -> None:
        lateral = ("lateral_accel_std", "init_lateral_velocity_std", "lateral_velocity_tau_s")
        require_positive(self, [n for n in lateral if getattr(self, n) is not None], "MotionNoise",
                         error=TrackingError)
        if self.model not in MODELS:
            raise TrackingError(f"MotionNoise.model: expected one of {MODELS}, got {self.model!r}")
        super().__post_init__()


class MotionModel:
    """Batched prediction of box tracks under one :class:`MotionNoise`."""

    def __init__(self, noise: MotionNoise) -> None:
        self.noise = noise
        self.ctrv = noise.model == "ctrv"

    def initial(self, z: np.ndarray, z_cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means (N, 10) and covariances (N, 10, 10) of new tracks from box measurements (N, 7)
        with covariance (7, 7) (or one per track, (N, 7, 7)): the box as measured, zero motion
        with the initial uncertainty."""
        n, nz = len(z), self.noise
        X = np.zeros((n, NSTATE))
        X[:, :NBOX] = z
        X[:, 3] = wrap_angle(X[:, 3])
        P = np.zeros((n, NSTATE, NSTATE))
        P[:, :NBOX, :NBOX] = z_cov
        tail = [nz.init_velocity_std, nz.init_yaw_rate_std, nz.init_velocity_std] if self.ctrv \
            else [nz.init_velocity_std] * 3
        P[:, 7:, 7:] = np.diag(np.square(tail))
        if not self.ctrv and nz.init_lateral_velocity_std is not None:  # along / across the heading
            c, s = np.cos(X[:, 3]), np.sin(X[:, 3])
            h, q = np.stack([c, s], 1), np.stack([-s, c], 1)
            P[:, 7:9, 7:9] = (nz.init_velocity_std ** 2 * np.einsum("ni,nj->nij", h, h)
                              + nz.init_lateral_velocity_std ** 2 * np.einsum("ni,nj->nij", q, q))
        return X, P

    def _f(self, X: np.ndarray, dt: float) -> np.ndarray:
        out = X.copy()
        if not self.ctrv:
            if self.noise.lateral_velocity_tau_s is None:
                out[:, :3] += dt * X[:, 7:10]
                return out
            F = self._cv_matrix(X, dt)
            out[:, [0, 1, 2, 7, 8, 9]] = np.einsum("nij,nj->ni", F, X[:, [0, 1, 2, 7, 8, 9]])
            return out
        yaw, v, w = X[:, 3], X[:, 7], X[:, 8]
        turning = np.abs(w) > 1e-4
        safe_w = np.where(turning, w, 1.0)
        yaw1 = yaw + w * dt
        dx = np.where(turning, v / safe_w * (np.sin(yaw1) - np.sin(yaw)), v * np.cos(yaw) * dt)
        dy = np.where(turning, v / safe_w * (np.cos(yaw) - np.cos(yaw1)), v * np.sin(yaw) * dt)
        out[:, 0] += dx
        out[:, 1] += dy
        out[:, 2] += X[:, 9] * dt
        out[:, 3] = yaw1
        return out

    def _cv_matrix(self, X: np.ndarray, dt: float) -> np.ndarray:
        """(T, 6, 6) CV transition of ``x, y, z, vx, vy, vz`` with the lateral velocity decaying."""
        tau = float(self.noise.lateral_velocity_tau_s or 0.0)
        a = math.exp(-dt / tau)
        c, s = np.cos(X[:, 3]), np.sin(X[:, 3])
        rot = np.stack([np.stack([c, -s], 1), np.stack([s, c], 1)], 1)  # columns: heading, across
        F = np.broadcast_to(np.eye(6), (len(X), 6, 6)).copy()
        F[:, 0:2, 3:5] = rot @ np.diag([dt, tau * (1 - a)]) @ rot.transpose(0, 2, 1)
        F[:, 3:5, 3:5] = rot @ np.diag([1.0, a]) @ rot.transpose(0, 2, 1)
        F[:, 2, 5] = dt
        return F

    def _jacobian(self, X: np.ndarray, dt: float) -> np.ndarray:
        if not self.ctrv:
            F = np.eye(NSTATE)
            F[0, 7] = F[1, 8] = F[2, 9] = dt
            if self.noise.lateral_velocity_tau_s is None:
                return np.broadcast_to(F, (len(X), NSTATE, NSTATE))
            J = np.broadcast_to(F, (len(X), NSTATE, NSTATE)).copy()
            J[np.ix_(np.arange(len(X)), [0, 1, 2, 7, 8, 9], [0, 1, 2, 7, 8, 9])] = self._cv_matrix(X, dt)
            return J
        return numeric_jacobian(lambda x: self._f(x, dt), X, angle_rows=(3,))

    def _q(self, X: np.ndarray, dt: float) -> np.ndarray:
        nz, n = self.noise, len(X)
        Q = np.zeros((n, NSTATE, NSTATE))
        for k in (4, 5, 6):
            Q[:, k, k] = nz.size_rate_std ** 2 * dt
        a2z = nz.vertical_accel_std ** 2
        Q[:, 2, 2], Q[:, 2, 9], Q[:, 9, 2], Q[:, 9, 9] = a2z * dt**4 / 4, a2z * dt**3 / 2, a2z * dt**3 / 2, \
            a2z * dt**2
        if not self.ctrv:
            A = np.broadcast_to(np.eye(2) * nz.accel_std ** 2, (n, 2, 2))
            if nz.lateral_accel_std is not None:  # along / across the heading
                c, s = np.cos(X[:, 3]), np.sin(X[:, 3])
                rot = np.stack([np.stack([c, -s], 1), np.stack([s, c], 1)], 1)  # (T, 2, 2)
                A = rot @ np.diag([nz.accel_std ** 2, nz.lateral_accel_std ** 2]) @ rot.transpose(0, 2, 1)
            Q[:, 0:2, 0:2] = A * dt**4 / 4
            Q[:, 0:2, 7:9] = Q[:, 7:9, 0:2] = A * dt**3 / 2
            Q[:, 7:9, 7:9] = A * dt**2
            Q[:, 3, 3] = nz.yaw_rate_std ** 2 * dt
            return Q
        G = np.zeros((n, NSTATE, 2))  # noise gain of (longitudinal accel, yaw accel)
        yaw = X[:, 3]
        G[:, 0, 0], G[:, 1, 0], G[:, 7, 0] = 0.5 * dt**2 * np.cos(yaw), 0.5 * dt**2 * np.sin(yaw), dt
        G[:, 3, 1], G[:, 8, 1] = 0.5 * dt**2, dt
        S = np.diag([nz.accel_std ** 2, nz.yaw_accel_std ** 2])
        return Q + G @ S @ G.transpose(0, 2, 1)

    def predict(self, X: np.ndarray, P: np.ndarray, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Means and covariances advanced by ``dt_s`` >= 0 seconds (EKF prediction)."""
        if not math.isfinite(dt_s) or dt_s < 0:
            raise TrackingError(f"predict: dt must be finite and >= 0 s, got {dt_s}")
        if dt_s == 0 or len(X) == 0:
            return X, P
        F = self._jacobian(X, dt_s)
        X1 = self._f(X, dt_s)
        X1[:, 3] = wrap_angle(X1[:, 3])
        P1 = F @ P @ F.transpose(0, 2, 1) + self._q(X, dt_s)
        return X1, P1

    def velocity(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre velocities (T, 3) m/s in the fixed frame and their Jacobians (T, 3, 10)."""
        n = len(X)
        J = np.zeros((n, 3, NSTATE))
        if not self.ctrv:
            J[:, 0, 7] = J[:, 1, 8] = J[:, 2, 9] = 1.0
            return X[:, 7:10].copy(), J
        c, s, v = np.cos(X[:, 3]), np.sin(X[:, 3]), X[:, 7]
        J[:, 0, 3], J[:, 0, 7] = -v * s, c
        J[:, 1, 3], J[:, 1, 7] = v * c, s
        J[:, 2, 9] = 1.0
        return np.stack([v * c, v * s, X[:, 9]], axis=1), J


def numeric_jacobian(f, X: np.ndarray, angle_rows: tuple[int, ...] = (), eps: float = 1e-5) -> np.ndarray:
    """(N, M, D) central-difference Jacobian of a batched function ``f: (N, D) -> (N, M)`` at ``X``;
    output rows in ``angle_rows`` are differenced through :func:`wrap_angle`."""
    d = X.shape[1]
    cols = []
    for k in range(d):
        step = np.zeros(d)
        step[k] = eps
        diff = f(X + step) - f(X - step)
        for r in angle_rows:
            diff[:, r] = wrap_angle(diff[:, r])
        cols.append(diff / (2 * eps))
    return np.stack(cols, axis=2)
