"""KITTI 3D MOT evaluation (the devkit as AB3DMOT applies it) on hand-made sequences whose metrics are
worked out by hand, on KITTI ground truth, and against the shared independent reference evaluator.

Boxes are 4 m long, 2 m wide, 1.5 m high, yaw 0 (length along camera x) unless stated; a box
shifted by d metres along x overlaps its original with 3D IoU (4 - d) / (4 + d). 2D boxes are
100 px tall unless stated (above the 25 px rule).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from fusion.errors import TrackingError
from fusion.eval_cli import register
from fusion.kitti_eval import (
    CLASSES,
    TOTAL,
    evaluate,
    evaluate_folders,
    format_table,
    id_true_positives,
    recall_thresholds,
)
from fusion.mot_eval import _import_motmetrics
from percept.cli import CommandRegistry
from sensors.datasets.kitti_tracking import GT_CLASSES, KittiBoxes
from sensors.errors import SensorError

BOX2D = (100.0, 100.0, 200.0, 200.0)
CAR_HWL = (1.5, 2.0, 4.0)


def obj(frame: int, tid: int, cls: str = "Car", x: float = 0.0, z: float = 20.0, score: float = 1.0,
        trunc: float = 0, occ: int = 0, box2d: tuple[float, ...] = BOX2D,
        hwl: tuple[float, float, float] = CAR_HWL) -> tuple[float, ...]:
    """A KittiBoxes row; the box's geometric centre is at height y = 1 (bottom at 1 + h/2)."""
    cid = -1 if cls == "DontCare" else GT_CLASSES.index(cls)
    return (frame, cid, tid, score, trunc, occ, 0.0, *box2d, *hwl, x, 1.0 + hwl[0] / 2, z, 0.0)


def rows(objs: list[tuple[float, ...]]) -> KittiBoxes:
    return KittiBoxes.from_rows(objs, np.float64)


def one(gt: list, hyp: list, cls: str = "Car", **kw):
    results = evaluate({"s": (rows(gt), {cls: rows(hyp)})}, classes=(cls,), **kw)
    assert [r.sequence for r in results] == [TOTAL]
    return results[0]


def test_perfect_tracks_score_one() -> None:
    gt = [o for f in range(5) for o in (obj(f, 1, x=0.0 + f), obj(f, 2, x=10.0, z=30.0 - f))]
    r = one(gt, gt)
    assert (r.MOTA, r.IDF1, r.HOTA, r.DetA, r.AssA) == pytest.approx((1, 1, 1, 1, 1))
    assert pytest.approx(1.0) == r.MOTP
    assert (r.IDSW, r.FP, r.FN, r.TP, r.GT, r.GT_IDs, r.MT, r.IGN, r.Frag) == (0, 0, 0, 10, 10, 2, 2, 0, 0)
    # one recall step per matched box after the first (10 boxes: 9 steps), each at sMOTA 1 (clipped)
    assert r.recall_steps == 9
    assert pytest.approx(9 / 40) == r.sAMOTA


def test_one_id_switch() -> None:
    gt = [obj(f, 7) for f in range(4)]
    hyp = [obj(f, 1 if f < 2 else 2) for f in range(4)]
    r = one(gt, hyp)
    assert (r.IDSW, r.FP, r.FN) == (1, 0, 0)
    assert pytest.approx(1 - 1 / 4) == r.MOTA
    assert pytest.approx(2 * 2 / (4 + 4)) == r.IDF1  # the best hypothesis id covers 2 of 4 frames
    # every pair matches at IoU 1 (DetA 1); each TP's association score is 2 / (4 + 2 - 2)
    assert (r.DetA, r.AssA, r.HOTA) == pytest.approx((1.0, 0.5, math.sqrt(0.5)))


def test_one_false_positive() -> None:
    gt = [obj(f, 1) for f in range(4)]
    hyp = [obj(f, 1) for f in range(4)] + [obj(2, 9, x=10.0, z=40.0)]
    r = one(gt, hyp)
    assert (r.IDSW, r.FP, r.FN, r.TP) == (0, 1, 0, 4)
    assert pytest.approx(1 - 1 / 4) == r.MOTA
    assert pytest.approx(2 * 4 / (2 * 4 + 1)) == r.IDF1  # IDTP 4, IDFP 1, IDFN 0
    assert (r.DetA, r.AssA, r.HOTA) == pytest.approx((4 / 5, 1.0, math.sqrt(4 / 5)))


def test_one_miss() -> None:
    gt = [obj(f, 1) for f in range(4)]
    hyp = [obj(f, 5) for f in range(4) if f != 2]
    r = one(gt, hyp)
    assert (r.IDSW, r.FP, r.FN, r.TP, r.Frag) == (0, 0, 1, 3, 1)
    assert pytest.approx(1 - 1 / 4) == r.MOTA
    assert pytest.approx(2 * 3 / (4 + 3)) == r.IDF1
    # DetA 3 / 4; the pair's association score 3 / (4 + 3 - 3)
    assert (r.DetA, r.AssA, r.HOTA) == pytest.approx((3 / 4, 3 / 4, 3 / 4))


def test_switch_after_a_gap_is_a_fragmentation_not_a_switch() -> None:
    """Devkit rule: a switch needs the previous occurrence tracked (motmetrics would count one)."""
    gt = [obj(f, 1) for f in range(5)]
    hyp = [obj(f, 1 if f < 2 else 2) for f in range(5) if f != 2]
    r = one(gt, hyp)
    assert (r.IDSW, r.Frag, r.FN, r.TP) == (0, 1, 1, 4)
    # a switch right after an ignored (heavily occluded) occurrence is not counted either
    gt = [obj(f, 1, occ=3 if f == 2 else 0) for f in range(5)]
    hyp = [obj(f, 1 if f < 3 else 2) for f in range(5)]
    r = one(gt, hyp)
    assert (r.IDSW, r.GT, r.TP, r.IGN, r.FP) == (0, 4, 4, 1, 0)


def test_hypothesis_on_ignored_van_counts_nothing() -> None:
    van = {"tid": 3, "cls": "Van", "x": 10.0, "z": 30.0}
    far_van = {"tid": 4, "cls": "Van", "x": -10.0, "z": 50.0}
    gt = [o for f in range(3) for o in (obj(f, 1), obj(f, **van), obj(f, **far_van))]
    # a Car hypothesis on the Van (IoU 1) in every frame, none on the far Van (not a miss)
    hyp = [o for f in range(3) for o in (obj(f, 1), obj(f, 2, x=10.0, z=30.0))]
    r = one(gt, hyp)
    assert pytest.approx((1, 1, 1)) == (r.MOTA, r.IDF1, r.HOTA)
    assert (r.FP, r.FN, r.TP, r.GT, r.IGN) == (0, 0, 3, 3, 3)
    # a Car hypothesis beside the Van (no overlap) is a false positive
    hyp = [o for f in range(3) for o in (obj(f, 1), obj(f, 2, x=20.0, z=30.0))]
    r = one(gt, hyp)
    assert (r.FP, r.FN, r.IGN) == (3, 0, 0)
    assert pytest.approx(1 - 3 / 3) == r.MOTA


def test_neighbour_class_tracker_rows() -> None:
    """Van rows of a Car result file match Car ground truth; unmatched they are ignored."""
    gt = [obj(0, 1), obj(1, 1)]
    r = one(gt, [obj(0, 5, cls="Van"), obj(1, 5, cls="Van"), obj(1, 6, cls="Van", x=20.0)])
    assert (r.TP, r.FP, r.FN) == (2, 0, 0)
    r = one(gt, [obj(0, 5), obj(1, 5), obj(1, 6, cls="Truck", x=20.0)])  # other types take no part
    assert (r.TP, r.FP, r.FN) == (2, 0, 0)


def test_person_sitting_ignored_and_classes_kept_apart() -> None:
    ped = (0.8, 0.6, 1.7)[::-1]  # h, w, l of a 0.8 m long, 0.6 m wide, 1.7 m high box
    gt = [obj(0, 1, "Pedestrian", 0.0, 10.0, hwl=ped), obj(0, 2, "Person_sitting", 3.0, 10.0, hwl=ped),
          obj(0, 3, "Person", 6.0, 10.0, hwl=ped)]
    hyp = rows([obj(0, 5, "Pedestrian", 0.0, 10.0, hwl=ped), obj(0, 6, "Pedestrian", 3.0, 10.0, hwl=ped),
                obj(0, 7, "Cyclist", 0.0, 10.0, hwl=ped)])
    res = evaluate({"s": (rows(gt), {"Pedestrian": hyp, "Cyclist": hyp})}, classes=("Pedestrian", "Cyclist"))
    assert (res[0].TP, res[0].FP, res[0].FN, res[0].IGN) == (1, 0, 0, 1)
    cyc = res[1]  # a Cyclist hypothesis is never matched to a Pedestrian
    assert (cyc.TP, cyc.FP, cyc.FN, cyc.GT) == (0, 1, 0, 0)
    assert -math.inf == cyc.MOTA and math.isnan(cyc.sAMOTA)
    # a Pedestrian hypothesis on a "Person" (no evaluated class) is a false positive
    r = one(gt, [obj(0, 5, "Pedestrian", 0.0, 10.0, hwl=ped), obj(0, 8, "Pedestrian", 6.0, 10.0, hwl=ped)],
            "Pedestrian")
    assert (r.TP, r.FP) == (1, 1)


@pytest.mark.parametrize(("trunc", "occ", "counted"), [(0, 0, True), (0, 2, True), (0.5, 1, True),
                                                       (1, 0, False), (2, 0, False), (0, 3, False)])
def test_truncated_and_occluded_ground_truth(trunc: float, occ: int, counted: bool) -> None:
    gt = [obj(0, 1), obj(0, 2, x=10.0, trunc=trunc, occ=occ)]
    hit, missed = one(gt, [obj(0, 1), obj(0, 2, x=10.0)]), one(gt, [obj(0, 1)])
    want_hit, want_fn = ((2, 2, 0, 0), 1) if counted else ((1, 1, 0, 1), 0)
    assert want_hit == (hit.GT, hit.TP, hit.FP, hit.IGN)
    assert want_fn == missed.FN


@pytest.mark.parametrize(("height", "fp"), [(25.0, 0), (25.5, 1)])
def test_small_unmatched_hypotheses_are_ignored(height: float, fp: int) -> None:
    small = (100.0, 100.0, 150.0, 100.0 + height)
    r = one([obj(0, 1)], [obj(0, 1, box2d=small), obj(0, 2, x=20.0, box2d=small)])
    assert r.TP == 1  # a small box that matches is still a true positive
    assert fp == r.FP


@pytest.mark.parametrize(("x2", "fp"), [(160.0, 0), (150.0, 1)])
def test_dontcare_regions(x2: float, fp: int) -> None:
    """An unmatched hypothesis with more than half of its 2D box in a DontCare box is ignored."""
    dontcare = obj(0, -1, "DontCare", box2d=(0.0, 0.0, x2, 300.0), hwl=(-1.0, -1.0, -1.0))
    gt = [obj(0, 1), dontcare]
    r = one(gt, [obj(0, 1), obj(0, 2, x=20.0)])  # both 2D boxes 100..200 px wide
    assert (r.TP, r.GT) == (1, 1)
    assert fp == r.FP


@pytest.mark.parametrize(("shift", "matched"), [(2.39, True), (2.41, False)])
def test_iou_threshold_edge(shift: float, matched: bool) -> None:
    gt, hyp = [obj(0, 1)], [obj(0, 2, x=shift)]
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


def test_matching_keeps_the_most_pairs() -> None:
    """Devkit (Munkres with forbidden pairs): the most matches first, then the best IoU."""
    gt = [obj(0, 1, x=0.0), obj(0, 2, x=3.0)]
    hyp = [obj(0, 5, x=1.5), obj(0, 6, x=3.0)]  # 5 overlaps both (IoU 0.45 each), 6 only gt 2 (IoU 1)
    r = one(gt, hyp)
    assert (r.TP, r.FP, r.FN) == (2, 0, 0)


def test_score_sweep_samota_amota() -> None:
    """40 cars in one frame tracked with scores 40..1 plus 10 false tracks scoring 100.

    Recall step k (k = 1..39) keeps the tracks scoring at least 40 - k: k + 1 TPs and 10 FPs, so
    MOTA_k = (k + 1 - 10) / 40 and sMOTA_k = clip(1 - (39 - k + 10 - (40 - k)) / k) = 1 - 9 / k.
    """
    gt = [obj(0, i, x=6.0 * i) for i in range(40)]
    hyp = [obj(0, i, x=6.0 * i, score=40.0 - i) for i in range(40)]
    hyp += [obj(0, 100 + i, x=6.0 * i, z=60.0, score=100.0) for i in range(10)]
    r = one(gt, hyp)
    steps = range(1, 40)
    assert r.recall_steps == 39
    assert pytest.approx(sum(max(0.0, 1 - 9 / k) for k in steps) / 40) == r.sAMOTA
    assert pytest.approx(sum((k + 1 - 10) / 40 for k in steps) / 40) == r.AMOTA
    assert pytest.approx(39 / 40) == r.AMOTP  # MOTP 1 at every step
    assert (r.MOTA, r.FP, r.FN, r.threshold) == (pytest.approx(30 / 40), 10, 0, 1.0)
    # false tracks scoring below every true one are cut by the best-MOTA threshold
    hyp = hyp[:40] + [obj(0, 100 + i, x=6.0 * i, z=60.0, score=0.5) for i in range(10)]
    r = one(gt, hyp)
    assert (r.MOTA, r.FP, r.threshold) == (1.0, 0, 1.0)
    assert pytest.approx(39 / 40) == r.sAMOTA


def test_recall_thresholds_by_hand() -> None:
    # 4 matched boxes, 4 ground truth: recall 0.25 .. 1 per box; steps 0, 1/40, 2/40, 3/40 take
    # one box each (the next box is never nearer), the step-0 entry is dropped
    thr, rec = recall_thresholds(np.array([2.0, 4.0, 1.0, 3.0]), 4)
    assert thr == [3.0, 2.0, 1.0]
    assert rec == pytest.approx([1 / 40, 2 / 40, 3 / 40])
    # 400 ground truth, 100 matched: step k takes box i with (i + 1) / 400 nearest k / 40
    thr, rec = recall_thresholds(np.arange(100.0, 0.0, -1.0), 400)
    assert len(thr) == 10 and thr[0] == 100.0 - 9 and thr[-1] == 1.0


def _drifting_score(n: int) -> float:
    """A score whose n-fold mean (summed in order) keeps drifting below its first mean."""
    def mean_of_copies(m: float) -> float:
        acc = 0.0
        for _ in range(n):
            acc += m
        return acc / n

    for k in range(1, 10_000):
        first = mean_of_copies(k / 7.0)
        means = [first]
        for _ in range(n + 2):
            means.append(mean_of_copies(means[-1]))
        if all(m < first for m in means[1:]):
            return k / 7.0
    raise AssertionError("no drifting score found")


def test_compat_keeps_evaluate_py_score_drift() -> None:
    """evaluate.py re-averages track means at every threshold: a track whose mean is the threshold can
    drift below it and be dropped (compat); without compat every step keeps it."""
    n = 7
    s = _drifting_score(n)
    gt, hyp = [obj(f, 1) for f in range(n)], [obj(f, 1, score=s) for f in range(n)]
    compat, exact = one(gt, hyp), one(gt, hyp, compat=False)
    assert compat.recall_steps == exact.recall_steps == n - 1
    assert compat.sAMOTA == pytest.approx(0.0, abs=1e-12)  # dropped at every step: sMOTA 1 - r GT / (r GT)
    assert pytest.approx((n - 1) / 40) == exact.sAMOTA
    assert compat.MOTA == exact.MOTA == 1.0  # no step reaches MOTA > 0 with compat: all tracks


def test_compat_never_ignores_a_box_once_matched() -> None:
    """Box X (score 5, small) matches car A only while Y (score 1) is cut by the threshold; once Y
    takes A, X is unmatched and small: ignored without compat, a false positive with compat."""
    small = (100.0, 100.0, 150.0, 120.0)
    gt = [obj(0, 1), obj(1, 2), obj(2, 3)]
    hyp = [obj(0, 10, x=4 / 3, score=5.0, box2d=small), obj(0, 11, score=1.0), obj(1, 12, score=3.0),
           obj(2, 13, score=2.0)]
    compat, exact = one(gt, hyp), one(gt, hyp, compat=False)
    # steps: threshold 2 (X on A, MOTA 1) then 1 (Y on A; X a FP with compat: MOTA 2/3)
    assert pytest.approx((1 + 2 / 3) / 40) == compat.AMOTA
    assert pytest.approx(2 / 40) == exact.AMOTA
    assert compat.MOTA == exact.MOTA == 1.0 and compat.threshold == 2.0


def test_total_pools_sequences() -> None:
    perfect = [obj(f, 1) for f in range(4)]
    missing = [obj(f, 5) for f in range(4) if f != 2]
    only_fp = ([], [obj(0, 9, x=5.0, z=50.0)])  # no ground truth, one false positive
    seqs = {"a": (rows(perfect), {"Car": rows(perfect)}), "b": (rows(perfect), {"Car": rows(missing)}),
            "c": (rows(only_fp[0]), {"Car": rows(only_fp[1])})}
    steps: list[tuple[float, float | None]] = []
    res = evaluate(seqs, classes=("Car",), per_sequence=True, progress=lambda d, t: steps.append((d, t)))
    assert [r.sequence for r in res] == ["a", "b", "c", TOTAL]
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]  # one step per row
    total = res[-1]
    assert (total.GT, total.FN, total.FP, total.TP) == (8, 1, 1, 7)
    assert pytest.approx(1 - 2 / 8) == total.MOTA
    assert pytest.approx(1.0) == total.MOTP  # over the 7 matches
    assert res[2].MOTP == 0.0 and -math.inf == res[2].MOTA  # the devkit's values without matches / GT
    # HOTA sums per-alpha counts: DetA 7 / (7 + 1 + 1); AssA (4 * 1 + 3 * 3/4) / 7
    assert total.DetA == pytest.approx(7 / 9)
    assert total.AssA == pytest.approx((4 + 3 * 0.75) / 7)
    table = format_table(res)
    assert table.splitlines()[0].startswith("| class | sequence | sAMOTA | AMOTA | AMOTP | MOTA")
    assert "| Car | **all** | " in table and "| -inf | 0.00 | n/a |" in table
    assert len(table.splitlines()) == 2 + 4


def test_idtp_matches_motmetrics() -> None:
    """The IDF1 numerator equals motmetrics' on random co-occurrences (one definition of IDF1)."""
    rng = np.random.default_rng(3)
    mm = _import_motmetrics()
    acc = mm.MOTAccumulator(auto_id=False)
    pairs_g, pairs_d = [], []
    for f in range(60):
        g, d = rng.choice(8, 4, replace=False), rng.choice(8, 5, replace=False) + 100
        ok = rng.random((4, 5)) < 0.4
        acc.update(g.tolist(), d.tolist(), np.where(ok, 0.5, np.nan), frameid=f)
        r, c = np.nonzero(ok)
        pairs_g += g[r].tolist()
        pairs_d += d[c].tolist()
    want = int(mm.metrics.create().compute(acc, metrics=["idtp"])["idtp"].iloc[0])
    assert id_true_positives(np.array(pairs_g), np.array(pairs_d)) == want
    w = np.zeros((8, 108))
    np.add.at(w, (np.array(pairs_g), np.array(pairs_d)), 1)
    r, c = linear_sum_assignment(w, maximize=True)
    assert want == w[r, c].sum()


def test_bad_input_is_named(tmp_path) -> None:
    with pytest.raises(TrackingError, match="no sequences"):
        evaluate({})
    with pytest.raises(TrackingError, match="iou_threshold"):
        evaluate({"s": (rows([]), {})}, iou_threshold=0)
    with pytest.raises(TrackingError, match="unknown classes"):
        evaluate({"s": (rows([]), {})}, classes=("Van",))
    with pytest.raises(TrackingError, match="track id 4 occurs more than once in frame 0"):
        one([obj(0, 1)], [obj(0, 4), obj(0, 4, x=10.0)])
    with pytest.raises(TrackingError, match=r"results .*nope: not a folder"):
        evaluate_folders(tmp_path, tmp_path / "nope", ["0001"])
    (tmp_path / "res" / "Car").mkdir(parents=True)
    good = "0 1 Car 0 0 0 1 2 3 4 1.5 2 4 0 1 20 0"
    (tmp_path / "res" / "Car" / "0001.txt").write_text(f"{good} 0.5\n0 2 Car\n")
    with pytest.raises(TrackingError, match=r"ground truth .*0001\.txt: no such file"):
        evaluate_folders(tmp_path, tmp_path / "res", ["0001"])
    (tmp_path / "0001.txt").write_text(good + "\n")
    with pytest.raises(SensorError, match=r"Car/0001\.txt:2: expected 17 columns"):
        evaluate_folders(tmp_path, tmp_path / "res", ["0001"])
    with pytest.raises(TrackingError, match="no result file for class Pedestrian"):
        evaluate_folders(tmp_path, tmp_path / "res", ["0001"], classes=["Pedestrian"])


def _cli() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    register(CommandRegistry(commands=sub, bench=sub.add_parser("bench").add_subparsers(dest="bench")))
    return p


def test_cli_eval_kitti3d(tmp_path, capsys) -> None:
    (tmp_path / "label_02").mkdir()
    (tmp_path / "label_02" / "0003.txt").write_text("".join(
        f"{f} 1 Car 0 0 0 100 100 200 200 1.5 2 4 0 1.75 20 0\n" for f in range(3)))
    (tmp_path / "res").mkdir()  # one file holding every class: RES/<seq>.txt
    (tmp_path / "res" / "0003.txt").write_text("".join(
        f"{f} 7 Car 0 0 0 100 100 200 200 1.5 2 4 0 1.75 20 0 0.9\n" for f in range(2)))
    args = _cli().parse_args(["eval", "kitti3d", "--gt", str(tmp_path), "--res", str(tmp_path / "res"),
                              "--seqs", "3", "--json"])
    assert args.func(args) == 0
    row, *others = json.loads(capsys.readouterr().out)  # the file holds every class: all three scored
    assert (row["cls"], row["sequence"], row["TP"], row["FN"], row["FP"]) == ("Car", TOTAL, 2, 1, 0)
    assert row["MOTA"] == pytest.approx(2 / 3)
    assert [(o["cls"], o["GT"], o["MOTA"], o["sAMOTA"]) for o in others] == [
        ("Pedestrian", 0, None, None), ("Cyclist", 0, None, None)]  # no ground truth: undefined
    args = _cli().parse_args(["eval", "kitti3d", "--gt", str(tmp_path / "label_02"), "--res",
                              str(tmp_path / "res"), "--seqs", "0003", "--per-seq", "--classes", "Car"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| class | sequence | sAMOTA") and len(lines) == 4
    assert lines[2].startswith("| Car | 0003 | ") and lines[3].startswith("| Car | **all** | ")


# --- KITTI data -----------------------------------------------------------------------------------

VAL = ["0001", "0006", "0008", "0010", "0012"]


@pytest.mark.data
def test_kitti_ground_truth_against_itself_is_perfect(shared_data, tmp_path) -> None:
    from fusion.kitti_results import labels_as_results, read_ground_truth, write_results

    root = shared_data("kitti_tracking")
    write_results(tmp_path, "0001", labels_as_results(read_ground_truth(root, "0001")), ["Car", "Pedestrian"])
    results = evaluate_folders(root, tmp_path, ["0001"])
    assert [r.cls for r in results] == ["Car", "Pedestrian"]
    for r in results:
        assert r.GT > 0 and r.IGN > 0, r  # truncated / occluded labels matched but ignored
        assert (r.MOTA, r.IDF1, r.FP, r.FN, r.IDSW, r.Frag) == (1.0, 1.0, 0, 0, 0, 0), r
        assert pytest.approx(1.0) == r.HOTA


def _reference_tool(shared_data):
    from percept.data import data_dir

    pytest.importorskip("shapely", reason="the reference evaluator needs shapely 2 (dev extra)")
    shared_data("kitti_tracking")
    tool = data_dir().parent / "tools" / "eval_kitti3d.py"
    if not tool.is_file():
        pytest.skip(f"reference evaluator {tool} not present")
    return tool


RATES = ("sAMOTA", "AMOTA", "AMOTP", "MOTA", "MOTP", "IDF1")
COUNTS = {"IDS": "IDSW", "FRAG": "Frag", "FP": "FP", "FN": "FN", "TP": "TP", "GT": "GT", "MT": "MT",
          "PT": "PT", "ML": "ML", "recall_steps": "recall_steps", "score_threshold": "threshold"}


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("source", ["tracker3d", "labels"])
def test_agrees_with_the_reference_evaluator(shared_data, tmp_path, source: str) -> None:
    """Tracker3D's output on the validation split and the labels as results: every metric both
    evaluators report agrees to 0.01 (percent points), pooled and per sequence, with and without the
    evaluate.py compatibility."""
    from bench.track3d_kitti import GRAPH, graph_tracker_config, run_sequence
    from fusion.kitti_results import labels_as_results, read_ground_truth, write_results
    from sensors.datasets.kitti_tracking import KittiTrackingSequence

    tool = _reference_tool(shared_data)
    root = shared_data("kitti_tracking")
    for s in VAL:
        if source == "labels":
            write_results(tmp_path, s, labels_as_results(read_ground_truth(root, s)), CLASSES)
        else:
            run_sequence(KittiTrackingSequence(root, int(s)), graph_tracker_config(GRAPH), False, tmp_path,
                         list(CLASSES))
    for compat in (True, False):
        cmd = [sys.executable, str(tool), "--gt", str(root / "label_02"), "--res", str(tmp_path), "--seqs",
               ",".join(VAL), "--json", "--per-seq", *([] if compat else ["--no-compat"])]
        ref = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=100).stdout)
        mine = evaluate_folders(root, tmp_path, VAL, compat=compat, per_sequence=True)
        assert len(mine) == 3 * (len(VAL) + 1)
        for r in mine:
            want = ref[r.cls] if r.sequence == TOTAL else ref[r.cls]["per_seq"][r.sequence]
            for k in RATES:
                got = getattr(r, k)
                if want[k] is None:  # no ground truth
                    assert not math.isfinite(got), (r.cls, r.sequence, k, got)
                else:
                    assert 100 * got == pytest.approx(want[k], abs=0.01), (r.cls, r.sequence, k, compat)
            counts = {k: getattr(r, m) for k, m in COUNTS.items()}
            assert counts == {k: want[k] for k in COUNTS}, (r.cls, r.sequence)
