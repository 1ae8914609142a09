"""The rule types a scene config may name (``type:`` of each entry of ``rules:``).

========================  =====================================================================
type                      fires when (thresholds: see each Config; units: scene units, seconds)
========================  =====================================================================
``intrusion``             an object of the watched classes is in the zone for ``min_dwell_s``
``line_crossing``         a track crosses the line in its direction (hysteresis ``margin``)
``loitering``             a person stays within ``radius`` of one spot of the zone ``dwell_s``
``wrong_way``             motion against the zone's ``direction_deg`` for ``min_duration_s``
``speed``                 faster than ``limit`` (or the zone's ``speed_limit``)
``stopped_vehicle``       a vehicle standing in the (no-stopping) zone for ``min_duration_s``
``abandoned_object``      a static object whose owner has left by ``distance`` for ``duration_s``
``crowding``              more than ``max_count`` objects in the zone for ``min_duration_s``
``running``               a person faster than ``speed`` for ``min_duration_s``
``sudden_stop``           from ``min_speed`` to ``stop_speed`` within ``within_s``
``fall``                  a person's box aspect drops to ``ratio`` of what it was within ``within_s``
========================  =====================================================================
"""

from __future__ import annotations

from events.rules_base import Hit, Rule, RuleConfig
from events.rules_motion import AbandonedObject, Fall, LineCrossing, Running, Speed, SuddenStop
from events.rules_zone import Crowding, Intrusion, Loitering, StoppedVehicle, WrongWay

__all__ = ["RULE_TYPES", "Hit", "Rule", "RuleConfig"]

#: Rule classes by ``type`` name.
RULE_TYPES: dict[str, type[Rule]] = {cls.TYPE: cls for cls in (
    Intrusion, LineCrossing, Loitering, WrongWay, Speed, StoppedVehicle, AbandonedObject, Crowding, Running,
    SuddenStop, Fall)}
