"""Greedy non-maximum suppression (numpy), class-aware by default.

Overlap is :func:`percept.boxes.box_iou` (float64, xyxy; re-exported here as ``box_iou``).
"""

from __future__ import annotations

import numpy as np

from percept.boxes import box_iou
from perception.errors import DetectorError

__all__ = ["box_iou", "nms"]


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
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[box_iou(boxes[i], boxes[rest])[0] <= iou_thr]
    return np.asarray(keep, np.int64)
