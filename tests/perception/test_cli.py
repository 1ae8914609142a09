"""``percept detect`` and ``percept export`` through their handlers, on a parser built as percept.cli does."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from perception.cli import count_frames, iter_frames, register
from perception.errors import DetectorError
from tests.cli_parser import percept_parser

KEYS = {"source", "frame", "stamp_ns", "detections"}
DET_KEYS = {"xyxy", "confidence", "class_id", "class_name"}


def _parser() -> argparse.ArgumentParser:
    return percept_parser(register)


def _run(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return args.func(args)


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _check_schema(rec: dict, width: int, height: int) -> None:
    assert set(rec) == KEYS and isinstance(rec["stamp_ns"], int) and isinstance(rec["frame"], int)
    for d in rec["detections"]:
        assert set(d) == DET_KEYS
        x1, y1, x2, y2 = d["xyxy"]
        assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
        assert 0.25 <= d["confidence"] <= 1 and isinstance(d["class_id"], int)
        assert isinstance(d["class_name"], str) and d["class_name"]


@pytest.fixture
def yolox(shared_model) -> str:
    return str(shared_model("yolox_nano_coco_416.onnx"))


def test_detect_one_image(yolox, shared_data, tmp_path):
    bus = shared_data("images", "bus.jpg")
    out = tmp_path / "dets.jsonl"
    assert _run("detect", "--model", yolox, "--source", str(bus), "--out", str(out)) == 0
    (rec,) = _lines(out)
    h, w = cv2.imread(str(bus)).shape[:2]
    _check_schema(rec, w, h)
    assert rec["source"] == str(bus) and rec["frame"] == 1 and rec["stamp_ns"] == bus.stat().st_mtime_ns
    names = [d["class_name"] for d in rec["detections"]]
    assert names[0] == "bus" and names.count("person") >= 3
    confs = [d["confidence"] for d in rec["detections"]]
    assert confs == sorted(confs, reverse=True)


def test_detect_folder_batched_with_annotations(yolox, shared_data, tmp_path):
    folder = shared_data("images")
    out, ann = tmp_path / "dets.jsonl", tmp_path / "annotated"
    assert _run("detect", "--model", yolox, "--source", str(folder), "--out", str(out), "--batch", "2",
                "--annotate", str(ann), "--conf", "0.3") == 0
    recs = _lines(out)
    files = sorted(p for p in folder.iterdir() if p.suffix == ".jpg")
    assert [r["frame"] for r in recs] == list(range(1, len(files) + 1))
    assert [r["source"] for r in recs] == [str(p) for p in files]
    for rec, path in zip(recs, files, strict=True):
        src = cv2.imread(str(path))
        _check_schema(rec, src.shape[1], src.shape[0])
        assert all(d["confidence"] >= 0.3 for d in rec["detections"]) and rec["detections"]
        drawn = cv2.imread(str(ann / f"{path.stem}.jpg"))
        assert drawn is not None and drawn.shape == src.shape
        # the pixels under the best box's edge changed (a box was drawn there)
        x1, y1, x2, _ = (round(v) for v in rec["detections"][0]["xyxy"])
        assert np.abs(drawn[y1 + 1, x1:x2].astype(int) - src[y1 + 1, x1:x2]).mean() > 20
    # batching does not change results: the single-image run gives the same boxes for bus.jpg
    single = tmp_path / "single.jsonl"
    _run("detect", "--model", yolox, "--source", str(folder / "bus.jpg"), "--out", str(single),
         "--conf", "0.3")
    in_folder = next(r for r in recs if r["source"].endswith("bus.jpg"))
    assert _lines(single)[0]["detections"] == in_folder["detections"]


def test_detect_video_first_frames(yolox, shared_data, tmp_path):
    video = shared_data("video", "nuscenes_front_40frames.mp4")
    out, ann = tmp_path / "video.jsonl", tmp_path / "ann"
    assert _run("detect", "--model", yolox, "--source", str(video), "--out", str(out), "--max-frames", "5",
                "--batch", "3", "--annotate", str(ann)) == 0
    recs = _lines(out)
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    cap.release()
    assert [r["frame"] for r in recs] == [1, 2, 3, 4, 5]
    assert all(r["source"] == str(video) for r in recs)
    for r in recs:
        _check_schema(r, int(w), int(h))
        assert abs(r["stamp_ns"] - (r["frame"] - 1) * 1e9 / fps) < 1e6
    assert sum(len(r["detections"]) for r in recs) > 0
    expected = [f"nuscenes_front_40frames_{k:06d}.jpg" for k in range(1, 6)]
    assert sorted(p.name for p in ann.iterdir()) == expected


def test_detect_errors_name_the_source(yolox, tmp_path):
    with pytest.raises(DetectorError, match="not found"):
        _run("detect", "--model", yolox, "--source", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "o"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DetectorError, match="no images"):
        _run("detect", "--model", yolox, "--source", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    (tmp_path / "notes.txt").write_text("not a video")
    with pytest.raises(DetectorError, match="neither an image"):
        _run("detect", "--model", yolox, "--source", str(tmp_path / "notes.txt"),
             "--out", str(tmp_path / "o"))
    # an unreadable image in a folder is skipped, its frame number stays used
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"garbage")
    cv2.imwrite(str(folder / "b.jpg"), np.full((64, 80, 3), 127, np.uint8))
    assert _run("detect", "--model", yolox, "--source", str(folder), "--out", str(tmp_path / "o.jsonl")) == 0
    assert [(r["frame"], Path(r["source"]).name) for r in _lines(tmp_path / "o.jsonl")] == [(2, "b.jpg")]


def test_annotate_naming_an_existing_file_is_one_error(tmp_path):
    """Regression: `--annotate FILE` ended in a FileExistsError traceback (checked before the model loads)."""
    taken = tmp_path / "taken.jpg"
    taken.write_bytes(b"x")
    with pytest.raises(DetectorError, match=r"--annotate: .*taken\.jpg is a file; name a folder"):
        _run("detect", "--model", str(tmp_path / "m.onnx"), "--source", str(tmp_path), "--out",
             str(tmp_path / "o.jsonl"), "--annotate", str(taken))
    assert taken.read_bytes() == b"x" and not (tmp_path / "o.jsonl").exists()


def test_max_frames_zero_is_refused_not_misreported(tmp_path, capsys):
    """Regression: `--max-frames 0` read all images of a folder but reported a video as undecodable."""
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["detect", "--model", "m", "--source", "s", "--out", "o", "--max-frames", "0"])
    assert info.value.code == 2
    assert "--max-frames: expected a whole number >= 1, got '0'" in capsys.readouterr().err
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(folder / name), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DetectorError, match="--max-frames: expected >= 1, got 0"):
        list(iter_frames(folder, 0))
    assert [f.frame for f in iter_frames(folder, 2)] == [1, 2] and count_frames(folder, 2) == 2
    assert [f.frame for f in iter_frames(folder)] == [1, 2, 3] and count_frames(folder) == 3


def test_count_frames_of_a_video(tmp_path):
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
    for i in range(7):
        writer.write(np.full((24, 32, 3), 30 * i, np.uint8))
    writer.release()
    assert count_frames(path) == len(list(iter_frames(path))) == 7
    assert count_frames(path, 3) == len(list(iter_frames(path, 3))) == 3


def test_export_onnx_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("YOLO_AUTOINSTALL", "false")
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "cfg"))
    target = tmp_path / "y.onnx"
    assert _run("export", "yolo11n.yaml", "--format", "onnx", "--imgsz", "160", "--out", str(target)) == 0
    # the path is the last line on stdout (ultralytics prints its own banner before it)
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(target) and target.stat().st_size > 1e6
    from perception.family import detect_model_info

    info = detect_model_info(target)
    assert info.family == "yolov8" and info.input_size == (160, 160) and len(info.class_names) == 80
    with pytest.raises(DetectorError, match="--calib-images"):
        _run("export", "yolo11n.yaml", "--format", "onnx", "--int8")
    with pytest.raises(SystemExit):
        _parser().parse_args(["export", "yolo11n.yaml", "--format", "onnx", "--half", "--int8"])


def test_detect_annotates_a_video_into_a_video(yolox, shared_data, tmp_path):
    video = shared_data("video", "mot17_04_frames1-8.mp4")
    out, ann = tmp_path / "dets.jsonl", tmp_path / "ann" / "annotated.mp4"
    assert _run("detect", "--model", yolox, "--source", str(video), "--out", str(out),
                "--annotate", str(ann)) == 0
    recs = _lines(out)
    src, got = cv2.VideoCapture(str(video)), cv2.VideoCapture(str(ann))
    assert got.get(cv2.CAP_PROP_FRAME_COUNT) == len(recs) == 8
    assert got.get(cv2.CAP_PROP_FPS) == pytest.approx(src.get(cv2.CAP_PROP_FPS))
    for rec in recs:
        (ok_a, a), (ok_b, b) = src.read(), got.read()
        assert ok_a and ok_b and a.shape == b.shape
        # the pixels under the best box's top edge changed (the box was drawn there); mp4v is lossy
        x1, y1, x2, _ = (round(v) for v in rec["detections"][0]["xyxy"])
        assert np.abs(b[y1 + 1, x1:x2].astype(int) - a[y1 + 1, x1:x2]).mean() > 20
    src.release()
    got.release()
    # a folder target keeps writing images; an existing file that is no .mp4 is refused in one line
    (tmp_path / "taken.jpg").write_bytes(b"x")
    with pytest.raises(DetectorError, match=r"--annotate: .*taken\.jpg is a file"):
        _run("detect", "--model", yolox, "--source", str(video), "--out", str(out), "--annotate",
             str(tmp_path / "taken.jpg"))
