"""The detector node: camera images in, ``Detections2D`` out, batched across cameras.

Output topics: a camera topic listed in ``outputs`` (config) publishes on the topic given there,
e.g. ``outputs: {camera/front/image: det/front}`` beside the graph entry ``publishes: [det/]``
(the graph's ``publishes:`` wires the subscribers; the node does not see it, so a graph that
publishes somewhere other than the default names its topics here). Any other camera topic gets
the default name (``output_suffix`` = ``"detections"``): an input topic whose last path
component is ``image`` has that component replaced, anything else gets the suffix appended::

    camera/front/image  ->  camera/front/detections
    camera/front        ->  camera/front/detections

Each input topic is one camera. The node keeps only the newest pending frame per camera (a newer
frame replaces an older one that was not yet detected; the replaced one is counted as
``superseded``), and runs the detector on one batch holding the pending frame of every camera:

* as soon as ``max_batch`` cameras have a frame pending, or
* when the oldest pending frame has waited ``max_wait_ms`` of node clock time. A periodic timer of
  ``max_wait_ms / 4`` checks this, so a lone camera's frame waits at most ``1.25 * max_wait_ms``
  (``max_wait_ms = 0`` detects every frame as it arrives, without batching).

Readiness: :meth:`DetectorNode.start` loads the model and (``warmup``) runs it once on a grey
frame, so a graph's sources, which wait for the node to be ready (:mod:`percept.control`), never
send their first frame into a lazy initialisation. At the end of the stream the pending frames are
detected before the node ends (:meth:`DetectorNode.on_end_of_stream`); :meth:`DetectorNode.counters`
reports the frames it superseded or could not detect for the run's summary.

Every output carries the source frame's ``stamp_ns`` (capture time) and ``frame_id``, its own
``seq`` (0, 1, 2, ... per output topic: frames the node superseded or the bus's ``latest``
policy skipped are not losses on the output topic), the detector's class names, and
``latency_ns`` = the detector's measured time (preprocess + inference + postprocess) for the
whole batch the frame was part of: the time the frame spent being detected, excluding the wait
for the batch to fill. Boxes are in the pixels of the camera's full frame: an image that is a
downscaled analytics copy (``Image.full_width``/``full_height`` set) has its boxes scaled back.
A frame that cannot be decoded or detected is counted in
:attr:`DetectorNode.stats` and logged; the node goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from percept.counters import Counters
from percept.message import Message
from percept.messages import Detections2D, Image
from percept.node import NodeContext, SequencedProcessor
from perception.config import DetectorConfig
from perception.detector import Detector


@dataclass(frozen=True)
class DetectorNodeConfig:
    """Options of :class:`DetectorNode`.

    Attributes:
        detector: the detector (model, backend, thresholds, tiling); see ``DetectorConfig``.
        inputs: topic prefixes of the cameras; an ``Image`` on a topic starting with one of them
            is detected, every other message is ignored.
        output_suffix: last topic component of the default output topics (see the module docstring).
        outputs: explicit output topic per camera topic (exact input topic -> output topic);
            camera topics not listed get the default name.
        max_batch: most cameras detected in one batch (>= 1).
        max_wait_ms: longest time (node clock, milliseconds) a frame waits for a batch to fill.
        warmup: run the detector once on a grey 640x480 frame in ``start`` (before the node is ready).
    """

    detector: DetectorConfig
    inputs: tuple[str, ...] = ("camera/",)
    output_suffix: str = "detections"
    outputs: dict[str, str] | None = None
    max_batch: int = 4
    max_wait_ms: float = 5.0
    warmup: bool = True

    def __post_init__(self) -> None:
        if not self.inputs or not all(isinstance(p, str) and p for p in self.inputs):
            raise ValueError(f"inputs: expected non-empty topic prefixes, got {list(self.inputs)}")
        if not self.output_suffix or "/" in self.output_suffix:
            raise ValueError(f"output_suffix: expected a non-empty name without '/', "
                             f"got {self.output_suffix!r}")
        for src, dst in (self.outputs or {}).items():
            if not (isinstance(src, str) and src.startswith(self.inputs)):
                raise ValueError(f"outputs: camera topic {src!r} does not start with an input prefix "
                                 f"{list(self.inputs)}, so it is never detected")
            if not isinstance(dst, str) or not dst.strip("/"):
                raise ValueError(f"outputs[{src!r}]: expected a topic name, got {dst!r}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch: expected >= 1, got {self.max_batch}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms: expected >= 0, got {self.max_wait_ms}")


def output_topic(topic: str, suffix: str = "detections") -> str:
    """The detections topic of camera topic ``topic`` (see the module docstring)."""
    head, _, last = topic.rstrip("/").rpartition("/")
    if last == "image":
        return f"{head}/{suffix}" if head else suffix
    return f"{topic.rstrip('/')}/{suffix}"


class DetectorNodeStats(Counters, ints="frames_in superseded bad_frames ignored frames_out batches",
                        maps="batch_sizes"):
    """Counters of a :class:`DetectorNode` (totals since start).

    Attributes:
        frames_in: images received on an input topic.
        superseded: pending frames replaced by a newer frame of the same camera before detection.
        bad_frames: frames that could not be decoded or detected (logged, skipped).
        ignored: messages that were not images on an input topic.
        frames_out: ``Detections2D`` published.
        batches: detector calls that produced output.
        batch_sizes: how many batches had each size (images per detector call).
    """


class DetectorNode(SequencedProcessor):
    """Detects objects in the newest frame of every camera, batched (see the module docstring)."""

    Config = DetectorNodeConfig

    def __init__(self, config: DetectorNodeConfig) -> None:
        super().__init__(config)
        self.stats = DetectorNodeStats()
        self._pending: dict[str, tuple[Image, int]] = {}  # topic -> (newest frame, arrival ns)
        self._detector: Detector | None = None

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: DetectorNodeConfig = self.config
        self._detector = Detector(cfg.detector)
        self._class_names = tuple(self._detector.class_names)
        self._max_wait_ns = round(cfg.max_wait_ms * 1e6)
        if cfg.warmup:  # the first call pays for lazy allocations: not on a real frame
            self._detector.detect([np.full((480, 640, 3), 114, np.uint8)])
        if self._max_wait_ns > 0:
            ctx.add_timer(cfg.max_wait_ms / 4e3, self._on_tick)
        ctx.log.info("detector node: model %s, inputs %s, max_batch %d, max_wait %.1f ms",
                     cfg.detector.model, list(cfg.inputs), cfg.max_batch, cfg.max_wait_ms)

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            raise RuntimeError("DetectorNode used before start()")
        return self._detector

    def on_message(self, topic: str, msg: Message) -> None:
        cfg: DetectorNodeConfig = self.config
        if not isinstance(msg, Image) or not topic.startswith(cfg.inputs):
            self.stats.ignored += 1
            return
        self.stats.frames_in += 1
        if topic in self._pending:
            self.stats.superseded += 1
            # keep the first arrival time: the camera has been waiting since then
            self._pending[topic] = (msg, self._pending[topic][1])
        else:
            self._pending[topic] = (msg, self.context.clock.now_ns())
        if len(self._pending) >= cfg.max_batch or self._max_wait_ns == 0:
            self.flush()

    def _on_tick(self, now_ns: int) -> None:
        if self._pending and now_ns - min(t for _, t in self._pending.values()) >= self._max_wait_ns:
            self.flush()

    def flush(self) -> None:
        """Detect every pending frame now, in batches of at most ``max_batch``, and publish."""
        while self._pending:
            topics = list(self._pending)[: self.config.max_batch]
            frames = [(t, self._pending.pop(t)[0]) for t in topics]
            self._detect_batch(frames)

    def _bad(self, topic: str, msg: Image, what: str, exc: BaseException) -> None:
        self.stats.bad_frames += 1
        self.context.log.warning("%s: frame seq %d (%s) %s (%d bad so far): %s: %s", topic, msg.seq,
                                 msg.frame_id, what, self.stats.bad_frames, type(exc).__name__, exc)

    def _decode(self, topic: str, msg: Image) -> np.ndarray | None:
        try:
            img = msg.to_bgr()
        except Exception as exc:  # any decoder failure is one bad frame, never fatal
            self._bad(topic, msg, "cannot be decoded", exc)
            return None
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            self._bad(topic, msg, "is not an image", ValueError(f"BGR shape {img.shape}"))
            return None
        return img

    def _detect_batch(self, frames: list[tuple[str, Image]]) -> None:
        decoded = [(t, m, img) for t, m in frames if (img := self._decode(t, m)) is not None]
        if not decoded:
            return
        try:
            results = self.detector.detect([img for _, _, img in decoded])
        except Exception as exc:
            if len(decoded) == 1:
                self._bad(decoded[0][0], decoded[0][1], "failed detection", exc)
                return
            # find the frame that broke the batch: detect the others one by one
            for item in decoded:
                self._detect_batch([(item[0], item[1])])
            return
        self._publish(decoded, results)

    def _publish(self, decoded: list[tuple[str, Image, np.ndarray]], results: list) -> None:
        t = self.detector.timings
        latency_ns = max(0, round((t.preprocess_ms + t.infer_ms + t.postprocess_ms) * 1e6))
        n = len(decoded)
        self.stats.batches += 1
        self.stats.batch_sizes[n] = self.stats.batch_sizes.get(n, 0) + 1
        for (topic, msg, _), dets in zip(decoded, results, strict=True):
            out_topic = self.output_topic(topic)
            out = Detections2D(stamp_ns=msg.stamp_ns, frame_id=msg.frame_id, seq=self.next_seq(out_topic),
                               detections=dets.scaled(*msg.full_frame_scale()),  # full-frame pixels
                               class_names=self._class_names, latency_ns=latency_ns)
            self.context.publish(out_topic, out)
            self.stats.frames_out += 1

    def on_end_of_stream(self) -> None:
        """The cameras have ended: detect the frames still pending."""
        self.flush()

    def counters(self) -> dict[str, int]:
        """Input frames and what became of them, for the run's summary."""
        st = self.stats
        return {"frames_in": st.frames_in, "superseded": st.superseded, "bad_frames": st.bad_frames,
                "ignored": st.ignored, "frames_out": st.frames_out}

    def output_topic(self, topic: str) -> str:
        """The detections topic of camera topic ``topic``: ``outputs[topic]`` or the default name."""
        cfg: DetectorNodeConfig = self.config
        explicit = (cfg.outputs or {}).get(topic)
        return explicit if explicit is not None else output_topic(topic, cfg.output_suffix)

    def stop(self) -> None:
        if self._detector is not None:
            if self.ctx is not None:
                self.flush()
            self._detector.close()
            self._detector = None
