"""Cost matrices, gating and assignment edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.association import assign, centre_distance_cost, cost_matrix, giou, iou_cost
from fusion.errors import TrackingError
from percept.boxes import box_iou

A = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
B = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [100.0, 100.0, 110.0, 110.0]])


def test_iou_giou_centre_values() -> None:
    m = box_iou(A, B)
    assert m.shape == (2, 3)
    assert m[0, 0] == pytest.approx(50 / 150)
    assert m[1, 1] == pytest.approx(1.0)
    assert m[0, 2] == 0.0
    g = giou(A, B)
    assert g[1, 1] == pytest.approx(1.0)
    assert g[0, 0] == pytest.approx(50 / 150)  # hull == union here
    assert g[0, 2] < 0
    c = centre_distance_cost(A, B)
    assert c[1, 1] == 0.0
    assert c[0, 0] == pytest.approx(5 / np.hypot(10, 10))


def test_empty_inputs() -> None:
    assert iou_cost(np.zeros((0, 4)), B).shape == (0, 3)
    r = assign(np.zeros((0, 3)), 0.5)
    assert r.matches.shape == (0, 2)
    np.testing.assert_array_equal(r.unmatched_cols, [0, 1, 2])
    r = assign(np.zeros((2, 0)), 0.5)
    np.testing.assert_array_equal(r.unmatched_rows, [0, 1])


def test_assignment_optimal_and_gated() -> None:
    r = assign(iou_cost(A, B), 0.8)
    assert sorted(map(tuple, r.matches)) == [(0, 0), (1, 1)]
    np.testing.assert_array_equal(r.unmatched_cols, [2])
    r = assign(iou_cost(A, B), 0.5)  # (0, 0) has cost 0.667 -> gated
    assert list(map(tuple, r.matches)) == [(1, 1)]
    np.testing.assert_array_equal(r.unmatched_rows, [0])


def test_all_gated() -> None:
    r = assign(np.full((2, 2), 0.9), 0.5)
    assert len(r.matches) == 0
    np.testing.assert_array_equal(r.unmatched_rows, [0, 1])
    np.testing.assert_array_equal(r.unmatched_cols, [0, 1])


def test_infeasible_mask_blocks_cheap_pair() -> None:
    cost = np.array([[0.1, 0.3], [0.2, 0.9]])
    r = assign(cost, 0.5, infeasible=np.array([[True, False], [False, False]]))
    assert sorted(map(tuple, r.matches)) == [(0, 1), (1, 0)]


def test_nan_cost_raises() -> None:
    with pytest.raises(TrackingError, match="NaN"):
        assign(np.array([[0.1, np.nan]]), 0.5)


def test_appearance_hook_blends_and_checks_shape() -> None:
    def app(t: np.ndarray, d: np.ndarray) -> np.ndarray:
        return np.ones((len(t), len(d)))

    c = cost_matrix("iou", A, B, appearance=app, appearance_weight=0.5)
    np.testing.assert_allclose(c, 0.5 * iou_cost(A, B) + 0.5)
    with pytest.raises(TrackingError, match="appearance cost"):
        cost_matrix("iou", A, B, appearance=lambda t, d: np.ones((1, 1)))
    with pytest.raises(TrackingError, match="cost kind"):
        cost_matrix("mahalanobis", A, B)
