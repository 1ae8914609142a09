"""Tracker nodes: ``Tracker2DNode`` (per-camera ``Detections2D`` -> ``Tracks``) and
``Tracker3DNode`` (``Detections3D`` -> 3D ``Tracks``).

One :class:`~fusion.tracker2d.Tracker2D` per input topic (one camera stream each); ids are unique
across all streams of the node. The output topic is the input topic with its last component
``detections`` replaced by ``tracks`` (``cam/front/detections`` -> ``cam/front/tracks``; a topic
not ending in ``detections`` gets ``/tracks`` appended). Output rows: ``state_fields`` =
``x1, y1, x2, y2`` (pixels, after the update) and ``vx, vy`` (box-centre velocity, pixels/s);
``status`` from :class:`~fusion.lifecycle.TrackState`; ``age`` in frames since birth.

Camera-motion compensation (``tracker.cmc`` = ``sparse`` or ``ecc``) needs each camera's images:
``images`` maps every detections topic to its camera's ``Image`` topic
(``{camera/front/detections: camera/front/image}``; a config with ``cmc`` on and no ``images`` is
rejected). Graphs subscribe the node to those image topics themselves (:meth:`Tracker2DNode.
extra_subscriptions`). The node keeps the newest ``image_buffer`` images of each image topic and
hands a detections frame the image with the same ``stamp_ns`` (the capture time both carry). The
image must arrive first, as it does when the detections are computed from it; a frame whose image
is not there is tracked without compensation this once (counted in ``cmc_missing``; the camera
motion since the last compensated frame is still caught at the next one).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from fusion.errors import TrackingError
from fusion.lifecycle import IdCounter, reported, tracks_message
from fusion.tracker2d import MultiStreamTracker, Tracker2DConfig
from fusion.tracker3d import Tracker3D, Tracker3DConfig
from percept.errors import MessageError
from percept.message import Message
from percept.messages import Detections2D, Detections3D, Image
from percept.node import NodeContext
from percept.node import SequencedProcessor as _TrackerNode

STATE_FIELDS = ("x1", "y1", "x2", "y2", "vx", "vy")


@dataclass(frozen=True)
class Tracker2DNodeConfig:
    """Options of :class:`Tracker2DNode`.

    Attributes:
        tracker: the tracker settings (same for every stream).
        publish_all: also publish TENTATIVE and LOST tracks (default: CONFIRMED ones matched in
            this frame, as ``Tracker2D.update`` returns).
        images: detections topic -> its camera's ``Image`` topic; required when ``tracker.cmc`` is
            on (see the module docstring), unused otherwise.
        image_buffer: images kept per image topic while waiting for their detections (>= 1).
    """

    tracker: Tracker2DConfig = field(default_factory=Tracker2DConfig)
    publish_all: bool = False
    images: dict[str, str] = field(default_factory=dict)
    image_buffer: int = 8

    def __post_init__(self) -> None:
        if self.tracker.cmc != "none" and not self.images:
            raise TrackingError(f"images: tracker.cmc is {self.tracker.cmc!r} but no image topic is "
                                "configured; map each detections topic to its camera's image topic, "
                                "e.g. images: {camera/front/detections: camera/front/image}")
        if any(not k or not v for k, v in self.images.items()):
            raise TrackingError(f"images: expected non-empty topics, got {self.images}")
        if self.image_buffer < 1:
            raise TrackingError(f"image_buffer: expected >= 1, got {self.image_buffer}")


def output_topic(topic: str) -> str:
    """``.../detections`` -> ``.../tracks``; any other topic gets ``/tracks`` appended."""
    head, _, last = topic.rpartition("/")
    if last == "detections":
        return f"{head}/tracks" if head else "tracks"
    return f"{topic}/tracks"


class Tracker2DNode(_TrackerNode):
    """Tracks the boxes of every ``Detections2D`` topic it receives, with camera-motion
    compensation from the configured image topics when ``tracker.cmc`` is on; other messages are
    ignored (and counted in ``ignored``).

    Counters: ``images_in`` (images kept for CMC), ``cmc_frames`` (frames tracked with their
    image), ``cmc_missing`` (frames whose image had not arrived or could not be decoded).
    """

    Config = Tracker2DNodeConfig

    @classmethod
    def extra_subscriptions(cls, config: Tracker2DNodeConfig) -> tuple[str, ...]:
        """The image topics CMC needs (none when it is off); graphs add them to the node's subscribe."""
        return tuple(dict.fromkeys(config.images.values())) if config.tracker.cmc != "none" else ()

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        self.trackers = MultiStreamTracker(self.config.tracker)
        self.frames: dict[str, deque[Image]] = {
            t: deque(maxlen=self.config.image_buffer) for t in self.extra_subscriptions(self.config)}
        self.images_in = self.cmc_frames = self.cmc_missing = 0
        self._no_image_topic: set[str] = set()

    def _image_for(self, topic: str, stamp_ns: int) -> np.ndarray | None:
        """BGR (H, W, 3) image of detections ``topic`` at ``stamp_ns``, or None (no CMC this frame)."""
        if not self.frames:
            return None
        image_topic = self.config.images.get(topic)
        if image_topic is None:
            if topic not in self._no_image_topic:
                self._no_image_topic.add(topic)
                self.context.log.warning("%s: no image topic in 'images': tracked without camera-motion "
                                         "compensation", topic)
            return None
        img = next((m for m in reversed(self.frames[image_topic]) if m.stamp_ns == stamp_ns), None)
        if img is not None:
            try:
                bgr = img.to_bgr()
            except MessageError as exc:
                self.context.log.warning("%s: image at %d ns cannot be decoded (%s)", image_topic, stamp_ns,
                                         exc)
            else:
                self.cmc_frames += 1
                return bgr
        self.cmc_missing += 1
        return None

    def on_message(self, topic: str, msg: Message) -> None:
        if isinstance(msg, Image) and topic in self.frames:
            self.frames[topic].append(msg)
            self.images_in += 1
            return
        if not isinstance(msg, Detections2D):
            self.ignored += 1
            return
        tracker = self.trackers.tracker(topic)
        before = tracker.stats.out_of_order
        tracker.update(msg.detections, msg.stamp_ns, self._image_for(topic, msg.stamp_ns))
        if tracker.stats.out_of_order != before:
            self.context.log.warning("%s: frame %d ns out of order, dropped", topic, msg.stamp_ns)
            return
        tracks = reported(tracker.tracks, self.config.publish_all)
        out = output_topic(topic)
        state = np.array([[*t.box, *t.velocity] for t in tracks], np.float32).reshape(-1, len(STATE_FIELDS))
        self.context.publish(out, tracks_message(tracks, state, STATE_FIELDS, stamp_ns=msg.stamp_ns,
                                                 frame_id=msg.frame_id, seq=self.next_seq(out),
                                                 class_names=msg.class_names))


@dataclass(frozen=True)
class Tracker3DNodeConfig:
    """Options of :class:`Tracker3DNode`.

    Attributes:
        tracker: the 3D tracker settings (same for every stream).
        publish_all: also publish TENTATIVE and LOST tracks (default: CONFIRMED tracks matched in
            this frame, as ``Tracker3D.update`` returns).
    """

    tracker: Tracker3DConfig = field(default_factory=Tracker3DConfig)
    publish_all: bool = False


class Tracker3DNode(_TrackerNode):
    """Tracks the 3D boxes of every ``Detections3D`` topic it receives (one :class:`Tracker3D` per
    topic, ids unique across topics); other messages are ignored and counted in ``ignored``.

    Output: ``Tracks`` on :func:`output_topic` of the input topic, in the detections' frame, with
    ``state_fields`` = ``x, y, z, length, width, height, yaw, vx, vy, vz`` (geometric centre in
    metres, heading in radians, centre velocity in m/s) and the input's ``stamp_ns``.
    """

    Config = Tracker3DNodeConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        self.ids = IdCounter()
        self.trackers: dict[str, Tracker3D] = {}

    def on_message(self, topic: str, msg: Message) -> None:
        if not isinstance(msg, Detections3D):
            self.ignored += 1
            return
        tracker = self.trackers.get(topic)
        if tracker is None:
            tracker = self.trackers[topic] = Tracker3D(self.config.tracker, self.ids)
        before = tracker.stats.out_of_order
        tracks = tracker.update(msg)
        if tracker.stats.out_of_order != before:
            self.context.log.warning("%s: frame %d ns out of order, dropped", topic, msg.stamp_ns)
            return
        if self.config.publish_all:
            tracks = tracker.tracks_message(msg, reported(tracker.tracks, include_all=True))
        out = output_topic(topic)
        self.context.publish(out, dataclasses.replace(tracks, seq=self.next_seq(out)))
