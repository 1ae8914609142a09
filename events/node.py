"""The ``events`` node: a scene's rules over ``Tracks``, publishing ``Event`` s on ``events/<camera>``.

Graph entry::

    - name: events
      type: events
      subscribe: [gt/tracks/world]          # or the tracker's topics
      publishes: [events/]
      config:
        scene: configs/scenes/plaza.yaml    # required
        tracks: [gt/tracks/world]           # optional: only Tracks topics with these prefixes
        images: camera/cctv/image           # optional: snapshots from this camera's images

With ``images``, the node keeps the newest ``image_buffer`` images and hands an update the image
with the same ``stamp_ns`` (decoded to BGR) for the snapshot of events starting in it; graphs
subscribe the node to that topic themselves (:meth:`EventsNode.extra_subscriptions`).

A message the scene cannot use (2D tracks without a homography, an update older than the last
one, an image that does not decode, ...) is counted in ``bad_messages`` and logged; the node
goes on. Messages of other types or topics are counted in ``ignored``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from events.engine import EventEngine
from events.errors import EventsError
from events.scene import load_scene
from percept.errors import MessageError
from percept.message import Message
from percept.messages import Image, Tracks
from percept.node import NodeContext, Processor


@dataclass(frozen=True)
class EventsNodeConfig:
    """Options of :class:`EventsNode` (see the module docstring).

    Attributes:
        scene: path of the scene YAML (validated when the config is built).
        tracks: prefixes of the Tracks topics to use; empty: every Tracks message received.
        images: Image topic for snapshots ("" for none); image_buffer: images kept (>= 1).
        topic: output topic (default ``events/<camera>`` of the scene).
    """

    scene: str = ""
    tracks: tuple[str, ...] = ()
    images: str = ""
    image_buffer: int = 8
    topic: str = ""

    def __post_init__(self) -> None:
        if not self.scene:
            raise EventsError("scene: missing required key (path of the scene YAML)")
        if self.image_buffer < 1:
            raise EventsError(f"image_buffer: expected >= 1, got {self.image_buffer}")
        load_scene(self.scene)  # a bad scene fails when the graph is loaded, not when it runs


class EventsNode(Processor):
    """Runs an :class:`~events.engine.EventEngine` on the Tracks it receives (module docstring)."""

    Config = EventsNodeConfig

    @classmethod
    def extra_subscriptions(cls, config: EventsNodeConfig) -> tuple[str, ...]:
        """The image topic snapshots need (none without ``images``)."""
        return (config.images,) if config.images else ()

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        self.engine = EventEngine(load_scene(self.config.scene))
        self.topic = self.config.topic or f"events/{self.engine.scene.camera}"
        self.images: deque[Image] = deque(maxlen=self.config.image_buffer)
        self.seq = 0
        self.bad_messages = self.ignored = 0

    def _bad(self, topic: str, exc: Exception) -> None:
        self.bad_messages += 1
        if self.bad_messages == 1 or self.bad_messages % 100 == 0:
            self.context.log.warning("%s: message not usable (%d so far): %s", topic, self.bad_messages, exc)

    def _image(self, stamp_ns: int) -> np.ndarray | None:
        img = next((m for m in reversed(self.images) if m.stamp_ns == stamp_ns), None)
        if img is None:
            return None
        try:
            return img.to_bgr()
        except MessageError as exc:
            self._bad(self.config.images, exc)
            return None

    def on_message(self, topic: str, msg: Message) -> None:
        if isinstance(msg, Image) and topic == self.config.images:
            self.images.append(msg)
            return
        wanted = not self.config.tracks or any(topic.startswith(p) for p in self.config.tracks)
        if not isinstance(msg, Tracks) or not wanted:
            self.ignored += 1
            return
        try:
            events = self.engine.update(msg, self._image(msg.stamp_ns) if self.config.images else None,
                                        seq=self.seq)  # numbered by the engine: no replace()
        except EventsError as exc:
            self._bad(topic, exc)
            return
        self.seq += len(events)
        for ev in events:  # one after another: the socket's I/O thread wakes once for them
            self.context.publish(self.topic, ev)
