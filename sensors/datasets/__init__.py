"""Dataset sources: recorded datasets (KITTI tracking, MOTChallenge) played as if live.

Each module has a reader (parses a sequence eagerly; malformed lines raise
:class:`sensors.errors.SensorError` naming ``file:line``) and a source :class:`percept.node.Processor`
that publishes the sequence frame by frame on a timer.
"""

from sensors.datasets.kitti_tracking import KittiTrackingSequence, KittiTrackingSource
from sensors.datasets.mot import MotSequence, MotSource

__all__ = ["KittiTrackingSequence", "KittiTrackingSource", "MotSequence", "MotSource"]
