"""percept.boxes: the one axis-aligned box IoU (known values, degenerate boxes, empty inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from percept.boxes import box_area, box_intersection, box_iou, xywh_to_xyxy, xyxy_to_xywh

A = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 40.0]])
B = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 40.0], [100.0, 100.0, 110.0, 110.0],
              [0.0, 0.0, 5.0, 5.0]])


def test_known_values() -> None:
    np.testing.assert_array_equal(box_area(A), [100.0, 200.0])
    np.testing.assert_array_equal(box_intersection(A, B), [[50, 0, 0, 25], [0, 200, 0, 0]])
    iou = box_iou(A, B)
    assert iou.shape == (2, 4) and iou.dtype == np.float64
    assert iou[0, 0] == pytest.approx(50 / 150)  # half overlap: 50 / (100 + 100 - 50)
    assert iou[1, 1] == 1.0  # identical boxes
    assert iou[0, 2] == 0.0 and iou[1, 0] == 0.0  # disjoint
    assert iou[0, 3] == pytest.approx(25 / 100)  # contained: inner area / outer area
    assert np.all((iou >= 0) & (iou <= 1))


def test_touching_boxes_do_not_overlap() -> None:
    assert box_iou([0, 0, 10, 10], [10, 0, 20, 10])[0, 0] == 0.0
    assert box_intersection([0, 0, 10, 10], [0, 10, 10, 20])[0, 0] == 0.0


def test_inverted_and_zero_area_boxes_count_as_empty() -> None:
    inverted = np.array([[10.0, 10.0, 0.0, 0.0], [0.0, 10.0, 10.0, 0.0]])  # x2 < x1; y2 < y1
    zero = np.array([[5.0, 5.0, 5.0, 5.0], [0.0, 3.0, 10.0, 3.0]])  # a point; a line
    for boxes in (inverted, zero):
        np.testing.assert_array_equal(box_area(boxes), [0.0, 0.0])
        np.testing.assert_array_equal(box_intersection(boxes, A), np.zeros((2, 2)))
        np.testing.assert_array_equal(box_iou(boxes, A), np.zeros((2, 2)))
        iou_self = box_iou(boxes, boxes)  # empty union: 0, never NaN
        assert not np.isnan(iou_self).any()
        np.testing.assert_array_equal(iou_self, np.zeros((2, 2)))


def test_empty_inputs() -> None:
    none = np.zeros((0, 4))
    assert box_iou(none, B).shape == (0, 4)
    assert box_iou(A, none).shape == (2, 0)
    assert box_iou(none, none).shape == (0, 0)
    assert box_area(none).shape == (0,)
    assert box_iou([], A).shape == (0, 2)  # a plain empty list reshapes to (0, 4)


def test_symmetric_and_dtype_independent() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (20, 2))
    boxes = np.hstack([xy, xy + rng.uniform(1, 40, (20, 2))])
    other = boxes[::-1] + rng.normal(0, 3, boxes.shape)
    iou = box_iou(boxes, other)
    np.testing.assert_allclose(iou, box_iou(other, boxes).T, rtol=0, atol=1e-15)
    np.testing.assert_allclose(box_iou(boxes, boxes).diagonal(), 1.0)
    iou32 = box_iou(boxes.astype(np.float32), other.astype(np.float32))
    assert iou32.dtype == np.float64
    np.testing.assert_allclose(iou32, iou, atol=1e-5)


def test_single_box_rows() -> None:
    assert box_iou(np.array([0, 0, 10, 10]), A).shape == (1, 2)  # a (4,) box is one row


def test_xywh_round_trip() -> None:
    xywh = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 0.0, 5.0]])
    original = xywh.copy()
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_array_equal(xyxy, [[1, 2, 4, 6], [10, 20, 10, 25]])
    np.testing.assert_array_equal(xyxy_to_xywh(xyxy), xywh)
    assert xyxy_to_xywh(xyxy).dtype == np.float64
    np.testing.assert_array_equal(xywh, original)  # the input is not modified
    np.testing.assert_array_equal(box_area(xyxy), xywh[:, 2] * xywh[:, 3])
