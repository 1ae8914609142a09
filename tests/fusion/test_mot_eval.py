"""MOT metrics on hand-made files whose IDF1 / MOTA / HOTA are computed by hand, and on MOT15 GT."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.eval_cli import register
from fusion.mot_eval import HOTA_ALPHAS, _import_motmetrics, evaluate, evaluate_many
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
    r = evaluate_many([(gt1, res1), (gt2, res2)], names=["a", "b"])
    assert [x.name for x in r] == ["a", "b", "COMBINED"]
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
