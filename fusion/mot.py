"""Running the 2D tracker on MOTChallenge files, and fusion's view of the MOT text formats.

The formats themselves are read and written by :mod:`sensors.datasets.mot_format` (1-based frames,
``x, y, w, h`` pixels); the functions here call it and raise :class:`~fusion.errors.TrackingError`.
:class:`~percept.detections.Detections` use ``x1, y1, x2, y2`` pixels; class 0 (pedestrian) is
assumed for MOT detections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from fusion.errors import TrackingError
from fusion.tracker2d import Tracker2D, Tracker2DConfig
from percept.detections import Detections
from sensors.datasets import mot_format
from sensors.errors import SensorError

log = logging.getLogger(__name__)

#: Frame rate assumed by :func:`track_mot_file` without a ``seqinfo.ini``.
DEFAULT_FRAME_RATE = 25.0

T = TypeVar("T")


def _mot(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with the MOT format's SensorError raised as TrackingError."""
    try:
        return fn(*args, **kwargs)
    except SensorError as exc:
        raise TrackingError(str(exc)) from exc


def read_mot_detections(path: str | Path, min_conf: float = -np.inf) -> dict[int, Detections]:
    """Frame number (1-based) -> detections of that frame with ``conf >= min_conf``.

    Frames without detections are absent from the dict.
    """
    rows = _mot(mot_format.read_mot_rows, path, "det")
    return rows.select(rows.confidence >= min_conf).by_frame(with_ids=False)


def write_mot_results(path: str | Path, results: dict[int, Detections]) -> None:
    """Write ``frame,id,x,y,w,h,conf,-1,-1,-1`` rows (frames ascending) for tracked boxes."""
    _mot(mot_format.write_mot_results, path, results)


@dataclass(frozen=True)
class MotTrackRun:
    """What :func:`track_mot_file` did.

    Attributes:
        results: 1-based frame -> confirmed tracks, every frame from 1 to ``frames`` present.
        frames: frames tracked (``seqLength``, or the last detection frame without seqinfo).
        frame_rate: frames per second used for the stamps.
        dropped: detection rows of frames beyond ``seqLength``, not tracked.
    """

    results: dict[int, Detections]
    frames: int
    frame_rate: float
    dropped: int


def track_mot_file(det_path: str | Path, seqinfo_path: str | Path | None = None,
                   config: Tracker2DConfig | None = None) -> MotTrackRun:
    """Track a MOT detection file; frame ``k`` is stamped ``(k - 1) / frameRate`` seconds (frameRate
    from ``seqinfo`` or :data:`DEFAULT_FRAME_RATE` without one). With a ``seqinfo``, frames
    ``1..seqLength`` are tracked and detections of later frames are dropped (counted, logged)."""
    rows = _mot(mot_format.read_mot_rows, det_path, "det")
    last = int(rows.frame[-1]) if len(rows) else 0
    dropped = 0
    if seqinfo_path is not None:
        info = _mot(mot_format.read_seqinfo, seqinfo_path)
        rate, n_frames = info.frame_rate, info.seq_length
        beyond = rows.frame > n_frames
        dropped = int(beyond.sum())
        if dropped:
            log.warning("%s: %d detections in frames %d..%d beyond seqLength %d of %s: dropped", det_path,
                        dropped, n_frames + 1, last, n_frames, seqinfo_path)
            rows = rows.select(~beyond)
    else:
        rate, n_frames = DEFAULT_FRAME_RATE, last
    dets = rows.by_frame(with_ids=False)
    tracker = Tracker2D(config)
    results: dict[int, Detections] = {}
    for frame in range(1, n_frames + 1):
        stamp_ns = round((frame - 1) * 1e9 / rate)
        results[frame] = tracker.update(dets.get(frame, Detections.empty()), stamp_ns)
    return MotTrackRun(results, n_frames, rate, dropped)


def run_tracker_on_sequence(det_path: str | Path, seqinfo_path: str | Path | None = None,
                            config: Tracker2DConfig | None = None) -> dict[int, Detections]:
    """The ``results`` of :func:`track_mot_file`: frame -> confirmed tracks (frames 1..seqLength,
    or to the last detection frame without a ``seqinfo``, each present, possibly empty)."""
    return track_mot_file(det_path, seqinfo_path, config).results
