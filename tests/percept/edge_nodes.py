"""Processors the graph-edge tests run as real node processes (``type: tests.percept.edge_nodes:...``).

* :class:`SlowSink`: a JSONL sink whose ``start`` takes ``delay_s`` (a model being loaded).
* :class:`SlowDetector`: a stand-in for a slow detector: one box around the bright pixels of each
  image, published after ``delay_s`` of work per frame.
* :class:`CrashAtExitSource`: publishes ``frames`` images, ends its stream, and then its process
  exits with code 3 while the interpreter shuts down (after the node wrote its summary); with
  ``crash_mid_stream`` it dies (code 5) after ``frames`` images instead, its stream never ended.
"""

from __future__ import annotations

import atexit
import os
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


@dataclass(frozen=True)
class CrashAtExitSourceConfig:
    frames: int = 3
    topic: str = "camera/image"
    crash_mid_stream: bool = False


class CrashAtExitSource(SequencedProcessor):
    Config = CrashAtExitSourceConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        ctx.add_timer(0.05, self._tick)

    def _tick(self, now_ns: int) -> None:
        out = self.config.topic
        if self.context.ended:
            return
        seq = self.next_seq(out)
        self.context.publish(out, Image.from_bgr(np.full((8, 8, 3), 200, np.uint8), stamp_ns=now_ns,
                                                 frame_id="cam", seq=seq))
        if seq + 1 >= self.config.frames:
            if self.config.crash_mid_stream:
                time.sleep(0.2)  # let the frames leave
                os._exit(5)
            self.context.end_stream()

    def stop(self) -> None:
        atexit.register(os._exit, 3)  # runs after the shell wrote the node's summary
