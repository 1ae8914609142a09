"""MOT metrics on hand-made files and frames whose IDF1 / MOTA / HOTA are computed by hand, on MOT15
GT, and HOTA cross-checked with TrackEval on percept's tracker output for MOT15."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.eval_cli import register
from fusion.mot import run_tracker_on_sequence, write_mot_results
from fusion.mot_eval import (
    COMBINED,
    HOTA_ALPHAS,
    FrameObjects,
    MatchRule,
    _import_motmetrics,
    evaluate,
    evaluate_frames,
    evaluate_many,
    evaluate_objects,
    score_frames,
)
from percept.cli import CommandRegistry


def write(path: Path, rows: list[tuple]) -> Path:
    path.write_text("".join(",".join(str(v) for v in r) + ",-1,-1,-1\n" for r in rows))
    return path


def gt_rows(frames: int, objects: dict[int, tuple[float, float]]) -> list[tuple]:
    """Objects (id -> x, y) of size 10 x 20 standing still for ``frames`` frames, conf flag 1."""
    return [(f, i, x, y, 10, 20, 1) for f in range(1, frames + 1) for i, (x, y) in objects.items()]


def test_perfect_tracking_scores_one(tmp_path: Path) -> None:
    gt = write(tmp_path / "gt.txt", gt_rows(5, {1: (0, 0), 2: (100, 0), 3: (0, 100)}))
    m = evaluate(gt, gt)
    assert (m["MOTA"], m["IDF1"], m["HOTA"], m["DetA"], m["AssA"]) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert (m["IDSW"], m["FP"], m["FN"], m["GT"]) == (0, 0, 0, 15)


def test_one_id_switch(tmp_path: Path) -> None:
    gt = write(tmp_path / "gt.txt", gt_rows(4, {7: (0, 0)}))
    res = write(tmp_path / "res.txt", [(f, 1 if f <= 2 else 2, 0, 0, 10, 20, 1) for f in range(1, 5)])
    m = evaluate(gt, res)
    assert m["IDSW"] == 1
    assert m["MOTA"] == pytest.approx(1 - 1 / 4)  # one switch over 4 GT boxes
    assert m["IDF1"] == pytest.approx(2 * 2 / (4 + 4))  # the best id covers 2 of 4 frames
    # every box matches at IoU 1 (DetA 1); each TP's association score is 2 / (2 + 2 + 0)
    assert m["DetA"] == pytest.approx(1.0)
    assert m["AssA"] == pytest.approx(0.5)
    assert m["HOTA"] == pytest.approx(np.sqrt(0.5))


def test_fp_and_fn_counts(tmp_path: Path) -> None:
    gt = write(tmp_path / "gt.txt", gt_rows(3, {1: (0, 0), 2: (100, 0)}))
    # object 2 never found, one false box far away in every frame, object 1 perfect
    res = write(tmp_path / "res.txt", [r for f in range(1, 4)
                                       for r in ((f, 1, 0, 0, 10, 20, 1), (f, 9, 300, 300, 10, 20, 1))])
    m = evaluate(gt, res)
    assert (m["FP"], m["FN"], m["IDSW"], m["GT"]) == (3, 3, 0, 6)
    assert m["MOTA"] == pytest.approx(1 - 6 / 6)
    assert m["IDF1"] == pytest.approx(2 * 3 / (6 + 6))
    # DetA = 3 / (3 + 3 + 3); matched pair's AssA = 3 / 3 = 1
    assert m["HOTA"] == pytest.approx(np.sqrt(1 / 3))


def test_hota_localisation_by_hand(tmp_path: Path) -> None:
    """IoU 0.62 is a TP for the 12 alphas 0.05..0.60 and a FP+FN for the 7 above: HOTA = 12/19."""
    gt = write(tmp_path / "gt.txt", [(1, 1, 0, 0, 10, 10, 1)])
    res = write(tmp_path / "res.txt", [(1, 1, 0, 0, 10, 6.2, 1)])
    m = evaluate(gt, res)
    assert len(HOTA_ALPHAS) == 19
    assert m["HOTA"] == pytest.approx(12 / 19)
    assert m["DetA"] == pytest.approx(12 / 19)
    assert m["MOTA"] == 1.0  # CLEAR matches at IoU >= 0.5
    assert m["MOTP"] == pytest.approx(0.62)


def test_hota_prefers_the_globally_consistent_match(tmp_path: Path) -> None:
    """Frame 3 has two equally overlapping tracks; HOTA's alignment term picks the one that
    followed the object before, so no association is lost: AssA = 3/3 for the GT-track pair."""
    gt = write(tmp_path / "gt.txt", gt_rows(3, {1: (0, 0)}))
    res = write(tmp_path / "res.txt", [(1, 1, 0, 0, 10, 20, 1), (2, 1, 0, 0, 10, 20, 1),
                                       (3, 2, 0, 0, 10, 20, 1), (3, 1, 0, 0, 10, 20, 1)])
    m = evaluate(gt, res)
    # TP 3, FP 1 (track 2), FN 0 -> DetA 3/4; pair (1,1): 3 / (3 + 0 + 0) -> AssA 1
    assert m["DetA"] == pytest.approx(3 / 4)
    assert m["AssA"] == pytest.approx(1.0)
    assert m["HOTA"] == pytest.approx(np.sqrt(3 / 4))


def test_combined_sums_counts(tmp_path: Path) -> None:
    gt1 = write(tmp_path / "gt1.txt", gt_rows(4, {7: (0, 0)}))
    res1 = write(tmp_path / "res1.txt", [(f, 1 if f <= 2 else 2, 0, 0, 10, 20, 1) for f in range(1, 5)])
    gt2 = write(tmp_path / "gt2.txt", gt_rows(4, {1: (0, 0)}))
    res2 = write(tmp_path / "res2.txt", [(f, 1, 0, 0, 10, 20, 1) for f in range(1, 3)])
    steps: list[tuple[float, float | None]] = []
    r = evaluate_many([(gt1, res1), (gt2, res2)], names=["a", "b"],
                      progress=lambda d, t: steps.append((d, t)))
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]  # read and match each pair, then each one's metrics
    assert [x.name for x in r] == ["a", "b", "COMBINED"]
    assert [x.as_dict() for x in r] == [x.as_dict() for x in evaluate_many([(gt1, res1), (gt2, res2)],
                                                                            names=["a", "b"])]
    combined = r[2].as_dict()
    assert (combined["IDSW"], combined["FN"], combined["FP"], combined["GT"]) == (1, 2, 0, 8)
    assert combined["MOTA"] == pytest.approx(1 - 3 / 8)
    # combined HOTA: TP 6, FN 2, FP 0 -> DetA 6/8; AssA = (4 * 0.5 + 2 * 2/4) / 6
    assert combined["HOTA"] == pytest.approx(np.sqrt(6 / 8 * (4 * 0.5 + 2 * 0.5) / 6))


def test_gt_rows_not_considered_are_ignored(tmp_path: Path) -> None:
    gt = write(tmp_path / "gt.txt", [*gt_rows(2, {1: (0, 0)}), (1, 2, 100, 0, 10, 20, 0)])
    res = write(tmp_path / "res.txt", [(f, 1, 0, 0, 10, 20, 1) for f in (1, 2)])
    m = evaluate(gt, res)
    assert (m["GT"], m["FN"], m["MOTA"]) == (2, 0, 1.0)


def test_bad_file_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1,1,0,0,10,20,1\n2,1,zero,0,10\n")
    with pytest.raises(TrackingError, match=r"bad.txt:2"):
        evaluate(bad, bad)
    with pytest.raises(TrackingError, match="not found"):
        evaluate(tmp_path / "missing.txt", bad)


def test_numpy2_asfarray_shim() -> None:
    mm = _import_motmetrics()
    assert np.asfarray([1, 2]).dtype == np.float64  # type: ignore[attr-defined]
    d = mm.distances.iou_matrix(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 5], [50, 50, 1, 1]]),
                                max_iou=0.6)
    assert d[0, 0] == pytest.approx(0.5)
    assert np.isnan(d[0, 1])


def _cli() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    bsub = sub.add_parser("bench").add_subparsers(dest="bench", required=True)
    register(CommandRegistry(commands=sub, bench=bsub))
    return p


def test_cli_eval_mot_gt_against_itself(shared_data, capsys) -> None:
    gt = str(shared_data("mot15", "TUD-Campus", "gt", "gt.txt"))
    args = _cli().parse_args(["eval", "mot", "--gt", gt, "--res", gt])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["sequence", "IDF1", "MOTA", "HOTA"]
    assert lines[1].split()[:4] == ["TUD-Campus", "100.0", "100.0", "100.0"]
    assert lines[2].startswith("COMBINED")
    args = _cli().parse_args(["eval", "mot", "--gt", gt, "--res", gt, "--json"])
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["name"] == "TUD-Campus" and rows[0]["GT"] == 359
    assert (rows[0]["MOTA"], rows[0]["IDF1"], rows[0]["HOTA"], rows[0]["IDSW"]) == (1.0, 1.0, 1.0, 0)


def test_cli_eval_mot_unpaired_files(tmp_path: Path) -> None:
    gt = write(tmp_path / "gt.txt", gt_rows(1, {1: (0, 0)}))
    args = _cli().parse_args(["eval", "mot", "--gt", str(gt), "--gt", str(gt), "--res", str(gt)])
    with pytest.raises(TrackingError, match="one --res per --gt"):
        args.func(args)


def _frames(rows: list[list[tuple[int, float]]], cls: str = "p") -> dict[int, FrameObjects]:
    """Frames of (id, x) boxes 10 px wide at stamps 0, 1, 2 ... ns."""
    return {t: FrameObjects(np.array([i for i, _ in r], np.int64), (cls,) * len(r),
                            np.array([[x, 0, x + 10, 10] for _, x in r], float).reshape(-1, 4))
            for t, r in enumerate(rows)}


def test_clear_mot_counts_on_a_hand_made_case() -> None:
    gt = _frames([[(1, 0), (2, 50)]] * 4)
    # frame 0,1 correct; frame 2: hyp ids swap (2 switches); frame 3: one box missing, one false
    hyp = _frames([[(7, 0), (8, 50)], [(7, 1), (8, 51)], [(8, 0), (7, 50)], [(8, 0), (9, 200)]])
    result = evaluate_objects(gt, hyp)
    m = result.as_dict()
    assert (result.TP, m["FN"], m["FP"], m["IDSW"]) == (7, 1, 1, 2)
    assert m["MOTA"] == pytest.approx(1 - (1 + 1 + 2) / 8)
    # IDF1: best id mapping 1->7 (2 frames) + 2->8 (2 frames) = 4 of (8 gt + 8 hyp) / 2
    assert m["IDF1"] == pytest.approx(2 * 4 / 16)
    assert evaluate_objects(gt, gt).MOTA == 1.0 and evaluate_objects(gt, gt).IDF1 == 1.0


def test_points_score_one_minus_distance_over_threshold() -> None:
    rule = MatchRule(dist_threshold_m=2.0)
    sim, ok = rule.score(np.array([[0.0, 0.0]]), np.array([[0.5, 0.0], [2.0, 0.0], [3.0, 0.0]]))
    assert sim.tolist() == [[0.75, 0.0, 0.0]]
    assert ok.tolist() == [[True, True, False]]  # at the threshold still matchable, beyond not
    point = {t: FrameObjects([1], ("Car",), [[0.0, 0.0]]) for t in range(3)}
    hyp = {t: FrameObjects([5], ("Car",), [[0.42 if t < 2 else 3.0, 0.0]]) for t in range(3)}
    result = evaluate_objects(point, hyp, rule=rule)
    m = result.as_dict()
    assert (result.TP, m["FN"], m["FP"], m["IDSW"]) == (2, 1, 1, 0)
    assert m["MOTP"] == pytest.approx(1 - 0.42 / 2)  # mean similarity 0.79 of the matches
    # HOTA: similarity 0.79 is a TP for the 15 alphas 0.05..0.75 with DetA 2/4 and AssA 2/(3+3-2)
    assert m["DetA"] == pytest.approx(15 / 19 * 0.5)
    assert m["AssA"] == pytest.approx(15 / 19 * 0.5)
    assert m["HOTA"] == pytest.approx(15 / 19 * 0.5)


def test_class_filter_and_scored_frames() -> None:
    cars, peds = _frames([[(1, 0)]] * 3, "Car"), _frames([[(2, 100)]] * 3, "Pedestrian")
    gt = {t: FrameObjects(np.r_[cars[t].ids, peds[t].ids], ("Car", "Pedestrian"),
                          np.vstack([cars[t].geom, peds[t].geom])) for t in range(3)}
    hyp = {**cars, 7: _frames([[(3, 300)]], "Car")[0]}  # cars tracked, plus a car where there is no gt
    car = evaluate_objects(gt, hyp, "Car")
    assert (car.GT, car.TP, car.FP) == (3, 3, 1)
    assert car.as_dict()["MOTA"] == pytest.approx(2 / 3)
    assert evaluate_objects(gt, hyp, "Car", keys=sorted(gt)).FP == 0  # stamp 7 not scored
    every = evaluate_objects(gt, hyp, keys=sorted(gt))
    assert (every.GT, every.TP, every.FN) == (6, 3, 3)
    frames = score_frames(gt, hyp, cls="Pedestrian")
    assert [len(f.gt_ids) for f in frames] == [1, 1, 1, 0] and all(f.similarity.shape[1] == 0 for f in frames)


def test_bad_objects_rules_and_names_raise() -> None:
    with pytest.raises(TrackingError, match=r"geom: expected shape \(2, 4\)"):
        FrameObjects([1, 2], ("a", "b"), np.zeros((2, 5)))
    with pytest.raises(TrackingError, match="classes: expected 2 names"):
        FrameObjects([1, 2], ("a",), np.zeros((2, 4)))
    with pytest.raises(TrackingError, match="iou_threshold"):
        MatchRule(iou_threshold=0.0)
    with pytest.raises(TrackingError, match="dist_threshold_m"):
        MatchRule(dist_threshold_m=-1.0)
    with pytest.raises(TrackingError, match="cannot compare"):
        MatchRule().score(np.zeros((1, 4)), np.zeros((1, 2)))
    frames = score_frames(_frames([[(1, 0)]]), _frames([[(1, 0)]]))
    with pytest.raises(TrackingError, match="unique names"):
        evaluate_frames([("a", frames), ("a", frames)])
    with pytest.raises(TrackingError, match="unique names"):
        evaluate_frames([(COMBINED, frames)])


MOT15_WITH_GT = ("TUD-Campus", "TUD-Stadtmitte", "ETH-Sunnyday")


@pytest.mark.data
def test_hota_agrees_with_trackeval_on_mot15(shared_data, tmp_path: Path) -> None:
    """percept's tracker on the MOT15 detections, scored by percept and by TrackEval 1.3.0 (its own
    MOT file reading, MOT15 preprocessing and IoU, then ``HOTA().eval_sequence``)."""
    trackeval = pytest.importorskip("trackeval", reason="trackeval is a test install (Makefile BENCH_DEPS)")
    res_dir = tmp_path / "percept" / "data"
    res_dir.mkdir(parents=True)
    pairs = []
    for seq in MOT15_WITH_GT:
        root = shared_data("mot15", seq)
        write_mot_results(res_dir / f"{seq}.txt",
                          run_tracker_on_sequence(root / "det" / "det.txt", root / "seqinfo.ini"))
        pairs.append((root / "gt" / "gt.txt", res_dir / f"{seq}.txt"))
    ours = evaluate_many(pairs, names=list(MOT15_WITH_GT))
    dataset = trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(shared_data("mot15")), "TRACKERS_FOLDER": str(tmp_path),
        "TRACKERS_TO_EVAL": ["percept"], "BENCHMARK": "MOT15", "SKIP_SPLIT_FOL": True,
        "SEQ_INFO": dict.fromkeys(MOT15_WITH_GT), "PRINT_CONFIG": False})
    for seq, mine in zip(MOT15_WITH_GT, ours[:-1], strict=True):
        data = dataset.get_preprocessed_seq_data(dataset.get_raw_seq_data("percept", seq), "pedestrian")
        assert data["num_gt_dets"] == mine.GT  # the same ground truth
        hota = trackeval.metrics.HOTA().eval_sequence(data)
        idf1 = trackeval.metrics.Identity({"PRINT_CONFIG": False}).eval_sequence(data)["IDF1"]
        theirs = {k: 100 * float(np.mean(hota[k])) for k in ("HOTA", "DetA", "AssA")}
        m = mine.as_dict()
        print(f"{seq}: percept HOTA {100 * m['HOTA']:.3f} DetA {100 * m['DetA']:.3f} "
              f"AssA {100 * m['AssA']:.3f} IDF1 {100 * m['IDF1']:.3f}; "
              f"TrackEval HOTA {theirs['HOTA']:.3f} DetA {theirs['DetA']:.3f} AssA {theirs['AssA']:.3f} "
              f"IDF1 {100 * idf1:.3f}")
        for key, value in theirs.items():
            assert 100 * m[key] == pytest.approx(value, abs=0.1), (seq, key)
        assert m["IDF1"] == pytest.approx(idf1, abs=1e-9)  # motmetrics' and TrackEval's IDF1 agree too
        assert m["HOTA"] > 0.3  # a real tracker run, not an empty one
