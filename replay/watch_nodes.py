"""The processors of ``percept watch``'s graph that no lower package has: a scene's group tracker
and the source that replays the images of an MCAP log (the sink is :mod:`replay.watch_sink`).

* :class:`SceneTracker2D` tracks ``Detections2D`` the way ``percept anomaly`` does, through the
  one implementation, :meth:`replay.pipeline.AnomalyPipeline.track`: the scene's class groups
  (people and vehicles apart), its ``min_confidence`` and trackers, publishing CONFIRMED and LOST
  rows (``x1, y1, x2, y2, vx, vy``: pixels, pixels/s) on ``<camera>/tracks`` for every frame, so
  the events node sees exactly the tracks the offline pipeline's rules engine sees.
* :class:`LogImageSource` publishes the ``Image`` messages of one topic of an MCAP log at the
  spacing of their stamps (``rate: auto``) or as fast as possible (``max``), re-stamped onto the
  wall clock once (first image at its publish time; stamps are never later than the publish),
  with ``seq`` 0, 1, 2, ...; it ends its stream after the last image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from percept.codec import decode
from percept.errors import DecodeError
from percept.message import Message
from percept.messages import Detections2D, Image
from percept.node import NodeContext, Processor, SequencedProcessor
from replay.errors import LogError
from replay.log import LogReader
from replay.pipeline import AnomalyPipeline, AnomalySceneConfig, load_anomaly_scene

#: Timer period of :class:`LogImageSource`, seconds (how late an image may leave).
LOG_SOURCE_PERIOD_S = 1e-3


def tracks_topic(detections_topic: str) -> str:
    """``cam/detections`` -> ``cam/tracks``, anything else gets ``/tracks`` appended (as ``tracker2d``)."""
    head, _, last = detections_topic.rpartition("/")
    if last == "detections":
        return f"{head}/tracks" if head else "tracks"
    return f"{detections_topic}/tracks"


@dataclass(frozen=True)
class SceneTracker2DConfig:
    """Options of :class:`SceneTracker2D`: ``scene`` the scene YAML (its ``anomaly`` section gives the
    groups, trackers and ``min_confidence``; defaults when it has none)."""

    scene: str = ""

    def __post_init__(self) -> None:
        if not self.scene:
            raise ValueError("scene: missing required key (path of the scene YAML)")
        load_anomaly_scene(self.scene)  # a bad scene fails when the graph is loaded


class SceneTracker2D(SequencedProcessor):
    """Tracks every ``Detections2D`` it receives with the scene's class groups (module docstring)."""

    Config = SceneTracker2DConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        scene = load_anomaly_scene(self.config.scene).anomaly
        self.pipeline = AnomalyPipeline(scene if scene is not None else AnomalySceneConfig())

    def on_message(self, topic: str, msg: Message) -> None:
        if not isinstance(msg, Detections2D):
            self.ignored += 1
            return
        tracks = self.pipeline.track(msg.detections, msg.stamp_ns, msg.class_names)
        out = tracks_topic(topic)
        self.context.publish(out, tracks.replace(frame_id=msg.frame_id, seq=self.next_seq(out)))


@dataclass(frozen=True)
class LogImageSourceConfig:
    """Options of :class:`LogImageSource`.

    Attributes:
        path: the MCAP log.
        image_topic: the log's Image topic to play ("": the only one it has).
        topic: the topic the images are published on.
        rate: ``"auto"`` (the stamps' own spacing) or ``"max"`` (as fast as possible).
    """

    path: str = ""
    image_topic: str = ""
    topic: str = "camera/log/image"
    rate: Literal["auto", "max"] = "auto"

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("path: missing required key (the MCAP log)")
        if self.rate not in ("auto", "max"):
            raise ValueError(f"rate: expected 'auto' or 'max', got {self.rate!r}")


def log_image_topic(path: str, wanted: str = "") -> str:
    """``wanted``, or the only ``percept.Image`` topic of log ``path``; :class:`LogError` otherwise."""
    with LogReader(path) as reader:
        images = sorted(t.topic for t in reader.summary().topics.values() if t.schema == Image.SCHEMA)
    if wanted:
        if wanted not in images:
            raise LogError(f"{path}: no Image topic {wanted!r} (image topics: {images or 'none'})")
        return wanted
    if len(images) != 1:
        raise LogError(f"{path}: {'no' if not images else len(images)} Image topics ({images}); "
                       "name the one to watch")
    return images[0]


class LogImageSource(Processor):
    """Plays the images of an MCAP log as a camera would (module docstring)."""

    Config = LogImageSourceConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: LogImageSourceConfig = self.config
        self.image_topic = log_image_topic(cfg.path, cfg.image_topic)
        self._reader = LogReader(cfg.path)
        self._images = self._iter()
        self._next: Image | None = None
        self._offset: int | None = None  # wall - log stamp, fixed at the first image
        self.frames = self.bad = 0
        ctx.add_timer(LOG_SOURCE_PERIOD_S, self._tick)

    def _iter(self) -> Iterator[Image]:
        for m in self._reader.messages([self.image_topic]):
            if m.topic != self.image_topic:
                continue
            try:
                msg = decode(m.frames).msg
            except DecodeError as exc:
                self.bad += 1
                self.context.log.warning("%s: undecodable image skipped: %s", self.config.path, exc)
                continue
            if isinstance(msg, Image):
                yield msg

    def _tick(self, now_ns: int) -> None:
        if self.context.ended:
            return
        if self._next is None:
            self._next = next(self._images, None)
            if self._next is None:
                self.context.log.info("log %s ended after %d images", self.config.path, self.frames)
                self.context.end_stream()
                return
        img = self._next
        if self._offset is None:
            self._offset = now_ns - img.stamp_ns
        stamp = img.stamp_ns + self._offset
        if self.config.rate == "auto" and stamp > now_ns:
            return
        self.context.publish(self.config.topic, img.replace(stamp_ns=min(stamp, now_ns), seq=self.frames))
        self.frames += 1
        self._next = None

    def counters(self) -> dict[str, int]:
        return {"frames": self.frames, "bad_frames": self.bad}

    def stop(self) -> None:
        self._reader.close()
