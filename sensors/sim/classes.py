"""Object classes of the simulated world: size and dynamic limits per class (a leaf module).

Scenarios (:mod:`sensors.sim.scenario`) validate class names against :data:`CLASSES`; actors,
sensor models and the source node read sizes, limits, radar cross-sections and reflectivities
from it. ``class_id`` indexes :data:`CLASS_NAMES` (the ``class_names`` of published messages).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ActorClass:
    """Size and dynamic limits of one object class (sizes ``l, w, h`` in metres)."""

    class_id: int
    size: tuple[float, float, float]
    max_accel: float
    max_decel: float
    max_yaw_rate: float
    max_steer: float = math.radians(35.0)
    vehicle: bool = True
    rcs_dbsm: float = 10.0
    reflectivity: float = 0.5


#: Object classes; ``class_id`` indexes :data:`CLASS_NAMES`.
CLASSES: dict[str, ActorClass] = {
    "car": ActorClass(0, (4.5, 1.8, 1.5), 3.5, 9.0, 1.0, rcs_dbsm=10.0, reflectivity=0.6),
    "truck": ActorClass(1, (10.0, 2.5, 3.5), 1.5, 6.0, 0.6, rcs_dbsm=20.0, reflectivity=0.7),
    "pedestrian": ActorClass(2, (0.5, 0.6, 1.75), 3.0, 4.0, 3.0, vehicle=False, rcs_dbsm=-5.0,
                             reflectivity=0.3),
    "cyclist": ActorClass(3, (1.8, 0.6, 1.7), 2.0, 5.0, 1.2, rcs_dbsm=0.0, reflectivity=0.4),
    "bag": ActorClass(4, (0.5, 0.35, 0.45), 0.0, 0.0, 0.0, vehicle=False, rcs_dbsm=-10.0,
                      reflectivity=0.2),
}
CLASS_NAMES: tuple[str, ...] = tuple(sorted(CLASSES, key=lambda n: CLASSES[n].class_id))
