"""Processors the graph-edge tests run as real node processes (``type: tests.percept.edge_nodes:...``).

* :class:`SlowSink`: a JSONL sink whose ``start`` takes ``delay_s`` (a model being loaded).
* :class:`SlowDetector`: a stand-in for a slow detector: one box around the bright pixels of each
  image, published after ``delay_s`` of work per frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from percept.builtin_nodes import JsonlSink
from percept.detections import Detections
from percept.message import Message
from percept.messages import Detections2D, Image
from percept.node import NodeContext, SequencedProcessor


@dataclass(frozen=True)
class SlowSinkConfig:
    path: str = "sink.jsonl"
    delay_s: float = 2.0


class SlowSink(JsonlSink):
    Config = SlowSinkConfig

    def start(self, ctx: NodeContext) -> None:
        time.sleep(self.config.delay_s)
        super().start(ctx)


@dataclass(frozen=True)
class SlowDetectorConfig:
    delay_s: float = 0.2
    output: str = "camera/detections"


class SlowDetector(SequencedProcessor):
    Config = SlowDetectorConfig

    def on_message(self, topic: str, msg: Message) -> None:
        if not isinstance(msg, Image):
            self.ignored += 1
            return
        time.sleep(self.config.delay_s)
        ys, xs = np.nonzero(msg.to_bgr().max(axis=2) > 128)
        boxes = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]] if len(xs) else np.zeros((0, 4))
        dets = Detections(np.asarray(boxes, np.float32), [0.9] * len(boxes), [0] * len(boxes))
        out = self.config.output
        self.context.publish(out, Detections2D(stamp_ns=msg.stamp_ns, frame_id=msg.frame_id,
                                               seq=self.next_seq(out), detections=dets,
                                               class_names=("person",)))
