"""Import public datasets into logs: MOTChallenge sequences, KITTI tracking, image folders.

The dataset formats are parsed by :mod:`sensors.datasets` (:class:`~sensors.datasets.MotSequence`,
:class:`~sensors.datasets.KittiTrackingSequence`); their errors are raised here as
:class:`~replay.errors.LogError`. Imported stamps start at 0 (frame 1 of MOT, frame 0 of KITTI,
the first image) and log time equals the stamp, so a re-run or playback sees the sequence at its
native frame rate.

* MOT (``frame,id,x,y,w,h,conf,...``, 1-based frames, pixels): ``det/det.txt`` ->
  ``mot/detections`` (:class:`Detections2D`, frame ``camera``), ``gt/gt.txt`` ->
  ``gt/mot/boxes`` (:class:`Detections2D` with ``track_id``; rows with flag 0 skipped, every
  class kept); one message per frame ``1..seqLength``, stamp ``(frame - 1) / frameRate``
  (30 fps and the last frame with a row when ``seqinfo.ini`` is missing).
* KITTI tracking (10 Hz): ``det_pointrcnn/{Car,Pedestrian,Cyclist}/SEQ.txt`` ->
  ``kitti/det_pointrcnn`` (:class:`Detections3D` in :data:`calib.kitti.KITTI_CAMERA_FRAME`: x
  right, y down, z forward, metres; ``centre`` is the box centre, i.e. the KITTI bottom centre
  raised by h/2); ``label_02/SEQ.txt`` -> ``gt/kitti/tracks`` (:class:`Tracks`, ``DontCare`` rows
  skipped, state :data:`KITTI_STATE_FIELDS`, classes :data:`KITTI_LABEL_CLASSES`). Logs imported
  before the frame was named in ``calib.kitti`` carry ``camera_left`` for the same frame; nothing
  that reads logs keys on the name (``percept report`` matches 3D tracks on ``x, z`` for any
  frame whose id starts with ``camera``).
* Image folders (e.g. UCSD Ped2): sorted ``*.jpg``/``*.png`` -> ``camera/image`` (jpeg
  :class:`Image`, files passed through unchanged when already JPEG).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from calib.kitti import KITTI_CAMERA_FRAME
from percept.messages import Detections2D, Image, Tracks, TrackStatus
from replay.errors import LogError
from replay.log import LogWriter
from sensors.datasets.kitti_tracking import GT_CLASSES, KittiTrackingSequence
from sensors.datasets.mot_format import MotSequence
from sensors.errors import SensorError

if TYPE_CHECKING:
    from percept.cliutil import ProgressCallback

log = logging.getLogger(__name__)

MOT_CLASSES = ("pedestrian",)
MOT_DEFAULT_FPS = 30.0
"""Frame rate assumed for a MOT sequence without ``seqinfo.ini``."""
KITTI_LABEL_CLASSES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc",
                       "Person")
"""Class table of imported KITTI ground truth (the order of the logs imported so far)."""
KITTI_STATE_FIELDS = ("x", "y", "z", "length", "width", "height", "yaw")
_LABEL_CLASS_OF_GT = np.array([KITTI_LABEL_CLASSES.index(c) for c in GT_CLASSES], np.int32)

T = TypeVar("T")


@dataclass
class ImportReport:
    """What an import wrote: messages and rows per topic."""

    messages: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, topic: str, rows: int) -> None:
        self.messages[topic] = self.messages.get(topic, 0) + 1
        self.rows[topic] = self.rows.get(topic, 0) + rows


def _read(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """``fn(*args, **kwargs)`` with a dataset's SensorError raised as LogError."""
    try:
        return fn(*args, **kwargs)
    except SensorError as exc:
        raise LogError(str(exc)) from exc


def import_mot(seq_dir: str | Path, out: str | Path,
               progress: ProgressCallback | None = None) -> ImportReport:
    """Import one MOTChallenge sequence folder (``det/det.txt``, optional ``gt/gt.txt``);
    ``progress(frames done, frames)`` after each frame."""
    seq = _read(MotSequence, seq_dir, pedestrians_only=False, default_frame_rate=MOT_DEFAULT_FPS)
    report = ImportReport()
    with LogWriter(out) as w:
        for f in range(1, len(seq) + 1):
            stamp = seq.stamp_ns(f)
            outputs = [("mot/detections", seq.detections)] + ([("gt/mot/boxes", seq.ground_truth)]
                                                                if seq.has_gt else [])
            for topic, get in outputs:
                d = get(f)
                msg = Detections2D(stamp_ns=stamp, frame_id="camera", seq=f - 1, detections=d,
                                   class_names=MOT_CLASSES)
                w.write(topic, msg.to_frames(topic), stamp)
                report.add(topic, len(d))
            if progress is not None:
                progress(f, len(seq))
    return report


def import_kitti_tracking(root: str | Path, sequence: int | str, out: str | Path,
                          progress: ProgressCallback | None = None) -> ImportReport:
    """Import KITTI tracking sequence ``sequence`` (PointRCNN detections and labels);
    ``progress(frames done, frames)`` after each frame."""
    base = Path(root)
    name = f"{int(sequence):04d}"
    seq = _read(KittiTrackingSequence, base, int(sequence))
    has_dets = (base / "det_pointrcnn").exists()
    label_file = base / "label_02" / f"{name}.txt"
    has_labels = label_file.exists()
    if not len(seq.detections) and not np.any(seq.labels.class_id >= 0):
        raise LogError(f"{base}: no det_pointrcnn/*/{name}.txt nor label_02/{name}.txt")
    report = ImportReport()
    with LogWriter(out) as w:
        for f in range(len(seq)):
            stamp = seq.stamp_ns(f)
            if has_dets:
                msg = seq.detections3d(f, stamp, f, KITTI_CAMERA_FRAME)
                w.write("kitti/det_pointrcnn", msg.to_frames("kitti/det_pointrcnn"), stamp)
                report.add("kitti/det_pointrcnn", len(msg))
            if has_labels:
                tmsg = _kitti_label_msg(seq, f, stamp)
                w.write("gt/kitti/tracks", tmsg.to_frames("gt/kitti/tracks"), stamp)
                report.add("gt/kitti/tracks", len(tmsg))
            if progress is not None:
                progress(f + 1, len(seq))
    return report


def _kitti_label_msg(seq: KittiTrackingSequence, frame: int, stamp: int) -> Tracks:
    """Labels of ``frame`` (``DontCare`` skipped) as confirmed Tracks, state
    :data:`KITTI_STATE_FIELDS` (geometric centre, l, w, h, yaw), age 0."""
    g = seq.frame_labels(frame)
    n = len(g)
    state = np.column_stack([g.centre, g.size_lwh, g.rot_y]).astype(np.float32)
    return Tracks(stamp_ns=stamp, frame_id=KITTI_CAMERA_FRAME, seq=frame, track_id=g.track_id,
                  class_id=_LABEL_CLASS_OF_GT[g.class_id], confidence=np.ones(n, np.float32),
                  state=state.reshape(n, len(KITTI_STATE_FIELDS)), age=np.zeros(n, np.int32),
                  status=np.full(n, TrackStatus.CONFIRMED, np.uint8), sensors=np.zeros(n, np.uint32),
                  state_fields=KITTI_STATE_FIELDS, class_names=KITTI_LABEL_CLASSES)


def import_frames(folder: str | Path, out: str | Path, fps: float, *, frame_id: str = "camera",
                  topic: str = "camera/image", jpeg_quality: int = 90,
                  progress: ProgressCallback | None = None) -> ImportReport:
    """Import a folder of ``*.jpg``/``*.jpeg``/``*.png`` frames (sorted by name) at ``fps``;
    ``progress(files done, files)`` after each file."""
    import cv2

    src = Path(folder)
    if fps <= 0:
        raise LogError(f"{src}: fps must be > 0, got {fps}")
    if not src.is_dir():
        raise LogError(f"{src}: {'not a folder' if src.exists() else 'no such folder'} (expected a folder "
                       "of .jpg/.jpeg/.png frames)")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise LogError(f"{src}: no .jpg/.jpeg/.png images")
    report = ImportReport()
    with LogWriter(out) as w:
        for i, path in enumerate(files):
            raw = np.fromfile(path, np.uint8)
            img = cv2.imdecode(raw, cv2.IMREAD_COLOR)
            if img is None:
                log.warning("%s: not a decodable image, skipped", path)
                continue
            stamp = round(i * 1e9 / fps)
            if path.suffix.lower() in (".jpg", ".jpeg"):
                msg = Image(stamp_ns=stamp, frame_id=frame_id, seq=i, encoding="jpeg", data=raw,
                            width=img.shape[1], height=img.shape[0])
            else:
                msg = Image.from_bgr(img, stamp_ns=stamp, frame_id=frame_id, seq=i,
                                     jpeg_quality=jpeg_quality)
            w.write(topic, msg.to_frames(topic), stamp)
            report.add(topic, 1)
            if progress is not None:
                progress(i + 1, len(files))
    return report
