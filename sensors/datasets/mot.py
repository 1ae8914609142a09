"""MOTChallenge sequences (detections, ground truth, ``seqinfo.ini``) played as if live.

Layout of a sequence folder::

    det/det.txt     frame,id,x,y,w,h,conf[,...]   (MOT15/16/17: 10 columns; 7+ accepted)
    gt/gt.txt       frame,id,x,y,w,h,flag[,...]   (optional; MOT15: 10 columns with world x,y,z,
                                                   MOT16+: 9 columns flag,class,visibility)
    seqinfo.ini     [Sequence] frameRate, seqLength, imWidth, imHeight

Frames are 1-based in the files; frame ``k`` was captured at ``start_ns + (k - 1) / frameRate``.
Boxes are published as ``x1, y1, x2, y2 = x, y, x + w, y + h`` in the files' image pixels, on
frame ``camera``, class 0 ``person``.
"""

from __future__ import annotations

import configparser
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from percept.detections import Detections
from percept.messages import Detections2D
from percept.node import NodeContext, Processor
from sensors.errors import SensorError

CLASS_NAMES: tuple[str, ...] = ("person",)
PEDESTRIAN = 1
"""MOT16+ ground-truth class of a pedestrian (column 8 of 9-column gt files)."""
MAX_RATE_PERIOD_S = 1e-6
"""Timer period used for ``rate = 0`` (virtual clocks need a period > 0)."""


@dataclass(frozen=True, eq=False)
class MotRows:
    """Rows of a MOT file, sorted by frame.

    Attributes:
        frame: int64 (N,) 1-based frame number.
        track_id: int64 (N,) object id (-1 in detection files).
        xyxy: float32 (N, 4) box corners in pixels.
        confidence: float32 (N,) detector score (gt: the "consider" flag).
    """

    frame: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


def read_mot_file(path: Path, gt: bool, num_frames: int | None = None) -> MotRows:
    """Parse a MOT ``det.txt`` or ``gt.txt``; gt keeps only rows with flag 1 (and class 1 where
    the file has the 9-column MOT16+ layout). Raises :class:`SensorError` naming ``file:line``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SensorError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    rows: list[list[float]] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 7:
            raise SensorError(f"{path}:{lineno}: expected at least 7 comma-separated columns "
                              f"(frame,id,x,y,w,h,conf), got {len(parts)}")
        try:
            v = [float(p) for p in parts]
        except ValueError as exc:
            raise SensorError(f"{path}:{lineno}: not a number: {exc}") from None
        if not all(math.isfinite(x) for x in v[:7]):
            raise SensorError(f"{path}:{lineno}: non-finite value in the first 7 columns")
        frame = v[0]
        if frame != int(frame) or frame < 1 or (num_frames is not None and frame > num_frames):
            limit = f"1..{num_frames}" if num_frames is not None else ">= 1"
            raise SensorError(f"{path}:{lineno}: frame {parts[0]} is not an integer in {limit}")
        if v[4] < 0 or v[5] < 0:
            raise SensorError(f"{path}:{lineno}: negative box size w={v[4]:g}, h={v[5]:g}")
        if gt and (v[6] != 1 or (len(v) == 9 and v[7] != PEDESTRIAN)):
            continue
        rows.append(v[:7])
    a = np.array(rows, dtype=np.float64).reshape(-1, 7)
    a = a[np.argsort(a[:, 0], kind="stable")]
    xyxy = np.column_stack([a[:, 2:4], a[:, 2:4] + a[:, 4:6]]).astype(np.float32)
    return MotRows(frame=a[:, 0].astype(np.int64), track_id=a[:, 1].astype(np.int64), xyxy=xyxy,
                   confidence=a[:, 6].astype(np.float32))


def read_seqinfo(path: Path) -> dict[str, int | float | str]:
    """``name``, ``frame_rate`` (Hz), ``length`` (frames), ``width``, ``height`` (pixels) of a sequence."""
    parser = configparser.ConfigParser()
    try:
        if not parser.read(path, encoding="utf-8"):
            raise SensorError(f"{path}: cannot read")
    except configparser.Error as exc:
        raise SensorError(f"{path}: invalid ini: {exc}") from exc
    if "Sequence" not in parser:
        raise SensorError(f"{path}: no [Sequence] section")
    sec = parser["Sequence"]
    out: dict[str, int | float | str] = {"name": sec.get("name", path.parent.name)}
    for key, name, kind in (("frameRate", "frame_rate", float), ("seqLength", "length", int),
                            ("imWidth", "width", int), ("imHeight", "height", int)):
        if key not in sec:
            raise SensorError(f"{path}: [Sequence] has no key {key!r}")
        try:
            value = kind(sec[key])
        except ValueError:
            raise SensorError(f"{path}: [Sequence] {key}: expected {kind.__name__}, "
                              f"got {sec[key]!r}") from None
        if not value > 0:
            raise SensorError(f"{path}: [Sequence] {key}: expected > 0, got {value}")
        out[name] = value
    return out


class MotSequence:
    """One MOTChallenge sequence folder, parsed eagerly.

    Args:
        path: the sequence folder (with ``seqinfo.ini`` and ``det/det.txt``).
        min_confidence: drop detections with a confidence below this (None: keep all).
    """

    def __init__(self, path: str | Path, min_confidence: float | None = None) -> None:
        self.path = Path(path)
        info = read_seqinfo(self.path / "seqinfo.ini")
        self.name = str(info["name"])
        self.frame_rate = float(info["frame_rate"])
        self.num_frames = int(info["length"])
        self.width, self.height = int(info["width"]), int(info["height"])
        det_path = self.path / "det" / "det.txt"
        if not det_path.is_file():
            raise SensorError(f"{det_path}: no detection file")
        det = read_mot_file(det_path, gt=False, num_frames=self.num_frames)
        if min_confidence is not None:
            keep = det.confidence >= min_confidence
            det = MotRows(det.frame[keep], det.track_id[keep], det.xyxy[keep], det.confidence[keep])
        self.det = det
        gt_path = self.path / "gt" / "gt.txt"
        self.gt = read_mot_file(gt_path, gt=True, num_frames=self.num_frames) if gt_path.is_file() else None
        frames = np.arange(1, self.num_frames + 2)
        self._det_idx = np.searchsorted(self.det.frame, frames)
        self._gt_idx = None if self.gt is None else np.searchsorted(self.gt.frame, frames)

    def __len__(self) -> int:
        return self.num_frames

    @property
    def has_gt(self) -> bool:
        return self.gt is not None

    def _check(self, frame: int) -> int:
        if not 1 <= frame <= self.num_frames:
            raise SensorError(f"{self.name}: frame {frame} outside 1..{self.num_frames}")
        return int(frame) - 1

    def stamp_ns(self, frame: int, start_ns: int = 0) -> int:
        """Capture time of 1-based ``frame``: ``start_ns + (frame - 1) / frameRate`` (rounded to ns)."""
        return int(start_ns) + round((int(frame) - 1) * 1e9 / self.frame_rate)

    def detections(self, frame: int) -> Detections:
        """Detections of 1-based ``frame`` (class 0, no track ids); empty when there are none."""
        i = self._check(frame)
        s = slice(self._det_idx[i], self._det_idx[i + 1])
        d = self.det
        return Detections(xyxy=d.xyxy[s], confidence=d.confidence[s],
                          class_id=np.zeros(s.stop - s.start, np.int32))

    def ground_truth(self, frame: int) -> Detections:
        """Ground-truth boxes of 1-based ``frame`` with track ids (confidence 1)."""
        i = self._check(frame)
        if self.gt is None or self._gt_idx is None:
            raise SensorError(f"{self.path / 'gt' / 'gt.txt'}: sequence {self.name} has no ground truth")
        s = slice(self._gt_idx[i], self._gt_idx[i + 1])
        n = s.stop - s.start
        return Detections(xyxy=self.gt.xyxy[s], confidence=np.ones(n, np.float32),
                          class_id=np.zeros(n, np.int32), track_id=self.gt.track_id[s])


@dataclass(frozen=True)
class MotSourceConfig:
    """Options of :class:`MotSource`.

    Attributes:
        path: sequence folder (required; no default data path).
        rate: playback speed, 1.0 = the sequence's frame rate; 0 as fast as possible.
        start_ns: stamp of frame 1; None: the clock time of the first tick.
        min_confidence: drop detections below this confidence (None: keep all).
        topic_detections, topic_gt: output topics; "" disables one (gt is skipped when absent).
        frame_id: camera frame of the boxes.
    """

    path: str
    rate: float = 1.0
    start_ns: int | None = None
    min_confidence: float | None = None
    topic_detections: str = "mot/detections"
    topic_gt: str = "gt/mot/boxes"
    frame_id: str = "camera"

    def __post_init__(self) -> None:
        if self.rate < 0 or not math.isfinite(self.rate):
            raise ValueError(f"rate: expected >= 0 (0: as fast as possible), got {self.rate}")


class MotSource(Processor):
    """Publishes a MOT sequence frame by frame: :class:`Detections2D` of the detector on
    ``topic_detections`` and ground truth (with track ids) on ``topic_gt``, both stamped with the
    frame's data time ``t0 + (k - 1) / frameRate`` and ``seq = k - 1``. Logs once at the end and
    stays idle; a frame that fails to build is counted (:attr:`errors`), logged and skipped.
    """

    Config = MotSourceConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: MotSourceConfig = self.config
        self.sequence = MotSequence(cfg.path, cfg.min_confidence)
        self.frame, self.errors, self.finished = 1, 0, False
        self._t0 = cfg.start_ns
        rate = self.sequence.frame_rate * cfg.rate
        ctx.add_timer(1.0 / rate if cfg.rate > 0 else MAX_RATE_PERIOD_S, self._tick)

    def _tick(self, now_ns: int) -> None:
        cfg: MotSourceConfig = self.config
        seq = self.sequence
        if self.frame > len(seq):
            if not self.finished:
                self.finished = True
                self.context.log.info("MOT %s: end of sequence after %d frames (%d errors)", seq.name,
                                      len(seq), self.errors)
            return
        if self._t0 is None:
            self._t0 = now_ns
        k = self.frame
        stamp = seq.stamp_ns(k, self._t0)
        outputs = [(cfg.topic_detections, seq.detections)]
        if seq.has_gt:
            outputs.append((cfg.topic_gt, seq.ground_truth))
        for topic, get in outputs:
            if not topic:
                continue
            try:
                msg = Detections2D(stamp_ns=stamp, frame_id=cfg.frame_id, seq=k - 1, detections=get(k),
                                   class_names=CLASS_NAMES)
            except Exception as exc:
                self.errors += 1
                self.context.log.error("%s frame %d, topic %s: %s: %s (%d errors so far)", seq.name, k, topic,
                                       type(exc).__name__, exc, self.errors)
                continue
            self.context.publish(topic, msg)
        self.frame += 1
