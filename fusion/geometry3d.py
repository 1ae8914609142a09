"""Oriented 3D boxes: bird's-eye-view polygons, 3D IoU, 3D GIoU and centre distances.

A set of N boxes is three arrays: ``centre`` float (N, 3) geometric box centre in metres,
``size`` float (N, 3) ``length, width, height`` in metres (length along the heading) and ``yaw``
float (N,) heading in radians. Two frame conventions are supported, named by the frame's
vertical axis:

* ``"y"`` -- a camera frame as in KITTI (x right, y down, z forward). The ground plane is x-z,
  the height runs along y and ``yaw`` is KITTI's ``rotation_y`` about +y: the heading points
  along ``(cos yaw, -sin yaw)`` in (x, z).
* ``"z"`` -- a z-up frame (lidar, vehicle, map: x forward, y left, z up). The ground plane is
  x-y and ``yaw`` turns about +z: the heading points along ``(cos yaw, sin yaw)``.

:func:`bev` maps both to ground coordinates ``(u, v)`` and an angle ``theta`` such that the
heading is ``(cos theta, sin theta)``; every polygon routine works in those. Polygon clipping is
plain Python on a handful of vertices; callers gate far pairs first (``max_dist``) so only
nearby pairs are clipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fusion.errors import TrackingError

VERTICAL_AXES = ("y", "z")

Polygon = list[tuple[float, float]]


def _check_vertical(vertical: str) -> None:
    if vertical not in VERTICAL_AXES:
        raise TrackingError(f"vertical axis: expected one of {VERTICAL_AXES}, got {vertical!r}")


def bev(centre: np.ndarray, yaw: np.ndarray, vertical: str) -> tuple[np.ndarray, np.ndarray]:
    """Ground-plane centres ``uv`` float64 (N, 2) and heading angles ``theta`` float64 (N,)."""
    _check_vertical(vertical)
    c = np.asarray(centre, np.float64).reshape(-1, 3)
    yaw = np.asarray(yaw, np.float64).reshape(-1)
    if vertical == "y":
        return c[:, [0, 2]], -yaw
    return c[:, :2], yaw


def vertical_span(centre: np.ndarray, size: np.ndarray, vertical: str) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` float64 (N,) extent of each box along the vertical axis, metres."""
    _check_vertical(vertical)
    k = 1 if vertical == "y" else 2
    c = np.asarray(centre, np.float64).reshape(-1, 3)[:, k]
    h = np.asarray(size, np.float64).reshape(-1, 3)[:, 2]
    return c - h / 2, c + h / 2


def bev_corners(uv: np.ndarray, length_width: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(N, 4, 2) ground-plane corners, counter-clockwise, of boxes ``uv`` (N, 2), ``(l, w)`` (N, 2)."""
    uv = np.asarray(uv, np.float64).reshape(-1, 2)
    lw = np.asarray(length_width, np.float64).reshape(-1, 2)
    c, s = np.cos(theta), np.sin(theta)
    half = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float64) / 2  # along, across
    local = half[None] * lw[:, None, :]  # (N, 4, 2)
    u = uv[:, None, 0] + local[..., 0] * c[:, None] - local[..., 1] * s[:, None]
    v = uv[:, None, 1] + local[..., 0] * s[:, None] + local[..., 1] * c[:, None]
    return np.stack([u, v], axis=-1)


def _area(poly: Sequence[tuple[float, float]]) -> float:
    """Area of a simple polygon (shoelace), absolute value."""
    n = len(poly)
    if n < 3:
        return 0.0
    s = 0.0
    for i in range(n):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % n]
        s += x0 * y1 - x1 * y0
    return abs(s) / 2


def clip_convex(subject: Polygon, clip: Polygon) -> Polygon:
    """Intersection of convex polygon ``subject`` with convex counter-clockwise ``clip``
    (Sutherland-Hodgman); an empty list when they do not overlap."""
    out = subject
    n = len(clip)
    for i in range(n):
        if not out:
            return []
        ax, ay = clip[i]
        bx, by = clip[(i + 1) % n]
        ex, ey = bx - ax, by - ay
        inp, out = out, []
        m = len(inp)
        for j in range(m):
            px, py = inp[j - 1]
            qx, qy = inp[j]
            sp = ex * (py - ay) - ey * (px - ax)  # >= 0: left of (inside) the edge
            sq = ex * (qy - ay) - ey * (qx - ax)
            if sq >= 0:
                if sp < 0:
                    t = sp / (sp - sq)
                    out.append((px + t * (qx - px), py + t * (qy - py)))
                out.append((qx, qy))
            elif sp >= 0:
                t = sp / (sp - sq)
                out.append((px + t * (qx - px), py + t * (qy - py)))
    return out


def convex_hull(points: Sequence[tuple[float, float]]) -> Polygon:
    """Convex hull (Andrew's monotone chain), counter-clockwise, of 2D points."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return list(pts)

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: Polygon = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: Polygon = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _prepared(centre: np.ndarray, size: np.ndarray, yaw: np.ndarray,
              vertical: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    centre = np.asarray(centre, np.float64).reshape(-1, 3)
    size = np.asarray(size, np.float64).reshape(-1, 3)
    yaw = np.asarray(yaw, np.float64).reshape(-1)
    if not len(centre) == len(size) == len(yaw):
        raise TrackingError(f"3D boxes: expected equal rows, got centre {len(centre)}, size {len(size)}, "
                            f"yaw {len(yaw)}")
    uv, theta = bev(centre, yaw, vertical)
    lo, hi = vertical_span(centre, size, vertical)
    corners = bev_corners(uv, size[:, :2], theta)
    volume = np.prod(np.clip(size, 0, None), axis=1)
    return uv, corners, lo, hi, volume


def box_overlaps(a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray],
                 vertical: str, generalized: bool = False, max_dist: float = math.inf) -> np.ndarray:
    """(T, D) 3D IoU (or GIoU with ``generalized``) of boxes ``a`` and ``b``, each a tuple
    ``(centre (N, 3), size (N, 3), yaw (N,))`` in one frame of the ``vertical`` convention.

    IoU is in [0, 1]; GIoU in [-1, 1] (Rezatofighi et al. 2019 on 3D volumes: the enclosing shape
    is the convex hull of both ground polygons times the joint vertical extent, as in AB3DMOT).
    Pairs whose ground-plane centres are more than ``max_dist`` metres apart are not clipped and
    get 0 (IoU) or -1 (GIoU).
    """
    ua, ca, lo_a, hi_a, vol_a = _prepared(*a, vertical)
    ub, cb, lo_b, hi_b, vol_b = _prepared(*b, vertical)
    out = np.full((len(ua), len(ub)), -1.0 if generalized else 0.0)
    if out.size == 0:
        return out
    dist = np.linalg.norm(ua[:, None, :] - ub[None, :, :], axis=-1)
    reach = (np.hypot(*(ca[:, 0] - ca[:, 2]).T) / 2)[:, None] + (np.hypot(*(cb[:, 0] - cb[:, 2]).T) / 2)[None]
    may_touch = dist <= reach
    poly_a = [[(float(x), float(y)) for x, y in c] for c in ca]
    poly_b = [[(float(x), float(y)) for x, y in c] for c in cb]
    for i, j in zip(*np.nonzero(dist <= max_dist), strict=True):
        inter_h = max(0.0, min(hi_a[i], hi_b[j]) - max(lo_a[i], lo_b[j]))
        inter = _area(clip_convex(poly_a[i], poly_b[j])) * inter_h if may_touch[i, j] else 0.0
        union = vol_a[i] + vol_b[j] - inter
        iou = inter / union if union > 0 else 0.0
        if not generalized:
            out[i, j] = iou
            continue
        hull = _area(convex_hull(poly_a[i] + poly_b[j])) * (max(hi_a[i], hi_b[j]) - min(lo_a[i], lo_b[j]))
        out[i, j] = iou - (hull - union) / hull if hull > 0 else iou
    return out


def centre_distance(a_centre: np.ndarray, b_centre: np.ndarray) -> np.ndarray:
    """(T, D) Euclidean distance in metres between box centres (T, 3) and (D, 3)."""
    a = np.asarray(a_centre, np.float64).reshape(-1, 3)
    b = np.asarray(b_centre, np.float64).reshape(-1, 3)
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)


def wrap_angle(angle: np.ndarray | float) -> np.ndarray | float:
    """Angle(s) wrapped to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi if isinstance(angle, np.ndarray) \
        else (angle + math.pi) % (2 * math.pi) - math.pi
