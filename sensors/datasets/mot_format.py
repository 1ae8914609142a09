"""MOTChallenge text formats, the one reader and writer: det/gt/res rows, ``seqinfo.ini``, sequences.

Layout of a sequence folder::

    det/det.txt     frame,id,x,y,w,h,conf[,...]   (MOT15/16/17: 10 columns; 7+ accepted)
    gt/gt.txt       frame,id,x,y,w,h,flag[,...]   (optional; MOT15: 10 columns with world x,y,z,
                                                   MOT16+: 9 columns flag,class,visibility)
    seqinfo.ini     [Sequence] name, frameRate, seqLength, imWidth, imHeight

Rows: 1-based integer frames; ``x, y`` the top-left corner and ``w, h`` the size of a box, image
pixels; ``id`` -1 in detection files. Result files (``res``) are tracker outputs in the same layout
(``conf`` optional). A ground-truth row whose ``flag`` (the "considered" column) is 0 is not to
be evaluated and is dropped; with ``pedestrians_only`` so is a 9-column MOT16+ row whose class is
not 1 (pedestrian). Frame ``k`` was captured at ``start_ns + (k - 1) / frameRate``.

Malformed input raises :class:`sensors.errors.SensorError` naming ``file:line`` (1-based).
"""

from __future__ import annotations

import configparser
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from percept.boxes import xywh_to_xyxy, xyxy_to_xywh
from percept.detections import Detections
from sensors.errors import SensorError

log = logging.getLogger(__name__)

PEDESTRIAN = 1
"""MOT16+ ground-truth class of a pedestrian (column 8 of 9-column gt files)."""
MotKind = Literal["det", "gt", "res"]
#: Columns a row needs: ``frame,id,x,y,w,h`` and the score or flag (optional in result files).
MIN_COLUMNS: dict[str, int] = {"det": 7, "gt": 7, "res": 6}


@dataclass(frozen=True, eq=False)
class MotRows:
    """Rows of a MOT file, sorted by frame (stable: file order within a frame).

    Attributes:
        frame: int64 (N,) 1-based frame number.
        track_id: int64 (N,) object id (-1 in detection files).
        xywh: float64 (N, 4) top-left x, y, width, height in pixels, as in the file.
        confidence: float64 (N,) detector score (gt: the "considered" flag; res without it: 1).
    """

    frame: np.ndarray
    track_id: np.ndarray
    xywh: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def xyxy(self) -> np.ndarray:
        """float64 (N, 4) ``x1, y1, x2, y2`` pixels."""
        return xywh_to_xyxy(self.xywh)

    def select(self, index: slice | np.ndarray) -> MotRows:
        """Rows picked by a slice or a boolean/integer index (order kept)."""
        return MotRows(self.frame[index], self.track_id[index], self.xywh[index], self.confidence[index])

    def detections(self, with_ids: bool) -> Detections:
        """All rows as :class:`Detections` (class 0; track ids only if ``with_ids``)."""
        return Detections(xyxy=self.xyxy, confidence=self.confidence, class_id=np.zeros(len(self), np.int32),
                          track_id=self.track_id if with_ids else None)

    def per_frame(self) -> Iterator[tuple[int, MotRows]]:
        """``(frame, rows of that frame)`` in frame order; frames without rows are skipped."""
        frames, starts = np.unique(self.frame, return_index=True)
        ends = [*starts[1:].tolist(), len(self)]
        for f, s, e in zip(frames.tolist(), starts.tolist(), ends, strict=True):
            yield int(f), self.select(slice(s, e))

    def by_frame(self, with_ids: bool) -> dict[int, Detections]:
        """Frame -> :class:`Detections` of that frame; frames without rows are absent."""
        return {f: rows.detections(with_ids) for f, rows in self.per_frame()}


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise SensorError(f"{path}: not found (no such MOT file)")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SensorError(f"{path}: cannot read: {exc}") from exc


def _parse_row(path: Path, lineno: int, line: str, kind: MotKind, num_frames: int | None) -> list[float]:
    """``frame, id, x, y, w, h, conf[, class]`` of one line (class only for 9-column rows)."""
    parts = [p.strip() for p in line.split(",")]
    need = MIN_COLUMNS[kind]
    if len(parts) < need:
        raise SensorError(f"{path}:{lineno}: expected >= {need} columns, got {len(parts)} "
                          f"(comma-separated frame,id,x,y,w,h,conf,...)")
    used = parts[:8] if kind == "gt" and len(parts) == 9 else parts[:7]
    try:
        v = [float(p) for p in used]
    except ValueError as exc:
        raise SensorError(f"{path}:{lineno}: not a number: {exc}") from None
    if len(v) == 6:
        v.append(1.0)
    if not all(math.isfinite(x) for x in v):
        raise SensorError(f"{path}:{lineno}: non-finite value in the first {len(used)} columns")
    frame = v[0]
    if frame != int(frame) or frame < 1 or (num_frames is not None and frame > num_frames):
        limit = f"1..{num_frames}" if num_frames is not None else ">= 1"
        raise SensorError(f"{path}:{lineno}: frame {parts[0]} is not an integer in {limit}")
    if v[4] < 0 or v[5] < 0:
        raise SensorError(f"{path}:{lineno}: negative box size w={v[4]:g}, h={v[5]:g}")
    return v


def read_mot_rows(path: str | Path, kind: MotKind = "det", *, num_frames: int | None = None,
                  pedestrians_only: bool = False) -> MotRows:
    """Parse a MOT ``det``, ``gt`` or ``res`` file (see the module docstring).

    Args:
        path: the text file.
        kind: ``det`` and ``gt`` rows need 7 columns, ``res`` rows 6 (no score: confidence 1).
        num_frames: the sequence's ``seqLength``: a row of a later frame is an error (None: any).
        pedestrians_only: gt only: drop 9-column rows whose class is not :data:`PEDESTRIAN`.
    """
    path = Path(path)
    rows: list[list[float]] = []
    for lineno, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        v = _parse_row(path, lineno, line, kind, num_frames)
        if kind == "gt" and (v[6] == 0 or (pedestrians_only and len(v) == 8 and v[7] != PEDESTRIAN)):
            continue
        rows.append(v[:7])
    a = np.array(rows, dtype=np.float64).reshape(-1, 7)
    a = a[np.argsort(a[:, 0], kind="stable")]
    return MotRows(frame=a[:, 0].astype(np.int64), track_id=a[:, 1].astype(np.int64), xywh=a[:, 2:6].copy(),
                   confidence=a[:, 6].copy())


def write_mot_results(path: str | Path, results: dict[int, Detections]) -> None:
    """Write ``frame,id,x,y,w,h,conf,-1,-1,-1`` rows (frames ascending) for tracked boxes.

    ``results`` maps 1-based frames to boxes with ``track_id``; coordinates are written with 2
    decimals, confidences with 4.
    """
    lines: list[str] = []
    for frame in sorted(results):
        d = results[frame]
        if not len(d):
            continue
        if d.track_id is None:
            raise SensorError(f"write_mot_results: frame {frame} detections have no track_id")
        xywh = xyxy_to_xywh(d.xyxy).astype(np.float32)  # sizes as float32 differences of the corners
        for (x, y, w, h), conf, tid in zip(xywh, d.confidence, d.track_id, strict=True):
            lines.append(f"{frame},{int(tid)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{conf:.4f},-1,-1,-1")
    try:
        Path(path).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    except OSError as exc:
        raise SensorError(f"{path}: cannot write: {exc.strerror or exc}") from exc


@dataclass(frozen=True)
class SeqInfo:
    """A sequence's ``seqinfo.ini`` [Sequence] section.

    Attributes:
        name: sequence name (the folder's name when the file has none).
        frame_rate: frames per second (``frameRate``).
        seq_length: number of frames (``seqLength``).
        im_width, im_height: image size in pixels (``imWidth``, ``imHeight``; 0 when unknown).
    """

    name: str
    frame_rate: float
    seq_length: int
    im_width: int
    im_height: int


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Parse ``seqinfo.ini``; ``frameRate``, ``seqLength``, ``imWidth``, ``imHeight`` are required, > 0."""
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        if not parser.read(path, encoding="utf-8"):
            raise SensorError(f"{path}: cannot read")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise SensorError(f"{path}: invalid ini: {exc}") from exc
    if "Sequence" not in parser:
        raise SensorError(f"{path}: no [Sequence] section")
    sec = parser["Sequence"]
    values: dict[str, float | int] = {}
    for key, kind in (("frameRate", float), ("seqLength", int), ("imWidth", int), ("imHeight", int)):
        if key not in sec:
            raise SensorError(f"{path}: [Sequence] has no key {key!r}")
        try:
            value = kind(sec[key])
        except ValueError:
            raise SensorError(f"{path}: [Sequence] {key}: expected {kind.__name__}, "
                              f"got {sec[key]!r}") from None
        if not value > 0 or not math.isfinite(value):
            raise SensorError(f"{path}: [Sequence] {key}: expected > 0, got {value}")
        values[key] = value
    return SeqInfo(name=sec.get("name", path.parent.name), frame_rate=float(values["frameRate"]),
                   seq_length=int(values["seqLength"]), im_width=int(values["imWidth"]),
                   im_height=int(values["imHeight"]))


class MotSequence:
    """One MOTChallenge sequence folder, parsed eagerly: its :class:`SeqInfo`, detections and
    (when ``gt/gt.txt`` exists) ground truth, per 1-based frame.

    Args:
        path: the sequence folder (with ``seqinfo.ini`` and ``det/det.txt``).
        min_confidence: drop detections with a confidence below this (None: keep all).
        pedestrians_only: drop MOT16+ ground truth of other classes than pedestrians.
        default_frame_rate: frame rate assumed (with a warning) when ``seqinfo.ini`` is missing;
            the length is then the last frame with a row. None: ``seqinfo.ini`` is required.

    Rows of frames beyond ``seqLength`` are an error naming ``file:line``.
    """

    def __init__(self, path: str | Path, min_confidence: float | None = None, *,
                 pedestrians_only: bool = True, default_frame_rate: float | None = None) -> None:
        self.path = Path(path)
        ini = self.path / "seqinfo.ini"
        info = read_seqinfo(ini) if default_frame_rate is None or ini.exists() else None
        det_path = self.path / "det" / "det.txt"
        if not det_path.is_file():
            raise SensorError(f"{det_path}: no detection file")
        limit = None if info is None else info.seq_length
        det = read_mot_rows(det_path, "det", num_frames=limit)
        if min_confidence is not None:
            det = det.select(det.confidence >= min_confidence)
        self.det = det
        gt_path = self.path / "gt" / "gt.txt"
        self.gt = (read_mot_rows(gt_path, "gt", num_frames=limit, pedestrians_only=pedestrians_only)
                   if gt_path.is_file() else None)
        if info is None:
            log.warning("%s missing: assuming %g fps", ini, default_frame_rate)
            last = max([0, *(int(r.frame[-1]) for r in (self.det, self.gt) if r is not None and len(r))])
            info = SeqInfo(self.path.name, float(default_frame_rate or 0), last, 0, 0)
        self.info = info
        self.name, self.frame_rate, self.num_frames = info.name, info.frame_rate, info.seq_length
        self.width, self.height = info.im_width, info.im_height  # pixels, 0 when unknown
        frames = np.arange(1, info.seq_length + 2)
        self._det_idx = np.searchsorted(self.det.frame, frames)
        self._gt_idx = None if self.gt is None else np.searchsorted(self.gt.frame, frames)

    def __len__(self) -> int:
        return self.num_frames

    @property
    def has_gt(self) -> bool:
        return self.gt is not None

    def _rows(self, rows: MotRows, idx: np.ndarray, frame: int) -> MotRows:
        if not 1 <= frame <= self.num_frames:
            raise SensorError(f"{self.name}: frame {frame} outside 1..{self.num_frames}")
        return rows.select(slice(idx[frame - 1], idx[frame]))

    def stamp_ns(self, frame: int, start_ns: int = 0) -> int:
        """Capture time of 1-based ``frame``: ``start_ns + (frame - 1) / frameRate`` (rounded to ns)."""
        return int(start_ns) + round((int(frame) - 1) * 1e9 / self.frame_rate)

    def detections(self, frame: int) -> Detections:
        """Detections of 1-based ``frame`` (class 0, no track ids); empty when there are none."""
        return self._rows(self.det, self._det_idx, frame).detections(with_ids=False)

    def ground_truth(self, frame: int) -> Detections:
        """Ground-truth boxes of 1-based ``frame`` with track ids (confidence: the flag, 1)."""
        if self.gt is None or self._gt_idx is None:
            raise SensorError(f"{self.path / 'gt' / 'gt.txt'}: sequence {self.name} has no ground truth")
        return self._rows(self.gt, self._gt_idx, frame).detections(with_ids=True)
