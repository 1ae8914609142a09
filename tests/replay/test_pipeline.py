"""The offline anomaly pipeline: scene files, grouped tracking, scoring, events and ``percept anomaly``."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest

from events.engine import EventEngine
from events.errors import EventsError
from events.jsonl import event_to_json, read_events_jsonl
from percept.detections import Detections
from percept.errors import ConfigError
from percept.messages import Event, Tracks
from replay.anomaly_cli import register
from replay.ped2 import VIDEOS, auc_table, read_labels
from replay.pipeline import (
    AnomalyPipeline,
    AnomalySceneConfig,
    ScoreEventsConfig,
    load_anomaly_scene,
    read_scores,
    write_scores,
)
from tests.cli_parser import percept_parser
from tests.rejects import assert_rejects

ROOT = Path(__file__).resolve().parents[2]
PED2 = ROOT / "configs" / "scenes" / "ucsd-ped2.yaml"
NAMES = ("person", "bicycle", "car")
IMAGE = (360, 240)
EVENT_KEYS = {"stamp_ns", "event_type", "track_ids", "zone", "severity", "phase", "event_id", "camera",
              "evidence", "text", "frame_id", "seq"}


def scene() -> AnomalySceneConfig:
    return dataclasses.replace(load_anomaly_scene(PED2).anomaly,
                               events=ScoreEventsConfig(threshold=0.3, release=0.15))


def dets(rows: list[tuple[int, float, tuple[float, float, float, float]]]) -> Detections:
    """Detections of rows ``(class_id, confidence, (x1, y1, x2, y2))``."""
    return Detections(np.array([r[2] for r in rows], np.float32).reshape(-1, 4),
                      np.array([r[1] for r in rows], np.float32), np.array([r[0] for r in rows], np.int32))


def walk(pipeline: AnomalyPipeline, frames: int, bike_from: int, bike_to: int) -> list[Tracks]:
    """Six walkers at 0.5 heights/s; a bicycle with its rider (5 heights/s) in [bike_from, bike_to)."""
    out = []
    for f in range(frames):
        rows = [(0, 0.8, (20 + 40 * k + 1.5 * f, 80 + 20 * k, 32 + 40 * k + 1.5 * f, 110 + 20 * k))
                for k in range(6)]
        if bike_from <= f < bike_to:
            x = 150 + 10 * (f - bike_from)  # leaves the image on the right after 21 frames
            rows += [(1, 0.7, (x, 150, x + 25, 170)), (0, 0.6, (x + 5, 125, x + 17, 160))]
        out.append(pipeline.track(dets(rows), int(f * 1e8), NAMES))
    return out


def test_shipped_ped2_scene_loads_with_its_defaults() -> None:
    s = load_anomaly_scene(PED2).anomaly
    assert s.camera == "ucsd-ped2" and s.fps == 10 and s.detector.model == "yolox_nano_coco_416.onnx"
    assert [g.name for g in s.groups] == ["people", "vehicles"] and s.normal_model == "scene"
    assert s.score.class_weights["bicycle"] == 1.0 and "skis" not in s.score.class_weights


@pytest.mark.parametrize(("text", "message"), [
    ("anomaly: {fps: 10, detectr: {}}", "unknown key 'detectr'"),
    ("anomaly: {events: {threshold: 0.2, release: 0.5}}", "release <= threshold"),
    ("anomaly: {score: {class_weights: {bicycle: 3}}}", "class_weights.bicycle"),
    ("anomaly: {normal: {grid: [0, 2]}}", "normal.grid"),
    ("anomaly: {groups: [{name: a}, {name: b}]}", "at most one group"),
])
def test_bad_scene_files_name_the_key(tmp_path, text: str, message: str) -> None:
    err = assert_rejects(load_anomaly_scene, tmp_path / "scene.yaml", "name: s\n" + text, EventsError,
                         message)
    assert "scene.yaml:2: anomaly" in str(err.value)


def test_people_and_vehicles_are_tracked_apart_with_unique_ids() -> None:
    p = AnomalyPipeline(scene())
    rider = [(1, 0.7, (100, 150, 125, 170)), (0, 0.6, (102, 130, 122, 168))]  # overlapping boxes
    t = None
    for f in range(3):
        t = p.track(dets(rider), int(f * 1e8), NAMES)
    assert t is not None and t.state_fields == ("x1", "y1", "x2", "y2", "vx", "vy")
    assert sorted(NAMES[c] for c in t.class_id) == ["bicycle", "person"]
    assert len(set(t.track_id.tolist())) == 2 and t.frame_id == "ucsd-ped2"


def test_frames_with_a_bicycle_score_higher_and_raise_one_event() -> None:
    p = AnomalyPipeline(scene())
    tracked = walk(p, 80, 30, 52)
    result = p.score(tracked, IMAGE)
    assert len(result.scores) == len(result.raw) == 80
    inside, outside = result.scores[33:50], np.r_[result.scores[:25], result.scores[60:]]
    assert inside.min() > 0.5 > 0.1 > outside.max()
    assert [e.phase for e in result.events] == ["start", "end"]
    start, end = (event_to_json(e) for e in result.events)
    assert set(start) == EVENT_KEYS and start["event_type"] == "anomaly" and start["camera"] == "ucsd-ped2"
    assert start["event_id"] == end["event_id"] == "ucsd-ped2-anomaly-1"
    assert 3.0e9 <= start["stamp_ns"] <= 3.5e9 and start["evidence"]["track_class"] == "bicycle"


def test_an_event_still_active_at_the_end_of_the_source_is_ended() -> None:
    p = AnomalyPipeline(scene())
    result = p.score(walk(p, 40, 20, 40), IMAGE)
    assert [e.phase for e in result.events] == ["start", "end"]
    assert result.events[-1].stamp_ns == int(39 * 1e8)


class CrowdRule:
    """A small rules engine: an event whenever at least ``n`` tracks are in the frame."""

    def __init__(self, n: int) -> None:
        self.n = n

    def update(self, tracks: Tracks) -> list[Event]:
        if len(tracks.track_id) < self.n:
            return []
        return [Event(stamp_ns=tracks.stamp_ns, frame_id=tracks.frame_id, event_type="crowding",
                      track_ids=tuple(tracks.track_id.tolist()))]


def test_rule_events_of_an_event_engine_come_out_with_the_score_events() -> None:
    p = AnomalyPipeline(scene(), event_engine=CrowdRule(7))
    tracked = walk(p, 60, 20, 40)
    rules = [p.event_engine.update(t) for t in tracked]  # type: ignore[union-attr]
    result = p.score(tracked, IMAGE, rules)
    kinds = [e.event_type for e in result.events]
    assert kinds.count("crowding") == sum(len(r) for r in rules) > 0 and "anomaly" in kinds


def test_online_model_learns_while_running() -> None:
    p = AnomalyPipeline(dataclasses.replace(scene(), normal_model="online"))
    result = p.score(walk(p, 60, 30, 50), IMAGE)
    assert result.scores[35:48].min() > result.scores[:25].max()


def test_scores_file_round_trip_and_format(tmp_path) -> None:
    path = tmp_path / "scores.txt"
    write_scores(path, np.array([0.1, 0.25, 0.9]))
    assert path.read_text().splitlines() == ["1,0.100000", "2,0.250000", "3,0.900000"]
    np.testing.assert_allclose(read_scores(path), [0.1, 0.25, 0.9])
    (tmp_path / "bad.txt").write_text("1,0.1\nfoo\n")
    with pytest.raises(ConfigError, match=r"bad\.txt:2"):
        read_scores(tmp_path / "bad.txt")


def test_labels_and_auc_table(tmp_path) -> None:
    path = tmp_path / "Test001.txt"
    path.write_text("# frame,label\n1,0\n2,0\n3,1\n4,1\n")
    labels = read_labels(path)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])
    table = auc_table({"a": labels, "b": labels}, {"a": np.array([0.1, 0.2, 0.3, 0.4]),
                                                    "b": np.array([0.4, 0.1, 0.2, 0.3])})
    assert table.per_video == {"a": 1.0, "b": 0.5} and 0.5 < table.pooled < 1.0
    path.write_text("1,0\n3,1\n")
    with pytest.raises(ConfigError, match="without gaps"):
        read_labels(path)


def anomaly_cli(argv: list[str]) -> int:
    args = percept_parser(register).parse_args(argv)
    return args.func(args)


@pytest.mark.data
def test_fit_then_run_with_the_fitted_model(shared_data, shared_model, tmp_path) -> None:
    frames = shared_data("ucsd_ped2", "frames", "Test002")
    normal = tmp_path / "normal_frames"
    normal.mkdir()
    for f in sorted(frames.iterdir())[:30]:  # Test002 frames 1-94 are normal
        (normal / f.name).symlink_to(f)
    model_file = tmp_path / "normal.json"
    model = str(shared_model("yolox_nano_coco_416.onnx"))
    assert anomaly_cli(["anomaly", "fit", "--source", str(normal), "--model", model, "--config", str(PED2),
                        "--out", str(model_file)]) == 0
    data = json.loads(model_file.read_text())
    assert data["format"] == "percept.normal_motion/1" and sum(data["occupancy"]) > 100
    scores = tmp_path / "scores.txt"
    assert anomaly_cli(["anomaly", "--source", str(normal), "--model", model, "--config", str(PED2),
                        "--normal-model", str(model_file), "--scores-out", str(scores)]) == 0
    assert len(read_scores(scores)) == 30


def test_shipped_ped2_scene_has_rules_for_the_engine() -> None:
    s = load_anomaly_scene(PED2)
    assert s.frame == "image" and s.image_size == (360, 240) and s.camera == s.anomaly.camera == "ucsd-ped2"
    assert {r.type for r in s.rules} == {"intrusion", "running"}
    assert EventEngine(s).rules  # the rules build against the scene's zones


def test_a_scene_without_an_anomaly_section_takes_the_code_defaults(tmp_path) -> None:
    path = tmp_path / "scene.yaml"
    path.write_text("name: gate\ncamera: cam7\n")
    s = load_anomaly_scene(path)
    assert s.anomaly == dataclasses.replace(AnomalySceneConfig(), camera="cam7")


@pytest.mark.data
def test_percept_anomaly_writes_the_events_the_engine_raises_on_the_same_tracks(shared_data, shared_model,
                                                                                tmp_path) -> None:
    """Test004 (a cart crosses the path): the rule events of ``percept anomaly --events-out`` are
    exactly those an EventEngine of the scene raises on the pipeline's tracks of that video."""
    frames = shared_data("ucsd_ped2", "frames", "Test004")
    model = str(shared_model("yolox_nano_coco_416.onnx"))
    out, events = tmp_path / "scores.txt", tmp_path / "events.jsonl"
    assert anomaly_cli(["anomaly", "--source", str(frames), "--model", model, "--config", str(PED2),
                        "--scores-out", str(out), "--events-out", str(events)]) == 0
    written = [event_to_json(e) for e in read_events_jsonl(events) if e.event_type != "anomaly"]
    scene_file = load_anomaly_scene(PED2)
    engine = EventEngine(scene_file)
    pipeline = AnomalyPipeline(dataclasses.replace(scene_file.anomaly, detector=dataclasses.replace(
        scene_file.anomaly.detector, model=model)))
    expected = []
    try:
        for _n, stamp, image in pipeline.frames(frames):
            assert image is not None
            dets = pipeline.detector.detect([image])[0]
            expected += engine.update(pipeline.track(dets, stamp, pipeline.detector.class_names))
    finally:
        pipeline.close()
    assert [e["zone"] for e in written if e["event_type"] == "intrusion"][:1] == ["footpath"]
    assert written == [event_to_json(e) for e in expected]


@pytest.mark.data
@pytest.mark.slow
def test_ped2_auc_through_the_command(shared_data, shared_model, tmp_path, capsys) -> None:
    """Every shared Ped2 video through ``percept anomaly``; pooled frame AUC >= 0.96 (one config)."""
    root = shared_data("ucsd_ped2")
    model = str(shared_model("yolox_nano_coco_416.onnx"))
    labels, scores = {}, {}
    t0 = time.perf_counter()
    for video in VIDEOS:
        out, events = tmp_path / f"{video}.txt", tmp_path / f"{video}.jsonl"
        argv = ["anomaly", "--source", str(root / "frames" / video), "--model", model, "--config", str(PED2),
                "--scores-out", str(out), "--events-out", str(events)]
        assert anomaly_cli(argv) == 0
        labels[video] = read_labels(root / "labels" / f"{video}.txt")
        scores[video] = read_scores(out)
        assert len(scores[video]) == len(labels[video])
        for line in events.read_text().splitlines():
            assert set(json.loads(line)) == EVENT_KEYS
    table = auc_table(labels, scores)
    with capsys.disabled():
        print("\nUCSD Ped2 frame AUC (percept anomaly, configs/scenes/ucsd-ped2.yaml):")
        print("\n".join(table.lines()), f"\n{time.perf_counter() - t0:.1f} s")
    assert table.pooled >= 0.96
