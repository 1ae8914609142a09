"""KITTI 3D MOT evaluation on hand-made sequences whose metrics are worked out by hand, and on KITTI GT.

Boxes are 4 m long, 2 m wide, 1.5 m high, yaw 0 (length along camera x) unless stated; a box
shifted by d metres along x overlaps its original with 3D IoU (4 - d) / (4 + d).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from calib.kitti import KITTI_CAMERA_FRAME
from fusion.errors import TrackingError
from fusion.kitti_eval import (
    TOTAL,
    FrameObjects,
    evaluate_sequences,
    format_table,
    objects_from_tracks,
)
from percept.messages import Tracks, TrackStatus

Obj = tuple[int, str, float, float]  # id, class, x, z


def frame(objs: list[Obj], size: tuple[float, float, float] = (4.0, 2.0, 1.5),
          ignore: list[bool] | None = None) -> FrameObjects:
    n = len(objs)
    return FrameObjects(ids=np.array([o[0] for o in objs], np.int64), classes=tuple(o[1] for o in objs),
                        centre=np.array([[o[2], 1.0, o[3]] for o in objs]).reshape(n, 3),
                        size=np.tile(size, (n, 1)), yaw=np.zeros(n), ignore=ignore)


def car(i: int, x: float = 0.0, z: float = 20.0) -> Obj:
    return (i, "Car", x, z)


def one(gt: dict[int, FrameObjects], hyp: dict[int, FrameObjects], cls: str = "Car", **kw):
    results = evaluate_sequences({"s": (gt, hyp)}, classes=(cls,), **kw)
    assert [r.sequence for r in results] == ["s", TOTAL]
    return results[0]


def test_perfect_tracks_score_one() -> None:
    gt = {f: frame([car(1, 0.0 + f), car(2, 10.0, 30.0 - f)]) for f in range(5)}
    r = one(gt, gt)
    assert (r.MOTA, r.IDF1, r.HOTA, r.DetA, r.AssA) == pytest.approx((1, 1, 1, 1, 1))
    assert pytest.approx(1.0) == r.MOTP
    assert (r.IDSW, r.FP, r.FN, r.TP, r.GT, r.GT_IDs, r.MT, r.IGN) == (0, 0, 0, 10, 10, 2, 2, 0)


def test_one_id_switch() -> None:
    gt = {f: frame([car(7)]) for f in range(4)}
    hyp = {f: frame([car(1 if f < 2 else 2)]) for f in range(4)}
    r = one(gt, hyp)
    assert (r.IDSW, r.FP, r.FN) == (1, 0, 0)
    assert pytest.approx(1 - 1 / 4) == r.MOTA
    assert pytest.approx(2 * 2 / (4 + 4)) == r.IDF1  # the best hypothesis id covers 2 of 4 frames
    # every pair matches at IoU 1 (DetA 1); each TP's association score is 2 / (4 + 2 - 2)
    assert (r.DetA, r.AssA, r.HOTA) == pytest.approx((1.0, 0.5, math.sqrt(0.5)))


def test_one_false_positive() -> None:
    gt = {f: frame([car(1)]) for f in range(4)}
    hyp = {f: frame([car(1)] + ([car(9, 10.0, 40.0)] if f == 2 else [])) for f in range(4)}
    r = one(gt, hyp)
    assert (r.IDSW, r.FP, r.FN, r.TP) == (0, 1, 0, 4)
    assert pytest.approx(1 - 1 / 4) == r.MOTA
    assert pytest.approx(2 * 4 / (2 * 4 + 1)) == r.IDF1  # IDTP 4, IDFP 1, IDFN 0
    assert (r.DetA, r.AssA, r.HOTA) == pytest.approx((4 / 5, 1.0, math.sqrt(4 / 5)))


def test_one_miss() -> None:
    gt = {f: frame([car(1)]) for f in range(4)}
    hyp = {f: frame([car(5)] if f != 2 else []) for f in range(4)}
    r = one(gt, hyp)
    assert (r.IDSW, r.FP, r.FN, r.TP, r.Frag) == (0, 0, 1, 3, 1)
    assert pytest.approx(1 - 1 / 4) == r.MOTA
    assert pytest.approx(2 * 3 / (4 + 3)) == r.IDF1
    # DetA 3 / 4; the pair's association score 3 / (4 + 3 - 3)
    assert (r.DetA, r.AssA, r.HOTA) == pytest.approx((3 / 4, 3 / 4, 3 / 4))


def test_hypothesis_on_ignored_van_counts_nothing() -> None:
    van, far_van = (3, "Van", 10.0, 30.0), (4, "Van", -10.0, 50.0)
    gt = {f: frame([car(1), van, far_van]) for f in range(3)}
    # a Car hypothesis on the Van (IoU 1) in every frame, none on the far Van (not a miss)
    hyp = {f: frame([car(1), car(2, 10.0, 30.0)]) for f in range(3)}
    r = one(gt, hyp)
    assert pytest.approx((1, 1, 1)) == (r.MOTA, r.IDF1, r.HOTA)
    assert (r.FP, r.FN, r.TP, r.GT, r.IGN) == (0, 0, 3, 3, 3)
    # a Car hypothesis beside the Van (no overlap) is a false positive
    hyp = {f: frame([car(1), car(2, 20.0, 30.0)]) for f in range(3)}
    r = one(gt, hyp)
    assert (r.FP, r.FN, r.IGN) == (3, 0, 0)
    assert pytest.approx(1 - 3 / 3) == r.MOTA


def test_person_sitting_ignored_and_classes_kept_apart() -> None:
    ped_size = (0.8, 0.6, 1.7)
    gt = {0: frame([(1, "Pedestrian", 0.0, 10.0), (2, "Person_sitting", 3.0, 10.0)], ped_size)}
    hyp = {0: frame([(5, "Pedestrian", 0.0, 10.0), (6, "Pedestrian", 3.0, 10.0), (7, "Cyclist", 0.0, 10.0)],
                    ped_size)}
    ped = one(gt, hyp, "Pedestrian")
    assert (ped.TP, ped.FP, ped.FN, ped.IGN) == (1, 0, 0, 1)
    cyc = one(gt, hyp, "Cyclist")  # a Cyclist hypothesis is never matched to a Pedestrian
    assert (cyc.TP, cyc.FP, cyc.FN, cyc.GT) == (0, 1, 0, 0)
    assert -math.inf == cyc.MOTA


@pytest.mark.parametrize(("shift", "matched"), [(2.39, True), (2.41, False)])
def test_iou_threshold_edge(shift: float, matched: bool) -> None:
    gt = {0: frame([car(1)])}
    hyp = {0: frame([car(2, shift)])}
    iou = (4 - shift) / (4 + shift)  # 0.2520 and 0.2480 around the 0.25 threshold
    r = one(gt, hyp)
    if matched:
        assert (r.TP, r.FP, r.FN) == (1, 0, 0)
        assert pytest.approx(iou) == r.MOTP
    else:
        assert (r.TP, r.FP, r.FN) == (0, 1, 1)
        assert pytest.approx(1 - 2 / 1) == r.MOTA
    # HOTA: the pair is a TP for the alphas 0.05 .. 0.25 (5 of 19) or 0.05 .. 0.20 (4 of 19)
    assert r.DetA == pytest.approx((5 if matched else 4) / 19)
    assert one(gt, hyp, iou_threshold=0.2).TP == 1


def test_total_sums_sequences() -> None:
    perfect = {f: frame([car(1)]) for f in range(4)}
    missing = {f: frame([car(5)] if f != 2 else []) for f in range(4)}
    only_fp = ({}, {0: frame([car(9, 5.0, 50.0)])})  # no ground truth, one false positive
    res = evaluate_sequences({"a": (perfect, perfect), "b": (perfect, missing), "c": only_fp},
                             classes=("Car",))
    total = res[-1]
    assert (total.sequence, total.GT, total.FN, total.FP, total.TP) == (TOTAL, 8, 1, 1, 7)
    assert pytest.approx(1 - 2 / 8) == total.MOTA
    assert pytest.approx(1.0) == total.MOTP  # over the 7 matches; sequence c has none (NaN MOTP)
    assert math.isnan(res[2].MOTP) and -math.inf == res[2].MOTA
    # HOTA sums per-alpha counts: DetA 7 / (7 + 1 + 1); AssA (4 * 1 + 3 * 3/4) / 7
    assert total.DetA == pytest.approx(7 / 9)
    assert total.AssA == pytest.approx((4 + 3 * 0.75) / 7)
    table = format_table(res)
    assert table.splitlines()[0].startswith("| class | sequence | HOTA")
    assert "| Car | **TOTAL** | " in table and "| -inf | n/a |" in table and len(table.splitlines()) == 2 + 4


def tracks(fields: tuple[str, ...], state: list[list[float]], class_id: list[int],
           names: tuple[str, ...] = ("Car", "Van")) -> Tracks:
    n = len(state)
    return Tracks(stamp_ns=0, frame_id=KITTI_CAMERA_FRAME, seq=0, track_id=np.arange(n, dtype=np.int64),
                  class_id=np.array(class_id, np.int32), confidence=np.ones(n, np.float32),
                  state=np.array(state, np.float32).reshape(n, len(fields)), age=np.zeros(n, np.int32),
                  status=np.full(n, TrackStatus.CONFIRMED, np.uint8), sensors=np.zeros(n, np.uint32),
                  state_fields=fields, class_names=names)


def test_objects_from_tracks_finds_columns_by_name() -> None:
    gt = tracks(("x", "y", "z", "l", "w", "h", "yaw", "truncated", "occluded"),
                [[1, 2, 3, 4, 2, 1.5, 0.5, 0, 0], [5, 6, 7, 4, 2, 1.5, 0, 1, 3]], [0, 1])
    o = objects_from_tracks(gt, max_truncation=0, max_occlusion=2)
    assert o.classes == ("Car", "Van")
    np.testing.assert_allclose(o.centre, [[1, 2, 3], [5, 6, 7]])
    np.testing.assert_allclose(o.size, [[4, 2, 1.5], [4, 2, 1.5]])
    np.testing.assert_allclose(o.yaw, [0.5, 0])
    assert o.ignore.tolist() == [False, True]
    assert objects_from_tracks(gt).ignore.tolist() == [False, False]
    tr = tracks(("x", "y", "z", "length", "width", "height", "yaw", "vx", "vy", "vz"),
                [[1, 2, 3, 4, 2, 1.5, 0.5, 9, 9, 9]], [0])
    np.testing.assert_allclose(objects_from_tracks(tr).size, [[4, 2, 1.5]])
    with pytest.raises(TrackingError, match="truncated"):
        objects_from_tracks(tr, max_truncation=0)
    with pytest.raises(TrackingError, match="yaw"):
        objects_from_tracks(tracks(("x", "y", "z", "l", "w", "h"), [[0, 0, 0, 1, 1, 1]], [0]))
    with pytest.raises(TrackingError, match="class_id 2"):
        objects_from_tracks(tracks(tr.state_fields, [[1, 2, 3, 4, 2, 1.5, 0.5, 9, 9, 9]], [2]))


def test_bad_input_is_named() -> None:
    with pytest.raises(TrackingError, match="centre"):
        FrameObjects(np.arange(2), ("Car", "Car"), np.zeros((2, 2)), np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(TrackingError, match="classes"):
        FrameObjects(np.arange(2), ("Car",), np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(TrackingError, match="no sequences"):
        evaluate_sequences({})
    with pytest.raises(TrackingError, match="iou_threshold"):
        evaluate_sequences({"s": ({}, {})}, iou_threshold=0)


def test_kitti_ground_truth_against_itself_is_perfect(shared_data) -> None:
    from sensors.datasets.kitti_tracking import KittiTrackingSequence

    seq = KittiTrackingSequence(shared_data("kitti_tracking"), 1)
    gt = {k: objects_from_tracks(seq.gt_tracks(k, seq.stamp_ns(k), k)) for k in range(len(seq))}
    results = evaluate_sequences({"0001": (gt, gt)}, classes=("Car", "Pedestrian"))
    for r in results:
        assert r.GT > 0, r
        assert (r.MOTA, r.IDF1, r.FP, r.FN, r.IDSW) == (1.0, 1.0, 0, 0, 0), r
        assert pytest.approx(1.0) == r.HOTA
