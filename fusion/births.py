"""Track births from point sensors: radar targets and mono camera boxes (the initiation rules).

A box sensor measures a whole box, so an unmatched box starts a track as measured
(:meth:`fusion.motion_world.MotionModel.initial`). A radar target or a camera box measures a
point or directions only. The fusion tracker starts a track from one when its sensor
``starts_tracks`` (:class:`~fusion.fusion_config.SensorConfig`) and **no existing track gates
it**: its squared Mahalanobis distance to every track's predicted measurement exceeds the
sensor's chi-square gate, and the new box's ground-plane centre is outside the
:data:`DUPLICATE_PROBABILITY` chi-square region of every track's (:func:`not_duplicates`, both
covariances summed: a track that a measurement missed during a manoeuvre is not born twice). So
beside a lidar, radar and camera start only the objects the lidar does not see (beyond its range,
outside its view); a later lidar box meets such a track through the box association.

The new track has its class's ``init_size`` (:class:`~fusion.fusion_config.ClassConfig`), stands
on the ground (its bottom at ``FusionTrackerConfig.ground_z`` of the ego frame, the ground taken
as flat and level under the ego) and heads along the ego's heading (traffic runs along the ego's
lane; yaw std :data:`YAW_STD`, size std :data:`SIZE_FRACTION_STD` of the size). The measured
point lies on the box's near side, so the centre is the box's half extent farther along the line
of sight:

* radar (:func:`radar_births`): the target at range ``r`` and azimuth ``a``, pushed by the half
  extent when the sensor measures the ``nearest`` box point (not at all for ``centre``).
  Velocity: the class's initial motion uncertainty (``init_velocity_std``, and
  ``init_lateral_velocity_std`` across the heading) corrected once by the range rate over ground
  (the range rate plus the radar's own velocity along the line of sight; zero sensor velocity for
  compensated rates) with the range-rate noise (:func:`initial_states`). Position std: the range
  noise along the line of sight, ``r * azimuth_std`` across.
* camera (:func:`camera_births`, mono initialisation): the ray through the bottom centre of the
  2D box meets the ground plane at the object's near bottom edge, ``d`` metres from the camera
  along the ground, the camera ``h`` metres above it (a ray that does not point down, or that
  meets the ground farther than :data:`MONO_MAX_RANGE_M`, starts nothing); the centre is the half
  extent farther along the ray. Position std: ``d**2 / h * elevation_std`` along the ray (how the
  ground distance follows the depression angle), ``d * bearing_std`` across it. Velocity: the
  class's initial motion uncertainty around zero.

Both keep the size's uncertainty tied to the centre's: a longer box than assumed has its centre
farther along the line of sight (the covariance of the centre with length and width), so a later
lidar box of a truck, ten metres long where ``init_size`` says a car, still gates with its track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from calib.transform import Transform
from fusion.ego import EgoPoses
from fusion.errors import TrackingError
from fusion.measurements import BearingNoise, RadarNoise
from fusion.motion_world import NBOX, MotionModel

#: Yaw standard deviation of a point-sensor birth, radians.
YAW_STD = math.pi / 4
#: Size standard deviation of a point-sensor birth, as a fraction of ``init_size``.
SIZE_FRACTION_STD = 0.5
#: A birth whose ground-plane centre is this likely (chi-square, 2 degrees) an existing track's is
#: that track seen again, not a new object.
DUPLICATE_PROBABILITY = 0.999
#: Farthest ground distance (m) of a mono camera birth.
MONO_MAX_RANGE_M = 150.0
#: Lowest camera height above the ground (m) and steepest-up ray (optical-frame z-up component)
#: that still intersect the ground usefully.
_MIN_HEIGHT_M, _MIN_DOWN = 0.2, 1e-3


@dataclass(frozen=True)
class Births:
    """New tracks of one class: boxes ``z`` (N, 7) ``x, y, z, yaw, l, w, h`` in the fixed frame,
    their covariances ``R`` (N, 7, 7), the ``rows`` (N,) of the measurements they come from and,
    for radar, the speed over ground ``radial`` (N,) m/s along the horizontal lines of sight
    ``los`` (N, 3), with standard deviation ``radial_std`` m/s."""

    z: np.ndarray
    R: np.ndarray
    rows: np.ndarray
    los: np.ndarray | None = None
    radial: np.ndarray | None = None
    radial_std: float = 0.0

    def __len__(self) -> int:
        return len(self.z)

    def select(self, keep: np.ndarray) -> Births:
        """The births where ``keep`` (N,) bool is True."""
        return Births(self.z[keep], self.R[keep], self.rows[keep],
                      None if self.los is None else self.los[keep],
                      None if self.radial is None else self.radial[keep], self.radial_std)


def _half_extent(u: np.ndarray, yaw: float,
                 size: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """``(e (N,), de/d(l, w) (N, 2))``: distance from a box's centre to its boundary along horizontal
    unit directions u (N, 2), and its derivatives by the box's length and width."""
    along = np.maximum(np.abs(u @ np.array([math.cos(yaw), math.sin(yaw)])), 1e-9)
    across = np.maximum(np.abs(u @ np.array([-math.sin(yaw), math.cos(yaw)])), 1e-9)
    by_length = size[0] / 2 / along <= size[1] / 2 / across  # the ray leaves through an end face
    e = np.where(by_length, size[0] / 2 / along, size[1] / 2 / across)
    grad = np.stack([np.where(by_length, 0.5 / along, 0.0), np.where(by_length, 0.0, 0.5 / across)], axis=1)
    return e, grad


def _boxes(near: np.ndarray, u: np.ndarray, push: tuple[np.ndarray, np.ndarray], along_std: np.ndarray,
           cross_std: np.ndarray, ground_z: float, yaw: float,
           size: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 7) centred ``push[0]`` beyond the ground points ``near`` (N, 2) along ``u`` (N, 2),
    and their covariances (N, 7, 7): the along / across standard deviations (N,) of the points,
    and the size's, which moves the centre along ``u`` by ``push[1]`` (N, 2) per metre of length
    and width (the measured point stays on the box's near side)."""
    e, grad = push
    n = len(near)
    z = np.zeros((n, NBOX))
    z[:, :2] = near + u * e[:, None]
    z[:, 2] = ground_z + size[2] / 2
    z[:, 3] = yaw
    z[:, 4:] = size
    size_var = np.square(SIZE_FRACTION_STD * np.asarray(size, np.float64))
    perp = np.stack([-u[:, 1], u[:, 0]], axis=1)
    sa2 = along_std**2 + grad**2 @ size_var[:2]
    R = np.zeros((n, NBOX, NBOX))
    R[:, :2, :2] = (sa2[:, None, None] * np.einsum("ni,nj->nij", u, u)
                    + (cross_std**2)[:, None, None] * np.einsum("ni,nj->nij", perp, perp))
    R[:, 2, 2] = size_var[2] / 4
    R[:, 2, 6] = R[:, 6, 2] = size_var[2] / 2  # the bottom stays on the ground
    R[:, 3, 3] = YAW_STD**2
    R[:, 4:, 4:] = np.diag(size_var)
    for k in (0, 1):  # centre along u <-> length, width
        R[:, :2, 4 + k] = u * (grad[:, k] * size_var[k])[:, None]
        R[:, 4 + k, :2] = R[:, :2, 4 + k]
    return z, R


def ego_pose(ego: EgoPoses, stamp_ns: int) -> Transform:
    """``T_fixed_from_ego`` at ``stamp_ns``; identity without poses (measurements given in the
    fixed frame: the ego at rest at its origin)."""
    try:
        return ego.fixed_from_ego(stamp_ns)
    except TrackingError:
        return Transform.identity()


def _heading(T_fixed_from_ego: Transform) -> float:
    x = T_fixed_from_ego.rotation[:, 0]
    return math.atan2(x[1], x[0])


def _ground(T_fixed_from_ego: Transform, ground_z: float) -> float:
    return float(T_fixed_from_ego.apply(np.array([[0.0, 0.0, ground_z]]))[0, 2])


def radar_births(z: np.ndarray, T_fixed_from_sensor: Transform, sensor_velocity: np.ndarray,
                 T_fixed_from_ego: Transform, size: tuple[float, float, float], noise: RadarNoise,
                 reflection: str, ground_z: float) -> Births:
    """Tracks from radar targets ``z`` (N, 3) ``range, azimuth, range rate`` (module docstring)."""
    rng, az, rate = z[:, 0], z[:, 1], z[:, 2]
    local = np.stack([rng * np.cos(az), rng * np.sin(az), np.zeros(len(z))], axis=1)
    p = T_fixed_from_sensor.apply(local) if len(z) else np.zeros((0, 3))
    los = p[:, :2] - T_fixed_from_sensor.translation[:2]
    u = los / np.maximum(np.linalg.norm(los, axis=1), 1e-6)[:, None]
    yaw = _heading(T_fixed_from_ego)
    push = (_half_extent(u, yaw, size) if reflection == "nearest"
            else (np.zeros(len(z)), np.zeros((len(z), 2))))
    boxes, R = _boxes(p[:, :2], u, push, np.full(len(z), noise.range_std), rng * noise.azimuth_std,
                      _ground(T_fixed_from_ego, ground_z), yaw, size)
    v_sensor = np.asarray(sensor_velocity, np.float64).reshape(3)
    speed = rate + u @ v_sensor[:2]  # over ground, along the line of sight
    return Births(boxes, R, np.arange(len(z)), np.column_stack([u, np.zeros(len(z))]), speed,
                  noise.range_rate_std)


def camera_births(z: np.ndarray, T_fixed_from_camera: Transform, T_fixed_from_ego: Transform,
                  size: tuple[float, float, float], noise: BearingNoise, ground_z: float) -> Births:
    """Tracks from camera box edges ``z`` (N, 4) (:class:`~fusion.camera_models.CameraBoxModel`
    order) by mono initialisation (module docstring); rays that miss the ground start nothing."""
    xn = (np.tan(z[:, 0]) + np.tan(z[:, 1])) / 2
    yn = -np.tan(z[:, 3])  # bottom edge (y down in the optical frame)
    rays = np.column_stack([xn, yn, np.ones(len(z))]) @ T_fixed_from_camera.rotation.T
    origin = T_fixed_from_camera.translation
    ground = _ground(T_fixed_from_ego, ground_z)
    height = origin[2] - ground
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(rays[:, 2] < -_MIN_DOWN, (ground - origin[2]) / rays[:, 2], np.inf)
    hit = origin[None, :2] + t[:, None] * rays[:, :2]
    d = np.linalg.norm(hit - origin[:2], axis=1)
    ok = (height > _MIN_HEIGHT_M) & np.isfinite(d) & (d <= MONO_MAX_RANGE_M)
    hit, d, rays = hit[ok], d[ok], rays[ok]
    u = rays[:, :2] / np.maximum(np.linalg.norm(rays[:, :2], axis=1), 1e-9)[:, None]
    yaw = _heading(T_fixed_from_ego)
    along_std = d**2 / max(height, _MIN_HEIGHT_M) * noise.elevation_std
    boxes, R = _boxes(hit, u, _half_extent(u, yaw, size), along_std, d * noise.bearing_std, ground, yaw, size)
    return Births(boxes, R, np.flatnonzero(ok))


def not_duplicates(births: Births, X: np.ndarray, P: np.ndarray) -> np.ndarray:
    """(N,) bool: births whose ground-plane centre is farther than the :data:`DUPLICATE_PROBABILITY`
    Mahalanobis region (birth and track covariances summed) from every track ``X`` (T, 10), ``P``."""
    if len(births) == 0 or len(X) == 0:
        return np.ones(len(births), bool)
    d = births.z[:, None, :2] - X[None, :, :2]  # (N, T, 2)
    S = births.R[:, None, :2, :2] + P[None, :, :2, :2]
    d2 = np.einsum("nti,ntij,ntj->nt", d, np.linalg.inv(S), d)
    return (d2 > chi2.ppf(DUPLICATE_PROBABILITY, 2)).all(axis=1)


def initial_states(motion: MotionModel, births: Births) -> tuple[np.ndarray, np.ndarray]:
    """Means (N, 10) and covariances (N, 10, 10) of the born tracks under ``motion``: the class's
    initial motion uncertainty (:meth:`~fusion.motion_world.MotionModel.initial`), then, for
    radar, one Kalman update of the velocity by the radial speed along the line of sight."""
    X, P = motion.initial(births.z, births.R)
    if births.los is None or births.radial is None or len(X) == 0:
        return X, P
    vel, J = motion.velocity(X)
    H = np.einsum("ni,nij->nj", births.los, J)[:, None, :]  # (N, 1, 10)
    S = H @ P @ H.transpose(0, 2, 1) + births.radial_std**2
    K = P @ H.transpose(0, 2, 1) / S  # (N, 10, 1)
    y = births.radial - np.einsum("ni,ni->n", births.los, vel)
    X = X + K[:, :, 0] * y[:, None]
    A = np.eye(X.shape[1]) - K @ H
    P = A @ P @ A.transpose(0, 2, 1) + (births.radial_std**2) * K @ K.transpose(0, 2, 1)
    return X, (P + P.transpose(0, 2, 1)) / 2
