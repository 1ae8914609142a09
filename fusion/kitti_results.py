"""KITTI tracking result files: tracker output in the layout the KITTI 3D MOT evaluation reads.

A result folder ``OUT`` holds one file per class and sequence, ``OUT/<Class>/<seq>.txt`` (``seq``
four digits, e.g. ``OUT/Car/0001.txt``), one tracked object per line, space separated::

    frame id type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry score

``frame`` 0-based; ``id`` the track id; ``type`` a KITTI class name; ``truncated occluded`` 0 for
tracker output; ``alpha`` the observation angle (``ry - atan2(x, z)``, radians); ``x1 y1 x2 y2`` the
2D box in image pixels of the left colour camera (``image_02``); ``h w l`` metres; ``x y z`` the
*bottom* centre of the box in the rectified camera frame (``camera_0_rect``: x right, y down, z
forward, metres); ``ry`` the rotation about the camera y axis (radians); ``score`` higher is better
(the evaluation averages it over each track). Ground-truth label files use the same columns
without the score. Rows are :class:`sensors.datasets.kitti_tracking.KittiBoxes` here (float64;
class ids index :data:`~sensors.datasets.kitti_tracking.GT_CLASSES`, -1 for ``DontCare``).

The 2D box of a tracked 3D box is its projection: the 8 corners (the part in front of the camera,
clipped at :data:`NEAR_M`) projected with the sequence calibration's camera ``P2`` and the box
clipped to the image, ``[0, W-1] x [0, H-1]`` as KITTI's labels. KITTI calibration files carry no
image size: :func:`sequence_image_size` reads it from the sequence's images when there are any,
else KITTI's usual 1242 x 375.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from pathlib import Path

import cv2
import numpy as np

from calib.kitti import KittiCalib, box3d_corners
from fusion.errors import TrackingError
from fusion.geometry3d import wrap_angle
from percept.imagefiles import list_images
from percept.messages import Tracks
from sensors.datasets.kitti_tracking import GT_CLASSES, KittiBoxes, read_labels

#: Image size (width, height) of most KITTI tracking sequences, pixels.
KITTI_IMAGE_SIZE = (1242, 375)
#: Near plane of the 2D projection, metres in front of the camera.
NEAR_M = 0.1
#: Frames in which tracks may be written (KITTI's rectified camera-0 frame).
RECT_FRAMES = ("camera_0_rect", "camera_0")
#: Score of an evaluated result row without a score column (the KITTI devkit's value).
NO_SCORE = -1.0
#: Resolution of :func:`track_mean_scores` (1/64: exact in binary and in six decimals).
SCORE_STEP = 1.0 / 64
_TRACK_SPAN = np.int64(2**40)
_EDGES = np.array([(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
                   (0, 4), (1, 5), (2, 6), (3, 7)])  # of calib.kitti.box3d_corners
_BOX_COLUMNS = (("x",), ("y",), ("z",), ("length", "l"), ("width", "w"), ("height", "h"), ("yaw",))


def concat_boxes(parts: Iterable[KittiBoxes]) -> KittiBoxes:
    """The rows of ``parts`` one after the other (no re-sorting), float64."""
    parts = list(parts)
    if not parts:
        return KittiBoxes.from_rows([], np.float64)
    return KittiBoxes(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                         for f in fields(KittiBoxes)})


def project_boxes(calib: KittiCalib, hwl: np.ndarray, bottom: np.ndarray, rot_y: np.ndarray,
                  image_size: tuple[int, int] = KITTI_IMAGE_SIZE, cam: int = 2
                  ) -> tuple[np.ndarray, np.ndarray]:
    """2D boxes of N KITTI 3D boxes in camera ``cam``'s image.

    Args:
        calib: the sequence calibration; hwl: (N, 3) height, width, length, metres;
        bottom: (N, 3) bottom centres in the rect frame, metres; rot_y: (N,) radians;
        image_size: (width, height) pixels.

    Returns:
        float64 (N, 4) ``x1 y1 x2 y2`` clipped to ``[0, W-1] x [0, H-1]`` and bool (N,) visible:
        some part lies in front of the camera and the clipped box has a positive area (rows that
        are not visible hold the clipped box, possibly degenerate, or zeros when behind).
    """
    n = len(hwl)
    width, height = image_size
    camera = calib.camera(cam, int(width), int(height))
    to_cam = calib.rect_to_camera(cam)
    corners = np.array([box3d_corners(*b[:3], *p, r) for b, p, r in zip(hwl, bottom, rot_y, strict=True)])
    corners = to_cam.apply(corners.reshape(-1, 3)).reshape(n, 8, 3)
    p0, p1 = corners[:, _EDGES[:, 0]], corners[:, _EDGES[:, 1]]  # (N, 12, 3)
    z0, z1 = p0[..., 2], p1[..., 2]
    crossing = (z0 > NEAR_M) != (z1 > NEAR_M)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(crossing, (NEAR_M - z0) / (z1 - z0), 0.0)
    cut = p0 + t[..., None] * (p1 - p0)
    cut[..., 2] = np.where(crossing, NEAR_M, cut[..., 2])
    points = np.concatenate([corners, cut], axis=1)  # (N, 20, 3)
    usable = np.concatenate([corners[..., 2] > NEAR_M, crossing], axis=1)
    uv = camera.project(points.reshape(-1, 3)).reshape(n, 20, 2)
    uv = np.where(usable[..., None], uv, np.nan)
    box = np.zeros((n, 4))
    front = usable.any(axis=1)
    if front.any():
        lo, hi = np.nanmin(uv[front], axis=1), np.nanmax(uv[front], axis=1)
        box[front] = np.concatenate([lo, hi], axis=1)
    box[:, [0, 2]] = box[:, [0, 2]].clip(0, width - 1)
    box[:, [1, 3]] = box[:, [1, 3]].clip(0, height - 1)
    visible = front & (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
    return box, visible


def _box_columns(tracks: Tracks) -> list[int]:
    names = tuple(tracks.state_fields)
    cols = [next((names.index(a) for a in aliases if a in names), None) for aliases in _BOX_COLUMNS]
    missing = ["/".join(a) for a, c in zip(_BOX_COLUMNS, cols, strict=True) if c is None]
    if missing:
        raise TrackingError(f"Tracks ({tracks.frame_id}, seq {tracks.seq}): state_fields {names} "
                            f"lack {missing}")
    return [c for c in cols if c is not None]


def _class_ids(names: Sequence[str], class_id: np.ndarray, what: str) -> np.ndarray:
    out = np.empty(len(class_id), np.int32)
    for i, c in enumerate(class_id.tolist()):
        name = names[c] if 0 <= c < len(names) else None
        if name not in GT_CLASSES:
            raise TrackingError(f"{what}: class id {c} ({name}) is not a KITTI class; names {tuple(names)}")
        out[i] = GT_CLASSES.index(name)
    return out


def tracks_to_results(tracks: Tracks, frame: int, calib: KittiCalib,
                      image_size: tuple[int, int] = KITTI_IMAGE_SIZE, cam: int = 2,
                      keep_outside: bool = False) -> KittiBoxes:
    """One frame of 3D tracks as KITTI result rows (float64 :class:`KittiBoxes`, score = track confidence).

    ``tracks`` must be in the rectified camera-0 frame (:data:`RECT_FRAMES`) with state columns
    ``x, y, z`` (geometric centre), ``length/l, width/w, height/h`` and ``yaw`` (KITTI ``ry``) and
    class names that are KITTI classes. Tracks whose box projects outside camera ``cam``'s image
    (or lies behind it) are dropped unless ``keep_outside``: KITTI labels only what the image shows.
    """
    if tracks.frame_id not in RECT_FRAMES:
        raise TrackingError(f"Tracks in frame {tracks.frame_id!r}: KITTI results need one of {RECT_FRAMES}")
    state = np.asarray(tracks.state, np.float64)[:, _box_columns(tracks)]
    n = len(state)
    hwl = state[:, [5, 4, 3]]
    bottom = state[:, :3].copy()
    bottom[:, 1] += hwl[:, 0] / 2  # y points down: the bottom face is below the centre
    rot_y = state[:, 6]
    box2d, visible = project_boxes(calib, hwl, bottom, rot_y, image_size, cam)
    cls = _class_ids(tracks.class_names, np.asarray(tracks.class_id), f"Tracks seq {tracks.seq}")
    alpha = wrap_angle(rot_y - np.arctan2(bottom[:, 0], bottom[:, 2]))
    ids = np.asarray(tracks.track_id, np.int64)
    out = KittiBoxes(frame=np.full(n, frame, np.int64), class_id=cls, track_id=ids,
                     score=np.asarray(tracks.confidence, np.float64), truncated=np.zeros(n),
                     occluded=np.zeros(n, np.int32), alpha=alpha, box2d=box2d, hwl=hwl, bottom=bottom,
                     rot_y=rot_y)
    return out if keep_outside else out.select(visible)


def track_mean_scores(boxes: KittiBoxes, step: float = SCORE_STEP) -> KittiBoxes:
    """``boxes`` with every row's score replaced by its track's mean score (per class and track id),
    rounded to a multiple of ``step``.

    The KITTI evaluation ranks a track by this mean anyway; written on every row as a short binary
    fraction (``step`` a power of two, exact in the files' six decimals) it stays the same number
    however often an evaluation re-averages it (AB3DMOT's ``evaluate.py`` does, 41 times, and a mean
    that drifts below its own threshold drops the track from that recall step).
    """
    score = np.asarray(boxes.score, np.float64).copy()
    if len(score):
        key = boxes.class_id.astype(np.int64) * _TRACK_SPAN + boxes.track_id.astype(np.int64)
        _, inv = np.unique(key, return_inverse=True)
        mean = np.bincount(inv, weights=score) / np.bincount(inv)
        score = np.round(mean[inv] / step) * step
    return replace(boxes, score=score)


def format_rows(boxes: KittiBoxes, with_score: bool = True) -> list[str]:
    """Text lines of ``boxes`` in the result (or, without score, label) format; DontCare rows included."""
    names = [GT_CLASSES[c] if c >= 0 else "DontCare" for c in boxes.class_id.tolist()]
    nums = np.column_stack([boxes.alpha, boxes.box2d, boxes.hwl, boxes.bottom, boxes.rot_y]
                           + ([boxes.score] if with_score else [])).astype(np.float64)
    head = zip(boxes.frame.tolist(), boxes.track_id.tolist(), names, boxes.truncated.tolist(),
               boxes.occluded.tolist(), strict=True)
    return [f"{f} {t} {name} {tr:g} {oc} " + " ".join(f"{v:.6f}" for v in row)
            for (f, t, name, tr, oc), row in zip(head, nums, strict=True)]


def write_results(out_dir: str | Path, seq: str, boxes: KittiBoxes, classes: Sequence[str]) -> list[Path]:
    """Write ``OUT/<Class>/<seq>.txt`` for every class in ``classes`` (an empty file when it has no rows;
    rows sorted by frame, stable). Returns the paths."""
    order = np.argsort(boxes.frame, kind="stable")
    boxes = boxes.select(order)
    paths = []
    for cls in classes:
        if cls not in GT_CLASSES:
            raise TrackingError(f"write_results: {cls!r} is not a KITTI class {GT_CLASSES}")
        path = Path(out_dir) / cls / f"{seq}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = format_rows(boxes.select(boxes.class_id == GT_CLASSES.index(cls)))
        path.write_text("".join(line + "\n" for line in lines))
        paths.append(path)
    return paths


def labels_as_results(labels: KittiBoxes) -> KittiBoxes:
    """Ground-truth labels as tracker output of score 1 (DontCare regions dropped; boxes as labelled)."""
    out = labels.select(labels.class_id >= 0)
    return KittiBoxes(**{**{f.name: getattr(out, f.name) for f in fields(KittiBoxes)},
                         "score": np.ones(len(out))})


def find_result_file(res_dir: str | Path, cls: str, seq: str) -> Path | None:
    """``RES/<Class>/<seq>.txt`` (also a lower-case class folder) when that folder exists, else
    ``RES/<seq>.txt`` holding all classes; None when the file is missing (no output)."""
    root = Path(res_dir)
    for folder in (root / cls, root / cls.lower()):
        if folder.is_dir():
            path = folder / f"{seq}.txt"
            return path if path.is_file() else None
    path = root / f"{seq}.txt"
    return path if path.is_file() else None


def read_results(path: str | Path) -> KittiBoxes:
    """A result file (18 columns; 17 columns get score :data:`NO_SCORE`) as float64 rows."""
    return read_labels(Path(path), np.float64, NO_SCORE)


def read_ground_truth(gt: str | Path, seq: str) -> KittiBoxes:
    """Labels ``<seq>.txt`` (float64, DontCare included) in ``gt``: a KITTI tracking root (with
    ``label_02/``) or the label folder itself."""
    root = Path(gt)
    if not root.is_dir():
        raise TrackingError(f"ground truth {root}: not a folder")
    path = (root / "label_02" if (root / "label_02").is_dir() else root) / f"{seq}.txt"
    if not path.is_file():
        raise TrackingError(f"ground truth {path}: no such file")
    return read_labels(path, np.float64)


def sequence_image_size(root: str | Path, seq: str) -> tuple[int, int]:
    """(width, height) of sequence ``seq``'s first ``image_02`` (or ``image_02_sparse``) image under a
    KITTI tracking root; :data:`KITTI_IMAGE_SIZE` when it has none."""
    for sub in ("image_02", "image_02_sparse"):
        folder = Path(root) / sub / seq
        images = list_images(folder) if folder.is_dir() else []
        if images:
            img = cv2.imread(str(images[0]), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise TrackingError(f"{images[0]}: not a readable image")
            return int(img.shape[1]), int(img.shape[0])
    return KITTI_IMAGE_SIZE
