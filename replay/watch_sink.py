"""The end of ``percept watch``'s graph: one node that records and writes the four outputs.

:class:`WatchSink` subscribes (``reliable``) to the camera images, detections, tracks and events
and writes, in ``out_dir``:

* ``log.mcap``: every message it receives (the recorder's :class:`~replay.log.LogWriter`, record
  time = arrival);
* ``tracks.txt``: MOTChallenge rows ``frame,id,x,y,w,h,conf,-1,-1,-1`` (frames from 1: the image's
  ``seq + 1``; pixels) of the CONFIRMED tracks of every tracks message;
* ``events.jsonl``: one event per line (:func:`events.jsonl.event_json_line`), flushed per line;
* ``annotated.mp4``: each image with its tracks (boxes, ids, trails), the scene's zones and a
  banner per active event (:mod:`replay.draw`), written when the frame's tracks arrive (images
  the tracker never saw are written undrawn, at the end at the latest);
* ``watch.json`` at the end: counts and per-frame stage times (``time.time_ns`` of arrival here):
  capture stamp, detections, the detector's own latency, tracks; events' arrival and stamp.

Arrival times are taken before any work; the heavy work (encoding, compression, drawing, video)
runs on a writer thread so it does not delay the next arrival. ``status.json`` (every
``status_period_s``) feeds the live status line. Every file is complete after the node stops,
whether its stream ended or it was told to stop.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from events.jsonl import event_json_line
from events.scene import load_scene
from percept.codec import encode
from percept.message import Message
from percept.messages import Detections2D, Event, EventPhase, Image, Tracks, TrackStatus
from percept.node import NodeContext, Processor
from replay.draw import TrackDrawer, draw_banners, draw_zones, scene_zones_in_image
from replay.foxglove import track_columns
from replay.log import LogWriter
from replay.video import open_writer

#: Seconds a one-shot event's banner stays on the video.
BANNER_S = 2.0
#: Output file names in ``out_dir``.
FILES = {"tracks": "tracks.txt", "events": "events.jsonl", "video": "annotated.mp4", "log": "log.mcap"}


@dataclass(frozen=True)
class WatchSinkConfig:
    """Options of :class:`WatchSink` (see the module docstring).

    Attributes:
        out_dir: folder of the outputs (created).
        images: the camera's Image topic; detections, tracks: its Detections2D and Tracks topics.
        events: prefix of the Event topics.
        scene: scene YAML whose zones are drawn ("" none).
        fps: frame rate of the video.
        record, video: write ``log.mcap`` / ``annotated.mp4``.
        status_period_s: seconds between ``status.json`` updates (0: never).
    """

    out_dir: str = ""
    images: str = "camera/watch/image"
    detections: str = "camera/watch/detections"
    tracks: str = "camera/watch/tracks"
    events: str = "events/"
    scene: str = ""
    fps: float = 10.0
    record: bool = True
    video: bool = True
    status_period_s: float = 0.5

    def __post_init__(self) -> None:
        if not self.out_dir:
            raise ValueError("out_dir: missing required key (the output folder)")
        if not self.fps > 0:
            raise ValueError(f"fps: expected > 0, got {self.fps}")


class _Worker:
    """One background thread running queued jobs in order; errors are counted and logged."""

    def __init__(self, log: Any) -> None:
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.errors = 0
        self.log = log
        self.thread = threading.Thread(target=self._run, name="watch-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            try:
                job()
            except Exception as exc:  # counted and logged: one bad frame never stops the outputs
                self.errors += 1
                self.log.error("writer error (%d so far): %s: %s", self.errors, type(exc).__name__, exc)

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


class WatchSink(Processor):
    """Records and writes the outputs of ``percept watch`` (module docstring)."""

    Config = WatchSinkConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: WatchSinkConfig = self.config
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.worker = _Worker(ctx.log)
        self.log_writer = LogWriter(self.out / FILES["log"], chunk_size=1 << 20) if cfg.record else None
        self.tracks_fh = (self.out / FILES["tracks"]).open("w", encoding="utf-8")
        self.events_fh = (self.out / FILES["events"]).open("w", encoding="utf-8")
        self.zones = scene_zones_in_image(load_scene(cfg.scene)) if cfg.scene else {}
        self.drawer = TrackDrawer()
        self.video: Any = None
        self.pending: deque[Image] = deque()  # images waiting for their tracks, in order
        self.frame_of: dict[int, int] = {}  # image stamp -> frame number (seq + 1)
        self.frames: dict[int, dict[str, int]] = {}  # stamp -> stage times (ns)
        self.event_times: list[tuple[int, int]] = []  # (stamp, arrival) per event message
        self.event_types: Counter[str] = Counter()
        self.active: dict[str, tuple[str, int]] = {}  # event id -> (banner text, shown until ns)
        self.track_ids: set[int] = set()
        self.images = self.tracked = self.untracked = 0
        self.live_tracks = 0
        self._last_image_ns = -1
        self._early: dict[int, Tracks] = {}  # tracks that arrived before their image, by stamp
        self._done = False
        self._recent: deque[int] = deque(maxlen=64)  # arrival times of recent images
        if cfg.status_period_s > 0:
            ctx.add_timer(cfg.status_period_s, self._status)

    # -- arrivals ------------------------------------------------------------------------------
    def on_message(self, topic: str, msg: Message) -> None:
        now = time.time_ns()
        cfg: WatchSinkConfig = self.config
        if self.log_writer is not None:
            writer = self.log_writer
            self.worker.jobs.put(lambda: writer.write(topic, encode(topic, msg), now))
        if isinstance(msg, Image) and topic == cfg.images:
            self.images += 1
            self._recent.append(now)
            self.frame_of[msg.stamp_ns] = msg.seq + 1
            # the detections (from the camera's small analytics copy) may arrive before the image
            self.frames.setdefault(msg.stamp_ns, {"capture": msg.stamp_ns})["image"] = now
            for stamp in sorted(t for t in self._early if t < msg.stamp_ns):  # images come in order:
                self._on_tracks(self._early.pop(stamp))  # these tracks' image will not come
            self.pending.append(msg)
            self._last_image_ns = msg.stamp_ns
            early = self._early.pop(msg.stamp_ns, None)
            if early is not None:  # its tracks came first
                self._on_tracks(early)
        elif isinstance(msg, Detections2D) and topic == cfg.detections:
            times = self.frames.setdefault(msg.stamp_ns, {"capture": msg.stamp_ns})
            times.update(detections=now, inference_ns=msg.latency_ns)
        elif isinstance(msg, Tracks) and topic == cfg.tracks:
            self.frames.setdefault(msg.stamp_ns, {"capture": msg.stamp_ns})["tracks"] = now
            if msg.stamp_ns in self.frame_of or msg.stamp_ns <= self._last_image_ns:
                self._on_tracks(msg)
            else:  # the full image is still on its way (the detector saw the small analytics copy)
                self._early[msg.stamp_ns] = msg
        elif isinstance(msg, Event) and topic.startswith(cfg.events):
            self.event_times.append((msg.stamp_ns, now))
            self._on_event(msg)

    def _on_tracks(self, msg: Tracks) -> None:
        self.tracked += 1
        confirmed = np.flatnonzero(msg.status == TrackStatus.CONFIRMED)
        self.live_tracks = len(confirmed)
        frame = self.frame_of.get(msg.stamp_ns)
        boxes = track_columns(msg, (("x1",), ("y1",), ("x2",), ("y2",)))
        if frame is not None and boxes is not None:
            for i in confirmed.tolist():
                x1, y1, x2, y2 = (float(v) for v in boxes[i])
                tid = int(msg.track_id[i])
                self.track_ids.add(tid)
                self.tracks_fh.write(f"{frame},{tid},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                                     f"{float(msg.confidence[i]):.4f},-1,-1,-1\n")
            self.tracks_fh.flush()
        shown = msg.replace(track_id=msg.track_id[confirmed], class_id=msg.class_id[confirmed],
                            confidence=msg.confidence[confirmed], state=msg.state[confirmed],
                            age=msg.age[confirmed], status=msg.status[confirmed],
                            sensors=msg.sensors[confirmed], covariance=None)
        while self.pending and self.pending[0].stamp_ns <= msg.stamp_ns:
            img = self.pending.popleft()
            mine = img.stamp_ns == msg.stamp_ns
            if not mine:
                self.untracked += 1
            self._draw(img, shown if mine else None)

    def _on_event(self, ev: Event) -> None:
        self.events_fh.write(event_json_line(ev) + "\n")
        self.events_fh.flush()
        if ev.phase == EventPhase.START:
            self.event_types[ev.event_type] += 1
        key = ev.event_id or f"{ev.event_type}@{ev.stamp_ns}"
        if ev.phase == EventPhase.END:
            self.active.pop(key, None)
        else:
            text = ev.text or f"{ev.event_type} {ev.zone} tracks {list(ev.track_ids)}"
            self.active[key] = (text, ev.stamp_ns + round(BANNER_S * 1e9) if not ev.event_id else 2**62)

    # -- drawing (writer thread) -----------------------------------------------------------------
    def _draw(self, img: Image, tracks: Tracks | None) -> None:
        if not self.config.video:
            return
        now = img.stamp_ns
        self.active = {k: v for k, v in self.active.items() if v[1] >= now}
        banners = [t for t, _ in self.active.values()]
        self.worker.jobs.put(lambda: self._write_frame(img, tracks, banners))

    def _write_frame(self, img: Image, tracks: Tracks | None, banners: list[str]) -> None:
        bgr = self.drawer.draw(img.to_bgr(), tracks)
        draw_zones(bgr, self.zones)
        draw_banners(bgr, banners)
        if self.video is None:
            self.video = open_writer(self.out / FILES["video"], self.config.fps, (bgr.shape[1], bgr.shape[0]))
        self.video.write(bgr)

    # -- status and end --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The live numbers: fps, latency (ms, capture to tracks), tracks, events, drops."""
        recent = list(self._recent)
        fps = (len(recent) - 1) / ((recent[-1] - recent[0]) / 1e9) if len(recent) > 1 and \
            recent[-1] > recent[0] else 0.0
        lat = [t["tracks"] - t["capture"] for t in list(self.frames.values())[-30:] if "tracks" in t]
        return {"frames": self.images, "tracked": self.tracked, "fps": round(fps, 1),
                "latency_ms": round(float(np.median(lat)) / 1e6, 1) if lat else None,
                "tracks": self.live_tracks, "track_ids": len(self.track_ids),
                "events": sum(self.event_types.values()), "drops": self.untracked}

    def _status(self, _now_ns: int) -> None:
        tmp = self.out / "status.tmp"
        tmp.write_text(json.dumps(self.status()), encoding="utf-8")
        tmp.replace(self.out / "status.json")

    def on_end_of_stream(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        for stamp in sorted(self._early):  # tracks whose image never came
            self._on_tracks(self._early.pop(stamp))
        while self.pending:  # images whose tracks never came
            self.untracked += 1
            self._draw(self.pending.popleft(), None)
        self.worker.close()
        for closing in (self.video.release if self.video is not None else None,
                        self.log_writer.close if self.log_writer is not None else None,
                        self.tracks_fh.close, self.events_fh.close):
            if closing is not None:
                closing()
        report = {**self.status(), "untracked": self.untracked, "writer_errors": self.worker.errors,
                  "event_types": dict(self.event_types),
                  "stages": [self.frames[s] for s in sorted(self.frames)],
                  "events_timing": self.event_times,
                  "files": {k: str(self.out / v) for k, v in FILES.items()}}
        (self.out / "watch.json").write_text(json.dumps(report), encoding="utf-8")

    def counters(self) -> dict[str, int]:
        return {"images": self.images, "tracked": self.tracked, "untracked": self.untracked,
                "events": sum(self.event_types.values())}

    def stop(self) -> None:
        self._finish()
