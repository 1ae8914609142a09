"""The ``lidar_objects`` node: ``PointCloud`` in, ``Detections3D`` out (one message per cloud).

Topic mapping (``output_suffix`` = ``"objects"``, see :func:`perception.lidar.base.objects_topic`)::

    lidar/points      ->  lidar/objects
    lidar/top         ->  lidar/top/objects

Each output carries the cloud's ``stamp_ns``, ``frame_id`` and ``seq``; boxes are in the cloud's
frame. A cloud that cannot be processed (no x/y/z fields, non-finite coordinates) is counted in
``stats.bad_inputs`` (:class:`perception.lidar.base.ObjectNodeStats`), logged and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from percept.messages import PointCloud
from perception.lidar.base import ObjectNode, ObjectNodeConfig
from perception.lidar.config import LidarObjectsConfig
from perception.lidar.extractor import LidarObjectExtractor


@dataclass(frozen=True)
class LidarObjectsNodeConfig(ObjectNodeConfig):
    """Options of :class:`LidarObjectsNode`: ``inputs`` (lidar topic prefixes), ``output_suffix``
    (see :class:`perception.lidar.base.ObjectNodeConfig`) and the ``extractor``
    (:class:`perception.lidar.config.LidarObjectsConfig`)."""

    inputs: tuple[str, ...] = ("lidar/",)
    extractor: LidarObjectsConfig = field(default_factory=LidarObjectsConfig)


class LidarObjectsNode(ObjectNode):
    """Extracts objects from every point cloud on its input topics (see the module docstring)."""

    Config = LidarObjectsNodeConfig
    INPUT = PointCloud
    DATA_NAME = "points"
    EXTRACTOR = LidarObjectExtractor
    SETTINGS = "extractor"
