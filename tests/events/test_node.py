"""The ``events`` node under ``LocalRunner``: events on ``events/<camera>``, bad messages counted."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from percept.config import build
from percept.errors import ConfigError
from percept.graph import GraphConfig, validate
from percept.messages import Detections2D, Event, Image
from percept.node import LocalRunner, make_processor
from tests.events.scripted import S, straight, timeline, tracks_2d, tracks_3d

SCENE = {"name": "yard", "camera": "cam7", "frame": "ground",
         "zones": {"z": {"polygon": [[0, 0], [10, 0], [10, 10], [0, 10]]}},
         "rules": [{"type": "intrusion", "zone": "z", "min_dwell_s": 0.5}],
         "lifecycle": {"end_after_s": 0.5, "update_every_s": 0.0}}
NODE = "events.node:EventsNode"


@pytest.fixture
def scene_file(tmp_path: Path) -> Path:
    path = tmp_path / "yard.yaml"
    path.write_text(yaml.safe_dump(SCENE))
    return path


def _runner(scene_file: Path, **config) -> LocalRunner:
    return LocalRunner(make_processor(NODE, {"scene": str(scene_file), **config}, "events"), "events")


def test_events_published_on_the_camera_topic(scene_file: Path) -> None:
    runner = _runner(scene_file)
    for msg in timeline({1: straight((-2.0, 5.0), (2.0, 0.0))}, 8.0):  # inside 1.0 .. 6.0 s
        runner.feed("gt/tracks/world", msg)
    out = runner.outputs
    assert [t for t, _ in out] == ["events/cam7", "events/cam7"]
    assert [(m.phase, m.seq, m.camera, m.event_id) for _, m in out] == [
        ("start", 0, "cam7", "yard-intrusion-1"), ("end", 1, "cam7", "yard-intrusion-1")]
    assert all(isinstance(m, Event) for _, m in out)
    assert out[0][1].stamp_ns == pytest.approx(1.6 * S, abs=1)  # first inside at 1.1 s + 0.5 s dwell


def test_bad_messages_are_counted_and_the_node_goes_on(scene_file: Path) -> None:
    runner = _runner(scene_file, tracks=["gt/tracks/world"])
    node = runner.processor
    runner.feed("gt/tracks/world", tracks_3d(1.0, [(1, 5.0, 5.0)]))
    runner.feed("gt/tracks/world", tracks_2d(1.1, [(2, [0, 0, 10, 30])]))  # no homography in this scene
    runner.feed("gt/tracks/world", tracks_3d(0.5, [(1, 5.0, 5.0)]), at_ns=12 * S // 10)  # older than the last
    runner.feed("other/tracks", tracks_3d(1.3, [(1, 5.0, 5.0)]))  # not a configured topic
    runner.feed("gt/tracks/world", Detections2D(stamp_ns=14 * S // 10, frame_id="c"))  # not Tracks
    for k in range(15, 25):
        runner.feed("gt/tracks/world", tracks_3d(k / 10, [(1, 5.0, 5.0)]))
    assert (node.bad_messages, node.ignored) == (2, 2)
    assert runner.ctx.counters.handler_errors == 0
    assert [m.phase for _, m in runner.outputs] == ["start"]  # dwell from 1.0 s: start at 1.5 s
    assert runner.outputs[0][1].stamp_ns == 15 * S // 10


def test_snapshot_from_the_image_of_the_same_instant(scene_file: Path) -> None:
    whole = {**SCENE, "frame": "image", "zones": {"z": {"polygon": [[0, 0], [640, 0], [640, 480], [0, 480]]}}}
    scene_file.write_text(yaml.safe_dump(whole))
    runner = _runner(scene_file, images="camera/cam7/image", topic="alerts")
    assert runner.processor.extra_subscriptions(runner.processor.config) == ("camera/cam7/image",)
    bgr = np.full((480, 640, 3), 40, np.uint8)
    for k in range(8):
        t = k / 10
        jpeg = Image.from_bgr(bgr, stamp_ns=round(t * S), frame_id="cam7", jpeg_quality=90)
        runner.feed("camera/cam7/image", jpeg)
        runner.feed("cam7/tracks", tracks_2d(t, [(1, [300.0, 200.0, 340.0, 300.0])], frame_id="cam7"))
    (topic, ev), = runner.outputs
    assert topic == "alerts" and ev.phase == "start"
    crop = cv2.imdecode(ev.snapshot, cv2.IMREAD_COLOR)
    assert crop.shape[:2] == (140, 56) and abs(int(crop.mean()) - 40) <= 3


def test_bad_scene_fails_when_the_graph_is_loaded(tmp_path: Path, scene_file: Path) -> None:
    graph = {"name": "g", "nodes": [{"name": "events", "type": NODE, "subscribe": ["gt/tracks/world"],
                                     "config": {"scene": str(scene_file)}}], "external": ["gt/"]}
    assert validate(build(GraphConfig, graph, "graph")).nodes[0].subscribe == ("gt/tracks/world",)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: yard\nrules:\n  - {type: teleport}\n")
    graph["nodes"][0]["config"]["scene"] = str(bad)
    with pytest.raises(ConfigError, match=r"graph\.nodes\[0\]\.config \(events\): .*bad\.yaml:3: "
                                          r"rules\[0\]\.type: unknown rule type 'teleport'"):
        validate(build(GraphConfig, graph, "graph"))
    with pytest.raises(ConfigError, match=r"scene: missing required key"):
        make_processor(NODE, {}, "events")
