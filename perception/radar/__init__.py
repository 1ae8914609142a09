"""Radar objects: clutter rejection, DBSCAN in position and Doppler, per-cluster velocity.

Typical use::

    from perception.radar import RadarObjectClusterer, RadarObjectsConfig
    dets = RadarObjectClusterer(RadarObjectsConfig()).extract(scan)   # Detections3D with velocity

The node type ``radar_objects`` (:mod:`perception.radar.node`) wraps the clusterer.
"""

from perception.radar.clusterer import RadarObjectClusterer, cluster_velocity, radar_targets
from perception.radar.config import CLASS_NAMES, RadarObjectsConfig

__all__ = ["CLASS_NAMES", "RadarObjectClusterer", "RadarObjectsConfig", "cluster_velocity", "radar_targets"]
