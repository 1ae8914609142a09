"""The ``radar_objects`` node: ``RadarScan`` in, ``Detections3D`` with velocities out (one per scan).

Topic mapping (``output_suffix`` = ``"objects"``, see :func:`perception.lidar.base.objects_topic`)::

    radar/scan        ->  radar/objects
    radar/front       ->  radar/front/objects

Each output carries the scan's ``stamp_ns``, ``frame_id`` and ``seq``; boxes and velocities are in
the scan's frame. A scan that cannot be processed (non-finite values) is counted in
``stats.bad_inputs`` (:class:`perception.lidar.base.ObjectNodeStats`), logged and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from percept.messages import RadarScan
from perception.lidar.base import ObjectNode, ObjectNodeConfig
from perception.radar.clusterer import RadarObjectClusterer
from perception.radar.config import RadarObjectsConfig


@dataclass(frozen=True)
class RadarObjectsNodeConfig(ObjectNodeConfig):
    """Options of :class:`RadarObjectsNode`: ``inputs`` (radar topic prefixes), ``output_suffix``
    (see :class:`perception.lidar.base.ObjectNodeConfig`) and the ``clusterer``
    (:class:`perception.radar.config.RadarObjectsConfig`)."""

    inputs: tuple[str, ...] = ("radar/",)
    clusterer: RadarObjectsConfig = field(default_factory=RadarObjectsConfig)


class RadarObjectsNode(ObjectNode):
    """Clusters every radar scan on its input topics into objects (see the module docstring)."""

    Config = RadarObjectsNodeConfig
    INPUT = RadarScan
    DATA_NAME = "scan"
    EXTRACTOR = RadarObjectClusterer
    SETTINGS = "clusterer"
