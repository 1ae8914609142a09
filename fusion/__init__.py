"""Tracking and fusion: motion models, association, track lifecycle, trackers and evaluation.

The names below are loaded on first use (PEP 562), so that importing a light module such as
``fusion.errors`` (as every ``percept`` command line start does) does not load filterpy and scipy.
"""

from importlib import import_module
from typing import Any

#: Public name -> the module that defines it.
_EXPORTS = {
    "TrackingError": "fusion.errors",
    "LifecycleConfig": "fusion.lifecycle", "Track": "fusion.lifecycle", "TrackState": "fusion.lifecycle",
    "BoxMotion": "fusion.motion", "BoxMotionConfig": "fusion.motion",
    "BoxMotion3D": "fusion.motion3d", "BoxMotion3DConfig": "fusion.motion3d",
    "MultiStreamTracker": "fusion.tracker2d", "Tracker2D": "fusion.tracker2d",
    "Tracker2DConfig": "fusion.tracker2d", "TrackerStats": "fusion.tracker2d",
    "Tracker3D": "fusion.tracker3d", "Tracker3DConfig": "fusion.tracker3d",
    "Tracker3DStats": "fusion.tracker3d",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fusion' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return __all__
