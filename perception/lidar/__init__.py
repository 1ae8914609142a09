"""Lidar objects: crop, ground removal, clustering, oriented boxes and size-based classes.

Typical use::

    from perception.lidar import LidarObjectExtractor, LidarObjectsConfig
    dets = LidarObjectExtractor(LidarObjectsConfig()).extract(cloud, stamp_ns, "lidar_top")

The node type ``lidar_objects`` (:mod:`perception.lidar.node`) wraps the extractor.
"""

from perception.lidar.base import ObjectConfigError
from perception.lidar.config import (
    DEFAULT_CLASSES,
    BoxConfig,
    ClassPrior,
    ClusterConfig,
    GroundConfig,
    LidarObjectsConfig,
)
from perception.lidar.extractor import LidarObjectExtractor

__all__ = [
    "DEFAULT_CLASSES",
    "BoxConfig",
    "ClassPrior",
    "ClusterConfig",
    "GroundConfig",
    "LidarObjectExtractor",
    "LidarObjectsConfig",
    "ObjectConfigError",
]
