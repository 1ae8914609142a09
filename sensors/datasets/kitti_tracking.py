"""KITTI tracking sequences (labels, PointRCNN detections, oxts ego motion) played as if live.

Layout under ``root`` (the KITTI tracking ``training`` folder)::

    label_02/NNNN.txt                       ground truth, one object per line (17 columns)
    det_pointrcnn/{Car,Pedestrian,Cyclist}/NNNN.txt   PointRCNN 3D detections (15 columns)
    oxts/NNNN.txt                           GPS/IMU, one line per frame (30 columns)
    calib/NNNN.txt                          calibration (read with :mod:`calib.formats`)

Frames and time: frame ``k`` (0-based) was captured at ``start_ns + k * 100 ms`` (10 Hz).

Frames: 3D boxes are in the rectified left grey camera frame :data:`calib.kitti.KITTI_CAMERA_FRAME`
(``camera_0``; metres, x right, y down, z forward); KITTI stores the *bottom* centre of a box,
messages carry the geometric centre (``y - h / 2``, since y points down). ``rot_y`` (radians,
rotation about the camera y axis, 0 = facing camera x) is published as ``yaw``. 2D boxes are
pixels of the left colour camera ``camera_2`` (``image_02``). Ego poses are ``T_world_from_imu``
with ``world`` = the IMU frame of frame 0 (x forward, y left, z up).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calib.kitti import KITTI_CAMERA_FRAME, KittiCalib, load_kitti_calib
from calib.transform import FrameTree, Transform
from percept.detections import Detections
from percept.messages import Detections2D, Detections3D, Pose, Tracks, TrackStatus
from sensors.errors import SensorError
from sensors.playback import DatasetSource, DatasetSourceConfig, Output

log = logging.getLogger(__name__)

FRAME_PERIOD_NS = 100_000_000  # KITTI camera/lidar frame period: 10 Hz
DET_CLASSES: tuple[str, ...] = ("Pedestrian", "Car", "Cyclist")
"""Class names of PointRCNN detections; the file's type ``t`` (1, 2, 3) is class id ``t - 1``."""
GT_CLASSES: tuple[str, ...] = (
    "Pedestrian", "Car", "Cyclist", "Van", "Truck", "Person_sitting", "Tram", "Misc", "Person",
)
"""Class names of ground truth: every type of the label files but ``DontCare`` (class id -1); the
first three share their ids with :data:`DET_CLASSES` (``fusion.kitti_eval`` applies the devkit's rules)."""
_TYPE_IDS = {name.lower(): i for i, name in enumerate(GT_CLASSES)} | {"dontcare": -1}
OXTS_FIELDS: tuple[str, ...] = (
    "lat", "lon", "alt", "roll", "pitch", "yaw", "vn", "ve", "vf", "vl", "vu", "ax", "ay", "az", "af",
    "al", "au", "wx", "wy", "wz", "wf", "wl", "wu", "pos_accuracy", "vel_accuracy", "navstat",
    "numsats", "posmode", "velmode", "orimode",
)
"""Columns of an oxts line: degrees, metres, radians, m/s, m/s², rad/s (KITTI devkit readme)."""
EARTH_RADIUS_M = 6378137.0


@dataclass(frozen=True, eq=False)
class KittiBoxes:
    """N KITTI objects (labels or detections), one row each, sorted by frame; floats float32 unless read
    with another ``dtype`` (evaluation reads float64).

    Attributes:
        frame: int64 (N,) 0-based frame index.
        class_id: int32 (N,) index into the owner's class names; -1 for ``DontCare`` regions.
        track_id: int64 (N,) ground-truth track id; -1 for detections and ``DontCare``.
        score: float32 (N,) detector score (unbounded, higher is better); 1 for labels.
        truncated: float32 (N,) tracking labels: 0 not, 1 partly, 2 fully truncated; -1 for detections.
        occluded: int32 (N,) 0 visible, 1 partly, 2 largely occluded, 3 unknown; -1 for detections.
        alpha: float32 (N,) observation angle, radians.
        box2d: float32 (N, 4) ``x1, y1, x2, y2`` in ``camera_2`` pixels.
        hwl: float32 (N, 3) height, width, length, metres.
        bottom: float32 (N, 3) bottom centre in ``camera_0`` (the rectified camera frame), metres.
        rot_y: float32 (N,) rotation about the camera y axis, radians.
    """

    frame: np.ndarray
    class_id: np.ndarray
    track_id: np.ndarray
    score: np.ndarray
    truncated: np.ndarray
    occluded: np.ndarray
    alpha: np.ndarray
    box2d: np.ndarray
    hwl: np.ndarray
    bottom: np.ndarray
    rot_y: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def centre(self) -> np.ndarray:
        """float32 (N, 3) geometric box centre in ``camera_0`` (bottom raised by h/2; y is down)."""
        c = self.bottom.copy()
        c[:, 1] -= self.hwl[:, 0] / 2
        return c

    @property
    def size_lwh(self) -> np.ndarray:
        """float32 (N, 3) length, width, height in metres."""
        return np.ascontiguousarray(self.hwl[:, ::-1])

    def select(self, index: slice | np.ndarray) -> KittiBoxes:
        """Rows picked by a slice or boolean/integer index."""
        return KittiBoxes(**{k: v[index] for k, v in vars(self).items()})

    @classmethod
    def from_rows(cls, rows: list[tuple[Any, ...]], dtype: type[np.floating] = np.float32) -> KittiBoxes:
        """From tuples ``(frame, class_id, track_id, score, truncated, occluded, alpha, x1, y1, x2, y2,
        h, w, l, x, y, z, rot_y)``, sorted by frame (stable); float columns of type ``dtype``."""
        a = np.array(rows, dtype=np.float64).reshape(-1, 18)
        a = a[np.argsort(a[:, 0], kind="stable")]
        f4 = dtype
        return cls(frame=a[:, 0].astype(np.int64), class_id=a[:, 1].astype(np.int32),
                   track_id=a[:, 2].astype(np.int64), score=a[:, 3].astype(f4),
                   truncated=a[:, 4].astype(f4), occluded=a[:, 5].astype(np.int32),
                   alpha=a[:, 6].astype(f4), box2d=a[:, 7:11].astype(f4), hwl=a[:, 11:14].astype(f4),
                   bottom=a[:, 14:17].astype(f4), rot_y=a[:, 17].astype(f4))


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SensorError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _label_rows(path: Path, columns: int) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each non-blank line of a KITTI label/result file, which must
    have ``columns`` fields (``columns + 1`` with a trailing score); ``SensorError`` names ``file:line``."""
    for lineno, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (columns, columns + 1):
            raise SensorError(f"{path}:{lineno}: expected {columns} columns ({columns + 1} with score), "
                              f"got {len(parts)}")
        yield lineno, parts


def _floats(path: Path, lineno: int, parts: list[str], want: int) -> list[float]:
    if len(parts) != want:
        raise SensorError(f"{path}:{lineno}: expected {want} columns, got {len(parts)}")
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise SensorError(f"{path}:{lineno}: not a number: {exc}") from None
    if not all(math.isfinite(v) for v in values):
        raise SensorError(f"{path}:{lineno}: non-finite value")
    return values


def read_labels(path: Path, dtype: type[np.floating] = np.float32, default_score: float = 1.0) -> KittiBoxes:
    """Parse a KITTI tracking label (17 columns ``frame id type truncated occluded alpha x1 y1 x2 y2 h w
    l x y z ry``) or result file (18: plus a score; ``default_score`` when absent), floats as ``dtype``.
    Every type of :data:`GT_CLASSES` (any case) and ``DontCare`` (class and track id -1) is read."""
    rows: list[tuple[Any, ...]] = []
    for lineno, parts in _label_rows(path, 17):
        cls_id = _TYPE_IDS.get(parts[2].lower())
        if cls_id is None:
            raise SensorError(f"{path}:{lineno}: unknown object type {parts[2]!r}, expected one of "
                              f"{[*GT_CLASSES, 'DontCare']}")
        v = _floats(path, lineno, parts[:2] + parts[3:], len(parts) - 1)
        score = v[16] if len(v) == 17 else default_score
        rows.append((v[0], cls_id, v[1] if cls_id >= 0 else -1, score, *v[2:16]))
    return KittiBoxes.from_rows(rows, dtype)


def read_pointrcnn(paths: list[Path]) -> KittiBoxes:
    """Parse PointRCNN detection files ``frame,type,x1,y1,x2,y2,score,h,w,l,x,y,z,rot_y,alpha``."""
    rows: list[tuple[Any, ...]] = []
    for path in paths:
        for lineno, line in enumerate(_read_lines(path), 1):
            if not line.strip():
                continue
            v = _floats(path, lineno, line.split(","), 15)
            if v[1] not in (1.0, 2.0, 3.0):
                raise SensorError(f"{path}:{lineno}: type must be 1, 2 or 3 (Ped., Car, Cyc.), got {v[1]:g}")
            rows.append((v[0], v[1] - 1, -1, v[6], -1, -1, v[14], *v[2:6], *v[7:14]))
    return KittiBoxes.from_rows(rows)


def read_oxts(path: Path) -> np.ndarray:
    """Parse an oxts file into float64 (F, 30), columns :data:`OXTS_FIELDS`."""
    lines = [(i, ln.split()) for i, ln in enumerate(_read_lines(path), 1) if ln.strip()]
    return np.array([_floats(path, i, p, len(OXTS_FIELDS)) for i, p in lines],
                    dtype=np.float64).reshape(-1, len(OXTS_FIELDS))


def oxts_to_poses(oxts: np.ndarray) -> np.ndarray:
    """(F, 4, 4) float64 ``T_world_from_imu`` from (F, 30) oxts, world = IMU frame of frame 0.

    KITTI devkit ``convertOxtsToPose``: a Mercator projection scaled by ``s = cos(lat_0)`` gives
    metres, ``tx = s · R_e · lon · π/180``, ``ty = s · R_e · ln(tan((90 + lat) · π/360))``,
    ``tz = alt`` (``R_e`` = 6378137 m), rotation ``Rz(yaw) · Ry(pitch) · Rx(roll)``; every pose is
    then premultiplied by the inverse of the first, so frame 0 is the identity.
    """
    if len(oxts) == 0:
        return np.zeros((0, 4, 4))
    lat, lon, alt, roll, pitch, yaw = (oxts[:, i] for i in range(6))
    scale = math.cos(math.radians(lat[0]))
    poses = np.tile(np.eye(4), (len(oxts), 1, 1))
    poses[:, 0, 3] = scale * EARTH_RADIUS_M * np.radians(lon)
    poses[:, 1, 3] = scale * EARTH_RADIUS_M * np.log(np.tan(np.radians(90.0 + lat) / 2))
    poses[:, 2, 3] = alt
    cr, sr, cp, sp = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    poses[:, :3, :3] = np.stack([
        np.stack([cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr], -1),
        np.stack([sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr], -1),
        np.stack([-sp, cp * sr, cp * cr], -1)], axis=1)
    return np.linalg.inv(poses[0]) @ poses


class KittiTrackingSequence:
    """Everything of one KITTI tracking sequence, parsed eagerly (malformed lines raise
    :class:`SensorError` naming ``file:line``).

    Args:
        root: the KITTI tracking ``training`` folder (with ``label_02``, ``oxts``, ...).
        sequence: sequence number (0 for ``0000``).
        det_dir, calib_dir, oxts_dir, label_dir: folders used instead of ``root/det_pointrcnn``,
            ``root/calib``, ``root/oxts`` and ``root/label_02`` (``det_dir`` holds
            ``<Class>/NNNN.txt``).
        with_labels: read the labels (False: none, e.g. for tracking only).

    Attributes:
        name: the sequence number as the files name it (``"0000"``).
        frame_rate: 10 frames per second (camera and lidar).
    """

    frame_rate: float = 1e9 / FRAME_PERIOD_NS

    def __init__(self, root: str | Path, sequence: int, *, det_dir: str | Path | None = None,
                 calib_dir: str | Path | None = None, oxts_dir: str | Path | None = None,
                 label_dir: str | Path | None = None, with_labels: bool = True) -> None:
        self.root = Path(root)
        self.sequence = int(sequence)
        self.name = f"{self.sequence:04d}"
        name = f"{self.name}.txt"
        if not self.root.is_dir():
            raise SensorError(f"KITTI tracking root {self.root} is not a folder")
        det_root = Path(det_dir or self.root / "det_pointrcnn")
        self.calib_dir = Path(calib_dir or self.root / "calib")
        oxts_path = Path(oxts_dir or self.root / "oxts") / name
        self.oxts = read_oxts(oxts_path) if oxts_path.exists() else np.zeros((0, len(OXTS_FIELDS)))
        labels = Path(label_dir or self.root / "label_02") / name
        self.labels = read_labels(labels) if with_labels and labels.exists() else KittiBoxes.from_rows([])
        det_paths = [det_root / c / name for c in DET_CLASSES]
        self.detections = read_pointrcnn([p for p in det_paths if p.exists()])
        last = max([-1, *(int(b.frame[-1]) for b in (self.labels, self.detections) if len(b))])
        self.num_frames = len(self.oxts) if len(self.oxts) else last + 1
        if self.num_frames == 0:
            raise SensorError(f"{self.root}: no oxts, labels or detections for sequence {name[:4]}")
        for what, boxes in (("label_02", self.labels), ("det_pointrcnn", self.detections)):
            if len(boxes) and not 0 <= boxes.frame[0] <= boxes.frame[-1] < self.num_frames:
                raise SensorError(f"{self.root / what}/…/{name}: frames {boxes.frame[0]}..{boxes.frame[-1]} "
                                  f"outside the sequence's {self.num_frames} frames")
        self.poses = oxts_to_poses(self.oxts)
        frames = np.arange(self.num_frames + 1)
        self._label_idx = np.searchsorted(self.labels.frame, frames)
        self._det_idx = np.searchsorted(self.detections.frame, frames)
        ids, first = np.unique(self.labels.track_id, return_index=True)  # rows are sorted by frame
        self._first_frame = dict(zip(ids.tolist(), self.labels.frame[first].tolist(), strict=True))

    def __len__(self) -> int:
        return self.num_frames

    def _check(self, frame: int) -> int:
        if not 0 <= frame < self.num_frames:
            raise SensorError(f"sequence {self.sequence:04d}: frame {frame} outside 0..{self.num_frames - 1}")
        return int(frame)

    @staticmethod
    def stamp_ns(frame: int, start_ns: int = 0) -> int:
        """Capture time of ``frame``: ``start_ns + frame · 100 ms``."""
        return int(start_ns) + int(frame) * FRAME_PERIOD_NS

    def frame_labels(self, frame: int, include_dontcare: bool = False) -> KittiBoxes:
        """Ground-truth objects of ``frame`` (``DontCare`` regions only if asked)."""
        f = self._check(frame)
        boxes = self.labels.select(slice(self._label_idx[f], self._label_idx[f + 1]))
        return boxes if include_dontcare else boxes.select(boxes.class_id >= 0)

    def frame_detections(self, frame: int, min_score: float | None = None) -> KittiBoxes:
        """PointRCNN detections of ``frame``, those scoring below ``min_score`` dropped."""
        f = self._check(frame)
        boxes = self.detections.select(slice(self._det_idx[f], self._det_idx[f + 1]))
        return boxes if min_score is None else boxes.select(boxes.score >= min_score)

    def pose(self, frame: int) -> Transform:
        """``T_world_from_imu`` of ``frame`` (world = IMU of frame 0); needs the oxts file."""
        f = self._check(frame)
        if not len(self.poses):
            raise SensorError(f"{self.root / 'oxts'}: no oxts for sequence {self.sequence:04d}")
        return Transform.from_matrix(self.poses[f], tol=1e-6)

    def pose_message(self, frame: int, stamp_ns: int, seq: int) -> Pose:
        """:meth:`pose` of ``frame`` as a ``Pose`` message ``world`` <- ``imu``."""
        T = self.pose(frame)
        return Pose(stamp_ns=stamp_ns, frame_id="world", seq=seq, child_frame_id="imu",
                    translation=T.translation.copy(), rotation=T.as_quaternion())

    def calibration(self) -> KittiCalib:
        """The sequence's ``calib/NNNN.txt`` (:class:`calib.kitti.KittiCalib`; ``calib_dir`` if given)."""
        return load_kitti_calib(self.calib_dir / f"{self.sequence:04d}.txt")

    def frame_tree(self) -> FrameTree:
        """The calibration's static ``calib.transform.FrameTree``: ``lidar_top``, the rectified cameras
        ``camera_0`` (:data:`~calib.kitti.KITTI_CAMERA_FRAME`, the boxes' frame)..``camera_3``, ``imu``."""
        return self.calibration().rig(1242, 375).tree  # the image size does not affect the tree

    def world_from(self, frame_id: str, frame: int, tree: FrameTree | None = None) -> Transform:
        """``T_world_from_<frame_id>`` at ``frame``: the ego pose composed with the static calibration."""
        tree = self.frame_tree() if tree is None else tree
        return self.pose(frame) @ tree.lookup("imu", frame_id)

    def detections3d(self, frame: int, stamp_ns: int, seq: int, frame_id: str = KITTI_CAMERA_FRAME,
                     min_score: float | None = None) -> Detections3D:
        """PointRCNN detections of ``frame`` as a message (geometric centres, size l, w, h)."""
        d = self.frame_detections(frame, min_score)
        return Detections3D(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq, centre=d.centre, size=d.size_lwh,
                            yaw=d.rot_y, class_id=d.class_id, confidence=d.score, class_names=DET_CLASSES)

    def gt_tracks(self, frame: int, stamp_ns: int, seq: int, frame_id: str = KITTI_CAMERA_FRAME) -> Tracks:
        """Ground truth of ``frame`` as confirmed tracks; state ``x, y, z, l, w, h, yaw, truncated,
        occluded`` (geometric centre in ``frame_id``); ``age`` = frames since the track's first label."""
        g = self.frame_labels(frame)
        age = np.array([frame - self._first_frame[t] for t in g.track_id.tolist()], np.int32)
        state = np.column_stack([g.centre, g.size_lwh, g.rot_y, g.truncated, g.occluded]).astype(np.float32)
        n = len(g)
        return Tracks(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq, track_id=g.track_id, class_id=g.class_id,
                      confidence=np.ones(n, np.float32), state=state, age=age,
                      status=np.full(n, TrackStatus.CONFIRMED, np.uint8), sensors=np.zeros(n, np.uint32),
                      state_fields=("x", "y", "z", "l", "w", "h", "yaw", "truncated", "occluded"),
                      class_names=GT_CLASSES)

    def gt_boxes2d(self, frame: int, stamp_ns: int, seq: int, frame_id: str = "camera_2") -> Detections2D:
        """Ground-truth 2D boxes of ``frame`` (``image_02`` pixels) with their track ids."""
        g = self.frame_labels(frame)
        dets = Detections(xyxy=g.box2d, confidence=g.score, class_id=g.class_id, track_id=g.track_id)
        return Detections2D(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq, detections=dets,
                            class_names=GT_CLASSES)


@dataclass(frozen=True, kw_only=True)
class KittiTrackingSourceConfig(DatasetSourceConfig):
    """Options of :class:`KittiTrackingSource` (``rate``, 1.0 real time at 10 Hz, and ``start_ns``,
    the stamp of frame 0: see :class:`~sensors.playback.DatasetSourceConfig`).

    Attributes:
        root: KITTI tracking ``training`` folder (required; no default data path).
        sequence: sequence number.
        min_score: drop PointRCNN detections scoring below this (None: keep all).
        topic_detections, topic_tracks, topic_boxes2d: output topics; "" disables one.
        topic_pose: ego poses ``T_world_from_imu`` (``Pose``, ``frame_id`` ``world`` = the IMU
            frame of frame 0, ``child_frame_id`` ``imu``) from the oxts file; "" (the default)
            disables it (graphs that fuse set e.g. ``ego/pose``).
        frame_3d, frame_2d: frame ids of 3D boxes (rectified camera 0) and 2D boxes (image_02).
    """

    root: str
    sequence: int
    min_score: float | None = None
    topic_detections: str = "kitti/det_pointrcnn"
    topic_tracks: str = "gt/kitti/tracks"
    topic_boxes2d: str = "gt/kitti/boxes2d"
    topic_pose: str = ""
    frame_3d: str = KITTI_CAMERA_FRAME
    frame_2d: str = "camera_2"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sequence < 0:
            raise ValueError(f"sequence: expected >= 0, got {self.sequence}")


class KittiTrackingSource(DatasetSource):
    """Publishes a KITTI tracking sequence frame by frame, as a live sensor would.

    Per frame ``k``: PointRCNN :class:`Detections3D`, ground-truth :class:`Tracks` and
    ground-truth :class:`Detections2D` (with track ids) and the ego :class:`Pose` (when the
    sequence has oxts), all stamped ``t0 + k · 100 ms`` (data time, whatever the playback
    ``rate``) with ``seq = k``. After the last
    frame the source logs once and stays idle. A frame that fails to build is counted
    (:attr:`errors`), logged and skipped (its ``seq`` is left out).
    """

    Config = KittiTrackingSourceConfig
    dataset = "KITTI tracking"

    def open(self) -> KittiTrackingSequence:
        cfg: KittiTrackingSourceConfig = self.config
        return KittiTrackingSequence(cfg.root, cfg.sequence)

    def outputs(self, index: int, stamp_ns: int) -> list[Output]:
        cfg: KittiTrackingSourceConfig = self.config
        seq, k = self.sequence, index
        return [
            (cfg.topic_detections, lambda: seq.detections3d(k, stamp_ns, k, cfg.frame_3d, cfg.min_score)),
            (cfg.topic_tracks, lambda: seq.gt_tracks(k, stamp_ns, k, cfg.frame_3d)),
            (cfg.topic_boxes2d, lambda: seq.gt_boxes2d(k, stamp_ns, k, cfg.frame_2d)),
            (cfg.topic_pose if len(seq.poses) else "", lambda: seq.pose_message(k, stamp_ns, k)),
        ]
