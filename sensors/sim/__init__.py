"""Multi-sensor simulator with ground truth: a world of actors, camera/lidar/radar models,
scripted scenarios (YAML, ``sensors/sim/scenarios``) and :class:`SimSource`, the source node.

Frames: ``world`` (ground plane, x east/forward, y north/left, z up, metres), ``ego`` (ego body,
x forward, y left, z up), sensor frames as named in the scenario (e.g. ``camera_front``,
``lidar_top``, ``radar_front``). See :mod:`sensors.sim.source` for the published topics.
"""

from sensors.sim.scenario import Scenario, builtin_scenarios, load_scenario
from sensors.sim.source import SimSource, SimSourceConfig
from sensors.sim.world import World, WorldState

__all__ = ["Scenario", "SimSource", "SimSourceConfig", "World", "WorldState", "builtin_scenarios",
           "load_scenario"]
