"""Lidar point files (KITTI ``.bin``, PCD) and a source that plays a folder of them.

KITTI velodyne scans are raw little-endian float32 records ``x, y, z, reflectance`` (16 bytes a
point) in the Velodyne frame of the KITTI car: x forward, y left, z up, metres; reflectance
0..1. PCD files keep whatever frame they were written in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from percept.messages import PointCloud
from sensors.errors import SensorError
from sensors.pcd import read_pcd
from sensors.playback import FolderSource, FolderSourceConfig, read_float32_records

log = logging.getLogger(__name__)

__all__ = ["KITTI_FIELDS", "LidarFileSource", "LidarFileSourceConfig", "load_kitti_bin", "load_lidar_file"]

KITTI_FIELDS: tuple[str, ...] = ("x", "y", "z", "intensity")


def load_kitti_bin(path: str | Path) -> np.ndarray:
    """float32 (N, 4) ``x, y, z, intensity`` from a KITTI velodyne ``.bin`` (N = size / 16)."""
    return read_float32_records(path, 4, "KITTI .bin", "point")


def load_lidar_file(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """float32 (N, C) points and their C field names from a ``.bin`` (KITTI) or ``.pcd`` file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bin":
        return load_kitti_bin(path), KITTI_FIELDS
    if suffix == ".pcd":
        cloud = read_pcd(path)
        return cloud.points, cloud.fields
    raise SensorError(f"{path}: unknown lidar file type {suffix!r}, expected .bin or .pcd")


@dataclass(frozen=True)
class LidarFileSourceConfig(FolderSourceConfig):
    """Options of :class:`LidarFileSource`: a folder of ``.bin`` (KITTI) and/or ``.pcd`` files
    published as :class:`~percept.messages.PointCloud` (see :class:`~sensors.playback.FolderSourceConfig`)."""

    topic: str = "lidar/points"
    frame_id: str = "lidar_top"
    rate_hz: float = 10.0


class LidarFileSource(FolderSource):
    """Plays a folder of lidar files as :class:`~percept.messages.PointCloud` messages.

    Each cloud is stamped with the clock time at which it is published; ``seq`` counts published
    clouds. Unreadable files are counted in :attr:`bad_files`, logged and skipped.
    """

    Config = LidarFileSourceConfig
    suffixes = (".bin", ".pcd")

    def load(self, path: Path, stamp_ns: int, seq: int) -> PointCloud:
        points, fields = load_lidar_file(path)
        return PointCloud(stamp_ns=stamp_ns, frame_id=self.config.frame_id, seq=seq,
                          points=points, fields=fields)
