"""Time-aware constant-velocity Kalman motion model of an image box (DeepSORT/ByteTrack style).

State (8,): ``cx, cy, a, h, vcx, vcy, va, vh`` -- box centre (pixels), aspect ratio ``a = w / h``
(unitless), height ``h`` (pixels) and their rates per SECOND. The transition uses the elapsed time
``dt`` in seconds (from ``stamp_ns`` differences), so a gap of two frame periods predicts twice as
far as one. Process and measurement noise standard deviations scale with the box height, as in
DeepSORT; the process noise is given per reference period ``ref_dt_s`` and scaled linearly with
``dt`` (a random walk on velocity).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from filterpy.kalman import KalmanFilter

from fusion.errors import TrackingError
from fusion.kalman_box import KalmanBoxModel

NDIM = 4  # measured quantities: cx, cy, a, h


@dataclass(frozen=True)
class BoxMotionConfig:
    """Noise of the box motion model.

    Attributes:
        std_weight_position: position std as a fraction of box height (measurement and process).
        std_weight_velocity: velocity std per reference period as a fraction of box height.
        std_aspect: std of the aspect ratio measurement (unitless).
        ref_dt_s: the period (seconds) the process noise is specified for; Q scales with dt / ref_dt_s.
    """

    std_weight_position: float = 1.0 / 20
    std_weight_velocity: float = 1.0 / 160
    std_aspect: float = 1e-2
    ref_dt_s: float = 1.0 / 25


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(..., 4) ``x1, y1, x2, y2`` pixels -> (..., 4) ``cx, cy, a, h``."""
    xyxy = np.asarray(xyxy, dtype=np.float64)
    if xyxy.shape == (4,):  # one box: plain floats are several times faster than array ops
        x1, y1, x2, y2 = xyxy.tolist()
        return np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / max(y2 - y1, 1e-9), y2 - y1])
    w = xyxy[..., 2] - xyxy[..., 0]
    h = xyxy[..., 3] - xyxy[..., 1]
    return np.stack([(xyxy[..., 0] + xyxy[..., 2]) / 2, (xyxy[..., 1] + xyxy[..., 3]) / 2,
                     w / np.maximum(h, 1e-9), h], axis=-1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(..., 4) ``cx, cy, a, h`` -> (..., 4) ``x1, y1, x2, y2`` pixels."""
    xyah = np.asarray(xyah, dtype=np.float64)
    if xyah.shape == (4,):
        cx, cy, a, h = xyah.tolist()
        hw, hh = a * h / 2, h / 2
        return np.array([cx - hw, cy - hh, cx + hw, cy + hh])
    w = xyah[..., 2] * xyah[..., 3]
    h = xyah[..., 3]
    return np.stack([xyah[..., 0] - w / 2, xyah[..., 1] - h / 2,
                     xyah[..., 0] + w / 2, xyah[..., 1] + h / 2], axis=-1)


@functools.lru_cache(maxsize=64)
def transition(dt_s: float) -> np.ndarray:
    """(8, 8) constant-velocity transition over ``dt_s`` seconds (cached, read-only)."""
    f = np.eye(2 * NDIM)
    f[:NDIM, NDIM:] = np.eye(NDIM) * dt_s
    f.flags.writeable = False
    return f


class BoxMotion(KalmanBoxModel):
    """Kalman filter of one box. Velocities are in units per second. :attr:`mean` is the (8,) state
    ``cx, cy, a, h, vcx, vcy, va, vh`` (pixels, pixels per second), :attr:`covariance` (8, 8).

    Args:
        xyxy: (4,) the first measured box in pixels.
        config: noise settings.
    """

    def __init__(self, xyxy: np.ndarray, config: BoxMotionConfig | None = None) -> None:
        self.config = config or BoxMotionConfig()
        c = self.config
        z = xyxy_to_xyah(xyxy)
        if not np.all(np.isfinite(z)) or z[3] <= 0:
            raise TrackingError(f"BoxMotion: box must be finite with positive height, got {list(xyxy)}")
        kf = KalmanFilter(dim_x=2 * NDIM, dim_z=NDIM)
        kf.x = np.concatenate([z, np.zeros(NDIM)]).reshape(-1, 1)
        kf.H = np.hstack([np.eye(NDIM), np.zeros((NDIM, NDIM))])
        h = z[3]
        vel = 10 * c.std_weight_velocity * h / c.ref_dt_s
        std = [2 * c.std_weight_position * h, 2 * c.std_weight_position * h, c.std_aspect,
               2 * c.std_weight_position * h, vel, vel, 1e-5 / c.ref_dt_s, vel]
        kf.P = np.diag(np.square(std))
        self.kf = kf

    @property
    def xyxy(self) -> np.ndarray:
        """(4,) current box ``x1, y1, x2, y2`` in pixels."""
        return xyah_to_xyxy(self.kf.x[:NDIM, 0])

    box = xyxy

    @property
    def velocity(self) -> np.ndarray:
        """(2,) box-centre velocity in pixels per second."""
        return self.kf.x[4:6, 0].copy()

    def process_noise(self, dt_s: float) -> np.ndarray:
        """(8, 8) process noise accumulated over ``dt_s`` seconds."""
        c = self.config
        h = max(float(self.kf.x[3, 0]), 1e-3)
        pos = c.std_weight_position * h
        vel = c.std_weight_velocity * h / c.ref_dt_s
        std = [pos, pos, c.std_aspect, pos, vel, vel, 1e-5 / c.ref_dt_s, vel]
        return np.diag(np.square(std)) * (dt_s / c.ref_dt_s)

    def predict(self, dt_s: float) -> None:
        """Advance the state by ``dt_s`` >= 0 seconds (0 leaves it unchanged)."""
        if not self._steps(dt_s):
            return
        if self.kf.x[3, 0] + self.kf.x[7, 0] * dt_s <= 0:
            self.kf.x[7, 0] = 0.0  # never predict a non-positive height
        self.kf.predict(F=transition(dt_s), Q=self.process_noise(dt_s))

    def measurement_noise(self) -> np.ndarray:
        """(4, 4) measurement noise for the current box height."""
        c = self.config
        h = max(float(self.kf.x[3, 0]), 1e-3)
        pos = c.std_weight_position * h
        return np.diag(np.square([pos, pos, c.std_aspect, pos]))

    def update(self, xyxy: np.ndarray) -> None:
        """Correct with a measured box (4,) ``x1, y1, x2, y2`` pixels."""
        self.kf.update(xyxy_to_xyah(xyxy).reshape(-1, 1), R=self.measurement_noise())

    def shift(self, affine: np.ndarray) -> None:
        """Apply a (2, 3) image affine (camera-motion compensation) to the centre and velocity."""
        x = self.kf.x
        a = affine[:, :2]
        x[:2, 0] = a @ x[:2, 0] + affine[:, 2]
        x[4:6, 0] = a @ x[4:6, 0]
        scale = float(np.sqrt(abs(np.linalg.det(a))))
        x[3, 0] *= scale
        x[7, 0] *= scale
