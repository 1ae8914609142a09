"""``percept bench track2d``: tracker-only throughput on MOT15 detection files, Tracker2D beside baselines.

Trackers (all fed the same :class:`~percept.detections.Detections` per frame, in one process):

- ``percept``: :class:`fusion.tracker2d.Tracker2D` with its default configuration;
- ``bytetrack`` / ``ocsort``: boxmot's ByteTrack and OC-SORT (boxmot is a bench/dev extra,
  imported lazily; they get (N, 6) ``[x1, y1, x2, y2, conf, cls]`` arrays and a black dummy image
  of the sequence size; neither uses appearance/ReID);
- ``sort``: :class:`bench.sort.SortTracker`.

Timing covers the tracker calls only (plus, for boxmot, the array conversion its interface
needs), not file reading; frames/s is frames divided by the median time of ``runs`` passes.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from fusion.errors import TrackingError
from percept.detections import Detections
from sensors.datasets.mot_format import MotSequence

log = logging.getLogger(__name__)

TRACKERS = ("percept", "bytetrack", "ocsort", "sort")
#: Callable stepping one tracker: (detections, stamp_ns) -> reported tracks (track_id set).
StepFn = Callable[[Detections, int], Detections]


def boxmot_version() -> str | None:
    """The installed boxmot version, or ``None`` when boxmot is not installed."""
    try:
        return version("boxmot")
    except PackageNotFoundError:
        return None


def _boxmot_step(name: str, seq: MotSequence) -> StepFn:
    try:
        import boxmot
    except ImportError as exc:
        raise TrackingError(f"tracker {name!r} needs boxmot (pip install boxmot): {exc}") from exc
    tracker = (boxmot.ByteTrack(frame_rate=round(seq.frame_rate)) if name == "bytetrack"
               else boxmot.OcSort())
    image = np.zeros((seq.height, seq.width, 3), np.uint8)

    def step(dets: Detections, stamp_ns: int) -> Detections:
        arr = np.column_stack([dets.xyxy, dets.confidence, dets.class_id]).astype(np.float32)
        out = tracker.update(arr.reshape(-1, 6), image)
        if len(out) == 0:
            return Detections.empty(with_track_id=True)
        # boxmot rows: x1, y1, x2, y2, id, conf, cls, det_index
        return Detections(out[:, :4].astype(np.float32), out[:, 5].astype(np.float32),
                          out[:, 6].astype(np.int32), out[:, 4].astype(np.int64))

    return step


def make_step(name: str, seq: MotSequence) -> StepFn:
    """A fresh tracker named ``name`` (one of :data:`TRACKERS`) for ``seq``, as a step function."""
    if name == "percept":
        from fusion.tracker2d import Tracker2D

        t = Tracker2D()
        return lambda d, s: t.update(d, s)
    if name == "sort":
        from bench.sort import SortTracker

        st = SortTracker()
        return lambda d, s: st.update(d, s)
    if name in ("bytetrack", "ocsort"):
        return _boxmot_step(name, seq)
    raise TrackingError(f"unknown tracker {name!r}; expected one of {', '.join(TRACKERS)}")


def track_sequence(name: str, seq: MotSequence) -> tuple[dict[int, Detections], float]:
    """Run tracker ``name`` over every frame of ``seq``: (frame -> tracks, seconds in the tracker)."""
    step = make_step(name, seq)
    results: dict[int, Detections] = {}
    elapsed = 0.0
    for frame in range(1, seq.num_frames + 1):
        dets = seq.detections(frame)
        stamp_ns = round((frame - 1) * 1e9 / seq.frame_rate)
        t0 = time.perf_counter()
        results[frame] = step(dets, stamp_ns)
        elapsed += time.perf_counter() - t0
    return results, elapsed


@dataclass(frozen=True)
class BenchRow:
    """Throughput of one tracker on one sequence (median over runs)."""

    tracker: str
    sequence: str
    frames: int
    fps: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def default_sequences() -> list[Path]:
    """The shared MOT15 sequence folders (all 9), sorted; raises DataNotFound when absent."""
    from percept.data import data_path

    root = data_path("mot15")
    return sorted(p for p in root.iterdir() if (p / "det" / "det.txt").is_file())


def run(sequences: Sequence[str | Path] | None = None, trackers: Sequence[str] = TRACKERS,
        runs: int = 5, progress: Callable[[str], None] | None = None) -> list[BenchRow]:
    """Frames/s of each tracker on each sequence; trackers are interleaved within each run.

    A boxmot tracker is skipped (logged) when boxmot is not installed.
    """
    if runs < 1:
        raise TrackingError(f"runs must be >= 1, got {runs}")
    seqs = [MotSequence(p) for p in (sequences if sequences is not None else default_sequences())]
    names = list(trackers)
    if boxmot_version() is None:
        missing = [n for n in names if n in ("bytetrack", "ocsort")]
        if missing:
            log.warning("boxmot is not installed: skipping %s", ", ".join(missing))
        names = [n for n in names if n not in ("bytetrack", "ocsort")]
    for n in names:
        if n not in TRACKERS:
            raise TrackingError(f"unknown tracker {n!r}; expected one of {', '.join(TRACKERS)}")
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(runs):
        for seq in seqs:
            for n in names:
                _, elapsed = track_sequence(n, seq)
                times.setdefault((n, seq.name), []).append(elapsed)
        if progress:
            progress(f"run {r + 1}/{runs} done")
    rows = []
    for seq in seqs:
        for n in names:
            med = statistics.median(times[(n, seq.name)])
            fps = seq.num_frames / med if med > 0 else float("inf")
            rows.append(BenchRow(n, seq.name, seq.num_frames, fps))
    return rows


def totals(rows: Sequence[BenchRow]) -> dict[str, float]:
    """Tracker -> overall frames/s (all frames / sum of per-sequence median times)."""
    out: dict[str, float] = {}
    for n in dict.fromkeys(r.tracker for r in rows):
        mine = [r for r in rows if r.tracker == n]
        out[n] = sum(r.frames for r in mine) / sum(r.frames / r.fps for r in mine)
    return out
