"""Decoders of raw detector head outputs into candidate boxes (before NMS), one per family.

Every decoder takes the backend outputs of one batch (batch first; a missing batch axis means
B = 1) and the model's :class:`~perception.family.ModelInfo`, and returns per image a tuple
``(boxes, scores, class_ids)``: float32 (N, 4) ``x1, y1, x2, y2`` in model-input pixels, float32
(N,) scores, int32 (N,) class ids. Candidates with score < ``conf`` are dropped.

``multi_label``: one anchor may yield a candidate for every class scoring >= ``conf`` (True; the
YOLOX class-aware demo and NanoDet's mmdet-style NMS do this) or only for its best class (False;
ultralytics / YOLOv5 default). ``None`` takes the family's default.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from perception.errors import DetectorError
from perception.family import STRIDES, ModelInfo

Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]

_MULTI_LABEL = {"yolov8": False, "yolov5": False, "yolox": True, "nanodet": True}


def _batched(a: np.ndarray, ndim: int, name: str) -> np.ndarray:
    """``a`` with a leading batch axis (added if it has ``ndim - 1`` dims)."""
    a = np.asarray(a)
    if a.ndim == ndim - 1:
        a = a[None]
    if a.ndim != ndim:
        raise DetectorError(f"{name}: expected a {ndim}-D output (batch first), got shape {a.shape}")
    return a


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    """float32 (..., 4) centre/size boxes → (..., 4) corner boxes."""
    half = b[..., 2:4] * 0.5
    return np.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1).astype(np.float32, copy=False)


def select(boxes: np.ndarray, scores: np.ndarray, conf: float, multi_label: bool) -> Decoded:
    """Candidates of one image from boxes (N, 4) xyxy and per-class scores (N, C)."""
    if multi_label:
        rows, cls = np.nonzero(scores >= conf)
        s = scores[rows, cls]
    else:
        cls = scores.argmax(axis=1) if scores.shape[1] else np.zeros(len(scores), np.int64)
        s = scores[np.arange(len(scores)), cls] if scores.shape[1] else np.zeros(len(scores), np.float32)
        rows = np.nonzero(s >= conf)[0]
        cls, s = cls[rows], s[rows]
    return (
        np.ascontiguousarray(boxes[rows], dtype=np.float32).reshape(-1, 4),
        s.astype(np.float32, copy=False),
        cls.astype(np.int32, copy=False),
    )


def _check_classes(got: int, info: ModelInfo, name: str) -> None:
    if got != info.num_classes:
        raise DetectorError(f"{name}: output has {got} classes, model info names {info.num_classes}")


def decode_yolov8(
    outputs: list[np.ndarray], info: ModelInfo, conf: float = 0.0, multi_label: bool | None = None
) -> list[Decoded]:
    """ultralytics YOLOv8/YOLO11: output (B, 4+C, N) of cx, cy, w, h (input pixels), C class scores."""
    out = _batched(outputs[0], 3, "yolov8")
    _check_classes(out.shape[1] - 4, info, "yolov8")
    ml = _MULTI_LABEL["yolov8"] if multi_label is None else multi_label
    result = []
    for pred in out:
        p = pred.T  # (N, 4+C)
        result.append(select(cxcywh_to_xyxy(p[:, :4]), p[:, 4:], conf, ml))
    return result


def decode_yolov5(
    outputs: list[np.ndarray], info: ModelInfo, conf: float = 0.0, multi_label: bool | None = None
) -> list[Decoded]:
    """YOLOv5: output (B, N, 5+C) of cx, cy, w, h (input pixels), objectness, C class scores;
    score = objectness x class score."""
    out = _batched(outputs[0], 3, "yolov5")
    _check_classes(out.shape[2] - 5, info, "yolov5")
    ml = _MULTI_LABEL["yolov5"] if multi_label is None else multi_label
    result = []
    for p in out:
        keep = p[:, 4] >= conf  # obj x cls <= obj, so this drops nothing that could pass
        p = p[keep]
        result.append(select(cxcywh_to_xyxy(p[:, :4]), p[:, 5:] * p[:, 4:5], conf, ml))
    return result


@lru_cache(maxsize=16)
def yolox_grid(h: int, w: int, strides: tuple[int, ...] = STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Anchor points of the YOLOX head for an (h, w) input: grid (N, 2) x, y cells and stride (N, 1),
    per stride in row-major order (52²+26²+13² = 3549 points for 416x416)."""
    grids, expanded = [], []
    for s in strides:
        gh, gw = h // s, w // s
        yv, xv = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        grids.append(np.stack([xv, yv], axis=-1).reshape(-1, 2))
        expanded.append(np.full((gh * gw, 1), s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(expanded).astype(np.float32)
    grid.flags.writeable = False
    stride.flags.writeable = False
    return grid, stride


def decode_yolox(
    outputs: list[np.ndarray], info: ModelInfo, conf: float = 0.0, multi_label: bool | None = None
) -> list[Decoded]:
    """YOLOX raw head: output (B, N, 5+C) per anchor point of (dx, dy, log w, log h) in grid units,
    objectness and C class scores (sigmoided); centre = (cell + d) · stride, size = exp(·) · stride.
    Score = objectness x class score."""
    out = _batched(outputs[0], 3, "yolox")
    _check_classes(out.shape[2] - 5, info, "yolox")
    grid, stride = yolox_grid(*info.input_size)
    if out.shape[1] != len(grid):
        raise DetectorError(
            f"yolox: expected {len(grid)} anchor points for input {info.input_size}, got {out.shape[1]}"
        )
    ml = _MULTI_LABEL["yolox"] if multi_label is None else multi_label
    result = []
    for p in out:
        keep = np.nonzero(p[:, 4] >= conf)[0]
        p = p[keep]
        st = stride[keep]
        cxcy = (p[:, :2] + grid[keep]) * st
        wh = np.exp(p[:, 2:4]) * st
        boxes = cxcywh_to_xyxy(np.concatenate([cxcy, wh], axis=1))
        result.append(select(boxes, p[:, 5:] * p[:, 4:5], conf, ml))
    return result


@lru_cache(maxsize=16)
def nanodet_centers(h: int, w: int, stride: int) -> np.ndarray:
    """float32 (N, 2) anchor-point centres ((col + 0.5)·s, (row + 0.5)·s) of one NanoDet level."""
    gh, gw = -(-h // stride), -(-w // stride)
    yv, xv = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    c = ((np.stack([xv, yv], axis=-1).reshape(-1, 2) + 0.5) * stride).astype(np.float32)
    c.flags.writeable = False
    return c


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _nanodet_levels(outputs: list[np.ndarray], info: ModelInfo) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(stride, cls (B, N, C), box (B, N, 4·bins)) per level, matched by shape (names are unreliable)."""
    h, w = info.input_size
    c = info.num_classes
    by_rows = {(-(-h // s)) * (-(-w // s)): s for s in STRIDES}
    cls: dict[int, np.ndarray] = {}
    box: dict[int, np.ndarray] = {}
    for o in outputs:
        a = _batched(o, 3, "nanodet")
        s = by_rows.get(a.shape[1])
        if s is None:
            raise DetectorError(
                f"nanodet: output of shape {a.shape} matches no stride {STRIDES} of input {info.input_size}"
            )
        target = cls if a.shape[2] == c else box
        if s in target:
            raise DetectorError(f"nanodet: two outputs of shape {a.shape} for stride {s} (classes {c})")
        target[s] = a
    levels = []
    for s in sorted(cls):
        if s not in box or box[s].shape[2] % 4:
            raise DetectorError(f"nanodet: stride {s} has a class tensor but no (N, 4·bins) box tensor")
        levels.append((s, cls[s], box[s]))
    if not levels:
        shapes = [np.shape(o) for o in outputs]
        raise DetectorError(f"nanodet: no class tensor with {c} columns among shapes {shapes}")
    return levels


def decode_nanodet(
    outputs: list[np.ndarray], info: ModelInfo, conf: float = 0.0, multi_label: bool | None = None
) -> list[Decoded]:
    """NanoDet GFL head: per stride a class tensor (B, N, C) (sigmoided) and a box tensor
    (B, N, 4·bins); box side distance = Σ softmax(bins)·k · stride, for left, top, right, bottom
    from the anchor-point centre; boxes clipped to the input."""
    h, w = info.input_size
    ml = _MULTI_LABEL["nanodet"] if multi_label is None else multi_label
    levels = _nanodet_levels(outputs, info)
    batch = levels[0][1].shape[0]
    result = []
    for b in range(batch):
        all_boxes, all_scores = [], []
        for s, cls, box in levels:
            scores = cls[b]
            keep = np.nonzero(scores.max(axis=1) >= conf)[0]
            reg = box[b][keep]
            bins = reg.shape[1] // 4
            prob = _softmax(reg.reshape(-1, 4, bins))
            dist = prob @ np.arange(bins, dtype=np.float32) * s  # (n, 4) l, t, r, b
            ctr = nanodet_centers(h, w, s)[keep]
            xyxy = np.concatenate([ctr - dist[:, :2], ctr + dist[:, 2:]], axis=1)
            all_boxes.append(xyxy)
            all_scores.append(scores[keep])
        boxes = np.concatenate(all_boxes).astype(np.float32)
        np.clip(boxes[:, 0::2], 0, w, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, h, out=boxes[:, 1::2])
        result.append(select(boxes, np.concatenate(all_scores), conf, ml))
    return result


DECODERS = {
    "yolov8": decode_yolov8,
    "yolov5": decode_yolov5,
    "yolox": decode_yolox,
    "nanodet": decode_nanodet,
}


def decode(
    outputs: list[np.ndarray], info: ModelInfo, conf: float = 0.0, multi_label: bool | None = None
) -> list[Decoded]:
    """Decode with the decoder of ``info.family``; see the module docstring."""
    if not outputs:
        raise DetectorError(f"{info.family}: backend returned no outputs")
    return DECODERS[info.family](outputs, info, conf, multi_label)
