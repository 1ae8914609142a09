"""Dataset sources: recorded datasets (KITTI tracking, MOTChallenge) played as if live.

The dataset formats have one home each: :mod:`sensors.datasets.mot_format` (MOT det/gt/res rows,
``seqinfo.ini``, result writing, :class:`MotSequence`) and :mod:`sensors.datasets.kitti_tracking`
(labels, PointRCNN detections, oxts, :class:`KittiTrackingSequence`); malformed lines raise
:class:`sensors.errors.SensorError` naming ``file:line``. Each dataset also has a source
:class:`percept.node.Processor` (see :mod:`sensors.playback`) that publishes the sequence frame
by frame on a timer.
"""

from sensors.datasets.kitti_tracking import KittiTrackingSequence, KittiTrackingSource
from sensors.datasets.mot import MotSource
from sensors.datasets.mot_format import MotSequence, SeqInfo

__all__ = ["KittiTrackingSequence", "KittiTrackingSource", "MotSequence", "MotSource", "SeqInfo"]
