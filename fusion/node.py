"""``Tracker2DNode``: a processor turning per-camera ``Detections2D`` into ``Tracks``.

One :class:`~fusion.tracker2d.Tracker2D` per input topic (one camera stream each); ids are unique
across all streams of the node. The output topic is the input topic with its last component
``detections`` replaced by ``tracks`` (``cam/front/detections`` -> ``cam/front/tracks``; a topic
not ending in ``detections`` gets ``/tracks`` appended). Output rows: ``state_fields`` =
``x1, y1, x2, y2`` (pixels, after the update) and ``vx, vy`` (box-centre velocity, pixels/s);
``status`` from :class:`~fusion.lifecycle.TrackState`; ``age`` in frames since birth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fusion.lifecycle import TrackState
from fusion.tracker2d import MultiStreamTracker, Tracker2DConfig
from percept.message import Message
from percept.messages import Detections2D, Tracks, TrackStatus
from percept.node import NodeContext, Processor

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


class Tracker2DNode(Processor):
    """Tracks the boxes of every ``Detections2D`` topic it receives; other messages are ignored
    (and counted in ``ignored``)."""

    Config = Tracker2DNodeConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        self.trackers = MultiStreamTracker(self.config.tracker)
        self.seq: dict[str, int] = {}
        self.ignored = 0

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
        if self.config.publish_all:
            tracks = [t for t in tracker.tracks if t.state != TrackState.REMOVED]
        else:
            tracks = [t for t in tracker.tracks if t.state == TrackState.CONFIRMED and t.updated]
        out = output_topic(topic)
        seq = self.seq.get(out, 0)
        self.seq[out] = seq + 1
        state = np.array([[*t.box, *t.velocity] for t in tracks], np.float32).reshape(-1, len(STATE_FIELDS))
        self.context.publish(out, Tracks(
            stamp_ns=msg.stamp_ns, frame_id=msg.frame_id, seq=seq,
            track_id=np.array([t.id for t in tracks], np.int64),
            class_id=np.array([t.class_id for t in tracks], np.int32),
            confidence=np.array([t.confidence for t in tracks], np.float32),
            state=state, state_fields=STATE_FIELDS,
            age=np.array([t.age for t in tracks], np.int32),
            status=np.array([TrackStatus[t.state.name] for t in tracks], np.uint8),
            sensors=np.ones(len(tracks), np.uint32), sensor_names=(msg.frame_id,),
            class_names=msg.class_names,
        ))
