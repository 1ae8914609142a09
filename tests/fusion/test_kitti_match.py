"""The devkit's building blocks: same-frame pairs, DontCare overlap, track means, ID switches."""

from __future__ import annotations

import numpy as np

from fusion.kitti_match import ClassData, Sweep, in_dontcare, same_frame_pairs
from sensors.datasets.kitti_tracking import GT_CLASSES, KittiBoxes


def test_same_frame_pairs_lists_every_pair() -> None:
    a, b = np.array([1, 1, 2, 5, 7]), np.array([0, 1, 1, 1, 5, 5, 8])
    ia, ib = same_frame_pairs(a, b)
    want = sorted((i, j) for i in range(len(a)) for j in range(len(b)) if a[i] == b[j])
    assert sorted(zip(ia.tolist(), ib.tolist(), strict=True)) == want
    assert [len(x) for x in same_frame_pairs(a, np.zeros(0, np.int64))] == [0, 0]


def test_in_dontcare_uses_the_boxes_own_area() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]], float)
    keys = np.array([0, 1, 2, 2])
    # frame 0: 60 % inside; frame 1: exactly 50 % (not more than half); frame 2: two regions of 40 %
    # each (one region must hold more than half) and a box far from them
    dc = np.array([[4, -5, 20, 20], [5, -5, 20, 20], [0, 0, 4, 10], [6, 0, 10, 10]], float)
    assert in_dontcare(boxes, keys, dc, np.array([0, 1, 2, 2])).tolist() == [True, False, False, False]
    big = np.array([[-100, -100, 100, 100]], float)  # a DontCare region larger than the box
    assert in_dontcare(boxes[:1], keys[:1], big, np.array([0])).tolist() == [True]


def _track(scores: list[float]) -> ClassData:
    car = GT_CLASSES.index("Car")
    rows = [(f, car, 3, s, 0, 0, 0, 100, 100, 200, 200, 1.5, 2, 4, 0, 1.75, 20, 0)
            for f, s in enumerate(scores)]
    no_labels = KittiBoxes.from_rows([], np.float64)
    return ClassData("Car", [(no_labels, KittiBoxes.from_rows(rows, np.float64))], 0.25)


def test_track_means_are_summed_in_frame_order() -> None:
    scores = [0.1, 0.2, 0.3, 1e16, -1e16, 0.7]
    acc = 0.0
    for s in scores:  # evaluate.py's sum(): left to right, no compensation
        acc += s
    data = _track(scores)
    assert data.initial_means().tolist() == [acc / len(scores)]
    m = data.initial_means()
    acc = 0.0
    for _ in scores:
        acc += m[0]
    assert data.repeat_means(m).tolist() == [acc / len(scores)]


def test_sweep_counts_without_ground_truth() -> None:
    data = _track([1.0, 2.0])
    run = Sweep(data).run(-10000.0)
    assert (run.n_gt, run.tp, run.fp, run.fn, run.ids) == (0, 0, 2, 0, 0)
    assert run.mota == -np.inf and run.motp == 0.0
    assert run.counted.tolist() == [True, True]
    assert Sweep(data).run(1.6).fp == 0  # the track's mean 1.5 is below the threshold: dropped
