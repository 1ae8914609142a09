"""Greedy class-aware NMS: edge cases and agreement with OpenCV's batched NMS."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from perception.errors import DetectorError
from perception.nms import box_iou, nms


def test_empty():
    keep = nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int32), 0.5)
    assert keep.shape == (0,) and keep.dtype == np.int64


def test_all_same_box_keeps_the_best():
    boxes = np.tile([[10, 10, 50, 50]], (6, 1)).astype(np.float32)
    scores = np.array([0.3, 0.9, 0.5, 0.9, 0.1, 0.2], np.float32)
    keep = nms(boxes, scores, np.zeros(6, np.int32), 0.5)
    assert keep.tolist() == [1]  # equal best scores: the first in input order wins


def test_different_classes_not_suppressed():
    boxes = np.array([[10, 10, 50, 50], [10, 10, 50, 50], [11, 11, 50, 50]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 1, 0])
    assert nms(boxes, scores, classes, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, classes, 0.5, class_agnostic=True).tolist() == [0]


def test_threshold_is_strict_and_order_is_by_score():
    # IoU of these two is exactly 1/3: kept at thr 1/3 (suppress only IoU > thr), dropped below.
    boxes = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], np.float32)
    scores = np.array([0.4, 0.6], np.float32)
    assert box_iou(boxes[:1], boxes[1:])[0, 0] == pytest.approx(1 / 3)
    assert nms(boxes, scores, np.zeros(2), 1 / 3 + 1e-6).tolist() == [1, 0]
    assert nms(boxes, scores, np.zeros(2), 0.3).tolist() == [1]


def test_max_det_and_degenerate_boxes():
    boxes = np.array([[i * 20, 0, i * 20 + 10, 10] for i in range(10)], np.float32)
    scores = np.linspace(0.1, 1.0, 10).astype(np.float32)
    keep = nms(boxes, scores, np.zeros(10), 0.5, max_det=3)
    assert keep.tolist() == [9, 8, 7]
    zero = np.array([[5, 5, 5, 5], [5, 5, 5, 5]], np.float32)  # zero area: IoU 0, nothing suppressed
    assert sorted(nms(zero, np.array([0.5, 0.4]), np.zeros(2), 0.5).tolist()) == [0, 1]


def test_length_mismatch_names_both():
    with pytest.raises(DetectorError, match="expected 3 scores"):
        nms(np.zeros((3, 4)), np.zeros(2), np.zeros(3), 0.5)


def test_matches_opencv_batched_nms():
    rng = np.random.default_rng(0)
    n = 400
    xy = rng.uniform(0, 300, (n, 2))
    wh = rng.uniform(5, 80, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    classes = rng.integers(0, 4, n)
    for thr in (0.3, 0.5, 0.7):
        ours = nms(boxes, scores, classes, thr, max_det=n)
        rects = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
        ref = cv2.dnn.NMSBoxesBatched(rects, scores.tolist(), classes.tolist(), 0.0, thr)
        ref = np.array(ref).reshape(-1)
        assert sorted(ours.tolist()) == sorted(ref.tolist())
        # and the class-aware property itself
        kept = boxes[ours]
        iou = box_iou(kept, kept)
        same = classes[ours][:, None] == classes[ours][None, :]
        np.fill_diagonal(iou, 0)
        assert np.all(iou[same] <= thr + 1e-6)
