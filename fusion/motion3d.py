"""Time-aware constant-velocity Kalman motion model of an oriented 3D box (AB3DMOT style).

State (10,): ``x, y, z, yaw, length, width, height, vx, vy, vz`` -- the geometric box centre in
metres in the tracker's frame, the heading in radians (the convention of that frame, see
:mod:`fusion.geometry3d`), the box size in metres and the centre velocity in metres per SECOND.
Measurement (7,): ``x, y, z, yaw, length, width, height``.

The transition uses the elapsed time ``dt`` in seconds from ``stamp_ns`` differences. Process
noise: white-noise acceleration on each centre axis (``accel_std`` m/s² on the ground plane,
``vertical_accel_std`` along the vertical axis), a random walk on yaw (``yaw_rate_std`` rad/√s)
and on the size (``size_rate_std`` m/√s). Detections of a box's heading are often off by π
(front and back look alike to a detector): before an update the measured yaw is turned by π
when that brings it within π/2 of the track's, and then unwrapped next to it, so the filter never
averages across the ±π seam.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from filterpy.kalman import KalmanFilter

from fusion.errors import TrackingError
from fusion.geometry3d import VERTICAL_AXES, wrap_angle
from fusion.kalman_box import KalmanBoxModel
from percept.config import require_positive

NDIM = 7  # measured quantities: x, y, z, yaw, length, width, height


@dataclass(frozen=True)
class BoxProcessNoise:
    """Process noise and initial velocity uncertainty of a 3D box track (standard deviations): the
    parameters :class:`BoxMotion3DConfig` and :class:`fusion.motion_world.MotionNoise` share.

    Attributes:
        accel_std: ground-plane acceleration noise (m/s²).
        vertical_accel_std: vertical acceleration noise (m/s²).
        yaw_rate_std: heading random walk (rad/√s).
        size_rate_std: size random walk (m/√s).
        init_velocity_std: velocity uncertainty of a new track (m/s).

    ``POSITIVE`` names the fields that must be finite numbers > 0 (checked with the class name as
    the key's owner); a subclass extends it with its own instead of checking them itself.
    """

    accel_std: float = 4.0
    vertical_accel_std: float = 0.5
    yaw_rate_std: float = 0.5
    size_rate_std: float = 0.05
    init_velocity_std: float = 10.0

    POSITIVE: ClassVar[tuple[str, ...]] = ("accel_std", "vertical_accel_std", "yaw_rate_std", "size_rate_std",
                                           "init_velocity_std")

    def __post_init__(self) -> None:
        require_positive(self, self.POSITIVE, type(self).__name__, error=TrackingError)


@dataclass(frozen=True)
class BoxMotion3DConfig(BoxProcessNoise):
    """Noise of the 3D box motion model (standard deviations).

    Attributes:
        vertical: the frame's vertical axis, ``"y"`` (camera, y down) or ``"z"`` (z up).
        meas_std_position: centre measurement noise per axis (m).
        meas_std_yaw: heading measurement noise (rad).
        meas_std_size: length/width/height measurement noise (m).
        accel_std, vertical_accel_std, yaw_rate_std, size_rate_std, init_velocity_std: see
            :class:`BoxProcessNoise`.
    """

    vertical: str = "y"
    meas_std_position: float = 0.3
    meas_std_yaw: float = 0.3
    meas_std_size: float = 0.2

    POSITIVE = (*BoxProcessNoise.POSITIVE, "meas_std_position", "meas_std_yaw", "meas_std_size")

    def __post_init__(self) -> None:
        if self.vertical not in VERTICAL_AXES:
            raise TrackingError(f"BoxMotion3DConfig.vertical: expected one of {VERTICAL_AXES}, "
                                f"got {self.vertical!r}")
        super().__post_init__()


@functools.lru_cache(maxsize=64)
def transition(dt_s: float) -> np.ndarray:
    """(10, 10) constant-velocity transition over ``dt_s`` seconds (cached, read-only)."""
    f = np.eye(10)
    f[0, 7] = f[1, 8] = f[2, 9] = dt_s
    f.flags.writeable = False
    return f


@functools.lru_cache(maxsize=64)
def _process_noise(dt_s: float, config: BoxMotion3DConfig) -> np.ndarray:
    q = np.zeros((10, 10))
    vertical = 1 if config.vertical == "y" else 2
    for axis in range(3):
        a2 = (config.vertical_accel_std if axis == vertical else config.accel_std) ** 2
        q[axis, axis] = a2 * dt_s ** 4 / 4
        q[axis, 7 + axis] = q[7 + axis, axis] = a2 * dt_s ** 3 / 2
        q[7 + axis, 7 + axis] = a2 * dt_s ** 2
    q[3, 3] = config.yaw_rate_std ** 2 * dt_s
    for k in (4, 5, 6):
        q[k, k] = config.size_rate_std ** 2 * dt_s
    q.flags.writeable = False
    return q


def measurement(centre: np.ndarray, size: np.ndarray, yaw: float) -> np.ndarray:
    """(7,) measurement ``x, y, z, yaw, length, width, height`` from a centre (3,) and size (3,)."""
    return np.array([*np.asarray(centre, np.float64).reshape(3), float(yaw),
                     *np.asarray(size, np.float64).reshape(3)])


class BoxMotion3D(KalmanBoxModel):
    """Kalman filter of one oriented 3D box. :attr:`mean` is the (10,) state
    ``x, y, z, yaw, length, width, height, vx, vy, vz`` (m, rad, m/s), :attr:`covariance` (10, 10).

    Args:
        z: (7,) the first measurement ``x, y, z, yaw, length, width, height`` (m, rad).
        config: noise settings.
    """

    def __init__(self, z: np.ndarray, config: BoxMotion3DConfig | None = None) -> None:
        self.config = c = config or BoxMotion3DConfig()
        z = np.asarray(z, np.float64).reshape(-1)
        if z.shape != (NDIM,) or not np.all(np.isfinite(z)) or np.any(z[4:] <= 0):
            raise TrackingError(f"BoxMotion3D: expected 7 finite values x y z yaw l w h with positive size, "
                                f"got {z.tolist()}")
        kf = KalmanFilter(dim_x=10, dim_z=NDIM)
        kf.x = np.concatenate([z, np.zeros(3)]).reshape(-1, 1)
        kf.x[3, 0] = wrap_angle(float(z[3]))
        kf.H = np.hstack([np.eye(NDIM), np.zeros((NDIM, 3))])
        self._r = np.diag(np.square([c.meas_std_position] * 3 + [c.meas_std_yaw] + [c.meas_std_size] * 3))
        kf.R = self._r
        kf.P = np.diag(np.concatenate([np.diag(self._r), np.full(3, c.init_velocity_std ** 2)]))
        self.kf = kf

    @property
    def box(self) -> np.ndarray:
        """(7,) current box ``x, y, z, yaw, length, width, height``."""
        return self.kf.x[:NDIM, 0].copy()

    @property
    def velocity(self) -> np.ndarray:
        """(3,) centre velocity in m/s."""
        return self.kf.x[7:, 0].copy()

    def predict(self, dt_s: float) -> None:
        """Advance the state by ``dt_s`` >= 0 seconds (0 leaves it unchanged)."""
        if not self._steps(dt_s):
            return
        self.kf.predict(F=transition(dt_s), Q=_process_noise(dt_s, self.config))
        self.kf.x[3, 0] = wrap_angle(float(self.kf.x[3, 0]))

    def update(self, z: np.ndarray) -> None:
        """Correct with a measured box (7,) ``x, y, z, yaw, length, width, height``."""
        z = np.array(z, np.float64).reshape(NDIM, 1)
        track_yaw = float(self.kf.x[3, 0])
        diff = wrap_angle(float(z[3, 0]) - track_yaw)
        if abs(diff) > math.pi / 2:  # the detector saw the box back to front
            diff = wrap_angle(diff + math.pi)
        z[3, 0] = track_yaw + diff  # unwrapped next to the track's heading
        self.kf.update(z, R=self._r)
        self.kf.x[3, 0] = wrap_angle(float(self.kf.x[3, 0]))
        self.kf.x[4:7, 0] = np.maximum(self.kf.x[4:7, 0], 1e-2)  # sizes stay positive
