"""Import public datasets into logs: MOTChallenge sequences, KITTI tracking, image folders.

The dataset formats are parsed here (no dependency on ``sensors``). Imported stamps start at 0
(frame 1 of MOT, frame 0 of KITTI, the first image) and log time equals the stamp, so a re-run
or playback sees the sequence at its native frame rate.

* MOT (``frame,id,x,y,w,h,conf,...``, 1-based frames, pixels): ``det/det.txt`` ->
  ``mot/detections`` (:class:`Detections2D`, frame ``camera``), ``gt/gt.txt`` ->
  ``gt/mot/boxes`` (:class:`Detections2D` with ``track_id``); one message per frame
  ``1..seqLength``, stamp ``(frame - 1) / frameRate``.
* KITTI tracking (10 Hz): ``det_pointrcnn/{Car,Pedestrian,Cyclist}/SEQ.txt`` ->
  ``kitti/det_pointrcnn`` (:class:`Detections3D` in ``camera_left``: x right, y down, z forward,
  metres; ``centre`` is the box centre, i.e. the KITTI bottom centre raised by h/2);
  ``label_02/SEQ.txt`` -> ``gt/kitti/tracks`` (:class:`Tracks`, ``DontCare`` rows skipped).
* Image folders (e.g. UCSD Ped2): sorted ``*.jpg``/``*.png`` -> ``camera/image`` (jpeg
  :class:`Image`, files passed through unchanged when already JPEG).
"""

from __future__ import annotations

import configparser
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from percept.detections import Detections
from percept.messages import Detections2D, Detections3D, Image, Tracks, TrackStatus
from replay.errors import LogError
from replay.log import LogWriter

log = logging.getLogger(__name__)

MOT_CLASSES = ("pedestrian",)
KITTI_DET_CLASSES = ("Pedestrian", "Car", "Cyclist")  # det type 1, 2, 3
KITTI_LABEL_CLASSES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc")
KITTI_STATE_FIELDS = ("x", "y", "z", "length", "width", "height", "yaw")
KITTI_PERIOD_NS = 100_000_000


@dataclass
class ImportReport:
    """What an import wrote: messages and rows per topic."""

    messages: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, topic: str, rows: int) -> None:
        self.messages[topic] = self.messages.get(topic, 0) + 1
        self.rows[topic] = self.rows.get(topic, 0) + rows


def _load_table(path: Path, delimiter: str | None, min_cols: int) -> np.ndarray:
    """Numeric rows of a text table as float64 (R, C); errors name the file and line."""
    rows: list[list[float]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.strip().split(delimiter)
            if len(parts) < min_cols:
                raise LogError(f"{path}:{lineno}: expected >= {min_cols} columns, got {len(parts)}")
            try:
                rows.append([float(p) for p in parts[:min_cols]])
            except ValueError as exc:
                raise LogError(f"{path}:{lineno}: not numeric: {exc}") from exc
    return np.array(rows, np.float64).reshape(-1, min_cols)


def read_seqinfo(seq_dir: Path) -> tuple[float, int | None]:
    """``(frameRate, seqLength)`` from ``seqinfo.ini`` (30 Hz and ``None`` when absent)."""
    ini = seq_dir / "seqinfo.ini"
    if not ini.exists():
        log.warning("%s missing: assuming 30 fps", ini)
        return 30.0, None
    cp = configparser.ConfigParser()
    cp.read(ini, encoding="utf-8")
    try:
        fps = float(cp["Sequence"]["frameRate"])
        length = int(cp["Sequence"]["seqLength"]) if "seqLength" in cp["Sequence"] else None
    except (KeyError, ValueError) as exc:
        raise LogError(f"{ini}: [Sequence] frameRate/seqLength: {exc}") from exc
    if fps <= 0:
        raise LogError(f"{ini}: frameRate must be > 0, got {fps}")
    return fps, length


def mot_frames(table: np.ndarray, with_ids: bool) -> dict[int, Detections]:
    """Detections per 1-based frame from MOT rows ``frame,id,x,y,w,h,conf`` (R, 7)."""
    out: dict[int, Detections] = {}
    frames = table[:, 0].astype(np.int64)
    for f in np.unique(frames):
        r = table[frames == f]
        xyxy = np.concatenate([r[:, 2:4], r[:, 2:4] + r[:, 4:6]], axis=1).astype(np.float32)
        out[int(f)] = Detections(xyxy=xyxy, confidence=r[:, 6].astype(np.float32),
                                 class_id=np.zeros(len(r), np.int32),
                                 track_id=r[:, 1].astype(np.int64) if with_ids else None)
    return out


def import_mot(seq_dir: str | Path, out: str | Path) -> ImportReport:
    """Import one MOTChallenge sequence folder (``det/det.txt``, optional ``gt/gt.txt``)."""
    seq = Path(seq_dir)
    det_file = seq / "det" / "det.txt"
    if not det_file.exists():
        raise LogError(f"{det_file}: MOT detections not found")
    fps, length = read_seqinfo(seq)
    dets = mot_frames(_load_table(det_file, ",", 7), with_ids=False)
    gt_file = seq / "gt" / "gt.txt"
    gt: dict[int, Detections] | None = None
    if gt_file.exists():
        table = _load_table(gt_file, ",", 7)
        gt = mot_frames(table[table[:, 6] != 0], with_ids=True)  # flag 0: not to be evaluated
    n = length or max([*dets, *(gt or {})], default=0)
    report = ImportReport()
    with LogWriter(out) as w:
        for f in range(1, n + 1):
            stamp = round((f - 1) * 1e9 / fps)
            d = dets.get(f, Detections.empty())
            msg = Detections2D(stamp_ns=stamp, frame_id="camera", seq=f - 1, detections=d,
                               class_names=MOT_CLASSES)
            w.write("mot/detections", msg.to_frames("mot/detections"), stamp)
            report.add("mot/detections", len(d))
            if gt is not None:
                g = gt.get(f, Detections.empty(with_track_id=True))
                gmsg = Detections2D(stamp_ns=stamp, frame_id="camera", seq=f - 1, detections=g,
                                    class_names=MOT_CLASSES)
                w.write("gt/mot/boxes", gmsg.to_frames("gt/mot/boxes"), stamp)
                report.add("gt/mot/boxes", len(g))
    return report


def _kitti_lines(path: Path, sep: str | None) -> list[list[str]]:
    with path.open(encoding="utf-8") as fh:
        return [line.split(sep) for line in fh if line.strip()]


def import_kitti_tracking(root: str | Path, sequence: int | str, out: str | Path) -> ImportReport:
    """Import KITTI tracking sequence ``sequence`` (PointRCNN detections and labels)."""
    base = Path(root)
    name = f"{int(sequence):04d}"
    dets: dict[int, list[list[float]]] = {}
    det_dir = base / "det_pointrcnn"
    for cls in KITTI_DET_CLASSES:
        path = det_dir / cls / f"{name}.txt"
        if not path.exists():
            continue
        for i, parts in enumerate(_kitti_lines(path, ","), 1):
            if len(parts) < 15:
                raise LogError(f"{path}:{i}: expected 15 columns, got {len(parts)}")
            dets.setdefault(int(parts[0]), []).append([float(p) for p in parts[1:15]])
    labels: dict[int, list[list[str]]] = {}
    label_file = base / "label_02" / f"{name}.txt"
    if label_file.exists():
        for i, parts in enumerate(_kitti_lines(label_file, None), 1):
            if len(parts) < 17:
                raise LogError(f"{label_file}:{i}: expected 17 columns, got {len(parts)}")
            if parts[2] != "DontCare":
                labels.setdefault(int(parts[0]), []).append(parts)
    if not dets and not labels:
        raise LogError(f"{base}: no det_pointrcnn/*/{name}.txt nor label_02/{name}.txt")
    oxts = base / "oxts" / f"{name}.txt"
    n = len(_kitti_lines(oxts, None)) if oxts.exists() else max([*dets, *labels]) + 1
    report = ImportReport()
    with LogWriter(out) as w:
        for f in range(n):
            stamp = f * KITTI_PERIOD_NS
            if det_dir.exists():
                msg = _kitti_det_msg(np.array(dets.get(f, []), np.float64).reshape(-1, 14), stamp, f)
                w.write("kitti/det_pointrcnn", msg.to_frames("kitti/det_pointrcnn"), stamp)
                report.add("kitti/det_pointrcnn", len(msg))
            if label_file.exists():
                tmsg = _kitti_label_msg(labels.get(f, []), stamp, f, label_file)
                w.write("gt/kitti/tracks", tmsg.to_frames("gt/kitti/tracks"), stamp)
                report.add("gt/kitti/tracks", len(tmsg))
    return report


def _kitti_det_msg(r: np.ndarray, stamp: int, seq: int) -> Detections3D:
    """Rows ``type,x1,y1,x2,y2,score,h,w,l,x,y,z,rot_y,alpha`` (R, 14) -> Detections3D."""
    h, w, length = r[:, 6], r[:, 7], r[:, 8]
    centre = np.stack([r[:, 9], r[:, 10] - h / 2, r[:, 11]], axis=1)
    return Detections3D(stamp_ns=stamp, frame_id="camera_left", seq=seq,
                        centre=centre.astype(np.float32),
                        size=np.stack([length, w, h], axis=1).astype(np.float32),
                        yaw=r[:, 12].astype(np.float32), class_id=(r[:, 0] - 1).astype(np.int32),
                        confidence=r[:, 5].astype(np.float32), class_names=KITTI_DET_CLASSES)


def _kitti_label_msg(rows: list[list[str]], stamp: int, seq: int, path: Path) -> Tracks:
    """KITTI label rows (frame id type trunc occ alpha x1 y1 x2 y2 h w l x y z ry) -> Tracks."""
    ids, classes, state = [], [], []
    for parts in rows:
        if parts[2] not in KITTI_LABEL_CLASSES:
            raise LogError(f"{path}: unknown KITTI class {parts[2]!r}, expected {KITTI_LABEL_CLASSES}")
        h, w, length, x, y, z, ry = (float(p) for p in parts[10:17])
        ids.append(int(parts[1]))
        classes.append(KITTI_LABEL_CLASSES.index(parts[2]))
        state.append([x, y - h / 2, z, length, w, h, ry])
    n = len(ids)
    return Tracks(stamp_ns=stamp, frame_id="camera_left", seq=seq,
                  track_id=np.array(ids, np.int64), class_id=np.array(classes, np.int32),
                  confidence=np.ones(n, np.float32),
                  state=np.array(state, np.float32).reshape(n, len(KITTI_STATE_FIELDS)),
                  age=np.zeros(n, np.int32), status=np.full(n, TrackStatus.CONFIRMED, np.uint8),
                  sensors=np.zeros(n, np.uint32), state_fields=KITTI_STATE_FIELDS,
                  class_names=KITTI_LABEL_CLASSES)


def import_frames(folder: str | Path, out: str | Path, fps: float, *, frame_id: str = "camera",
                  topic: str = "camera/image", jpeg_quality: int = 90) -> ImportReport:
    """Import a folder of ``*.jpg``/``*.jpeg``/``*.png`` frames (sorted by name) at ``fps``."""
    import cv2

    src = Path(folder)
    if fps <= 0:
        raise LogError(f"{src}: fps must be > 0, got {fps}")
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
    return report
