"""Processors that ship with the runtime: a test-pattern camera, a relay and a JSONL sink.

They make a complete graph without any hardware (``configs/relay.yaml``, ``percept demo``) and
are the parts the launcher tests run as real processes. Loaded by name from graph files only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from percept.message import Message
from percept.messages import Image
from percept.node import NodeContext, Processor


@dataclass(frozen=True)
class TestPatternConfig:
    """Options of :class:`TestPatternCamera`.

    Attributes:
        topic: output topic.
        frame_id: camera frame of the images.
        rate_hz: frames per second of clock time.
        width, height: image size in pixels.
        jpeg_quality: JPEG-compress frames at this quality (None: raw bgr8).
    """

    __test__ = False  # not a pytest test class

    topic: str = "camera/test"
    frame_id: str = "camera_test"
    rate_hz: float = 30.0
    width: int = 640
    height: int = 480
    jpeg_quality: int | None = None

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz: expected > 0, got {self.rate_hz}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"width, height: expected > 0, got {self.width}x{self.height}")


class TestPatternCamera(Processor):
    """A synthetic camera: colour bars with a bar that moves one step per frame.

    Stamps each frame with the clock time at which it is made (its capture time).
    """

    __test__ = False  # not a pytest test class
    Config = TestPatternConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: TestPatternConfig = self.config
        x = np.arange(cfg.width)
        bars = np.stack([(x * 255 // max(cfg.width - 1, 1)) % 256,
                         (x * 7) % 256, 255 - (x * 255 // max(cfg.width - 1, 1))], axis=-1)
        self._base = np.broadcast_to(bars.astype(np.uint8), (cfg.height, cfg.width, 3)).copy()
        self._seq = 0
        ctx.add_timer(1.0 / cfg.rate_hz, self._tick)

    def _tick(self, now_ns: int) -> None:
        cfg: TestPatternConfig = self.config
        frame = self._base.copy()
        col = (self._seq * 8) % cfg.width
        frame[:, col:col + 8] = 255
        msg = Image.from_bgr(frame, stamp_ns=now_ns, frame_id=cfg.frame_id, seq=self._seq,
                             jpeg_quality=cfg.jpeg_quality)
        self._seq += 1
        self.context.publish(cfg.topic, msg)


@dataclass(frozen=True)
class RelayConfig:
    """Options of :class:`Relay`: ``rename`` maps input topic prefixes to output prefixes."""

    rename: dict[str, str] | None = None


class Relay(Processor):
    """Re-publishes every message unchanged, renaming its topic by prefix (first match wins)."""

    Config = RelayConfig

    def on_message(self, topic: str, msg: Message) -> None:
        out = topic
        for src, dst in (self.config.rename or {}).items():
            if topic.startswith(src):
                out = dst + topic[len(src):]
                break
        self.context.publish(out, msg)


@dataclass(frozen=True)
class JsonlSinkConfig:
    """Options of :class:`JsonlSink`: ``path`` of the JSON-lines file (appended to)."""

    path: str = "sink.jsonl"


class JsonlSink(Processor):
    """Appends one JSON line per received message (header and array shapes) to a file."""

    Config = JsonlSinkConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        path = Path(self.config.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = path.open("a", encoding="utf-8")

    def on_message(self, topic: str, msg: Message) -> None:
        line = {"topic": topic, "received_ns": self.context.clock.now_ns(), **msg.summary()}
        self._fh.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._fh.flush()

    def stop(self) -> None:
        self._fh.close()
