"""Oriented ground-plane rectangles for point clusters: L-shape fitting and minimum-area rectangles.

A fit is ``(centre (2,), length, width, yaw)`` in the cluster's ground plane (x forward, y left,
metres): ``length >= width``, ``yaw`` (radians, in [-pi/2, pi/2)) the direction of the longer
side. A lidar cluster gives no front/back, so the heading is only known modulo pi.

L-shape fitting follows Zhang, Xu, Dolan, Kuehnel, Shi, "Efficient L-Shape Fitting for Vehicle
Detection Using Laser Scanners" (IEEE IV 2017), search-based rectangle fitting: every heading
in [0, pi/2) (step ``angle_step``) is scored with one criterion over the points projected on the
two rectangle axes, all headings at once; the best one's bounding rectangle is the fit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["RectFit", "fit_lshape", "fit_min_area", "wrap_half_pi"]

_D0 = 0.01  # closeness criterion: smallest distance counted (metres), as in the paper


class RectFit(NamedTuple):
    """An oriented rectangle: ``centre`` float64 (2,), ``length >= width`` metres, ``yaw`` radians."""

    centre: np.ndarray
    length: float
    width: float
    yaw: float


def wrap_half_pi(angle: float | np.ndarray) -> float | np.ndarray:
    """Angle(s) wrapped to [-pi/2, pi/2) (headings modulo pi)."""
    return (np.asarray(angle) + math.pi / 2) % math.pi - math.pi / 2


def _scores(c1: np.ndarray, c2: np.ndarray, criterion: str) -> np.ndarray:
    """Criterion (higher is better) of (n, T) projections on the two axes of T headings."""
    lo1, hi1 = c1.min(axis=0), c1.max(axis=0)
    lo2, hi2 = c2.min(axis=0), c2.max(axis=0)
    if criterion == "area":
        return -(hi1 - lo1) * (hi2 - lo2)
    d1 = np.minimum(hi1 - c1, c1 - lo1)
    d2 = np.minimum(hi2 - c2, c2 - lo2)
    if criterion == "closeness":
        return (1.0 / np.maximum(np.minimum(d1, d2), _D0)).sum(axis=0)
    # variance: points nearer edge 1 are scored by their spread about it, the others about edge 2
    near1 = d1 <= d2
    n1 = np.maximum(near1.sum(axis=0), 1)
    n2 = np.maximum((~near1).sum(axis=0), 1)
    e1 = np.where(near1, d1, 0.0)
    e2 = np.where(near1, 0.0, d2)
    var1 = (e1**2).sum(axis=0) / n1 - (e1.sum(axis=0) / n1) ** 2
    var2 = (e2**2).sum(axis=0) / n2 - (e2.sum(axis=0) / n2) ** 2
    return -(var1 + var2)


def _rect(xy: np.ndarray, theta: float) -> RectFit:
    """The bounding rectangle of (n, 2) points along axes ``theta`` and ``theta + pi/2``."""
    e1 = np.array([math.cos(theta), math.sin(theta)])
    e2 = np.array([-math.sin(theta), math.cos(theta)])
    c1, c2 = xy @ e1, xy @ e2
    l1, l2 = float(c1.max() - c1.min()), float(c2.max() - c2.min())
    centre = e1 * (c1.max() + c1.min()) / 2 + e2 * (c2.max() + c2.min()) / 2
    if l1 >= l2:
        return RectFit(centre, l1, l2, float(wrap_half_pi(theta)))
    return RectFit(centre, l2, l1, float(wrap_half_pi(theta + math.pi / 2)))


def fit_lshape(xy: np.ndarray, angle_step: float = math.radians(1.0),
               criterion: str = "closeness") -> RectFit:
    """L-shape (search-based) rectangle of float (n, 2) ground-plane points, n >= 1.

    ``criterion``: ``closeness`` (sum of inverse distances to the nearer rectangle edge, robust
    for the L and I shapes a laser sees), ``area`` (smallest bounding rectangle) or ``variance``
    (least spread of the distances to the nearer edge). ``angle_step`` in radians.
    """
    pts = np.asarray(xy, np.float64).reshape(-1, 2)
    if criterion not in ("closeness", "area", "variance"):
        raise ValueError(f"criterion: expected closeness, area or variance, got {criterion!r}")
    centred = pts - pts.mean(axis=0)
    thetas = np.arange(0.0, math.pi / 2, angle_step)
    axes1 = np.stack([np.cos(thetas), np.sin(thetas)])  # (2, T)
    axes2 = np.stack([-np.sin(thetas), np.cos(thetas)])
    best = float(thetas[int(np.argmax(_scores(centred @ axes1, centred @ axes2, criterion)))])
    return _rect(pts, best)


def fit_min_area(xy: np.ndarray) -> RectFit:
    """Minimum-area rectangle (``cv2.minAreaRect``, rotating calipers on the convex hull) of
    float (n, 2) ground-plane points, n >= 1."""
    import cv2

    pts = np.asarray(xy, np.float64).reshape(-1, 2)
    origin = pts.mean(axis=0)
    (cx, cy), (w, h), angle = cv2.minAreaRect((pts - origin).astype(np.float32))
    theta = math.radians(angle)  # direction of the side of length w
    yaw = theta if w >= h else theta + math.pi / 2
    return RectFit(np.array([cx, cy]) + origin, float(max(w, h)), float(min(w, h)), float(wrap_half_pi(yaw)))
