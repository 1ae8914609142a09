"""Cost matrices, gating and optimal assignment between tracks and detections.

All boxes are ``x1, y1, x2, y2`` image pixels: tracks (T, 4), detections (D, 4). Costs are
(T, D) float64 matrices where lower is better; a gated (infeasible) pair never matches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from fusion.errors import TrackingError
from percept.boxes import box_area, box_intersection, box_iou

#: An appearance hook: ``(track_boxes (T, 4), det_boxes (D, 4)) -> cost (T, D)`` in [0, 1].
AppearanceCost = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _pairwise(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None, :, :]
    return a, b


def giou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, D) generalised IoU in [-1, 1]: ``IoU - (hull - union) / hull`` (0 penalty for an empty hull)."""
    a3, b3 = _pairwise(a, b)
    cw = np.maximum(a3[..., 2], b3[..., 2]) - np.minimum(a3[..., 0], b3[..., 0])
    ch = np.maximum(a3[..., 3], b3[..., 3]) - np.minimum(a3[..., 1], b3[..., 1])
    hull = np.clip(cw, 0, None) * np.clip(ch, 0, None)
    union = box_area(a)[:, None] + box_area(b)[None, :] - box_intersection(a, b)
    penalty = np.zeros_like(hull)
    np.divide(hull - union, hull, out=penalty, where=hull > 0)
    return box_iou(a, b) - penalty


def iou_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, D) ``1 - IoU`` in [0, 1] (:func:`percept.boxes.box_iou`)."""
    return 1.0 - box_iou(a, b)


def giou_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, D) ``(1 - GIoU) / 2`` in [0, 1]."""
    return (1.0 - giou(a, b)) / 2.0


def centre_distance_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, D) centre distance divided by the mean box diagonal of the pair (unitless, >= 0)."""
    a3, b3 = _pairwise(a, b)
    ca = (a3[..., :2] + a3[..., 2:]) / 2
    cb = (b3[..., :2] + b3[..., 2:]) / 2
    diag_a = np.hypot(a3[..., 2] - a3[..., 0], a3[..., 3] - a3[..., 1])
    diag_b = np.hypot(b3[..., 2] - b3[..., 0], b3[..., 3] - b3[..., 1])
    scale = np.maximum((diag_a + diag_b) / 2, 1e-9)
    return np.linalg.norm(ca - cb, axis=-1) / scale


COSTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "iou": iou_cost, "giou": giou_cost, "centre": centre_distance_cost,
}


def cost_matrix(kind: str, tracks: np.ndarray, dets: np.ndarray,
                appearance: AppearanceCost | None = None, appearance_weight: float = 0.5) -> np.ndarray:
    """(T, D) geometric cost of ``kind`` ('iou', 'giou', 'centre'), blended with an optional
    appearance cost as ``(1 - w) * geometric + w * appearance``."""
    if kind not in COSTS:
        raise TrackingError(f"cost kind: expected one of {sorted(COSTS)}, got {kind!r}")
    cost = COSTS[kind](tracks, dets)
    if appearance is not None and cost.size:
        app = np.asarray(appearance(tracks, dets), np.float64)
        if app.shape != cost.shape:
            raise TrackingError(f"appearance cost: expected shape {cost.shape}, got {app.shape}")
        cost = (1 - appearance_weight) * cost + appearance_weight * app
    return cost


@dataclass(frozen=True)
class Assignment:
    """Result of :func:`assign`: matched (K, 2) ``[row, col]`` pairs, unmatched rows and columns."""

    matches: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray

    @classmethod
    def of(cls, matches: np.ndarray, n_rows: int, n_cols: int) -> Assignment:
        """The assignment of (K, 2) int64 ``matches`` in a (n_rows, n_cols) cost matrix; the
        unmatched rows and columns are the rest, ascending."""
        return cls(matches, np.setdiff1d(np.arange(n_rows), matches[:, 0]),
                   np.setdiff1d(np.arange(n_cols), matches[:, 1]))


def _cost_matrix(caller: str, cost: np.ndarray) -> np.ndarray:
    """``cost`` as a float64 (T, D) matrix; :class:`TrackingError` (naming ``caller``) when it is
    not 2-D or contains NaN."""
    cost = np.asarray(cost, np.float64)
    if cost.ndim != 2:
        raise TrackingError(f"{caller}: cost must be a (T, D) matrix, got shape {cost.shape}")
    if np.isnan(cost).any():
        raise TrackingError(f"{caller}: cost matrix {cost.shape} contains NaN")
    return cost


def assign(cost: np.ndarray, threshold: float, infeasible: np.ndarray | None = None) -> Assignment:
    """Minimum-cost one-to-one assignment; pairs with ``cost > threshold`` (or marked in the
    boolean (T, D) ``infeasible`` mask) are gated out.

    Raises:
        TrackingError: the cost matrix is not 2-D or contains NaN.
    """
    cost = _cost_matrix("assign", cost)
    n_rows, n_cols = cost.shape
    gated = cost > threshold
    if infeasible is not None:
        gated = gated | infeasible
    if n_rows == 0 or n_cols == 0 or gated.all():
        return Assignment(np.zeros((0, 2), np.int64), np.arange(n_rows), np.arange(n_cols))
    big = threshold + 1e6
    rows, cols = linear_sum_assignment(np.where(gated, big, cost))
    keep = ~gated[rows, cols]
    matches = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
    return Assignment.of(matches, n_rows, n_cols)


def assign_greedy(cost: np.ndarray, threshold: float, infeasible: np.ndarray | None = None) -> Assignment:
    """Greedy one-to-one assignment: repeatedly take the cheapest remaining pair with
    ``cost <= threshold`` (and not ``infeasible``) -- AB3DMOT's pedestrian matcher. Same result
    type and errors as :func:`assign`."""
    cost = _cost_matrix("assign_greedy", cost)
    n_rows, n_cols = cost.shape
    ok = cost <= threshold
    if infeasible is not None:
        ok &= ~infeasible
    rows, cols = np.nonzero(ok)
    order = np.argsort(cost[rows, cols], kind="stable")
    used_r, used_c = np.zeros(n_rows, bool), np.zeros(n_cols, bool)
    pairs = []
    for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if not used_r[r] and not used_c[c]:
            used_r[r] = used_c[c] = True
            pairs.append((r, c))
    return Assignment.of(np.array(pairs, np.int64).reshape(-1, 2), n_rows, n_cols)
