"""Lidar object extraction: crop, ground removal, clustering, oriented boxes, size-based classes.

:class:`LidarObjectExtractor` turns one z-up point cloud (x forward, y left, z up, metres, the
sensor at the origin) into :class:`percept.messages.Detections3D` in the same frame:

1. crop to ``min_range..max_range`` ground-plane distance and ``min_z..max_z``;
2. ground removal (:mod:`perception.lidar.ground`): points at most ``ground.threshold`` above the
   ground, and those over ``ground.max_height``, are dropped;
3. clustering (:mod:`perception.lidar.cluster`) of the voxel centroids of the rest; clusters with
   ``cluster.min_points..max_points`` input points are kept;
4. a ground-plane rectangle per cluster (:mod:`perception.lidar.boxfit`); the box spans from the
   ground under the cluster to its highest point; boxes outside the ``box`` size limits are dropped;
5. a size-based class guess (:class:`perception.lidar.config.ClassPrior` ranges) and, for classes
   with full extents, completion of a partly seen box away from the sensor.

``centre`` is the geometric box centre, ``size`` length/width/height, ``yaw`` the heading of the
longer side modulo pi (in [-pi/2, pi/2)). ``confidence`` (0..1) = class fit x point support, with
fit 1 inside all of the class's ranges, ``exp(-excess / 0.2 m)`` outside, and support
``1 - exp(-points / support_points)``; ``unknown`` objects get fit ``0.5 x`` their best class fit.
"""

from __future__ import annotations

import math

import numpy as np

from percept.messages import Detections3D, PointCloud
from perception.errors import DetectorError
from perception.lidar.boxfit import RectFit, fit_lshape, fit_min_area, wrap_half_pi
from perception.lidar.cluster import dbscan_labels, euclidean_labels, group_indices, voxel_downsample
from perception.lidar.config import ClassPrior, LidarObjectsConfig
from perception.lidar.ground import height_above_ground

__all__ = ["LidarObjectExtractor", "cloud_xyz"]

_FIT_SCALE = 0.2  # metres of excess over a class range that divide its fit by e


def cloud_xyz(cloud: PointCloud | np.ndarray) -> np.ndarray:
    """float64 (N, 3) ``x, y, z`` of a :class:`PointCloud` (by field name) or an (N, >=3) array.

    Raises :class:`DetectorError` for a wrong shape, missing fields or non-finite coordinates.
    """
    if isinstance(cloud, PointCloud):
        missing = [f for f in ("x", "y", "z") if f not in cloud.fields]
        if missing:
            raise DetectorError(f"point cloud: no field(s) {missing}, have {list(cloud.fields)}")
        xyz = np.stack([cloud.column(f) for f in ("x", "y", "z")], axis=1).astype(np.float64)
    else:
        arr = np.asarray(cloud)
        if arr.ndim != 2 or arr.shape[1] < 3 or not np.issubdtype(arr.dtype, np.number):
            raise DetectorError(f"point cloud: expected a numeric (N, >=3) array, "
                                f"got {arr.dtype} {arr.shape}")
        xyz = arr[:, :3].astype(np.float64)
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        raise DetectorError(f"point cloud: {int(bad.sum())} of {len(xyz)} points have non-finite coordinates")
    return xyz


class LidarObjectExtractor:
    """Extracts :class:`Detections3D` from point clouds (see the module docstring); stateless
    between clouds, deterministic (the RANSAC RNG is re-seeded for every cloud)."""

    def __init__(self, config: LidarObjectsConfig | None = None) -> None:
        self.config = config if config is not None else LidarObjectsConfig()

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.class_names

    def describe(self) -> str:
        """The methods of the ground, clustering and box steps, for logs."""
        c = self.config
        return f"ground {c.ground.method}, clustering {c.cluster.method}, boxes {c.box.method}"

    def extract(self, cloud: PointCloud | np.ndarray, stamp_ns: int = 0, frame_id: str = "lidar",
                seq: int = 0) -> Detections3D:
        """Objects of one cloud in its own frame; ``stamp_ns``/``frame_id``/``seq`` go to the header."""
        rows = self.boxes(cloud_xyz(cloud))
        if not rows:
            return Detections3D.empty(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq,
                                      class_names=self.class_names)
        centre, size, yaw, confidence, class_id = (np.array(c) for c in zip(*rows, strict=True))
        return Detections3D(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq, centre=centre, size=size,
                            yaw=yaw, class_id=class_id, confidence=confidence, class_names=self.class_names)

    def object_points(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Steps 1-2: ``(xyz (M, 3), height above ground (M,))`` of the non-ground points kept."""
        cfg = self.config
        rng = np.hypot(xyz[:, 0], xyz[:, 1])
        keep = ((rng >= cfg.min_range) & (rng <= cfg.max_range)
                & (xyz[:, 2] >= cfg.min_z) & (xyz[:, 2] <= cfg.max_z))
        xyz = xyz[keep]
        if len(xyz) < 3:
            return np.zeros((0, 3)), np.zeros(0)
        height = height_above_ground(xyz, cfg.ground)
        above = (height > cfg.ground.threshold) & (height <= cfg.ground.max_height)
        return xyz[above], height[above]

    def clusters(self, xyz: np.ndarray) -> list[np.ndarray]:
        """Step 3: indices into ``xyz`` of each cluster within the size limits."""
        c = self.config.cluster
        centroids, inverse = voxel_downsample(xyz, c.voxel_size)
        if c.method == "dbscan":
            weights = np.bincount(inverse, minlength=len(centroids))
            labels = dbscan_labels(centroids, c.tolerance, c.min_neighbours, weights=weights)
        else:
            labels = euclidean_labels(centroids, c.tolerance)
        groups = group_indices(labels[inverse])
        return [g for g in groups if c.min_points <= len(g) <= c.max_points]

    def boxes(self, xyz: np.ndarray) -> list[tuple]:
        """Steps 1-5 on float (N, 3) finite points: one ``(centre (3,), (length, width, height),
        yaw, confidence, class_id)`` row per object (see :meth:`_box`)."""
        pts, height = self.object_points(xyz)
        rows = []
        for idx in self.clusters(pts) if len(pts) else []:
            row = self._box(pts[idx], height[idx])
            if row is not None:
                rows.append(row)
        keep_unknown = self.config.keep_unknown
        unknown = len(self.config.classes)
        return [r for r in rows if keep_unknown or r[4] != unknown]

    def _fit(self, xy: np.ndarray) -> RectFit:
        b = self.config.box
        if b.method == "min_area":
            return fit_min_area(xy)
        return fit_lshape(xy, math.radians(b.angle_step_deg), b.criterion)

    def _box(self, pts: np.ndarray, height: np.ndarray) -> tuple | None:
        """``(centre, size, yaw, confidence, class_id)`` of one cluster, or None if out of limits."""
        b = self.config.box
        if height.min() > b.max_base_height:
            return None
        ground_z = float(np.median(pts[:, 2] - height))
        top = float(pts[:, 2].max())
        h = top - ground_z
        if not b.min_height <= h <= b.max_height:
            return None
        if np.hypot(*np.ptp(pts[:, :2], axis=0)) / 2 > b.max_length:
            return None  # any enclosing rectangle has a side >= half the bounding-box diagonal
        xy, _ = voxel_downsample(pts[:, :2], 0.1)  # bounds the cost of dense near clusters
        rect = self._fit(xy)
        if rect.length > b.max_length or rect.width > b.max_width:
            return None
        class_id, fit = self._classify(rect.length, rect.width, h)
        if class_id < len(self.config.classes):
            rect = _complete(rect, self.config.classes[class_id])
        support = 1.0 - math.exp(-len(pts) / self.config.support_points)
        centre = (rect.centre[0], rect.centre[1], ground_z + h / 2)
        return centre, (rect.length, rect.width, h), rect.yaw, fit * support, class_id

    def _classify(self, length: float, width: float, height: float) -> tuple[int, float]:
        """``(class_id, fit)``: the best-fitting prior, or ``unknown`` (last id) below ``min_class_fit``.

        Ties in fit (e.g. several classes fit fully) go to the smallest :func:`_atypicality`.
        """
        priors = self.config.classes
        if not priors:
            return 0, 0.5
        fits = np.array([_class_fit(p, length, width, height) for p in priors])
        best_fit = float(fits.max())
        if best_fit < self.config.min_class_fit:
            return len(priors), 0.5 * best_fit
        tied = np.flatnonzero(fits >= best_fit - 1e-9)
        best = min(tied.tolist(), key=lambda i: _atypicality(priors[i], length, width, height))
        return best, best_fit


def _excess(value: float, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return max(0.0, lo - value, value - hi)


def _class_fit(prior: ClassPrior, length: float, width: float, height: float) -> float:
    """1 inside all of ``prior``'s ranges, ``exp(-summed excess / 0.2 m)`` outside."""
    excess = _excess(length, prior.length) + _excess(width, prior.width) + _excess(height, prior.height)
    return math.exp(-excess / _FIT_SCALE)


def _atypicality(prior: ClassPrior, length: float, width: float, height: float) -> float:
    """How far a box is from the prior's typical size, in squared relative units.

    Sides longer than typical count fully, shorter ones (occlusion) a quarter; the height
    (rarely occluded) counts fully both ways. A completable class may see its width as the
    longer side (a car seen from behind), so the better of both readings is taken.
    """
    tl, tw, th = prior.typical

    def sides(lng: float, wid: float) -> float:
        return sum((max(0.0, v - t) / t) ** 2 + 0.25 * (max(0.0, t - v) / t) ** 2
                   for v, t in ((lng, tl), (wid, tw)))

    plain = sides(length, width)
    if prior.complete:
        plain = min(plain, sides(width, length))
    return plain + ((height - th) / th) ** 2


def _complete(rect: RectFit, prior: ClassPrior) -> RectFit:
    """Grow a partly seen rectangle to the prior's typical extents, away from the sensor at the origin.

    A longer side shorter than the typical length that could be the object's width (at most
    1.25 x the typical width) is taken as the width: the object then extends along the other axis.
    """
    if not prior.complete:
        return rect
    full_l, full_w = prior.typical[0], prior.typical[1]
    yaw, length, width = rect.yaw, rect.length, rect.width
    if length < full_l and length <= 1.25 * full_w:
        yaw, length, width = yaw + math.pi / 2, width, length
    new_l, new_w = max(length, full_l), max(width, full_w)
    axis_l = np.array([math.cos(yaw), math.sin(yaw)])
    axis_w = np.array([-math.sin(yaw), math.cos(yaw)])
    centre = rect.centre.astype(np.float64)
    away_l = 1.0 if centre @ axis_l >= 0 else -1.0
    away_w = 1.0 if centre @ axis_w >= 0 else -1.0
    centre = centre + axis_l * away_l * (new_l - length) / 2 + axis_w * away_w * (new_w - width) / 2
    return RectFit(centre, new_l, new_w, float(wrap_half_pi(yaw)))
