"""``percept watch``: camera, video, folder or log -> detector -> 2D tracker -> events -> outputs.

:func:`build_watch_graph` builds the live graph as a :class:`~percept.graph.GraphConfig` (the same
pipeline as ``configs/watch-*.yaml``), every node its own process over ZeroMQ:

* ``camera`` (``camera`` node: video file, image folder, URL, V4L2 device) or ``log``
  (:class:`replay.watch_nodes.LogImageSource`: the images of an MCAP log) on ``camera/watch/image``;
  a camera also publishes its analytics stream on ``camera/watch/analytics`` (:data:`ANALYTICS_TOPIC`):
  each frame downscaled to twice the model's input width when it is wider
  (:func:`analytics_width`), so a 1080p frame (6 MB) does not cross to the detector's process only to
  be shrunk to 416 pixels there -- the sub-stream of a CCTV camera;
* ``detector`` -> ``camera/watch/detections`` (boxes in full-frame pixels): ``reliable`` from a
  file, folder or log (every frame is detected), ``latest`` from a live source (a slow detector
  skips frames, and the summary counts them);
* ``tracker`` -> ``camera/watch/tracks``: ``tracker2d``, or with a scene that has an ``anomaly``
  section :class:`replay.watch_nodes.SceneTracker2D` (the class groups ``percept anomaly`` uses,
  so the rules see the same tracks); a ``fusion`` node joins here once 3D sensors are configured
  (:data:`FUSION_SEAM`);
* ``events`` (with a scene) -> ``events/<camera>``;
* ``sink`` (:class:`replay.watch_sink.WatchSink`): ``log.mcap``, ``tracks.txt``, ``events.jsonl``,
  ``annotated.mp4``.

:func:`run_watch` runs it with the launcher until the source ends (the graph drains and exits 0),
Ctrl-C or ``duration_s``, and returns a :class:`WatchResult` whose :meth:`~WatchResult.lines` is the
summary printed at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from percept.data import DataNotFound, models_dir
from percept.errors import ConfigError
from percept.graph import GraphConfig, NodeConfig, RestartConfig, validate
from percept.launcher import Launcher
from perception.backends import model_info_for
from perception.config import DetectorConfig
from perception.errors import DetectorError
from replay.pipeline import load_anomaly_scene, resolve_model
from replay.watch_sink import FILES
from sensors.camera_sources import source_kind

IMAGE_TOPIC = "camera/watch/image"
ANALYTICS_TOPIC = "camera/watch/analytics"
DETECTIONS_TOPIC = "camera/watch/detections"
TRACKS_TOPIC = "camera/watch/tracks"
#: Where a fusion node joins the graph once 3D sensors are configured: between the 2D tracker and
#: the events node (its ``Tracks`` replace the tracker's on the events node's ``tracks``).
FUSION_SEAM = TRACKS_TOPIC
#: Model file suffixes tried, in order, for the default model.
MODEL_SUFFIXES = (".onnx", ".engine", ".pt")


def default_model() -> Path:
    """The first model under ``PERCEPT_MODELS`` (:func:`percept.data.models_dir`; ONNX files first,
    then by name); :class:`ConfigError` with one readable line when there is none."""
    try:
        root = models_dir()
    except DataNotFound as exc:
        raise ConfigError(f"no --model given and no models folder: {exc}") from None
    found = sorted((p for p in root.glob("*") if p.suffix in MODEL_SUFFIXES),
                   key=lambda p: (MODEL_SUFFIXES.index(p.suffix), p.name)) if root.is_dir() else []
    if not found:
        raise ConfigError(f"no --model given and no model ({'/'.join(MODEL_SUFFIXES)}) in {root}; "
                          "pass --model FILE or set PERCEPT_MODELS")
    return found[0]


def output_name(source: str) -> str:
    """A folder name for ``source``: the file or folder's stem, else the URL's/device's tail."""
    tail = Path(source.rstrip("/")).stem if "://" not in source else source.split("://", 1)[1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", tail).strip("_.") or "source"


@dataclass(frozen=True)
class WatchOptions:
    """What to watch (see :func:`build_watch_graph`).

    Attributes:
        source: video file, image folder, URL, device or ``.mcap`` log.
        out_dir: output folder.
        model: detector model ("" : the scene's, else :func:`default_model`).
        scene: scene YAML ("" : no events).
        fps: frame rate of image folders (default: the scene's ``anomaly.fps``, else 10).
        rate: pacing of files: ``"auto"`` (their real rate) or ``"max"``.
        loop: play a file or folder over and over; max_frames: stop after that many frames
            (camera sources, not logs; None: no limit).
        video, record: write ``annotated.mp4`` / ``log.mcap``.
        detector: overrides of the detector config (``conf``, ``threads``, ...).
    """

    source: str
    out_dir: Path
    model: str = ""
    scene: str = ""
    fps: float | None = None
    rate: str = "auto"
    loop: bool = False
    max_frames: int | None = None
    video: bool = True
    record: bool = True
    detector: dict[str, Any] = field(default_factory=dict)


def _detector_config(opts: WatchOptions, scene: Any) -> DetectorConfig:
    base = scene.anomaly.detector if scene is not None and scene.anomaly is not None else None
    model = opts.model or (base.model if base is not None else "") or str(default_model())
    cfg = dataclasses.replace(base, model=model) if base is not None else DetectorConfig(model=model)
    cfg = dataclasses.replace(cfg, **opts.detector) if opts.detector else cfg
    return resolve_model(cfg)


def analytics_width(cfg: DetectorConfig) -> int:
    """Width of the camera's analytics stream for the detector ``cfg``: twice the model's input
    width (the letterbox still shrinks it, so the detections hardly change), 0 (full frames) when
    the detector tiles the frame or its input size cannot be read from the file (not ONNX)."""
    if cfg.tiles != "none":
        return 0
    if cfg.input_size is not None:
        return 2 * int(cfg.input_size[1])
    if Path(cfg.model).suffix.lower() != ".onnx":
        return 0  # other model files are read by their runtime, which the detector node loads
    try:
        info = model_info_for(cfg)
    except DetectorError:
        return 0
    return 2 * int(info.input_size[1]) if info is not None else 0


def _check_source(opts: WatchOptions) -> None:
    """One readable :class:`ConfigError` for a source that is not there or options it cannot take."""
    if opts.source.endswith(".mcap"):
        if not Path(opts.source).is_file():
            raise ConfigError(f"{opts.source}: no such log")
        if opts.loop or opts.max_frames is not None:
            raise ConfigError(f"{opts.source}: --loop and --max-frames are for cameras, videos and folders, "
                              "not logs")
    elif source_kind(opts.source) not in ("device", "stream") and not Path(opts.source).exists():
        raise ConfigError(f"{opts.source}: no such file or folder")


def _source_node(opts: WatchOptions, fps: float, width: int) -> tuple[NodeConfig, bool]:
    """The source node and whether it is live (a device or URL); a camera publishes its analytics
    stream ``width`` pixels wide (0: none)."""
    if opts.source.endswith(".mcap"):
        return NodeConfig(name="log", type="replay.watch_nodes:LogImageSource", publishes=(IMAGE_TOPIC,),
                          config={"path": opts.source, "topic": IMAGE_TOPIC, "rate": opts.rate}), False
    kind = source_kind(opts.source)
    live = kind in ("device", "stream")
    analytics = {"analytics_topic": ANALYTICS_TOPIC, "analytics_width": width} if width else {}
    config = {"source": opts.source, "topic": IMAGE_TOPIC, "frame_id": "camera_watch", "fps": fps,
              **analytics,
              "rate": "auto" if live else opts.rate, "loop": opts.loop and not live,
              "max_frames": opts.max_frames}
    publishes = (IMAGE_TOPIC, ANALYTICS_TOPIC) if width else (IMAGE_TOPIC,)
    return NodeConfig(name="camera", type="camera", publishes=publishes, config=config), live


def build_watch_graph(opts: WatchOptions, name: str = "watch") -> GraphConfig:
    """The validated watch graph of ``opts`` (see the module docstring)."""
    scene = load_anomaly_scene(opts.scene) if opts.scene else None
    fps = opts.fps or (scene.anomaly.fps if scene is not None and scene.anomaly is not None else 10.0)
    _check_source(opts)
    detector = _detector_config(opts, scene)
    source, live = _source_node(opts, fps, analytics_width(detector))
    frames = ANALYTICS_TOPIC if ANALYTICS_TOPIC in source.publishes else IMAGE_TOPIC
    det_cfg = {"detector": dataclasses.asdict(detector), "inputs": [frames],
               "outputs": {frames: DETECTIONS_TOPIC}, "max_batch": 1, "max_wait_ms": 0.0}
    nodes = [source,
             NodeConfig(name="detector", type="detector", subscribe=(frames,),
                        publishes=(DETECTIONS_TOPIC,), policy="latest" if live else "reliable",
                        config=det_cfg, ready_timeout_s=120.0)]
    if scene is not None and scene.anomaly is not None:
        nodes.append(NodeConfig(name="tracker", type="replay.watch_nodes:SceneTracker2D",
                                subscribe=(DETECTIONS_TOPIC,), publishes=(TRACKS_TOPIC,),
                                config={"scene": opts.scene}))
    else:
        nodes.append(NodeConfig(name="tracker", type="tracker2d", subscribe=(DETECTIONS_TOPIC,),
                                publishes=(TRACKS_TOPIC,), config={}))
    sink_topics = [IMAGE_TOPIC, DETECTIONS_TOPIC, TRACKS_TOPIC]
    if scene is not None:
        nodes.append(NodeConfig(name="events", type="events", subscribe=(FUSION_SEAM,),
                                publishes=("events/",),
                                config={"scene": opts.scene, "tracks": [FUSION_SEAM]}))
        sink_topics.append("events/")
    sink_cfg = {"out_dir": str(opts.out_dir), "images": IMAGE_TOPIC, "detections": DETECTIONS_TOPIC,
                "tracks": TRACKS_TOPIC, "scene": opts.scene, "fps": fps, "video": opts.video,
                "record": opts.record}
    nodes.append(NodeConfig(name="sink", type="replay.watch_sink:WatchSink", subscribe=tuple(sink_topics),
                            config=sink_cfg, hwm=1000))
    graph = GraphConfig(name=name, nodes=tuple(nodes), output="log", drain_timeout_s=30.0,
                        restart=RestartConfig(max_restarts=3))
    return validate(graph)


@dataclass
class WatchResult:
    """What a watch run produced: ``code`` the launcher's exit code, ``report`` the sink's
    ``watch.json``, ``summary`` the launcher's run summary (as a dict), ``out_dir``."""

    code: int
    out_dir: Path
    report: dict[str, Any]
    summary: dict[str, Any]

    def latency_ms(self, start: str = "capture", end: str = "tracks") -> np.ndarray:
        """Per-frame ``end - start`` stage times (ms) of the frames that reached both."""
        rows = [s for s in self.report.get("stages", []) if start in s and end in s]
        return np.array([(s[end] - s[start]) / 1e6 for s in rows], np.float64)

    def skipped(self) -> int:
        """Messages the graph's links skipped (published but not received), all links."""
        return sum(int(link.get("skipped", 0)) for link in self.summary.get("links", []))

    def lines(self) -> list[str]:
        """The end-of-run summary (frames, tracks, events by type, latency, files)."""
        r = self.report
        lat = self.latency_ms()
        p50, p99 = (np.percentile(lat, 50), np.percentile(lat, 99)) if len(lat) else (float("nan"),) * 2
        types = ", ".join(f"{k} {v}" for k, v in sorted(r.get("event_types", {}).items())) or "none"
        out = [f"frames: {r.get('frames', 0)} read, {r.get('tracked', 0)} tracked, "
               f"{r.get('untracked', 0)} skipped (links skipped {self.skipped()})",
               f"tracks: {r.get('track_ids', 0)}; events: {r.get('events', 0)} ({types})",
               f"latency capture->tracks: p50 {p50:.1f} ms, p99 {p99:.1f} ms"]
        out += [f"{k:7s} {v}" for k, v in r.get("files", {}).items() if Path(v).exists()]
        return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def run_watch(opts: WatchOptions, duration_s: float | None = None,
              on_status: Callable[[dict[str, Any]], None] | None = None,
              status_period_s: float = 0.5) -> WatchResult:
    """Run the watch graph of ``opts`` (see the module docstring); ``on_status(status)`` is called
    every ``status_period_s`` with the sink's live numbers while it runs."""
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    for name in (*FILES.values(), "watch.json", "status.json"):
        (opts.out_dir / name).unlink(missing_ok=True)
    graph = build_watch_graph(opts, name=f"watch-{os.getpid()}")
    launcher = Launcher(graph)
    done = threading.Event()

    def poll() -> None:
        while not done.wait(status_period_s):
            status = _read_json(opts.out_dir / "status.json")
            if status and on_status is not None:
                on_status(status)

    watcher = threading.Thread(target=poll, daemon=True) if on_status is not None else None
    if watcher is not None:
        watcher.start()
    try:
        code = launcher.run(duration_s)
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    summary = launcher.summary.as_dict() if launcher.summary is not None else {}
    (opts.out_dir / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    (opts.out_dir / "status.json").unlink(missing_ok=True)
    report = _read_json(opts.out_dir / "watch.json")
    if not report:
        code = code or 1
    return WatchResult(code, opts.out_dir, report, summary)
