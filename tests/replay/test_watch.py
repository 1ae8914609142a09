"""``percept watch``: the graph it builds, its nodes, and whole runs on the shared clips."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from events.engine import EventEngine
from percept.cli import main
from percept.codec import decode, encode
from percept.errors import ConfigError, PerceptError
from percept.messages import Event, Image, Tracks
from percept.node import LocalRunner
from replay.draw import draw_banners, draw_zones, scene_zones_in_image
from replay.log import LogReader, LogWriter
from replay.pipeline import AnomalyPipeline, load_anomaly_scene
from replay.watch import WatchOptions, build_watch_graph, default_model, output_name, run_watch
from replay.watch_nodes import LogImageSource, LogImageSourceConfig

ROOT = Path(__file__).resolve().parents[2]
PED2_SCENE = ROOT / "configs" / "scenes" / "ucsd-ped2.yaml"


def _video(path: Path, frames: int = 3) -> Path:
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(frames):
        vw.write(np.full((48, 64, 3), 20 * i, np.uint8))
    vw.release()
    return path


def _images_log(path: Path, n: int = 3) -> Path:
    with LogWriter(path, foxglove=False) as w:
        for i in range(n):
            img = Image.from_bgr(np.full((8, 8, 3), i, np.uint8), stamp_ns=1_000 + i * 100_000_000,
                                 frame_id="cam", seq=i)
            w.write("cam/image", encode("cam/image", img), img.stamp_ns)
    return path


def test_graph_from_a_file_is_reliable_and_ends_in_the_sink(tmp_path: Path, shared_model) -> None:
    model = shared_model("yolox_nano_coco_416.onnx")
    video = _video(tmp_path / "v.mp4")
    graph = build_watch_graph(WatchOptions(str(video), tmp_path / "out", model=str(model)))
    nodes = {n.name: n for n in graph.nodes}
    assert list(nodes) == ["camera", "detector", "tracker", "sink"]
    assert nodes["detector"].policy == "reliable"  # a file: every frame is detected
    assert nodes["tracker"].type == "tracker2d"
    assert nodes["sink"].config["out_dir"] == str(tmp_path / "out")
    # the detector reads the camera's analytics stream, twice the 416-pixel model input wide
    assert (nodes["camera"].config["analytics_topic"], nodes["camera"].config["analytics_width"]) == \
        ("camera/watch/analytics", 832)
    assert nodes["detector"].subscribe == ("camera/watch/analytics",)
    assert "camera/watch/image" in nodes["sink"].subscribe
    tiled = build_watch_graph(WatchOptions(str(video), tmp_path / "out", model=str(model),
                                           detector={"tiles": "2x1"}))
    assert tiled.nodes[1].subscribe == ("camera/watch/image",)  # tiles need the full frame


def test_graph_with_a_scene_uses_its_groups_and_events(tmp_path: Path, shared_model) -> None:
    model = shared_model("yolox_nano_coco_416.onnx")
    opts = WatchOptions(str(tmp_path), tmp_path / "out", model=str(model), scene=str(PED2_SCENE))
    nodes = {n.name: n for n in build_watch_graph(opts).nodes}
    assert list(nodes) == ["camera", "detector", "tracker", "events", "sink"]
    assert nodes["tracker"].type == "replay.watch_nodes:SceneTracker2D"
    assert nodes["detector"].config["detector"]["conf"] == 0.05  # the scene's detector settings
    assert nodes["camera"].config["fps"] == 10


def test_graph_from_a_log_replays_its_images(tmp_path: Path, shared_model) -> None:
    model = shared_model("yolox_nano_coco_416.onnx")
    log = _images_log(tmp_path / "run.mcap")
    nodes = build_watch_graph(WatchOptions(str(log), tmp_path / "out", model=str(model))).nodes
    assert (nodes[0].name, nodes[0].config["path"]) == ("log", str(log))
    with pytest.raises(PerceptError, match="--loop and --max-frames are for cameras"):
        build_watch_graph(WatchOptions(str(log), tmp_path / "out", model=str(model), max_frames=3))


def test_missing_source_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PerceptError, match="no such file or folder"):
        build_watch_graph(WatchOptions(str(tmp_path / "nope.mp4"), tmp_path, model="m.onnx"))


def test_default_model_is_the_first_under_percept_models(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PERCEPT_MODELS", str(tmp_path))
    with pytest.raises(ConfigError, match="no model"):
        default_model()
    for name in ("b.pt", "z.onnx", "a.onnx", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert default_model() == tmp_path / "a.onnx"


def test_cli_without_a_model_says_so_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PERCEPT_MODELS", str(tmp_path / "empty"))
    code = main(["watch", str(_video(tmp_path / "v.mp4")), "--out", str(tmp_path / "o"), "--serve"])
    out, err = capsys.readouterr()
    assert code != 0
    assert "operator page does not exist yet" in out
    assert err.strip().startswith("percept: error:") and "no --model given" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.data
def test_cli_loops_a_clip_up_to_max_frames(tmp_path: Path, shared_model, capsys) -> None:
    out = tmp_path / "o"
    model = shared_model("yolox_nano_coco_416.onnx")
    code = main(["watch", str(_video(tmp_path / "v.mp4")), "--model", str(model), "--out", str(out),
                 "--fast", "--loop", "--max-frames", "7"])
    report = json.loads((out / "watch.json").read_text())
    assert code == 0 and report["frames"] == report["tracked"] == 7  # 3 frames played 2 1/3 times
    assert "7 read, 7 tracked" in capsys.readouterr().out


def test_output_name() -> None:
    assert output_name("/data/clips/MOT17-04.mp4") == "MOT17-04"
    assert output_name("/data/ped2/Test004/") == "Test004"
    assert output_name("rtsp://cam.local:554/stream1") == "cam.local_554_stream1"


def test_log_image_source_plays_every_image_once_then_ends(tmp_path: Path) -> None:
    log = _images_log(tmp_path / "run.mcap", n=3)
    source = LogImageSource(LogImageSourceConfig(path=str(log), topic="camera/x"))
    runner = LocalRunner(source, start_ns=10**12)
    runner.advance_to(10**12 + 10**9)
    assert [t for t, _ in runner.outputs] == ["camera/x"] * 3
    msgs = [m for _, m in runner.outputs]
    assert [m.seq for m in msgs] == [0, 1, 2]
    assert np.diff([m.stamp_ns for m in msgs]).tolist() == [100_000_000, 100_000_000]  # the log's spacing
    assert int(msgs[2].to_bgr()[0, 0, 0]) == 2
    assert runner.ctx.ended


def test_zones_and_banners_are_drawn() -> None:
    scene = load_anomaly_scene(PED2_SCENE)
    zones = scene_zones_in_image(scene)
    assert set(zones) == {"footpath", "lawn"} and zones["lawn"].shape == (4, 2)
    img = np.zeros((240, 360, 3), np.uint8)
    draw_zones(img, zones)
    assert img[100, 200].any()  # the lawn's lower edge (y = 100 at x = 200)
    top = img[:10].copy()
    draw_banners(img, ["intrusion start: bicycle on footpath"])
    assert not np.array_equal(top, img[:10])


def _log_messages(path: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    with LogReader(path) as reader:
        for m in reader.messages():
            if not m.topic.startswith(("camera/", "events/")):
                continue
            out.setdefault(m.topic, []).append(decode(m.frames).msg)
    return out


@pytest.mark.slow
@pytest.mark.data
def test_watch_tracks_every_frame_of_the_mot17_clip(shared_data, shared_model, short_tmp: Path) -> None:
    clip = shared_data("video", "mot17_04_frames1-8.mp4")
    model = shared_model("yolox_nano_coco_416.onnx")
    result = run_watch(WatchOptions(str(clip), short_tmp / "out", model=str(model)))
    assert result.code == 0
    files = {k: Path(v) for k, v in result.report["files"].items()}
    assert all(p.is_file() for p in files.values()), files
    msgs = _log_messages(files["log"])
    images, tracks = msgs["camera/watch/image"], msgs["camera/watch/tracks"]
    assert len(images) == 8  # the clip's 8 frames ...
    assert all(isinstance(t, Tracks) for t in tracks)
    assert sorted(t.stamp_ns for t in tracks) == sorted(i.stamp_ns for i in images)  # ... each tracked
    frames = {int(line.split(",")[0]) for line in files["tracks"].read_text().splitlines()}
    assert frames and frames <= set(range(1, 9)) and 8 in frames
    assert result.report["tracked"] == 8 and result.report["untracked"] == 0 and result.skipped() == 0
    video = cv2.VideoCapture(str(files["video"]))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    lat = result.latency_ms()
    assert len(lat) == 8 and (lat > 0).all() and (lat < 5000).all()  # capture before arrival, plausible


def _rule_events(events: list[Event], first_stamp: int, fps: float) -> list[tuple]:
    """(type, zone, phase, frame from 0, track ids renamed by first appearance) of the rule events."""
    names: dict[int, int] = {}
    out = []
    for e in events:
        if e.event_type == "anomaly":  # the score's events, not the rules'
            continue
        ids = tuple(names.setdefault(t, len(names)) for t in e.track_ids)
        out.append((e.event_type, e.zone, e.phase, round((e.stamp_ns - first_stamp) * fps / 1e9), ids))
    return out


@pytest.mark.slow
@pytest.mark.data
def test_watch_raises_the_rule_events_percept_anomaly_raises(shared_data, shared_model,
                                                             short_tmp: Path) -> None:
    frames = shared_data("ucsd_ped2", "frames", "Test004")
    model = shared_model("yolox_nano_coco_416.onnx")
    cut = short_tmp / "Test004-70"
    cut.mkdir()
    for i in range(70):  # the first two bicycles enter the footpath in frames 40 and 64
        (cut / f"{i:03d}.jpg").symlink_to(frames / f"{i:03d}.jpg")
    scene = load_anomaly_scene(PED2_SCENE)
    config = dataclasses.replace(scene.anomaly, detector=dataclasses.replace(scene.anomaly.detector,
                                                                             model=str(model)))
    pipeline = AnomalyPipeline(config, event_engine=EventEngine(scene))
    try:
        offline = pipeline.run(cut)
    finally:
        pipeline.close()
    expected = _rule_events(offline.events, 0, 10.0)
    assert len({e[2] for e in expected}) >= 2 and len(expected) >= 4  # starts and updates to compare

    result = run_watch(WatchOptions(str(cut), short_tmp / "out", model=str(model), scene=str(PED2_SCENE)))
    assert result.code == 0 and result.report["tracked"] == 70
    msgs = _log_messages(Path(result.report["files"]["log"]))
    first = min(i.stamp_ns for i in msgs["camera/watch/image"])
    live = [json.loads(line) for line in Path(result.report["files"]["events"]).read_text().splitlines()]
    logged = msgs["events/ucsd-ped2"]
    assert len(live) == len(logged)
    assert _rule_events(logged, first, 10.0) == expected


def test_sink_keeps_tracks_that_arrive_before_their_image(tmp_path: Path) -> None:
    """With the analytics stream the detections and tracks can beat the 6 MB full image to the
    sink: the frame's stage times, its tracks.txt rows and its video frame must all survive."""
    from percept.detections import Detections
    from percept.messages import Detections2D, TrackStatus
    from replay.watch_sink import WatchSink, WatchSinkConfig

    sink = WatchSink(WatchSinkConfig(out_dir=str(tmp_path), video=False, record=False, status_period_s=0))
    runner = LocalRunner(sink)
    stamp = 1_000_000
    dets = Detections2D(stamp_ns=stamp, frame_id="cam", detections=Detections([[1, 2, 11, 22]], [0.9], [0]),
                        latency_ns=5)
    tracks = Tracks(stamp_ns=stamp, frame_id="cam", track_id=np.array([7]), class_id=np.array([0], np.int32),
                    confidence=np.array([0.9], np.float32), state=np.array([[1, 2, 11, 22]], np.float32),
                    age=np.array([3], np.int32), status=np.array([TrackStatus.CONFIRMED], np.uint8),
                    sensors=np.ones(1, np.uint32), state_fields=("x1", "y1", "x2", "y2"))
    image = Image.from_bgr(np.zeros((32, 32, 3), np.uint8), stamp_ns=stamp, frame_id="cam", seq=4)
    for topic, msg in (("camera/watch/detections", dets), ("camera/watch/tracks", tracks),
                       ("camera/watch/image", image)):
        runner.feed(topic, msg)
    sink.stop()
    report = json.loads((tmp_path / "watch.json").read_text())
    assert (report["tracked"], report["untracked"]) == (1, 0)
    assert set(report["stages"][0]) == {"capture", "image", "detections", "inference_ns", "tracks"}
    assert (tmp_path / "tracks.txt").read_text().startswith("5,7,1.00,2.00,10.00,20.00,")


def test_sink_flushes_early_tracks_whose_image_never_comes(tmp_path: Path) -> None:
    from percept.messages import TrackStatus
    from replay.watch_sink import WatchSink, WatchSinkConfig

    sink = WatchSink(WatchSinkConfig(out_dir=str(tmp_path), video=False, record=False, status_period_s=0))
    runner = LocalRunner(sink)

    def tracks(stamp: int) -> Tracks:
        return Tracks(stamp_ns=stamp, frame_id="cam", track_id=np.array([7]),
                      class_id=np.array([0], np.int32), confidence=np.array([0.9], np.float32),
                      state=np.array([[1, 2, 11, 22]], np.float32),
                      age=np.array([3], np.int32), status=np.array([TrackStatus.CONFIRMED], np.uint8),
                      sensors=np.ones(1, np.uint32), state_fields=("x1", "y1", "x2", "y2"))

    runner.feed("camera/watch/tracks", tracks(100))  # its image is lost on the way
    assert sink.tracked == 0
    runner.feed("camera/watch/image", Image.from_bgr(np.zeros((8, 8, 3), np.uint8), stamp_ns=200,
                                                     frame_id="cam", seq=1))
    assert sink.tracked == 1 and not sink._early and len(sink.pending) == 1  # in order, at once
    sink.stop()
