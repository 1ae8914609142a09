"""Tracker nodes: ``Tracker2DNode`` (per-camera ``Detections2D`` -> ``Tracks``) and
``Tracker3DNode`` (``Detections3D`` -> 3D ``Tracks``).

One :class:`~fusion.tracker2d.Tracker2D` per input topic (one camera stream each); ids are unique
across all streams of the node. The output topic is the input topic with its last component
``detections`` replaced by ``tracks`` (``cam/front/detections`` -> ``cam/front/tracks``; a topic
not ending in ``detections`` gets ``/tracks`` appended). Output rows: ``state_fields`` =
``x1, y1, x2, y2`` (pixels, after the update) and ``vx, vy`` (box-centre velocity, pixels/s);
``status`` from :class:`~fusion.lifecycle.TrackState`; ``age`` in frames since birth.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from fusion.lifecycle import IdCounter, reported, tracks_message
from fusion.tracker2d import MultiStreamTracker, Tracker2DConfig
from fusion.tracker3d import Tracker3D, Tracker3DConfig
from percept.message import Message
from percept.messages import Detections2D, Detections3D
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
    """

    tracker: Tracker2DConfig = field(default_factory=Tracker2DConfig)
    publish_all: bool = False


def output_topic(topic: str) -> str:
    """``.../detections`` -> ``.../tracks``; any other topic gets ``/tracks`` appended."""
    head, _, last = topic.rpartition("/")
    if last == "detections":
        return f"{head}/tracks" if head else "tracks"
    return f"{topic}/tracks"


class Tracker2DNode(_TrackerNode):
    """Tracks the boxes of every ``Detections2D`` topic it receives; other messages are ignored
    (and counted in ``ignored``)."""

    Config = Tracker2DNodeConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        self.trackers = MultiStreamTracker(self.config.tracker)

    def on_message(self, topic: str, msg: Message) -> None:
        if not isinstance(msg, Detections2D):
            self.ignored += 1
            return
        tracker = self.trackers.tracker(topic)
        before = tracker.stats.out_of_order
        tracker.update(msg.detections, msg.stamp_ns)
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
