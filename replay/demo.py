"""``percept demo``: the simulator's ``highway`` and ``plaza`` through the full graph, scored.

Each scenario runs as a live graph, every node its own process over ZeroMQ, for ``duration_s`` of
scenario time (the simulator runs in real time):

* ``plaza``: ``sim`` (cctv camera images and its simulated detector, ground truth) -> ``tracker``
  (``tracker2d``) -> ``events`` (``configs/scenes/plaza.yaml``, the camera's tracks mapped to the
  ground by the scene's calibration) -> ``sink`` (:class:`replay.watch_sink.WatchSink`: MCAP,
  annotated video, events.jsonl);
* ``highway``: the driving fusion graph ``configs/driving-fusion.yaml`` when it is there (its
  nodes, the simulator's duration set, plus a 2D tracker on the front camera for the video and the
  sink); without it ``sim`` -> ``tracker`` (2D, front camera) -> ``sink`` (no fusion yet).

Then it prints one table: tracks against the simulator's ground-truth boxes (MOTA, IDF1 of
:mod:`fusion.mot_eval`, CONFIRMED tracks vs ``gt/camera/<cam>/boxes``), events expected vs raised
(:mod:`events.evaluate`, tracker ids renamed to the ground-truth ids they overlap most), latency
p50/p99 from capture to each stage's output (ms), and the messages the graph's links skipped. With
a model and the shared data it also runs ``percept watch`` on the MOT17 clip.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from events.evaluate import evaluate_files
from events.jsonl import event_to_json
from fusion.mot_eval import FrameObjects, evaluate_objects
from percept.boxes import box_iou
from percept.cliutil import out as _out
from percept.cliutil import table
from percept.codec import decode
from percept.data import DataNotFound, data_path, model_path
from percept.errors import PerceptError
from percept.graph import GraphConfig, NodeConfig, load_graph, validate
from percept.launcher import Launcher
from percept.messages import Detections2D, Event, Tracks, TrackStatus
from replay.log import LogReader
from replay.watch import WatchOptions, run_watch

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
FUSION_GRAPH = ROOT / "configs" / "driving-fusion.yaml"
PLAZA_SCENE = ROOT / "configs" / "scenes" / "plaza.yaml"
#: The simulated detector scores visible people ~0.9 and false positives 0.3-0.6.
TRACKER = {"track_high": 0.5, "new_track_thresh": 0.6, "track_low": 0.1}


@dataclass(frozen=True)
class Scenario:
    """One demo run: the simulator scenario, its camera, and whether it raises events."""

    name: str
    camera: str
    scene: Path | None = None


SCENARIOS = (Scenario("highway", "front"), Scenario("plaza", "cctv", PLAZA_SCENE))


def _sim(duration_s: float, scenario: str) -> NodeConfig:
    return NodeConfig(name="sim", type="sim", publishes=("camera/", "lidar/", "radar/", "gt/", "ego/"),
                      config={"scenario": scenario, "seed": 0, "duration_s": duration_s})


def scenario_graph(sc: Scenario, out_dir: Path, duration_s: float) -> tuple[GraphConfig, str]:
    """The graph of one scenario (module docstring) and what it runs, in words."""
    cam = f"camera/{sc.camera}"
    tracker = NodeConfig(name="tracker2d", type="tracker2d", subscribe=(f"{cam}/detections",),
                         publishes=(f"{cam}/tracks",), config={"tracker": TRACKER})
    nodes: list[NodeConfig] = [_sim(duration_s, sc.name), tracker]
    what = "sim -> tracker2d"
    if sc.name == "highway" and FUSION_GRAPH.is_file():
        fusion = load_graph(FUSION_GRAPH)
        nodes = [_sim(duration_s, "highway") if n.type == "sim" else n for n in fusion.nodes]
        nodes.append(tracker)
        what = f"{FUSION_GRAPH.name} ({', '.join(n.name for n in fusion.nodes)}) + tracker2d"
    subscribe = [f"{cam}/", "gt/"]
    if sc.scene is not None:
        nodes.append(NodeConfig(name="events", type="events", subscribe=(f"{cam}/tracks",),
                                publishes=("events/",),
                                config={"scene": str(sc.scene), "tracks": [f"{cam}/tracks"]}))
        subscribe.append("events/")
        what += " -> events"
    if FUSION_GRAPH.is_file() and sc.name == "highway":
        subscribe.append("")  # everything the fusion graph publishes is recorded too
    nodes.append(NodeConfig(name="sink", type="replay.watch_sink:WatchSink", subscribe=tuple(subscribe),
                            hwm=1000, config={"out_dir": str(out_dir), "images": f"{cam}/image",
                                              "detections": f"{cam}/detections", "tracks": f"{cam}/tracks",
                                              "scene": str(sc.scene or ""), "fps": 10.0}))
    graph = GraphConfig(name=f"demo-{sc.name}", nodes=tuple(nodes), output="log", drain_timeout_s=20.0)
    return validate(graph), what + " -> sink (MCAP, video, events)"


def _read_log(path: Path, cam: str) -> tuple[dict[int, Detections2D], dict[int, Tracks], list[Event]]:
    gt: dict[int, Detections2D] = {}
    tracks: dict[int, Tracks] = {}
    events: list[Event] = []
    with LogReader(path) as reader:
        for m in reader.messages([f"gt/camera/{cam}/boxes", f"camera/{cam}/tracks", "gt/events"]):
            msg = decode(m.frames).msg
            if m.topic == f"gt/camera/{cam}/boxes" and isinstance(msg, Detections2D):
                gt[msg.stamp_ns] = msg
            elif m.topic == f"camera/{cam}/tracks" and isinstance(msg, Tracks):
                tracks[msg.stamp_ns] = msg
            elif m.topic == "gt/events" and isinstance(msg, Event):
                events.append(msg)
    return gt, tracks, events


def _objects(gt: dict[int, Detections2D], tracks: dict[int, Tracks]) -> tuple[dict, dict]:
    """Frame stamp -> :class:`FrameObjects` of the ground truth and of the CONFIRMED tracks."""
    g, h = {}, {}
    for stamp, msg in gt.items():
        d = msg.detections
        ids = d.track_id if d.track_id is not None else np.arange(len(d))
        g[stamp] = FrameObjects(ids, ("object",) * len(d), d.xyxy)
        t = tracks.get(stamp)
        keep = np.flatnonzero(t.status == TrackStatus.CONFIRMED) if t is not None else np.zeros(0, int)
        boxes = t.state[keep, :4] if t is not None else np.zeros((0, 4))
        h[stamp] = FrameObjects(t.track_id[keep] if t is not None else [], ("object",) * len(keep), boxes)
    return g, h


def _id_map(gt: dict[int, Detections2D], tracks: dict[int, Tracks]) -> dict[int, int]:
    """Tracker id -> the ground-truth id its boxes overlap most (IoU >= 0.5)."""
    votes: dict[int, Counter[int]] = defaultdict(Counter)
    for stamp, t in tracks.items():
        g = gt.get(stamp)
        if g is None or len(t) == 0 or len(g.detections) == 0 or g.detections.track_id is None:
            continue
        iou = box_iou(t.state[:, :4], g.detections.xyxy)
        for i, j in enumerate(np.argmax(iou, axis=1)):
            if iou[i, j] >= 0.5:
                votes[int(t.track_id[i])][int(g.detections.track_id[j])] += 1
    return {tid: c.most_common(1)[0][0] for tid, c in votes.items()}


def _pct(values: list[float]) -> str:
    return f"{np.percentile(values, 50):.0f}/{np.percentile(values, 99):.0f}" if values else "-"


def score_scenario(sc: Scenario, out_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The table row of one finished scenario run (see the module docstring)."""
    gt, tracks, gt_events = _read_log(out_dir / "log.mcap", sc.camera)
    g, h = _objects(gt, tracks)
    mot = evaluate_objects(g, h, name=sc.name) if g else None
    row: dict[str, Any] = {"scenario": sc.name, "MOTA": mot.MOTA if mot else float("nan"),
                           "IDF1": mot.IDF1 if mot else float("nan"), "expected": "-", "raised": "-",
                           "matched": "-"}
    if sc.scene is not None:
        ids = _id_map(gt, tracks)
        (out_dir / "gt.jsonl").write_text("".join(json.dumps(event_to_json(e)) + "\n" for e in gt_events),
                                          encoding="utf-8")
        renamed = out_dir / "events_gt_ids.jsonl"
        with renamed.open("w", encoding="utf-8") as fh:
            for line in (out_dir / "events.jsonl").read_text(encoding="utf-8").splitlines():
                d = json.loads(line)
                d["track_ids"] = [ids.get(t, -t) for t in d["track_ids"]]
                fh.write(json.dumps(d) + "\n")
        total = evaluate_files(out_dir / "gt.jsonl", renamed)[-1]
        row.update(expected=total.gt, raised=total.detected, matched=total.matched)
    report = json.loads((out_dir / "watch.json").read_text(encoding="utf-8"))
    stages = report.get("stages", [])
    for stage in ("detections", "tracks"):
        row[stage] = _pct([(s[stage] - s["capture"]) / 1e6 for s in stages if stage in s])
    row["events"] = _pct([(arr - st) / 1e6 for st, arr in report.get("events_timing", [])])
    row["drops"] = sum(int(x.get("skipped", 0)) for x in summary.get("links", []))
    return row


def run_scenario(sc: Scenario, out_dir: Path, duration_s: float) -> dict[str, Any]:
    """Run one scenario's graph into ``out_dir`` and score it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    graph, what = scenario_graph(sc, out_dir, duration_s)
    _out(f"{sc.name}: {what}, {duration_s:.0f} s of scenario time ...")
    launcher = Launcher(graph)
    code = launcher.run(duration_s + 60.0)
    summary = launcher.summary.as_dict() if launcher.summary is not None else {}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    (out_dir / "status.json").unlink(missing_ok=True)
    if code != 0 or not (out_dir / "watch.json").is_file():
        raise PerceptError(f"demo {sc.name}: the graph did not finish cleanly (exit {code}); "
                           f"node logs in {launcher.run_dir}")
    return score_scenario(sc, out_dir, summary)


def _watch_real(out_root: Path) -> None:
    """``percept watch`` on the shared MOT17 clip when a model and the data are here."""
    try:
        clip = data_path("video", "mot17_04_frames1-8.mp4")
        model = model_path("yolox_nano_coco_416.onnx")
    except DataNotFound as exc:
        _out(f"real clip: skipped ({exc})")
        return
    _out(f"real clip: percept watch {clip} --model {model.name}")
    result = run_watch(WatchOptions(str(clip), out_root / "watch" / clip.stem, model=str(model)))
    for line in result.lines():
        _out(f"  {line}")


def run_demo(out_root: Path, duration_s: float = 60.0, watch: bool = True) -> int:
    """Run every scenario, print the summary table (and the real clip's watch); the exit code."""
    rows = [run_scenario(sc, out_root / sc.name, duration_s) for sc in SCENARIOS]
    head = ["scenario", "MOTA", "IDF1", "events expected", "raised", "matched",
            "detections p50/p99 ms", "tracks p50/p99 ms", "events p50/p99 ms", "drops"]
    keys = ["scenario", "MOTA", "IDF1", "expected", "raised", "matched", "detections", "tracks", "events",
            "drops"]
    for line in table(head, [tuple(r[k] for k in keys) for r in rows], digits=3):
        _out(line)
    _out(f"outputs: {', '.join(str(out_root / sc.name) for sc in SCENARIOS)} (log.mcap, annotated.mp4, "
         "events.jsonl, tracks.txt)")
    if not FUSION_GRAPH.is_file():
        _out(f"highway ran without fusion: {FUSION_GRAPH.relative_to(ROOT)} is not there yet")
    if watch:
        _watch_real(out_root)
    return 0
