"""Greedy non-maximum suppression (numpy), class-aware by default."""

from __future__ import annotations

import numpy as np

from perception.errors import DetectorError


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4); 0 where the union is empty."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou.astype(np.float32)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_thr: float,
    max_det: int = 300,
    class_agnostic: bool = False,
) -> np.ndarray:
    """Indices (int64 (K,), K <= ``max_det``) of the boxes kept, by descending score.

    Greedy: the best remaining box is kept and every remaining box of the same class (any class
    if ``class_agnostic``) overlapping it with IoU > ``iou_thr`` is dropped. Equal scores keep
    input order. ``boxes`` float (N, 4) xyxy, ``scores`` (N,), ``class_ids`` (N,).
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)  # float64: exact after the class shift
    scores = np.asarray(scores, np.float32).reshape(-1)
    class_ids = np.asarray(class_ids).reshape(-1)
    n = len(boxes)
    if len(scores) != n or len(class_ids) != n:
        raise DetectorError(
            f"nms: expected {n} scores and class ids (rows of boxes), got {len(scores)} and {len(class_ids)}"
        )
    if n == 0 or max_det <= 0:
        return np.zeros(0, np.int64)
    if not class_agnostic:
        # Shift each class into its own coordinate range so boxes of different classes never overlap.
        span = float(np.abs(boxes).max()) * 2.0 + 1.0
        boxes = boxes + (class_ids.astype(np.float64) * span)[:, None]
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, inter / union, 0.0)
        order = rest[iou <= iou_thr]
    return np.asarray(keep, np.int64)
