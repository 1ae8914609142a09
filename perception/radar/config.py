"""Configuration of the radar target clusterer (frozen dataclass, defaults in code).

Positions in metres in the radar frame (x forward, y left, z up), velocities in m/s, angles in
degrees. The defaults are one setting for a 3+1D automotive radar (View-of-Delft's ZF FRGen21)
on a moving car; nothing is tuned per scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from percept.config import require_positive
from perception.lidar.base import ObjectConfigError, require

__all__ = ["CLASS_NAMES", "RadarObjectsConfig"]

CLASS_NAMES: tuple[str, ...] = ("moving", "static")
"""Class names of radar objects by class id: clusters of moving targets, then (``keep_static``)
static ones."""


@dataclass(frozen=True)
class RadarObjectsConfig:
    """Options of :class:`perception.radar.clusterer.RadarObjectClusterer`.

    Attributes:
        velocity_field: ``extra`` column with the ego-motion compensated radial velocity; when a
            scan lacks it, ``range_rate_mps`` (radial velocity relative to the sensor) is used, which
            is right only for a sensor that stands still.
        min_rcs: targets with a weaker radar cross-section (dBsm) are clutter.
        moving_speed: a target is moving when its compensated radial speed is at least this.
        keep_static: also cluster the static targets (as class ``static``; moving and static
            targets are never mixed in one cluster).
        eps: DBSCAN neighbour radius in ``(x, y, velocity_weight * v_r)`` space (metres).
        velocity_weight: metres of clustering distance per m/s of radial-velocity difference.
        min_neighbours: DBSCAN core-point neighbourhood size (the target itself included).
        min_points: clusters with fewer targets are dropped.
        max_range: targets farther (ground-plane distance) are ignored.
        max_azimuth_deg: targets at a larger ``|azimuth|`` are outside the antenna's field of view
            (View-of-Delft holds such returns, e.g. at x = 0): clutter.
        min_azimuth_spread_deg: a cluster's 2D velocity is the least-squares fit to its radial
            speeds when its targets span at least this azimuth (and 2 or more targets); otherwise
            it is the mean radial velocity along the cluster's direction.
        margin: box half-margin added around the targets' extent on every side.
        min_size: smallest box ``(length, width, height)``.
        max_height: tallest box (radar elevation is coarse: the height spread of targets is wide).
        support_points: target count at which the confidence reaches 0.63 (``1 - exp(-n / s)``).
    """

    velocity_field: str = "v_r_compensated"
    min_rcs: float = -35.0
    moving_speed: float = 0.2
    keep_static: bool = False
    eps: float = 1.5
    velocity_weight: float = 1.0
    min_neighbours: int = 2
    min_points: int = 2
    max_range: float = 100.0
    max_azimuth_deg: float = 75.0
    min_azimuth_spread_deg: float = 8.0
    margin: float = 0.25
    min_size: tuple[float, float, float] = (0.5, 0.5, 1.0)
    max_height: float = 2.5
    support_points: float = 4.0

    def __post_init__(self) -> None:
        require(bool(self.velocity_field), "velocity_field", "expected a non-empty field name")
        require(not math.isnan(self.min_rcs), "min_rcs", "expected a number (may be -inf), got NaN")
        require_positive(self, ("moving_speed", "margin", "velocity_weight"), error=ObjectConfigError,
                         zero=True, noun="value")
        require_positive(self, ("eps", "max_range", "support_points", "min_azimuth_spread_deg",
                                "max_azimuth_deg", "max_height"), error=ObjectConfigError, noun="value")
        require(self.min_neighbours >= 1, "min_neighbours", f"expected >= 1, got {self.min_neighbours}")
        require(self.min_points >= 1, "min_points", f"expected >= 1, got {self.min_points}")
        require(len(self.min_size) == 3 and all(math.isfinite(v) and v > 0 for v in self.min_size),
                "min_size", f"expected 3 values > 0, got {self.min_size}")
        require(self.max_height >= self.min_size[2], "max_height",
                f"expected >= min_size height {self.min_size[2]}, got {self.max_height}")
