"""Running the 2D tracker on detection files, and fusion's view of the MOT text formats.

Two detection formats are read (:data:`DET_FORMATS`, :func:`detection_format` tells them apart):

* ``mot``: MOTChallenge ``det.txt``, read and written by :mod:`sensors.datasets.mot_format`
  (1-based frames, ``x, y, w, h`` pixels); class 0 (pedestrian) is assumed.
* ``jsonl``: what ``percept detect`` writes, one JSON object per frame:
  ``{"source", "frame" (1-based), "stamp_ns", "detections": [{"xyxy", "confidence",
  "class_id", "class_name"}]}`` with ``x1, y1, x2, y2`` pixels (see ``perception.cli``).

Errors raise :class:`~fusion.errors.TrackingError` naming the file (and line).
:class:`~percept.detections.Detections` use ``x1, y1, x2, y2`` pixels.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
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

#: Frame rate assumed by :func:`track_mot_file` without a ``seqinfo.ini`` (or video stamps).
DEFAULT_FRAME_RATE = 25.0
#: Detection file formats :func:`read_detections` reads ("auto": by suffix, then by content).
DET_FORMATS = ("auto", "mot", "jsonl")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")

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


def detection_format(path: str | Path) -> str:
    """``"jsonl"`` or ``"mot"``: by suffix (``.jsonl``/``.ndjson``/``.json``, ``.txt``/``.csv``),
    else by the first non-blank line (a JSON object or comma-separated numbers)."""
    p = Path(path)
    if p.suffix.lower() in _JSONL_SUFFIXES:
        return "jsonl"
    if p.suffix.lower() in (".txt", ".csv"):
        return "mot"
    try:
        with p.open(encoding="utf-8", errors="replace") as fh:
            first = next((line for line in fh if line.strip()), "")
    except OSError as exc:
        raise TrackingError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    return "jsonl" if first.lstrip().startswith("{") else "mot"


@dataclass(frozen=True)
class FrameDetections:
    """Detections of a file, per 1-based frame.

    Attributes:
        frames: frame -> detections (frames without detections may be absent).
        last_frame: highest frame number in the file (0 when empty).
        frame_rate: frames per second the file states (JSONL of one video: from its stamps),
            None when it states none.
    """

    frames: dict[int, Detections]
    last_frame: int
    frame_rate: float | None = None


def read_detections(path: str | Path, fmt: str = "auto", classes: Collection[str] | None = None
                    ) -> FrameDetections:
    """The detections of a MOT ``det.txt`` or a ``percept detect`` JSONL file (``fmt``, see the
    module docstring); ``classes`` keeps JSONL detections whose class name or id is listed."""
    if fmt not in DET_FORMATS:
        raise TrackingError(f"detection format: expected one of {list(DET_FORMATS)}, got {fmt!r}")
    if (fmt if fmt != "auto" else detection_format(path)) == "jsonl":
        return _read_jsonl(Path(path), classes)
    rows = _mot(mot_format.read_mot_rows, path, "det")
    return FrameDetections(rows.by_frame(with_ids=False), int(rows.frame[-1]) if len(rows) else 0)


def _read_jsonl(path: Path, classes: Collection[str] | None) -> FrameDetections:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackingError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    frames: dict[int, Detections] = {}
    stamps, sources = [], set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            frame, dets = int(rec["frame"]), rec["detections"]
            keep = [d for d in dets if classes is None or d.get("class_name") in classes
                    or str(d["class_id"]) in classes]
            xyxy = np.array([d["xyxy"] for d in keep], np.float32).reshape(-1, 4)
            found = Detections(xyxy=xyxy, confidence=np.array([d["confidence"] for d in keep], np.float32),
                               class_id=np.array([d["class_id"] for d in keep], np.int32))
        except (ValueError, KeyError, TypeError) as exc:
            what = f"{type(exc).__name__}: {exc}"
            raise TrackingError(f"{path}:{lineno}: not a percept detect record: {what}") from exc
        if frame < 1 or frame in frames:
            raise TrackingError(f"{path}:{lineno}: frame {frame}: expected a new frame number >= 1")
        frames[frame] = found
        stamps.append((frame, int(rec.get("stamp_ns", 0))))
        sources.add(rec.get("source"))
    return FrameDetections(frames, max(frames, default=0), _video_rate(stamps) if len(sources) == 1 else None)


def _video_rate(stamps: list[tuple[int, int]]) -> float | None:
    """Frames per second of one video's ``(frame, stamp_ns)`` records, if its stamps increase."""
    if len(stamps) < 2:
        return None
    f, t = np.array(sorted(stamps), np.float64).T
    step = np.diff(t) / np.diff(f)
    return float(1e9 / np.median(step)) if np.all(step > 0) else None


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
                   config: Tracker2DConfig | None = None, det_format: str = "auto",
                   classes: Collection[str] | None = None) -> MotTrackRun:
    """Track a detection file (MOT ``det.txt`` or ``percept detect`` JSONL, see :func:`read_detections`);
    frame ``k`` is stamped ``(k - 1) / frameRate`` seconds (frameRate from ``seqinfo``, else the
    rate a JSONL of one video states, else :data:`DEFAULT_FRAME_RATE`). With a ``seqinfo``, frames
    ``1..seqLength`` are tracked and detections of later frames are dropped (counted, logged)."""
    found = read_detections(det_path, det_format, classes)
    dets, last, dropped = found.frames, found.last_frame, 0
    if seqinfo_path is not None:
        info = _mot(mot_format.read_seqinfo, seqinfo_path)
        rate, n_frames = info.frame_rate, info.seq_length
        dropped = sum(len(d) for f, d in dets.items() if f > n_frames)
        if dropped:
            log.warning("%s: %d detections in frames %d..%d beyond seqLength %d of %s: dropped", det_path,
                        dropped, n_frames + 1, last, n_frames, seqinfo_path)
    else:
        rate, n_frames = found.frame_rate or DEFAULT_FRAME_RATE, last
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
