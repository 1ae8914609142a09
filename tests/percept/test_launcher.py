"""Launcher: a 3-node graph as real processes, restarts, inspection and clean shutdown."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml

pytestmark = pytest.mark.slow


def _graph(tmp: Path, transport: str = "ipc") -> Path:
    graph = {
        "name": "relay-test",
        "transport": transport,
        "output": "log",
        "restart": {"backoff_s": 0.2, "max_backoff_s": 1.0},
        "nodes": [
            {"name": "source", "type": "test_pattern", "publishes": ["camera/test"],
             "config": {"topic": "camera/test", "rate_hz": 40, "width": 64, "height": 48}},
            {"name": "relay", "type": "relay", "subscribe": ["camera/"], "publishes": ["relayed/"],
             "config": {"rename": {"camera/": "relayed/camera/"}}},
            {"name": "sink", "type": "jsonl_sink", "subscribe": ["relayed/"],
             "config": {"path": str(tmp / "sink.jsonl")}},
        ],
    }
    path = tmp / "graph.yaml"
    path.write_text(yaml.safe_dump(graph))
    return path


def _percept(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "percept.cli", *args], **kw)


@contextlib.contextmanager
def _launched(*args: str) -> Iterator[subprocess.Popen]:
    """``percept *args`` running for the ``with`` block; killed at its end if still running."""
    launcher = _percept(*args)
    try:
        yield launcher
    finally:
        if launcher.poll() is None:
            launcher.kill()


def _stop(launcher: subprocess.Popen, sig: int, pids: list[int]) -> None:
    """Stop ``launcher`` with ``sig``: it exits with 0 and none of the node ``pids`` outlives it."""
    launcher.send_signal(sig)
    assert launcher.wait(timeout=15) == 0
    _wait(lambda: all(_gone(p) for p in pids), 5, "no orphan node processes")


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _sink_lines(tmp: Path) -> list[dict]:
    p = tmp / "sink.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def _manifest(run: Path) -> dict:
    try:
        return json.loads((run / "graph.json").read_text())
    except (OSError, ValueError):
        return {}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_graph_restarts_a_killed_node_and_stops_cleanly(short_tmp):
    run = short_tmp / "run"
    with _launched("run", str(_graph(short_tmp)), "--run-dir", str(run)) as launcher:
        _wait(lambda: len(_sink_lines(short_tmp)) >= 20, 20, "frames at the sink")
        nodes = _wait(lambda: _manifest(run).get("nodes"), 5, "manifest")
        pids = {n: v["pid"] for n, v in nodes.items()}
        assert all(pids.values())
        assert {p.pid for p in psutil.Process(launcher.pid).children()} == set(pids.values())

        os.kill(pids["relay"], signal.SIGKILL)
        killed_at = time.time_ns()
        new = _wait(lambda: (p := _manifest(run)["nodes"]["relay"]["pid"]) not in (None, pids["relay"]) and p,
                    10, "relay restart")
        assert _manifest(run)["nodes"]["relay"]["restarts"] == 1
        # the sink resumes: frames captured after the kill arrive through the new relay
        _wait(lambda: sum(x["stamp_ns"] > killed_at for x in _sink_lines(short_tmp)) >= 10, 15,
              "frames after the restart")
        assert (run / "relay.log").read_text().count("Traceback") == 0

        # inspection tools against the running graph
        topics = json.loads(subprocess.run(
            [sys.executable, "-m", "percept.cli", "topics", "--run-dir", str(run), "--json"],
            capture_output=True, text=True, timeout=30, check=True).stdout)
        by_topic = {t["topic"]: t for t in topics}
        assert by_topic["relayed/camera/test"]["schema"] == "percept.Image"
        assert by_topic["relayed/camera/test"]["publisher"] == "relay"
        assert 20 < by_topic["camera/test"]["rate_hz"] < 60
        assert by_topic["stats/sink"]["schema"] == "percept.NodeStats"
        echo = subprocess.run(
            [sys.executable, "-m", "percept.cli", "echo", "relayed/", "-n", "3", "--run-dir", str(run)],
            capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
        assert len(echo) == 3
        first = json.loads(echo[0])
        assert first["topic"] == "relayed/camera/test" and first["data"]["shape"] == [48, 64, 3]

        _stop(launcher, signal.SIGTERM, [*pids.values(), new])
    assert not (run / "graph.json").exists()
    seqs = [x["seq"] for x in _sink_lines(short_tmp)]
    assert seqs == sorted(seqs)  # one source, in order, even across the relay restart


def test_tcp_graph_runs_and_sigint_stops_it(short_tmp):
    with _launched("run", str(_graph(short_tmp, "tcp")), "--run-dir", str(short_tmp / "run")) as launcher:
        _wait(lambda: len(_sink_lines(short_tmp)) >= 10, 20, "frames over tcp")
        endpoints = [n["endpoint"] for n in _manifest(short_tmp / "run")["nodes"].values()]
        assert all(e.startswith("tcp://127.0.0.1:") for e in endpoints)
        _stop(launcher, signal.SIGINT, [p.pid for p in psutil.Process(launcher.pid).children()])


def test_nodes_die_with_a_killed_launcher(short_tmp):
    with _launched("run", str(_graph(short_tmp)), "--run-dir", str(short_tmp / "run")) as launcher:
        _wait(lambda: len(_sink_lines(short_tmp)) >= 5, 20, "frames at the sink")
        children = [p.pid for p in psutil.Process(launcher.pid).children()]
        assert len(children) == 3
        launcher.kill()
        launcher.wait(timeout=5)
    _wait(lambda: all(_gone(p) for p in children), 10, "nodes to follow the launcher")


def test_run_rejects_a_bad_graph_naming_the_key(short_tmp):
    path = _graph(short_tmp)
    data = yaml.safe_load(path.read_text())
    data["nodes"][1]["config"]["renam"] = {}
    path.write_text(yaml.safe_dump(data))
    res = subprocess.run([sys.executable, "-m", "percept.cli", "run", str(path)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert "graph.nodes[1].config (relay)" in res.stderr and "'renam'" in res.stderr


# -- graph edges: readiness, end of stream, the summary ------------------------------------------
def _video(path: Path, n: int = 8, fps: float = 30.0) -> Path:
    """A small real video file (mp4v): a bright square moving right on black, ``n`` frames."""
    import cv2
    import numpy as np

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    for k in range(n):
        img = np.zeros((120, 160, 3), np.uint8)
        img[40:80, 10 + 8 * k:50 + 8 * k] = 255
        vw.write(img)
    vw.release()
    return path


def _run_graph(tmp: Path, nodes: list[dict], timeout: float = 60, **top) -> subprocess.CompletedProcess:
    path = tmp / "edges.yaml"
    path.write_text(yaml.safe_dump({"name": "edges", "output": "log", "drain_timeout_s": 15.0,
                                    "restart": {"enabled": False}, "nodes": nodes, **top}))
    cmd = [sys.executable, "-m", "percept.cli", "run", str(path), "--run-dir", str(tmp / "run")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _camera(video: Path, topic: str = "camera/image") -> dict:
    return {"name": "camera", "type": "camera", "publishes": [topic],
            "config": {"source": str(video), "topic": topic}}


def _latencies_s(lines: list[dict]) -> list[float]:
    return [(x["received_ns"] - x["stamp_ns"]) / 1e9 for x in lines]


def test_a_slow_starting_subscriber_still_gets_frame_0_and_the_graph_ends_by_itself(short_tmp):
    video = _video(short_tmp / "clip.mp4")
    sink = {"name": "sink", "type": "tests.percept.edge_nodes:SlowSink", "subscribe": ["camera/"],
            "policy": "latest", "config": {"path": str(short_tmp / "sink.jsonl"), "delay_s": 2.0}}
    res = _run_graph(short_tmp, [_camera(video), sink])
    assert res.returncode == 0, res.stderr[-3000:]
    lines = _sink_lines(short_tmp)
    assert [x["seq"] for x in lines] == list(range(8))  # frame 0 too, although the link is 'latest'
    lat = _latencies_s(lines)
    assert all(0 < t < 1.0 for t in lat), lat  # capture stamps are never later than arrival
    camera_log = (short_tmp / "run" / "camera.log").read_text()
    assert "waiting for ['sink'] to be ready" in camera_log and "ready after" in camera_log
    summary = json.loads((short_tmp / "run" / "summary.json").read_text())
    nodes = summary["nodes"]
    assert nodes["sink"]["ready_s"] >= 2.0  # its setup took 2 s; the camera waited for it
    assert lines[0]["stamp_ns"] >= nodes["camera"]["ready_at_ns"] >= nodes["sink"]["ready_at_ns"] > 0
    assert summary["links"] == [{"topic": "camera/image", "producer": "camera", "consumer": "sink",
                                 "published": 8, "received": 8, "skipped": 0}]
    assert "every node finished" in res.stderr


def test_a_slow_detector_on_a_latest_link_skips_frames_and_every_one_is_counted(short_tmp):
    video = _video(short_tmp / "clip.mp4")
    det = {"name": "detector", "type": "tests.percept.edge_nodes:SlowDetector", "subscribe": ["camera/image"],
           "policy": "latest", "publishes": ["camera/detections"], "config": {"delay_s": 0.2}}
    trk = {"name": "tracker", "type": "tracker2d", "subscribe": ["camera/detections"],
           "publishes": ["camera/tracks"]}
    sink = {"name": "sink", "type": "jsonl_sink", "subscribe": ["camera/tracks"],
            "config": {"path": str(short_tmp / "sink.jsonl")}}
    t0 = time.monotonic()
    res = _run_graph(short_tmp, [_camera(video), det, trk, sink])
    assert res.returncode == 0, res.stderr[-3000:]
    assert time.monotonic() - t0 < 40
    tracked = _sink_lines(short_tmp)
    summary = json.loads((short_tmp / "run" / "summary.json").read_text())
    links = {(x["topic"], x["consumer"]): x for x in summary["links"]}
    image = links["camera/image", "detector"]
    assert image["published"] == 8 and image["skipped"] >= 1  # the busy detector missed frames
    assert image["received"] + image["skipped"] == 8
    assert links["camera/detections", "tracker"]["skipped"] == 0
    assert links["camera/tracks", "sink"]["received"] == len(tracked)
    # every frame the camera published is tracked or counted as skipped
    assert len(tracked) + image["skipped"] == 8
    assert all(n["finished"] for n in summary["nodes"].values())
    row = rf"summary: camera/image +camera +detector +8 +{image['received']} +{image['skipped']}\n"
    assert re.search(row, res.stderr), res.stderr[-2000:]  # the launcher's summary table


@pytest.mark.data
def test_mot17_clip_through_yolox_is_tracked_frame_by_frame_and_ends(short_tmp, shared_data, shared_model):
    clip = shared_data("video", "mot17_04_frames1-8.mp4")
    det = {"name": "detector", "type": "detector", "subscribe": ["camera/front/image"], "policy": "latest",
           "publishes": ["camera/front/detections"],
           "config": {"detector": {"model": str(shared_model("yolox_nano_coco_416.onnx"))}}}
    trk = {"name": "tracker", "type": "tracker2d", "subscribe": ["camera/front/detections"],
           "publishes": ["camera/front/tracks"], "config": {"publish_all": True}}
    sink = {"name": "sink", "type": "jsonl_sink", "subscribe": ["camera/front/tracks"],
            "config": {"path": str(short_tmp / "sink.jsonl")}}
    res = _run_graph(short_tmp, [_camera(clip, "camera/front/image"), det, trk, sink], timeout=90)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((short_tmp / "run" / "summary.json").read_text())
    links = {(x["topic"], x["consumer"]): x for x in summary["links"]}
    skipped = sum(x["skipped"] for x in summary["links"])
    counters = summary["nodes"]["detector"]["counters"]
    tracked = _sink_lines(short_tmp)
    assert links["camera/front/image", "detector"]["published"] == 8
    assert len(tracked) + skipped + counters["superseded"] + counters["bad_frames"] == 8
    assert sum(len(x["track_id"]["shape"]) and x["track_id"]["shape"][0] for x in tracked) > 0
    lat = _latencies_s(tracked)
    assert all(0 < t < 1.0 for t in lat), lat
    assert summary["nodes"]["camera"]["ready_at_ns"] >= summary["nodes"]["detector"]["ready_at_ns"] > 0


def test_a_stopped_graph_drains_behind_its_sources_so_nothing_is_lost(short_tmp):
    """Stopping (--duration, Ctrl-C) ends the sources first; the relay and the sink take everything."""
    cmd = [sys.executable, "-m", "percept.cli", "run", str(_graph(short_tmp)), "--duration", "3",
           "--run-dir", str(short_tmp / "run")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((short_tmp / "run" / "summary.json").read_text())
    links = {(x["topic"], x["consumer"]): x for x in summary["links"]}
    published = summary["nodes"]["source"]["published"]["camera/test"]
    assert published > 20
    assert links["camera/test", "relay"]["received"] == published
    assert links["relayed/camera/test", "sink"]["received"] == published
    assert all(x["skipped"] == 0 for x in summary["links"])
    assert [x["seq"] for x in _sink_lines(short_tmp)] == list(range(published))


def test_a_node_that_never_drains_is_stopped_after_the_drain_timeout_and_named(short_tmp):
    video = _video(short_tmp / "clip.mp4", n=3)
    stuck = {"name": "stuck", "type": "tests.percept.edge_nodes:SlowDetector", "subscribe": ["camera/image"],
             "config": {"delay_s": 600.0}}  # takes the first frame and never comes back
    t0 = time.monotonic()
    res = _run_graph(short_tmp, [_camera(video), stuck], drain_timeout_s=1.0, stop_timeout_s=1.0)
    assert res.returncode == 1
    assert time.monotonic() - t0 < 30
    assert "sources ended but ['stuck'] did not finish within 1.0 s" in res.stderr


def test_a_source_that_fails_at_exit_after_its_stream_ended_is_not_restarted(short_tmp):
    """A restart would play its stream again: the sink would get every frame twice."""
    source = {"name": "camera", "type": "tests.percept.edge_nodes:CrashAtExitSource",
              "publishes": ["camera/image"], "config": {"frames": 3}}
    sink = {"name": "sink", "type": "jsonl_sink", "subscribe": ["camera/"],
            "config": {"path": str(short_tmp / "sink.jsonl")}}
    res = _run_graph(short_tmp, [source, sink], restart={"enabled": True, "backoff_s": 0.1})
    assert res.returncode == 0, res.stderr[-3000:]
    assert [x["seq"] for x in _sink_lines(short_tmp)] == [0, 1, 2]
    assert "node camera exited with code 3 after its stream ended; not restarted" in res.stderr


def test_a_graph_whose_source_was_given_up_drains_and_exits_1(short_tmp):
    """A source that keeps dying never ends its stream: once the launcher gives it up, the nodes
    behind it get the drain timeout and the graph stops instead of waiting for ever."""
    source = {"name": "camera", "type": "tests.percept.edge_nodes:CrashAtExitSource",
              "publishes": ["camera/image"], "config": {"frames": 2, "crash_mid_stream": True}}
    sink = {"name": "sink", "type": "jsonl_sink", "subscribe": ["camera/"],
            "config": {"path": str(short_tmp / "sink.jsonl")}}
    res = _run_graph(short_tmp, [source, sink], drain_timeout_s=1.0,
                     restart={"enabled": True, "backoff_s": 0.1, "max_restarts": 1})
    assert res.returncode == 1, res.stderr[-3000:]
    assert "node camera will not be restarted" in res.stderr
    assert "did not finish within 1.0 s" in res.stderr and "['sink']" in res.stderr
    assert [x["seq"] for x in _sink_lines(short_tmp)][:2] == [0, 1]
