"""Measurement models of the fusion tracker and the batched extended-Kalman update.

Each model predicts, for track states ``X`` (T, 10) of :mod:`fusion.motion_world` (fixed frame,
z up), the expected measurement ``h(X)`` (T, M) and its Jacobian ``H`` (T, M, 10), and owns its
noise ``R`` (M, M):

* :class:`BoxModel` -- a 3D box ``x, y, z, yaw, length, width, height`` already transformed into
  the fixed frame (lidar or a 3D detector; camera 3D boxes too). Linear. The yaw residual is
  wrapped and turned by pi when the box was seen back to front.
* :class:`RadarModel` -- ``range`` (m), ``azimuth`` (rad, counter-clockwise about the sensor's
  +z from its +x) and ``range_rate`` (m/s, positive receding) relative to a sensor at a known
  pose and velocity in the fixed frame, of the track's reflection point: its box centre
  (``reflection="centre"``) or the point of its box nearest to the radar (``"nearest"``: the
  ground-plane footprint's nearest point at the radar's height clamped into the box, where an
  automotive radar's strongest return comes from). Nonlinear; the range rate is the track's
  velocity relative to the sensor projected on the line of sight, so it corrects the speed along it.
* the camera models of :mod:`fusion.camera_models`: the bearing and elevation of the 2D box
  centre (:class:`~fusion.camera_models.BearingModel`) and the four box edges
  (:class:`~fusion.camera_models.CameraBoxModel`).

Each model names the state rows it corrects (``updated``, None: all). A box corrects everything;
the point sensors only what they observe well -- radar and the camera centre the centre and the
motion (:data:`MOTION_ROWS`), the camera box edges also width and height -- and leave yaw and length
(radar: every size) as they are: their uncertainty enters the innovation, their gain rows are zero
(a Schmidt "consider" update; the Joseph form keeps the covariance consistent). Otherwise a radar
target or a car's rear seen from behind, which fix only ``x - length / 2``, would let length,
yaw and centre drift together along what they cannot see.

:func:`ekf_update` corrects many tracks at once; :func:`mahalanobis` gives the (T, D) squared
normalised innovations used for gating (compare with a chi-square quantile of M degrees) and
:func:`likelihood_cost` the association cost beside them; tracks a model cannot predict (a box
reaching behind the camera) are at infinite distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from calib.transform import Transform
from fusion.errors import TrackingError
from fusion.geometry3d import wrap_angle
from fusion.motion_world import NBOX, NSTATE, MotionModel, numeric_jacobian

#: State rows of the centre (x, y, z) and the motion (the last three entries of either model).
MOTION_ROWS = (0, 1, 2, 7, 8, 9)
#: Radar reflection points: the box centre, or the box point nearest to the sensor.
REFLECTIONS = ("centre", "nearest")


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
    """Noise of a camera bearing and elevation (rad); for box edges
    (:class:`CameraBoxModel`) also ``size_fraction`` of the box's angular width (left, right) or
    height (top, bottom) on top, summed in quadrature: a detector's box corners scatter more on
    big boxes."""

    bearing_std: float = 0.01
    elevation_std: float = 0.02
    size_fraction: float = 0.0

    def __post_init__(self) -> None:
        _positive("BearingNoise", bearing_std=self.bearing_std, elevation_std=self.elevation_std)
        if not (math.isfinite(self.size_fraction) and self.size_fraction >= 0):
            raise TrackingError(f"BearingNoise.size_fraction: expected a finite number >= 0, got "
                                f"{self.size_fraction!r}")

    def matrix(self) -> np.ndarray:
        return np.diag(np.square([self.bearing_std, self.elevation_std]))


class BoxModel:
    """Linear 3D box measurement (7,) of the first seven state entries."""

    angle_rows = (3,)
    updated: tuple[int, ...] | None = None

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


class PositionModel(BoxModel):
    """The centre ``x, y, z`` of a box measurement (for the Mahalanobis gate)."""

    def __init__(self) -> None:
        super().__init__(BoxNoise())
        self.R = self.R[:3, :3]
        self._H = self._H[:3]

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return X[:, :3].copy(), np.broadcast_to(self._H, (len(X), 3, self._H.shape[1]))

    @staticmethod
    def residual(z: np.ndarray, zhat: np.ndarray) -> np.ndarray:
        return z - zhat


#: The box-centre model of the Mahalanobis gate of box associations.
POSITION_MODEL = PositionModel()


def nearest_box_points(X: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(T, 3) points of track boxes ``X`` (T, >= 7; z-up fixed frame) nearest to ``p`` (3,) in the
    ground plane, at ``p``'s height clamped into each box's vertical extent."""
    c, s = np.cos(X[:, 3]), np.sin(X[:, 3])
    dx, dy = p[0] - X[:, 0], p[1] - X[:, 1]
    a = np.clip(c * dx + s * dy, -X[:, 4] / 2, X[:, 4] / 2)  # along the heading
    b = np.clip(-s * dx + c * dy, -X[:, 5] / 2, X[:, 5] / 2)  # across
    z = np.clip(p[2], X[:, 2] - X[:, 6] / 2, X[:, 2] + X[:, 6] / 2)
    return np.stack([X[:, 0] + c * a - s * b, X[:, 1] + s * a + c * b, z], axis=1)


class RadarModel:
    """Range, azimuth and range rate (3,) of a track seen by a radar at a pose in the fixed frame.

    Args:
        noise: the sensor's noise.
        T_fixed_from_sensor: the radar's pose at the scan's stamp (azimuth about its +z).
        sensor_velocity: (3,) the radar's own velocity in the fixed frame, m/s (the range rate is
            relative to it; pass zeros for ego-motion-compensated range rates).
        motion: the class's motion model (for the velocity of the state).
        reflection: ``"centre"`` or ``"nearest"`` (see the module docstring).
    """

    angle_rows = (1,)
    updated: tuple[int, ...] | None = MOTION_ROWS

    def __init__(self, noise: RadarNoise, T_fixed_from_sensor: Transform, sensor_velocity: np.ndarray,
                 motion: MotionModel, reflection: str = "centre") -> None:
        if reflection not in REFLECTIONS:
            raise TrackingError(f"RadarModel.reflection: expected one of {REFLECTIONS}, got {reflection!r}")
        self.R = noise.matrix()
        self.T = T_fixed_from_sensor
        self.v_sensor = np.asarray(sensor_velocity, np.float64).reshape(3)
        self.motion = motion
        self.reflection = reflection

    def points(self, X: np.ndarray) -> np.ndarray:
        """(T, 3) reflection points of the tracks in the fixed frame."""
        if self.reflection == "nearest":
            return nearest_box_points(X, self.T.translation)
        return X[:, :3]

    def _h(self, X: np.ndarray) -> np.ndarray:
        rel = self.points(X) - self.T.translation
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


class MeasurementModel(Protocol):
    """What :func:`ekf_update` and the gates need of a measurement model: the noise ``R`` (M, M),
    the state rows it corrects (``updated``), ``predict`` and the wrapping ``residual``; a model
    whose noise depends on the measurement also has ``noise(z) -> (D, M, M)``."""

    R: np.ndarray
    updated: tuple[int, ...] | None

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def residual(self, z: np.ndarray, zhat: np.ndarray) -> np.ndarray: ...


def measurement_noise(model: MeasurementModel, z: np.ndarray) -> np.ndarray:
    """The noise of measurements ``z`` (D, M): the model's ``noise(z)`` (D, M, M) when it has one,
    else its fixed ``R`` (M, M)."""
    noise = getattr(model, "noise", None)
    return model.R if noise is None else noise(z)


def innovation_covariance(P: np.ndarray, H: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(T, M, M) ``H P Hᵀ + R``."""
    return H @ P @ H.transpose(0, 2, 1) + R


def _innovations(model: MeasurementModel, X: np.ndarray, P: np.ndarray, z: np.ndarray,
                 dims: slice | None) -> tuple[np.ndarray, np.ndarray]:
    """``(d2, log det S)``, both (T, D); ``inf`` for tracks the model cannot predict."""
    d2, logdet = np.full((len(X), len(z)), np.inf), np.full((len(X), len(z)), np.inf)
    if len(X) == 0 or len(z) == 0:
        return np.zeros((len(X), len(z))), np.zeros((len(X), len(z)))
    zhat, H = model.predict(X)
    ok = np.isfinite(zhat).all(axis=1) & np.isfinite(H).all(axis=(1, 2))
    if not ok.any():
        return d2, logdet
    zhat, H = zhat[ok], H[ok]
    R = measurement_noise(model, z)
    HPH = (H @ P[ok] @ H.transpose(0, 2, 1))[:, None]  # (T, 1, M, M)
    S = np.broadcast_to(HPH + (R[None] if R.ndim == 3 else R), (len(zhat), *z.shape, z.shape[1]))
    y = model.residual(z[None, :, :], zhat[:, None, :])  # (T, D, M)
    if dims is not None:
        S, y = S[..., dims, dims], y[..., dims]
    d2[ok] = np.einsum("tdm,tdmk,tdk->td", y, np.linalg.inv(S), y)
    logdet[ok] = np.linalg.slogdet(S)[1]
    return d2, logdet


def mahalanobis(model: MeasurementModel, X: np.ndarray, P: np.ndarray,
                z: np.ndarray, dims: slice | None = None) -> np.ndarray:
    """(T, D) squared Mahalanobis distances of measurements ``z`` (D, M) from every track's
    predicted measurement, over the measurement components ``dims`` (default all); ``inf`` for
    tracks the model cannot predict."""
    return _innovations(model, X, P, z, dims)[0]


def likelihood_cost(model: MeasurementModel, X: np.ndarray, P: np.ndarray,
                    z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(d2, cost)`` (T, D): the squared Mahalanobis distances (for the gate) and the association
    cost ``d2 + ln det S``, twice the negative log-likelihood of the pair up to a constant: a
    track that is uncertain pays for it, so a measurement goes to the track that predicts it best
    rather than to the vaguest one."""
    d2, logdet = _innovations(model, X, P, z, None)
    return d2, d2 + logdet


def ekf_update(model: MeasurementModel, X: np.ndarray, P: np.ndarray,
               z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corrected means (K, 10) and covariances (K, 10, 10) of K tracks, each with one measurement
    row of ``z`` (K, M) (Joseph form, symmetrised; yaw wrapped; only the model's ``updated`` rows)."""
    if len(X) == 0:
        return X, P
    zhat, H = model.predict(X)
    R = measurement_noise(model, z)
    S = innovation_covariance(P, H, R)
    K = np.linalg.solve(S, H @ P).transpose(0, 2, 1)  # P Hᵀ S⁻¹ (S, P symmetric)
    if model.updated is not None:
        K[:, np.setdiff1d(np.arange(NSTATE), model.updated)] = 0.0
    y = model.residual(z, zhat)
    X1 = X + np.einsum("knm,km->kn", K, y)
    X1[:, 3] = wrap_angle(X1[:, 3])
    A = np.eye(NSTATE) - K @ H
    P1 = A @ P @ A.transpose(0, 2, 1) + K @ R @ K.transpose(0, 2, 1)
    return X1, (P1 + P1.transpose(0, 2, 1)) / 2
