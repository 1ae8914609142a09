"""``percept bench detect``: rows for YOLOX (percept vs raw) and an ultralytics export (all three)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from percept.cli import CommandRegistry
from percept.detections import Detections
from perception import bench
from perception.cli import register
from perception.errors import DetectorError

# The session's YOLO11n (random weights, rescaled to give spread-out boxes) exported to ONNX by
# ultralytics: built once by the ultra helper's fixture.
from tests.perception.test_export import ultra_env, ultra_model  # noqa: F401

ROW_KEYS = {"impl", "model", "batch", "p50_ms", "p99_ms", "fps"}
STAGES = {f"{s}_{q}_ms" for s in ("preprocess", "infer", "postprocess") for q in ("p50", "p99")}


def _dets(rows: list[list[float]], classes: list[int]) -> Detections:
    return Detections(xyxy=np.asarray(rows, np.float32).reshape(-1, 4), confidence=np.full(len(rows), 0.9),
                      class_id=np.asarray(classes, np.int32))


def test_box_matching_needs_same_class_and_iou_099_one_to_one():
    a = _dets([[0, 0, 100, 100], [200, 200, 300, 300], [0, 0, 100, 100]], [1, 2, 1])
    same = _dets([[0, 0, 100, 100.5], [200, 200, 300, 300]], [1, 2])
    assert bench.match_boxes(a, same) == 2  # the duplicate row of `a` has no partner left
    assert bench.match_boxes(a, _dets([[0, 0, 100, 100], [200, 200, 300, 300]], [1, 3])) == 1
    assert bench.match_boxes(a, _dets([[0, 0, 100, 102]], [1])) == 0  # IoU 0.98
    agree = bench.box_agreement([a], [same])
    assert agree == {"percept_boxes": 3, "ultralytics_boxes": 2, "matched": 2, "agreement": round(2 / 3, 4)}
    assert bench.box_agreement([Detections.empty()], [Detections.empty()])["agreement"] == 1.0


def test_batches_cycle_through_the_images():
    imgs = [np.full((2, 2, 3), k, np.uint8) for k in range(3)]
    batches = bench.make_batches(imgs, 2)
    assert [[int(i[0, 0, 0]) for i in b] for b in batches] == [[0, 1], [2, 0]]
    assert len(bench.make_batches(imgs, 8)) == 1 and len(bench.make_batches(imgs, 8)[0]) == 8


def _check_row(row: dict, impl: str, batch: int) -> None:
    assert set(row) >= ROW_KEYS and row["impl"] == impl and row["batch"] == batch
    assert 0 < row["p50_ms"] <= row["p99_ms"] and row["fps"] > 0
    # fps = frames / timed seconds = batch / mean latency; with <= 2 samples (runs=1) p50 is the mean
    assert row["fps"] == pytest.approx(batch * 1e3 / row["p50_ms"], rel=1e-2)


def test_yolox_percept_vs_raw_rows(shared_model, shared_data):
    model = shared_model("yolox_nano_coco_416.onnx")
    report = bench.run(model, images=shared_data("images"), batch=2, runs=1, warmup=1)
    rows = report.as_rows()
    assert [r["impl"] for r in rows] == ["percept", "raw_onnxruntime"]
    _check_row(rows[0], "percept", 2)
    _check_row(rows[1], "raw_onnxruntime", 2)
    p = rows[0]
    assert set(p) >= STAGES and p["backend"] == "onnxruntime"
    assert p["infer_p50_ms"] <= p["p50_ms"] * 1.01
    assert p["vs_raw_p50"] == pytest.approx(p["p50_ms"] / rows[1]["p50_ms"], rel=1e-2)
    assert any("ultralytics skipped" in n for n in report.notes)
    with pytest.raises(DetectorError, match="--runs: expected >= 1"):
        bench.run(model, images=shared_data("images"), runs=0)


def test_ultralytics_export_all_three_with_box_agreement(ultra_model):  # noqa: F811
    report = bench.run(ultra_model.onnx, images=ultra_model.images[0].parent, runs=1, warmup=0, conf=0.1)
    rows = {r["impl"]: r for r in report.as_rows()}
    assert list(rows) == ["percept", "raw_onnxruntime", "ultralytics"]
    for impl, row in rows.items():
        _check_row(row, impl, 1)
    u = rows["ultralytics"]
    assert u["percept_boxes"] > 0 and u["ultralytics_boxes"] > 0
    assert u["agreement"] >= 0.9 and u["matched"] >= 0.9 * max(u["percept_boxes"], u["ultralytics_boxes"])
    p = rows["percept"]
    assert p["speedup_vs_ultralytics_p50"] == pytest.approx(u["p50_ms"] / p["p50_ms"], rel=1e-2)
    assert any("box agreement" in line for line in report.summary_lines())


def test_bench_detect_cli_json(shared_model, shared_data, capsys):
    p = argparse.ArgumentParser(prog="percept")
    sub = p.add_subparsers(dest="command", required=True)
    bsub = sub.add_parser("bench").add_subparsers(dest="bench", required=True)
    register(CommandRegistry(commands=sub, bench=bsub))
    args = p.parse_args(["bench", "detect", "--model", str(shared_model("yolox_nano_coco_416.onnx")),
                         "--images", str(shared_data("images")), "--runs", "1", "--warmup", "0", "--json"])
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["impl"] for r in rows] == ["percept", "raw_onnxruntime"]
    assert all(set(r) >= ROW_KEYS for r in rows) and set(rows[0]) >= STAGES
    args = p.parse_args(["bench", "detect", "--model", str(shared_model("yolox_nano_coco_416.onnx")),
                         "--images", str(shared_data("images")), "--runs", "1", "--warmup", "0"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "percept / raw onnxruntime (p50)" in text and "pre " in text
