"""Axis-aligned image boxes: the one box IoU of the project.

Boxes are ``x1, y1, x2, y2`` rows in pixels (any consistent unit). An inverted box (x2 < x1 or
y2 < y1) has zero area, as does a degenerate one; the IoU of a pair whose union is empty is 0.
Computed in float64 so that matching decisions do not depend on the input dtype.
"""

from __future__ import annotations

import numpy as np


def _as_boxes(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(-1, 4)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """float64 (N,) areas of ``boxes`` (N, 4) xyxy; 0 for inverted or zero-size boxes."""
    b = _as_boxes(boxes)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64 (N, M) intersection areas of ``a`` (N, 4) and ``b`` (M, 4), xyxy."""
    a, b = _as_boxes(a), _as_boxes(b)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64 (N, M) intersection over union of ``a`` (N, 4) and ``b`` (M, 4), xyxy, in [0, 1].

    Inverted and zero-area boxes count as empty; a pair with an empty union has IoU 0. Empty
    inputs give an (N, 0) or (0, M) matrix.
    """
    inter = box_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """float64 (N, 4) ``x1, y1, x2, y2`` from top-left, width, height rows (MOTChallenge)."""
    b = _as_boxes(boxes).copy()
    b[:, 2:] += b[:, :2]
    return b


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """float64 (N, 4) top-left, width, height rows from ``x1, y1, x2, y2``."""
    b = _as_boxes(boxes).copy()
    b[:, 2:] -= b[:, :2]
    return b
