"""Ego poses over time and the transforms of sensor frames into the fixed (world) frame.

:class:`EgoPoses` keeps time-stamped samples of ``T_<fixed>_from_<ego>`` (from ``Pose`` messages,
KITTI oxts or simulator odometry), interpolates between them (linear translation, quaternion
slerp) and composes the result with a static :class:`calib.transform.FrameTree` of sensor
extrinsics: ``T_fixed_from_sensor(t) = T_fixed_from_ego(t) @ T_ego_from_sensor``. A frame that the
tree cannot reach, or a stamp outside the pose samples (beyond ``max_extrapolation_s``), raises
:class:`~fusion.errors.TrackingError`; the tracker counts such measurements and skips them.

Box conversions between frames: :func:`transform_boxes` maps geometric centres (N, 3) and
headings (N,) of oriented boxes from a frame of one vertical-axis convention (``"y"``: KITTI
camera, ``"z"``: z-up) into another through a :class:`~calib.transform.Transform`; sizes are
unchanged (the frames' vertical axes are assumed nearly parallel).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

import numpy as np

from calib.errors import CalibrationError
from calib.transform import FrameTree, Transform
from fusion.errors import TrackingError
from fusion.geometry3d import VERTICAL_AXES
from percept.messages import Pose


def transform_from_pose(pose: Pose) -> Transform:
    """``T_<pose.frame_id>_from_<pose.child_frame_id>`` of a ``Pose`` message."""
    return Transform.from_quaternion(pose.rotation, pose.translation, tol=Pose.NORM_TOL)


def pose_from_transform(
    T: Transform, *, stamp_ns: int, frame_id: str, child_frame_id: str, seq: int = 0
) -> Pose:
    """A ``Pose`` message of ``T`` = ``T_<frame_id>_from_<child_frame_id>``."""
    return Pose(
        stamp_ns=stamp_ns,
        frame_id=frame_id,
        seq=seq,
        child_frame_id=child_frame_id,
        translation=T.translation.copy(),
        rotation=T.as_quaternion(),
    )


def slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions ``x, y, z, w`` at fraction ``s`` in [0, 1]."""
    q0, q1 = np.asarray(q0, np.float64), np.asarray(q1, np.float64)
    d = float(np.dot(q0, q1))
    if d < 0:  # the shorter way round
        q1, d = -q1, -d
    if d > 0.9995:
        q = q0 + s * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = math.acos(min(d, 1.0))
    return (math.sin((1 - s) * theta) * q0 + math.sin(s * theta) * q1) / math.sin(theta)


def heading_vectors(yaw: np.ndarray, vertical: str) -> np.ndarray:
    """(N, 3) unit heading directions of yaw angles (N,) in a frame of the ``vertical`` convention
    (see :mod:`fusion.geometry3d`: ``"y"`` heads along ``(cos, 0, -sin)``, ``"z"`` along
    ``(cos, sin, 0)``)."""
    yaw = np.asarray(yaw, np.float64).reshape(-1)
    c, s, zero = np.cos(yaw), np.sin(yaw), np.zeros(len(yaw))
    if vertical == "y":
        return np.stack([c, zero, -s], axis=1)
    return np.stack([c, s, zero], axis=1)


def yaw_of(heading: np.ndarray, vertical: str) -> np.ndarray:
    """(N,) yaw angles of heading directions (N, 3) in a frame of the ``vertical`` convention."""
    h = np.asarray(heading, np.float64).reshape(-1, 3)
    if vertical == "y":
        return np.arctan2(-h[:, 2], h[:, 0])
    return np.arctan2(h[:, 1], h[:, 0])


def transform_boxes(
    T_dst_from_src: Transform, centre: np.ndarray, yaw: np.ndarray, src_vertical: str, dst_vertical: str
) -> tuple[np.ndarray, np.ndarray]:
    """Box centres (N, 3) metres and headings (N,) radians of frame ``src`` expressed in ``dst``."""
    for v in (src_vertical, dst_vertical):
        if v not in VERTICAL_AXES:
            raise TrackingError(f"vertical axis: expected one of {VERTICAL_AXES}, got {v!r}")
    c = np.asarray(centre, np.float64).reshape(-1, 3)
    out = c @ T_dst_from_src.rotation.T + T_dst_from_src.translation
    heading = heading_vectors(yaw, src_vertical) @ T_dst_from_src.rotation.T
    return out, yaw_of(heading, dst_vertical)


class EgoPoses:
    """A bounded, time-ordered history of ego poses with interpolation and sensor extrinsics.

    Args:
        fixed_frame: the frame tracks live in (``world``, ``odom``).
        ego_frame: the moving frame the poses locate (``ego``, ``imu``); the root of ``tree``'s
            sensor frames.
        tree: static extrinsics containing ``ego_frame`` and the sensor frames (None: only
            ``ego_frame`` and ``fixed_frame`` are known).
        max_extrapolation_s: how far past the newest (or before the oldest) sample a stamp may be;
            the nearest pose is held there.
        capacity: samples kept (oldest dropped first).
    """

    def __init__(
        self,
        fixed_frame: str = "world",
        ego_frame: str = "ego",
        tree: FrameTree | None = None,
        max_extrapolation_s: float = 0.2,
        capacity: int = 2000,
    ) -> None:
        self.fixed_frame, self.ego_frame = fixed_frame, ego_frame
        self.tree = tree
        self.max_extrapolation_ns = int(max_extrapolation_s * 1e9)
        self.capacity = int(capacity)
        self._stamps: list[int] = []
        self._t: list[np.ndarray] = []
        self._q: list[np.ndarray] = []
        self._static: dict[str, Transform] = {}

    def __len__(self) -> int:
        return len(self._stamps)

    def add(self, stamp_ns: int, T_fixed_from_ego: Transform) -> None:
        """Insert one sample (any order; a sample at an existing stamp replaces it)."""
        i = bisect.bisect_left(self._stamps, stamp_ns)
        t, q = T_fixed_from_ego.translation.copy(), T_fixed_from_ego.as_quaternion()
        if i < len(self._stamps) and self._stamps[i] == stamp_ns:
            self._t[i], self._q[i] = t, q
            return
        self._stamps.insert(i, int(stamp_ns))
        self._t.insert(i, t)
        self._q.insert(i, q)
        if len(self._stamps) > self.capacity:
            del self._stamps[0], self._t[0], self._q[0]

    def add_pose(self, pose: Pose) -> None:
        """Insert a ``Pose`` message; its frames must be ``fixed_frame`` and ``ego_frame``."""
        if pose.frame_id != self.fixed_frame or pose.child_frame_id != self.ego_frame:
            raise TrackingError(
                f"pose {pose.frame_id!r} <- {pose.child_frame_id!r}: expected "
                f"{self.fixed_frame!r} <- {self.ego_frame!r}"
            )
        self.add(pose.stamp_ns, transform_from_pose(pose))

    def extend(self, samples: Iterable[tuple[int, Transform]]) -> None:
        """Insert many ``(stamp_ns, T_fixed_from_ego)`` samples."""
        for stamp, T in samples:
            self.add(stamp, T)

    def fixed_from_ego(self, stamp_ns: int) -> Transform:
        """``T_fixed_from_ego`` at ``stamp_ns``, interpolated between the two nearest samples."""
        n = len(self._stamps)
        if n == 0:
            raise TrackingError(f"no ego pose yet ({self.fixed_frame!r} <- {self.ego_frame!r})")
        i = bisect.bisect_left(self._stamps, stamp_ns)
        if i < n and self._stamps[i] == stamp_ns:
            return Transform.from_quaternion(self._q[i], self._t[i])
        if i == 0 or i == n:
            k = 0 if i == 0 else n - 1
            if abs(stamp_ns - self._stamps[k]) > self.max_extrapolation_ns:
                raise TrackingError(
                    f"stamp {stamp_ns} ns is {abs(stamp_ns - self._stamps[k]) / 1e9:.3f} s "
                    f"outside the ego poses {self._stamps[0]}..{self._stamps[-1]} ns"
                )
            return Transform.from_quaternion(self._q[k], self._t[k])
        t0, t1 = self._stamps[i - 1], self._stamps[i]
        s = (stamp_ns - t0) / (t1 - t0)
        return Transform.from_quaternion(
            slerp(self._q[i - 1], self._q[i], s), (1 - s) * self._t[i - 1] + s * self._t[i]
        )

    def ego_from(self, frame_id: str) -> Transform:
        """Static ``T_ego_from_<frame_id>`` from the tree (cached)."""
        T = self._static.get(frame_id)
        if T is None:
            if frame_id == self.ego_frame:
                T = Transform.identity()
            elif self.tree is None:
                raise TrackingError(
                    f"frame {frame_id!r}: no transform tree to reach it from {self.ego_frame!r}"
                )
            else:
                try:
                    T = self.tree.lookup(self.ego_frame, frame_id)
                except CalibrationError as exc:
                    raise TrackingError(
                        f"frame {frame_id!r}: unreachable from {self.ego_frame!r}: {exc}"
                    ) from exc
            self._static[frame_id] = T
        return T

    def fixed_from(self, frame_id: str, stamp_ns: int) -> Transform:
        """``T_fixed_from_<frame_id>`` at ``stamp_ns`` (identity for the fixed frame itself)."""
        if frame_id == self.fixed_frame:
            return Transform.identity()
        return self.fixed_from_ego(stamp_ns) @ self.ego_from(frame_id)

    def velocity(self, frame_id: str, stamp_ns: int, dt_ns: int = 50_000_000) -> np.ndarray:
        """(3,) velocity in m/s of the origin of ``frame_id``, in the fixed frame (central difference
        over ``dt_ns``; zero with fewer than two pose samples)."""
        if frame_id == self.fixed_frame or len(self._stamps) < 2:
            return np.zeros(3)
        lo = max(stamp_ns - dt_ns, self._stamps[0])
        hi = min(stamp_ns + dt_ns, self._stamps[-1])
        if hi <= lo:
            return np.zeros(3)
        a = self.fixed_from(frame_id, lo).translation
        b = self.fixed_from(frame_id, hi).translation
        return (b - a) / ((hi - lo) * 1e-9)
