"""Configuration of the lidar object extractor (frozen dataclasses, defaults in code).

All lengths are metres in the z-up sensor frame of the cloud (x forward, y left, z up); angles
in degrees. The defaults are one setting for 64-beam lidars (KITTI, View-of-Delft) mounted
1.5-2 m above a road; nothing is tuned per scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from percept.config import require_positive
from perception.lidar.base import ObjectConfigError, require

__all__ = ["DEFAULT_CLASSES", "BoxConfig", "ClassPrior", "ClusterConfig", "GroundConfig",
           "LidarObjectsConfig"]


def _positive(owner: str, obj: object, *names: str) -> None:
    require_positive(obj, names, owner, error=ObjectConfigError, noun="value")


@dataclass(frozen=True)
class GroundConfig:
    """Ground removal.

    Attributes:
        method: ``ransac`` (seeded RANSAC planes refitted by least squares on their inliers, one
            per zone of ``ring_edges`` x ``sectors``: follows a road that bends up or down) or
            ``grid`` (per-cell minimum z over ``cell_size`` cells, taken over the cell's
            ``(2 neighbourhood + 1)^2`` neighbours: follows slopes and kerbs). ``grid`` is the
            default: on the shared KITTI/View-of-Delft samples it finds 51 of 64 labelled objects
            within 50 m against 42 for ``ransac`` (``bench/lidar_objects.py``).
        threshold: a point at most this high above the ground is ground.
        max_height: points higher than this above the ground are dropped (canopies, overhangs).

        ``grid`` only:

        cell_size, neighbourhood: grid cell edge and neighbourhood radius in cells.

        ``ransac`` only:

        iterations, sample_points, max_tilt_deg, seed: RANSAC hypotheses, points scored per
            hypothesis (a seeded random subset), largest plane tilt from horizontal, RNG seed.
        seed_height: RANSAC samples and scores only points at most this far above the 5th
            percentile of z (of the zone): the low points, mostly ground (as the seeds of
            Zermas et al. 2017); the winning plane then classifies all points.
        ring_edges: ring boundaries (ground-plane distance, ascending; () = one plane).
        sectors: azimuth sectors of every ring but the innermost disc.
        min_ring_points, max_step: a zone with fewer points, or whose plane meets its inner
            neighbour's more than ``max_step`` apart, takes the inner neighbour's plane.
    """

    method: Literal["ransac", "grid"] = "grid"
    threshold: float = 0.2
    max_height: float = 3.0
    cell_size: float = 1.0
    neighbourhood: int = 1
    iterations: int = 120
    sample_points: int = 4000
    max_tilt_deg: float = 12.0
    seed: int = 0
    seed_height: float = 0.6
    ring_edges: tuple[float, ...] = (15.0, 30.0)
    sectors: int = 4
    min_ring_points: int = 200
    max_step: float = 0.5

    def __post_init__(self) -> None:
        _positive("ground", self, "threshold", "max_height", "max_tilt_deg", "cell_size")
        require(self.method in ("ransac", "grid"), "ground.method",
                f"expected ransac or grid, got {self.method!r}")
        require(self.iterations >= 1, "ground.iterations", f"expected >= 1, got {self.iterations}")
        require(self.sample_points >= 3, "ground.sample_points", f"expected >= 3, got {self.sample_points}")
        require(self.max_tilt_deg < 90, "ground.max_tilt_deg", f"expected < 90, got {self.max_tilt_deg}")
        edges = list(self.ring_edges)
        require(all(math.isfinite(e) and e > 0 for e in edges) and edges == sorted(set(edges)),
                "ground.ring_edges", f"expected ascending distances > 0, got {edges}")
        require(self.min_ring_points >= 3, "ground.min_ring_points",
                f"expected >= 3, got {self.min_ring_points}")
        _positive("ground", self, "max_step", "seed_height")
        require(self.sectors >= 1, "ground.sectors", f"expected >= 1, got {self.sectors}")
        require(self.neighbourhood >= 0, "ground.neighbourhood", f"expected >= 0, got {self.neighbourhood}")


@dataclass(frozen=True)
class ClusterConfig:
    """Clustering of the non-ground points.

    Attributes:
        method: ``euclidean`` (connected components of the radius-``tolerance`` graph) or
            ``dbscan`` (the same graph over core points with >= ``min_neighbours`` neighbours
            within ``tolerance``, counting themselves; border points join a neighbouring core's
            cluster, the rest is noise).
        voxel_size: clustering runs on the centroids of voxels of this edge (0: on every point).
        tolerance: neighbour radius.
        min_neighbours: ``dbscan`` only, see above.
        min_points, max_points: size limits of a cluster in input points.
    """

    method: Literal["euclidean", "dbscan"] = "euclidean"
    voxel_size: float = 0.15
    tolerance: float = 0.35
    min_neighbours: int = 3
    min_points: int = 8
    max_points: int = 30000

    def __post_init__(self) -> None:
        require(self.method in ("euclidean", "dbscan"), "cluster.method",
                f"expected euclidean or dbscan, got {self.method!r}")
        require(math.isfinite(self.voxel_size) and self.voxel_size >= 0, "cluster.voxel_size",
                f"expected a finite value >= 0, got {self.voxel_size}")
        _positive("cluster", self, "tolerance")
        require(self.min_neighbours >= 1, "cluster.min_neighbours",
                f"expected >= 1, got {self.min_neighbours}")
        require(1 <= self.min_points <= self.max_points, "cluster.min_points",
                f"expected 1 <= min_points <= max_points, got {self.min_points}, {self.max_points}")


@dataclass(frozen=True)
class BoxConfig:
    """Oriented box fitting and the size limits of an object.

    Attributes:
        method: ``lshape`` (search over headings, Zhang et al. 2017) or ``min_area``
            (``cv2.minAreaRect`` of the ground-plane points).
        criterion: ``lshape`` score: ``closeness`` (points near two rectangle edges, the
            paper's recommended one), ``area`` (smallest rectangle) or ``variance``.
        angle_step_deg: heading search step over [0, 90) degrees.
        min_height, max_height: fitted box height limits (ground to top).
        max_length, max_width: fitted ground-plane extent limits (longer and shorter side).
        max_base_height: the lowest point must be at most this high above the ground
            (rejects overhangs such as branches and signs).
    """

    method: Literal["lshape", "min_area"] = "lshape"
    criterion: Literal["closeness", "area", "variance"] = "closeness"
    angle_step_deg: float = 1.0
    min_height: float = 0.4
    max_height: float = 4.0
    max_length: float = 12.0
    max_width: float = 4.0
    max_base_height: float = 1.0

    def __post_init__(self) -> None:
        require(self.method in ("lshape", "min_area"), "box.method",
                f"expected lshape or min_area, got {self.method!r}")
        require(self.criterion in ("closeness", "area", "variance"), "box.criterion",
                f"expected closeness, area or variance, got {self.criterion!r}")
        _positive("box", self, "angle_step_deg", "min_height", "max_height", "max_length", "max_width",
                  "max_base_height")
        require(self.angle_step_deg <= 45, "box.angle_step_deg", f"expected <= 45, got {self.angle_step_deg}")
        require(self.min_height < self.max_height, "box.min_height",
                f"expected < max_height ({self.max_height}), got {self.min_height}")


@dataclass(frozen=True)
class ClassPrior:
    """Size ranges of a class for the size-based guess (metres, visible extents).

    Attributes:
        name: class name.
        length, width, height: ``(low, high)`` of the fitted box's longer side, shorter side
            and height; occlusion shortens sides, so ``low`` bounds are loose.
        typical: typical full ``(length, width, height)``; among classes that fit equally well
            the one whose typical size is nearest wins (see ``extractor``).
        complete: grow a box of this class that is smaller than ``typical`` away from the sensor
            (its hidden sides are the far ones), so that its centre is the object's.
    """

    name: str
    length: tuple[float, float]
    width: tuple[float, float]
    height: tuple[float, float]
    typical: tuple[float, float, float]
    complete: bool = False

    def __post_init__(self) -> None:
        key = f"classes[{self.name}]"
        require(bool(self.name) and self.name != "unknown", f"{key}.name",
                "expected a non-empty name other than 'unknown'")
        for dim in ("length", "width", "height"):
            lo, hi = getattr(self, dim)
            require(0 <= lo < hi, f"{key}.{dim}", f"expected 0 <= low < high, got {(lo, hi)}")
        require(len(self.typical) == 3 and all(v > 0 for v in self.typical), f"{key}.typical",
                f"expected 3 values > 0, got {self.typical}")


DEFAULT_CLASSES: tuple[ClassPrior, ...] = (
    ClassPrior("Car", length=(1.3, 6.0), width=(0.0, 2.4), height=(1.1, 2.2), typical=(3.9, 1.65, 1.5),
               complete=True),
    ClassPrior("Pedestrian", length=(0.2, 1.2), width=(0.0, 1.0), height=(1.0, 2.1), typical=(0.7, 0.6, 1.7)),
    ClassPrior("Cyclist", length=(1.2, 2.3), width=(0.0, 1.0), height=(1.2, 2.1), typical=(1.8, 0.6, 1.7)),
)


@dataclass(frozen=True)
class LidarObjectsConfig:
    """Options of :class:`perception.lidar.extractor.LidarObjectExtractor`.

    Attributes:
        min_range, max_range: kept ground-plane distance from the sensor (drops the ego vehicle
            and the sparse far field).
        min_z, max_z: kept sensor-frame z, before ground removal.
        ground, cluster, box: see :class:`GroundConfig`, :class:`ClusterConfig`, :class:`BoxConfig`.
        classes: size priors of the guessed classes, in class-id order; ``unknown`` is appended.
        min_class_fit: a cluster whose best class fit (0..1, 1 = inside all ranges) is lower is
            ``unknown``.
        support_points: point count at which the support factor of the confidence reaches 0.63.
        keep_unknown: also publish ``unknown`` objects.
    """

    min_range: float = 1.5
    max_range: float = 50.0
    min_z: float = -4.0
    max_z: float = 2.0
    ground: GroundConfig = field(default_factory=GroundConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    box: BoxConfig = field(default_factory=BoxConfig)
    classes: tuple[ClassPrior, ...] = DEFAULT_CLASSES
    min_class_fit: float = 0.5
    support_points: float = 30.0
    keep_unknown: bool = True

    def __post_init__(self) -> None:
        require(math.isfinite(self.min_range) and 0 <= self.min_range < self.max_range, "min_range",
                f"expected 0 <= min_range < max_range, got {self.min_range}, {self.max_range}")
        require(math.isfinite(self.max_range), "max_range", f"expected a finite value, got {self.max_range}")
        require(math.isfinite(self.min_z) and math.isfinite(self.max_z) and self.min_z < self.max_z, "min_z",
                f"expected finite min_z < max_z, got {self.min_z}, {self.max_z}")
        require(0 <= self.min_class_fit <= 1, "min_class_fit", f"expected [0, 1], got {self.min_class_fit}")
        _positive("", self, "support_points")
        names = [c.name for c in self.classes]
        require(len(set(names)) == len(names), "classes", f"duplicate class names {names}")

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names by class id: the priors' names, then ``unknown``."""
        return (*(c.name for c in self.classes), "unknown")
