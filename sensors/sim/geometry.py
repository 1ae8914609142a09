"""Small geometry helpers of the simulator: rotations, oriented boxes, polygons and polylines.

Frames used by the simulator:

* ``world``: a flat ground plane, metres; x forward/east, y left/north, z up; the ground is
  ``z = 0``. Yaw is measured counter-clockwise from +x, radians.
* ``ego``: the ego vehicle body frame, x forward, y left, z up, origin on the ground below the
  centre of the ego's box (the ego never pitches or rolls).
* Sensor body frames (lidar, radar) use x forward, y left, z up; camera frames use the optical
  convention of :mod:`calib.camera` (x right, y down, z forward).
"""

from __future__ import annotations

import math

import numpy as np

#: Rotation taking optical-frame vectors (x right, y down, z forward) into a body frame
#: (x forward, y left, z up): columns are the optical axes expressed in the body frame.
R_BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

#: The 12 edges of a box as index pairs into :func:`box_corners` output.
BOX_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
                      [0, 4], [1, 5], [2, 6], [3, 7]])


def wrap_angle(a: float) -> float:
    """``a`` (radians) wrapped into [-pi, pi)."""
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def rot_z(yaw: float) -> np.ndarray:
    """(3, 3) rotation about +z by ``yaw`` radians."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """(3, 3) rotation ``Rz(yaw) @ Ry(pitch) @ Rx(roll)`` (radians, body x forward, z up).

    A positive pitch tilts the body's x axis downwards (towards -z), as for a camera looking
    down at the ground.
    """
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    return rot_z(yaw) @ ry @ rx


def box_corners(centre: np.ndarray, size: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Corners of oriented boxes: (N, 8, 3) from centres (N, 3), sizes (N, 3) ``l, w, h``, yaws (N,).

    Corners 0-3 are the bottom face, 4-7 the top face, both counter-clockwise from the
    front-left (+x, +y) corner in the box frame.
    """
    sx = np.array([1, -1, -1, 1, 1, -1, -1, 1], dtype=np.float64) * 0.5
    sy = np.array([1, 1, -1, -1, 1, 1, -1, -1], dtype=np.float64) * 0.5
    sz = np.array([-1, -1, -1, -1, 1, 1, 1, 1], dtype=np.float64) * 0.5
    local = np.stack([size[:, None, 0] * sx, size[:, None, 1] * sy, size[:, None, 2] * sz], axis=-1)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    out = np.empty_like(local)
    out[..., 0] = c * local[..., 0] - s * local[..., 1] + centre[:, None, 0]
    out[..., 1] = s * local[..., 0] + c * local[..., 1] + centre[:, None, 1]
    out[..., 2] = local[..., 2] + centre[:, None, 2]
    return out


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: which (N, 2) points lie inside the (K, 2) polygon (even-odd rule)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64)
    x, y = pts[:, 0:1], pts[:, 1:2]
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crosses = ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / (y2 - y1) + x1)
    return (np.count_nonzero(crosses, axis=1) % 2) == 1


def inside_polygon(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    """Whether the point ``(x, y)`` lies inside ``polygon`` (even-odd rule; pure Python, fast
    for the few-vertex polygons tested every step)."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


class Polyline:
    """A 2D path through (K, 2) waypoints in metres, parametrised by arc length ``s``.

    Beyond either end the path continues straight along its first/last segment. A single
    waypoint gives a degenerate path whose direction is ``heading`` (radians).
    """

    def __init__(self, points: np.ndarray, heading: float = 0.0) -> None:
        self.points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        seg = np.diff(self.points, axis=0)
        lengths = np.linalg.norm(seg, axis=1)
        keep = lengths > 1e-9
        if len(self.points) > 1 and not keep.all():
            self.points = np.concatenate([self.points[:1], self.points[1:][keep]])
            seg, lengths = seg[keep], lengths[keep]
        self.cum = np.concatenate([[0.0], np.cumsum(lengths)])
        if len(lengths):
            self.dirs = seg / lengths[:, None]
        else:
            self.dirs = np.array([[math.cos(heading), math.sin(heading)]])
        self.length = float(self.cum[-1])

    def _segment(self, s: float) -> int:
        if len(self.cum) < 2:
            return 0
        return int(np.clip(np.searchsorted(self.cum, s, side="right") - 1, 0, len(self.dirs) - 1))

    def point(self, s: float) -> np.ndarray:
        """(2,) position at arc length ``s`` (extrapolated beyond the ends)."""
        i = self._segment(s)
        return self.points[i] + self.dirs[i] * (s - self.cum[i])

    def tangent(self, s: float) -> np.ndarray:
        """(2,) unit direction at arc length ``s``."""
        return self.dirs[self._segment(s)]

    def project(self, p: np.ndarray, s_hint: float, window: float = 30.0) -> float:
        """Arc length of the point of the path nearest to ``p`` within ``s_hint - 2 .. + window``."""
        best_s, best_d = s_hint, math.inf
        lo, hi = s_hint - 2.0, s_hint + window
        last = len(self.dirs) - 1
        for i in range(len(self.dirs)):
            a = self.cum[i]
            b = self.cum[i + 1] if i + 1 < len(self.cum) else a
            if (b < lo and i < last) or a > hi:
                continue
            t = float(np.dot(p - self.points[i], self.dirs[i]))
            t_max = math.inf if i == last else b - a
            t = min(max(t, 0.0 if i > 0 else -math.inf), t_max)
            d = float(np.linalg.norm(self.points[i] + self.dirs[i] * t - p))
            if d < best_d:
                best_d, best_s = d, a + t
        return best_s
