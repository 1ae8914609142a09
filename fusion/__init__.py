"""Tracking and fusion: motion models, association, track lifecycle, trackers and evaluation."""

from fusion.errors import TrackingError
from fusion.lifecycle import LifecycleConfig, Track, TrackState
from fusion.motion import BoxMotion, BoxMotionConfig
from fusion.motion3d import BoxMotion3D, BoxMotion3DConfig
from fusion.tracker2d import MultiStreamTracker, Tracker2D, Tracker2DConfig, TrackerStats
from fusion.tracker3d import Tracker3D, Tracker3DConfig, Tracker3DStats

__all__ = [
    "BoxMotion",
    "BoxMotion3D",
    "BoxMotion3DConfig",
    "BoxMotionConfig",
    "LifecycleConfig",
    "MultiStreamTracker",
    "Track",
    "TrackState",
    "Tracker2D",
    "Tracker2DConfig",
    "Tracker3D",
    "Tracker3DConfig",
    "Tracker3DStats",
    "TrackerStats",
    "TrackingError",
]
