"""KITTI object benchmark samples (``velodyne``, ``label_2``, ``calib``) and View-of-Delft frames.

Layout under ``root`` (the KITTI object ``training`` folder, or View-of-Delft's ``lidar/training``
or ``radar/training``; sample ids are file stems such as ``000002`` or ``00549``)::

    velodyne/ID.bin    points in the sensor frame (KITTI/VoD lidar: x, y, z, reflectance;
                       VoD radar: x, y, z, RCS, v_r, v_r_compensated, time)
    label_2/ID.txt     one object per line: type, truncated, occluded, alpha, 2D box (4), h, w, l,
                       x, y, z, rotation_y (15 columns; 16 with a score, as in View-of-Delft)
    label_2/ID.json    View-of-Delft raw annotations (same objects, same order) with attributes
    calib/ID.txt       calibration, read with :func:`calib.kitti.load_kitti_calib`
    image_2/ID.png|jpg the left colour camera image

Frames: labels are in the rectified camera frame ``rect`` (x right, y down, z forward, metres);
``x, y, z`` is the *bottom* centre of the box, ``rotation_y`` the yaw about +y (0 = heading along
camera x). The calibration's ``Tr_velo_to_cam`` maps the sensor (``velo``) frame to the camera:
for View-of-Delft's ``radar/training/calib`` that sensor is the radar. :func:`boxes_in_frame` moves
label boxes into a z-up sensor frame (x forward, y left, z up) as geometric centres.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calib.errors import CalibrationError
from calib.kitti import KittiCalib, load_kitti_calib
from calib.transform import Transform
from sensors.datasets.kitti_tracking import KittiBoxes, _floats, _label_rows
from sensors.errors import SensorError

__all__ = ["ObjectLabels", "ObjectSample", "boxes_in_frame", "list_samples", "load_object_sample",
           "read_object_labels", "read_vod_activity"]

DONTCARE = "DontCare"
_SIZE_TOL = 1e-4  # metres: the JSON and the text label of one View-of-Delft object carry the same size


@dataclass(frozen=True, eq=False)
class ObjectLabels:
    """The labelled objects of one sample.

    Attributes:
        boxes: the N objects (``frame`` 0, ``track_id`` -1, ``score`` 1 unless the file has one);
            ``class_id`` indexes ``class_names``, -1 for ``DontCare`` regions.
        class_names: the object types of the file in order of first appearance (``DontCare`` excluded).
    """

    boxes: KittiBoxes
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def types(self) -> tuple[str, ...]:
        """N type names, ``DontCare`` for regions."""
        return tuple(self.class_names[i] if i >= 0 else DONTCARE for i in self.boxes.class_id.tolist())

    def mask(self, *types: str) -> np.ndarray:
        """bool (N,): the rows whose type is one of ``types`` (case-sensitive, as in the file)."""
        ids = [self.class_names.index(t) for t in types if t in self.class_names]
        return np.isin(self.boxes.class_id, ids)


def read_object_labels(path: str | Path, include_dontcare: bool = False) -> ObjectLabels:
    """Parse a KITTI object (or View-of-Delft) ``label_2`` text file; ``SensorError`` names ``file:line``."""
    path = Path(path)
    rows: list[tuple[Any, ...]] = []
    names: list[str] = []
    for lineno, parts in _label_rows(path, 15):
        kind = parts[0]
        v = _floats(path, lineno, parts[1:], len(parts) - 1)
        if kind == DONTCARE:
            if not include_dontcare:
                continue
            cls_id = -1
        else:
            if kind not in names:
                names.append(kind)
            cls_id = names.index(kind)
        score = v[14] if len(v) == 15 else 1.0
        rows.append((0, cls_id, -1, score, *v[:14]))
    return ObjectLabels(boxes=KittiBoxes.from_rows(rows), class_names=tuple(names))


def boxes_in_frame(boxes: KittiBoxes, T_target_from_rect: Transform) -> tuple[np.ndarray, np.ndarray,
                                                                                np.ndarray]:
    """Label boxes in a z-up target frame: ``centre`` float64 (N, 3) geometric box centre,
    ``size`` float64 (N, 3) length, width, height, ``yaw`` float64 (N,) heading about +z (radians).

    The heading ``(cos ry, 0, -sin ry)`` of a rect-frame box is rotated into the target frame and
    projected onto its ground plane; the box is assumed upright there.
    """
    centre = T_target_from_rect.apply(boxes.centre.astype(np.float64).reshape(-1, 3))
    ry = boxes.rot_y.astype(np.float64)
    heading = np.stack([np.cos(ry), np.zeros_like(ry), -np.sin(ry)], axis=1) @ T_target_from_rect.rotation.T
    yaw = np.arctan2(heading[:, 1], heading[:, 0])
    return centre, boxes.size_lwh.astype(np.float64).reshape(-1, 3), yaw


def read_vod_activity(path: str | Path, labels: ObjectLabels) -> tuple[str, ...]:
    """The ``activity`` attribute (``moving``, ``stopped``, ``parked``, ...; ``""`` if unset) of
    every object of ``labels`` from the View-of-Delft annotation JSON ``path``.

    The JSON lists the same objects in the same order as the text labels; each pair is checked by
    its size (h, w, l within 0.1 mm), so a file of another frame raises ``SensorError``.
    """
    path = Path(path)
    try:
        objects = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SensorError(f"{path}: cannot read annotations: {exc}") from exc
    hwl = labels.boxes.hwl.astype(np.float64)
    if not isinstance(objects, list) or len(objects) != len(hwl):
        n = len(objects) if isinstance(objects, list) else type(objects).__name__
        raise SensorError(f"{path}: expected a list of {len(hwl)} objects (as the labels), got {n}")
    out = []
    for i, obj in enumerate(objects):
        try:
            size = obj["geometry"]["size"]
            got = np.array([size["height"], size["width"], size["length"]], np.float64)
            attrs = obj.get("attributes", {})
        except (KeyError, TypeError, AttributeError) as exc:
            raise SensorError(f"{path}: object {i}: missing geometry.size ({exc})") from None
        if not np.allclose(got, hwl[i], atol=_SIZE_TOL):
            raise SensorError(f"{path}: object {i}: size {got.tolist()} differs from label row {i} "
                              f"{hwl[i].tolist()} (not the same frame?)")
        out.append(str(attrs.get("activity", "")) if isinstance(attrs, dict) else "")
    return tuple(out)


@dataclass(frozen=True, eq=False)
class ObjectSample:
    """One labelled sample: labels, calibration and where its points and image are.

    Attributes:
        sample_id: file stem; root: the folder holding ``velodyne/``; labels: see :class:`ObjectLabels`;
        calib: the sample's calibration; label_path: the text label file read.
    """

    sample_id: str
    root: Path
    labels: ObjectLabels
    calib: KittiCalib
    label_path: Path

    @property
    def points_path(self) -> Path:
        """``velodyne/ID.bin`` of the sample."""
        return self.root / "velodyne" / f"{self.sample_id}.bin"

    def sensor_from_rect(self) -> Transform:
        """``T_sensor_from_rect``: the inverse of ``R0_rect @ Tr_velo_to_cam``."""
        return self.calib.velo_to_rect().inverse()

    def labels_in_sensor(self, include_dontcare: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(centre, size, yaw)`` of the labels in the sensor frame (see :func:`boxes_in_frame`)."""
        boxes = self.labels.boxes
        if not include_dontcare:
            boxes = boxes.select(boxes.class_id >= 0)
        return boxes_in_frame(boxes, self.sensor_from_rect())

    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` pixels of ``image_2/ID.png`` (or ``.jpg``)."""
        import cv2

        for suffix in (".png", ".jpg"):
            p = self.root / "image_2" / f"{self.sample_id}{suffix}"
            if p.exists():
                img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
                if img is None:
                    raise SensorError(f"{p}: cannot decode image")
                return int(img.shape[1]), int(img.shape[0])
        raise SensorError(f"{self.root / 'image_2'}: no image for sample {self.sample_id}")

    def in_image(self, points: np.ndarray, image_size: tuple[int, int], cam: int = 2) -> np.ndarray:
        """bool (N,): which sensor-frame (N, 3+) points project into camera ``cam``'s image (in front of it)
        of ``image_size`` ``(width, height)`` pixels."""
        uv, depth = self.calib.project_velo(points, cam)
        w, h = image_size
        with np.errstate(invalid="ignore"):
            return (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)


def list_samples(root: str | Path) -> list[str]:
    """Sorted ids of the samples under ``root`` that have a ``velodyne/ID.bin``."""
    d = Path(root) / "velodyne"
    if not d.is_dir():
        raise SensorError(f"{d}: not a folder (expected a KITTI object style 'training' root)")
    return sorted(p.stem for p in d.glob("*.bin"))


def load_object_sample(root: str | Path, sample_id: str,
                       label_root: str | Path | None = None) -> ObjectSample:
    """Labels and calibration of sample ``sample_id`` under ``root``.

    ``label_root``: where ``label_2/`` is when not under ``root`` (View-of-Delft's radar frames
    reuse the text labels of ``lidar/training``; the radar calibration stays the radar's own).
    """
    root = Path(root)
    label_path = Path(label_root if label_root is not None else root) / "label_2" / f"{sample_id}.txt"
    labels = read_object_labels(label_path)
    try:
        calib = load_kitti_calib(root / "calib" / f"{sample_id}.txt")
    except CalibrationError as exc:
        raise SensorError(str(exc)) from exc
    return ObjectSample(sample_id=sample_id, root=root, labels=labels, calib=calib, label_path=label_path)
