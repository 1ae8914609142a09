"""``percept bench detect``: rows for YOLOX (percept vs raw) and an ultralytics export (all three)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import detect
from percept.detections import Detections
from perception.errors import DetectorError
from perception.family import ModelInfo

# The session's YOLO11n (random weights, rescaled to give spread-out boxes) exported to ONNX by
# ultralytics: built once by the ultra helper's fixture.
from tests.perception.test_export import ultra_env, ultra_model  # noqa: F401
from tests.perception.test_onnx_io import tiny_onnx

ROW_KEYS = {"impl", "model", "batch", "p50_ms", "p99_ms", "fps"}
STAGES = {f"{s}_{q}_ms" for s in ("preprocess", "infer", "postprocess") for q in ("p50", "p99")}


def _dets(rows: list[list[float]], classes: list[int]) -> Detections:
    return Detections(xyxy=np.asarray(rows, np.float32).reshape(-1, 4), confidence=np.full(len(rows), 0.9),
                      class_id=np.asarray(classes, np.int32))


def test_box_matching_needs_same_class_and_iou_099_one_to_one():
    a = _dets([[0, 0, 100, 100], [200, 200, 300, 300], [0, 0, 100, 100]], [1, 2, 1])
    same = _dets([[0, 0, 100, 100.5], [200, 200, 300, 300]], [1, 2])
    assert detect.match_boxes(a, same) == 2  # the duplicate row of `a` has no partner left
    assert detect.match_boxes(a, _dets([[0, 0, 100, 100], [200, 200, 300, 300]], [1, 3])) == 1
    assert detect.match_boxes(a, _dets([[0, 0, 100, 102]], [1])) == 0  # IoU 0.98
    agree = detect.box_agreement([a], [same])
    assert agree == {"percept_boxes": 3, "ultralytics_boxes": 2, "matched": 2, "agreement": round(2 / 3, 4)}
    assert detect.box_agreement([Detections.empty()], [Detections.empty()])["agreement"] == 1.0


def test_batches_cycle_through_the_images():
    imgs = [np.full((2, 2, 3), k, np.uint8) for k in range(3)]
    batches = detect.make_batches(imgs, 2)
    assert [[int(i[0, 0, 0]) for i in b] for b in batches] == [[0, 1], [2, 0]]
    assert len(detect.make_batches(imgs, 8)) == 1 and len(detect.make_batches(imgs, 8)[0]) == 8


def test_raw_onnxruntime_chunks_follow_the_models_batch_axis(tmp_path):
    """The raw floor reads the batch axis with perception.onnx_io, as the detector's backend does."""
    info = ModelInfo(family="yolox", input_size=(16, 16), class_names=("a",), channel_order="bgr", scale=1.0)
    batches = detect.make_batches([np.full((20, 30, 3), k, np.uint8) for k in range(3)], 3)
    dyn = detect.raw_onnxruntime_impl(info, str(tiny_onnx(tmp_path / "d.onnx", ["batch", 3, 16, 16])),
                                      batches, threads=1)
    assert [[t.shape for t in chunks] for chunks in dyn.inputs] == [[(3, 3, 16, 16)]]  # one call
    fixed = detect.raw_onnxruntime_impl(info, str(tiny_onnx(tmp_path / "f.onnx", [2, 3, 16, 16])),
                                        batches, threads=1)
    chunks = fixed.inputs[0]
    assert [t.shape for t in chunks] == [(2, 3, 16, 16), (2, 3, 16, 16)]  # ceil(3 / 2) calls
    assert not chunks[1][1].any() and chunks[1][0].any()  # the short last chunk is zero-padded
    dyn.fn(dyn.inputs[0])
    fixed.fn(chunks)


def _check_row(row: dict, impl: str, batch: int) -> None:
    assert set(row) >= ROW_KEYS and row["impl"] == impl and row["batch"] == batch
    assert 0 < row["p50_ms"] <= row["p99_ms"] and row["fps"] > 0
    # fps = frames / timed seconds = batch / mean latency; with <= 2 samples (runs=1) p50 is the mean
    assert row["fps"] == pytest.approx(batch * 1e3 / row["p50_ms"], rel=1e-2)


def test_yolox_percept_vs_raw_rows(shared_model, shared_data):
    model = shared_model("yolox_nano_coco_416.onnx")
    report = detect.run(model, images=shared_data("images"), batch=2, runs=1, warmup=1)
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
        detect.run(model, images=shared_data("images"), runs=0)


def test_ultralytics_export_all_three_with_box_agreement(ultra_model):  # noqa: F811
    report = detect.run(ultra_model.onnx, images=ultra_model.images[0].parent, runs=1, warmup=0, conf=0.1)
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


def test_bench_detect_cli_json(shared_model, shared_data, capsys, bench_parser):
    argv = ["bench", "detect", "--model", str(shared_model("yolox_nano_coco_416.onnx")),
            "--images", str(shared_data("images")), "--runs", "1", "--warmup", "0"]
    args = bench_parser.parse_args([*argv, "--json"])
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["impl"] for r in rows] == ["percept", "raw_onnxruntime"]
    assert all(set(r) >= ROW_KEYS for r in rows) and set(rows[0]) >= STAGES
    args = bench_parser.parse_args(argv)
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "percept / raw onnxruntime (p50)" in text and "pre " in text
