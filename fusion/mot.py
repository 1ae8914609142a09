"""MOTChallenge files: detections in, tracking results out, and running a tracker on a sequence.

MOT text rows are ``frame, id, x, y, w, h, conf, ...`` with 1-based frames and top-left/size boxes
in image pixels. :class:`~percept.detections.Detections` use ``x1, y1, x2, y2`` pixels; class 0
(pedestrian) is assumed for MOT detections.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np

from fusion.errors import TrackingError
from fusion.tracker2d import Tracker2D, Tracker2DConfig
from percept.detections import Detections


def _load_rows(path: Path, min_cols: int) -> np.ndarray:
    if not path.is_file():
        raise TrackingError(f"{path}: no such MOT file")
    try:
        rows = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise TrackingError(f"{path}: not a comma-separated MOT file: {exc}") from exc
    if rows.size == 0:
        return np.zeros((0, min_cols))
    if rows.shape[1] < min_cols:
        raise TrackingError(f"{path}: expected >= {min_cols} columns (frame,id,x,y,w,h,conf), "
                            f"got {rows.shape[1]}")
    return rows


def read_mot_detections(path: str | Path, min_conf: float = -np.inf) -> dict[int, Detections]:
    """Frame number (1-based) -> detections of that frame with ``conf >= min_conf``.

    Frames without detections are absent from the dict.
    """
    rows = _load_rows(Path(path), 7)
    rows = rows[rows[:, 6] >= min_conf]
    out: dict[int, Detections] = {}
    for frame in np.unique(rows[:, 0]).astype(int):
        r = rows[rows[:, 0] == frame]
        xyxy = np.column_stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]])
        out[int(frame)] = Detections(xyxy=xyxy.astype(np.float32), confidence=r[:, 6].astype(np.float32),
                                     class_id=np.zeros(len(r), np.int32))
    return out


def read_seqinfo(path: str | Path) -> dict:
    """``seqinfo.ini`` [Sequence] -> dict with int ``frameRate``, ``seqLength``, ``imWidth``,
    ``imHeight`` (and the other keys as strings)."""
    path = Path(path)
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise TrackingError(f"{path}: cannot read seqinfo")
    if "Sequence" not in parser:
        raise TrackingError(f"{path}: no [Sequence] section")
    info: dict = dict(parser["Sequence"])
    out: dict = {}
    for key, value in info.items():  # configparser lower-cases keys; restore MOT spelling
        name = {"framerate": "frameRate", "seqlength": "seqLength", "imwidth": "imWidth",
                "imheight": "imHeight", "imdir": "imDir", "imext": "imExt"}.get(key, key)
        out[name] = value
    for key in ("frameRate", "seqLength", "imWidth", "imHeight"):
        if key not in out:
            raise TrackingError(f"{path}: [Sequence] lacks {key}")
        try:
            out[key] = int(out[key])
        except ValueError as exc:
            raise TrackingError(f"{path}: {key} must be an integer, got {out[key]!r}") from exc
    return out


def write_mot_results(path: str | Path, results: dict[int, Detections]) -> None:
    """Write ``frame,id,x,y,w,h,conf,-1,-1,-1`` rows (frames ascending) for tracked boxes."""
    lines: list[str] = []
    for frame in sorted(results):
        d = results[frame]
        if len(d) and d.track_id is None:
            raise TrackingError(f"write_mot_results: frame {frame} detections have no track_id")
        if not len(d):
            continue
        for (x1, y1, x2, y2), conf, tid in zip(d.xyxy, d.confidence, d.track_id, strict=True):
            w, h = x2 - x1, y2 - y1
            lines.append(f"{frame},{int(tid)},{x1:.2f},{y1:.2f},{w:.2f},{h:.2f},{conf:.4f},-1,-1,-1")
    Path(path).write_text("\n".join(lines) + ("\n" if lines else ""))


def run_tracker_on_sequence(det_path: str | Path, seqinfo_path: str | Path | None = None,
                            config: Tracker2DConfig | None = None) -> dict[int, Detections]:
    """Track a MOT detection file; frame ``k`` is stamped ``(k - 1) / frameRate`` seconds (frameRate
    from ``seqinfo`` or 25 Hz without one). Returns frame -> confirmed tracks (every frame from 1 to
    seqLength, or to the last detection frame, is present, possibly empty)."""
    dets = read_mot_detections(det_path)
    info = read_seqinfo(seqinfo_path) if seqinfo_path is not None else {}
    rate = float(info.get("frameRate", 25))
    n_frames = int(info.get("seqLength", max(dets, default=0)))
    n_frames = max(n_frames, max(dets, default=0))
    tracker = Tracker2D(config)
    results: dict[int, Detections] = {}
    for frame in range(1, n_frames + 1):
        stamp_ns = round((frame - 1) * 1e9 / rate)
        results[frame] = tracker.update(dets.get(frame, Detections.empty()), stamp_ns)
    return results
