"""Tracking and fusion: motion models, association, track lifecycle, trackers and evaluation."""

from fusion.errors import TrackingError
from fusion.lifecycle import LifecycleConfig, Track, TrackState
from fusion.motion import BoxMotion, BoxMotionConfig
from fusion.tracker2d import MultiStreamTracker, Tracker2D, Tracker2DConfig, TrackerStats

__all__ = [
    "BoxMotion",
    "BoxMotionConfig",
    "LifecycleConfig",
    "MultiStreamTracker",
    "Track",
    "TrackState",
    "Tracker2D",
    "Tracker2DConfig",
    "TrackerStats",
    "TrackingError",
]
