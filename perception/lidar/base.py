"""What the lidar and radar object extractors share: config errors, the node shell, centre scoring.

:class:`ObjectConfigError` is a ``ValueError`` so that :func:`percept.config.build` reports it with
the full key path (``nodes[2].config.extractor.cluster.tolerance: ...``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from percept.counters import Counters
from percept.message import Message
from percept.messages import Detections3D
from percept.node import NodeContext, Processor
from perception.errors import DetectorError

__all__ = ["CentreScore", "ObjectConfigError", "ObjectExtractor", "ObjectNode", "ObjectNodeConfig",
           "ObjectNodeStats", "nearest_within", "objects_topic", "require", "score_centres"]


class ObjectConfigError(DetectorError, ValueError):
    """An object-extraction config field is out of range; the message names the field."""


class ObjectNodeStats(Counters, ints="inputs bad_inputs ignored outputs objects"):
    """Counters of an object-extraction node (totals since start).

    Attributes:
        inputs: sensor messages received on an input topic.
        bad_inputs: those that could not be processed (wrong columns, non-finite values; logged, skipped).
        ignored: other messages.
        outputs: ``Detections3D`` published; objects: boxes in them.
    """


class ObjectExtractor(Protocol):
    """What :class:`ObjectNode` needs of an extractor (:class:`perception.lidar.extractor.
    LidarObjectExtractor`, :class:`perception.radar.clusterer.RadarObjectClusterer`)."""

    def extract(self, msg: Any, stamp_ns: int, frame_id: str, seq: int) -> Detections3D:
        """The objects of one sensor message, with the given header."""
        ...

    def describe(self) -> str:
        """The main settings in a few words, for the node's start-up log line."""
        ...


class ObjectNode(Processor):
    """Shared shell of the object-extraction nodes: messages of type ``INPUT`` on a topic starting
    with one of ``config.inputs`` go through :attr:`extractor` (an ``EXTRACTOR`` made from the
    node config's field named ``SETTINGS``), with the input's header; the result is published on
    :func:`objects_topic` ``(topic, DATA_NAME, config.output_suffix)``. A message that raises
    :class:`DetectorError` is counted in :attr:`stats`, logged and skipped."""

    INPUT: ClassVar[type[Message]] = Message
    DATA_NAME: ClassVar[str] = ""
    EXTRACTOR: ClassVar[Callable[[Any], ObjectExtractor]]
    SETTINGS: ClassVar[str] = ""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.stats = ObjectNodeStats()
        self.extractor: ObjectExtractor = type(self).EXTRACTOR(getattr(self.config, self.SETTINGS))

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        ctx.log.info("%s: inputs %s, %s", type(self).__name__, list(self.config.inputs),
                     self.extractor.describe())

    def on_message(self, topic: str, msg: Message) -> None:
        cfg = self.config
        if not isinstance(msg, self.INPUT) or not topic.startswith(tuple(cfg.inputs)):
            self.stats.ignored += 1
            return
        self.stats.inputs += 1
        try:
            dets = self.extractor.extract(msg, stamp_ns=msg.stamp_ns, frame_id=msg.frame_id, seq=msg.seq)
        except DetectorError as exc:
            self.stats.bad_inputs += 1
            self.context.log.warning("%s: %s seq %d (%s) skipped (%d bad so far): %s", topic,
                                     type(msg).__name__, msg.seq, msg.frame_id, self.stats.bad_inputs, exc)
            return
        self.context.publish(objects_topic(topic, self.DATA_NAME, cfg.output_suffix), dets)
        self.stats.outputs += 1
        self.stats.objects += len(dets)


@dataclass(frozen=True)
class ObjectNodeConfig:
    """Topic options of an object-extraction node (subclasses add the extractor's config).

    Attributes:
        inputs: topic prefixes; an input message on a topic starting with one is processed.
        output_suffix: last topic component of the outputs (see :func:`objects_topic`).
    """

    inputs: tuple[str, ...] = ("sensor/",)
    output_suffix: str = "objects"

    def __post_init__(self) -> None:
        require(bool(self.inputs) and all(isinstance(p, str) and p for p in self.inputs), "inputs",
                f"expected non-empty topic prefixes, got {list(self.inputs)}")
        require(bool(self.output_suffix) and "/" not in self.output_suffix, "output_suffix",
                f"expected a non-empty name without '/', got {self.output_suffix!r}")


def require(cond: bool, key: str, text: str) -> None:
    """Raise :class:`ObjectConfigError` ``"<key>: <text>"`` unless ``cond``."""
    if not cond:
        raise ObjectConfigError(f"{key}: {text}")


def objects_topic(topic: str, data_name: str, suffix: str = "objects") -> str:
    """Output topic of the objects extracted from input ``topic``.

    A last component equal to ``data_name`` is replaced by ``suffix``, anything else gets it
    appended: ``lidar/points`` -> ``lidar/objects``, ``radar/front`` -> ``radar/front/objects``.
    """
    head, _, last = topic.rstrip("/").rpartition("/")
    if last == data_name:
        return f"{head}/{suffix}" if head else suffix
    return f"{topic.rstrip('/')}/{suffix}"


def nearest_within(detected: np.ndarray, labelled: np.ndarray, max_dist: float) -> np.ndarray:
    """int64 (L,): for each label the nearest detection at most ``max_dist`` away, -1 for none.

    ``detected`` float (D, K) and ``labelled`` float (L, K) centres in one frame (metres; K = 2
    for ground-plane, 3 for 3D distance). Several labels may share a detection.
    """
    det = np.asarray(detected, np.float64)
    lab = np.asarray(labelled, np.float64)
    if not len(det) or not len(lab):
        return np.full(len(lab), -1, np.int64)
    dist = np.linalg.norm(lab[:, None, :] - det[None, :, :], axis=2)
    best = np.argmin(dist, axis=1)
    return np.where(dist[np.arange(len(lab)), best] <= max_dist, best, -1).astype(np.int64)


@dataclass(frozen=True)
class CentreScore:
    """Centre-distance evaluation of one sample (or a sum of samples).

    Attributes:
        name: sample id (or ``total``).
        labels: labels evaluated; found: those with a detection centre within the match distance.
        detections: detections inside the labelled region (e.g. the camera's field of view and
            range); false: those farther than the match distance from every label (of any type).
    """

    name: str
    labels: int
    found: int
    detections: int
    false: int

    @property
    def recall(self) -> float:
        """found / labels (NaN without labels)."""
        return self.found / self.labels if self.labels else math.nan

    def __add__(self, other: CentreScore) -> CentreScore:
        return CentreScore("total", self.labels + other.labels, self.found + other.found,
                           self.detections + other.detections, self.false + other.false)


def score_centres(name: str, detected: np.ndarray, in_region: np.ndarray, labelled: np.ndarray,
                  evaluated: np.ndarray, max_dist: float) -> CentreScore:
    """Score detection centres against label centres (same frame and columns, metres).

    Args:
        detected: float (D, K) detection centres; in_region: bool (D,) detections in the labelled region.
        labelled: float (L, K) centres of every label (all types: a detection near any label is
            not false); evaluated: bool (L,) the labels that count for recall.
        max_dist: match distance.
    """
    evaluated = np.asarray(evaluated, bool)
    in_region = np.asarray(in_region, bool)
    found = nearest_within(detected, np.asarray(labelled)[evaluated], max_dist) >= 0
    near_label = nearest_within(labelled, np.asarray(detected)[in_region], max_dist) >= 0
    return CentreScore(name, int(evaluated.sum()), int(found.sum()), int(in_region.sum()),
                       int((~near_label).sum()))
