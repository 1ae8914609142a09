"""End-of-run summaries: what every node of a graph published, received and skipped.

Each node shell writes a :class:`NodeSummary` (JSON, ``<run_dir>/summary/<node>.json``) when it
stops, whether its stream ended or it was told to stop. The launcher then joins them into a
:class:`RunSummary`: one :class:`LinkCount` per (topic, consumer) with the messages the producer
published on the topic (from its own summary, or from the count its end-of-stream marker
carried), those the consumer received, and the difference, ``skipped``: frames a ``latest``
link replaced because the consumer was busy, or that a full ``reliable`` queue dropped. Together
with the processors' own counters (frames a detector superseded, ...) every message a file source
published is accounted for.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from percept.errors import PerceptError

log = logging.getLogger(__name__)

#: Sub-folder of a run directory holding the node summaries.
SUMMARY_DIR = "summary"


@dataclass(frozen=True)
class NodeSummary:
    """Totals of one node process (since it started).

    Attributes:
        node: node name.
        finished: the node stopped because its stream ended (not because it was told to stop).
        ready_s: seconds from process start until it was ready (its ``wait_for`` answered).
        ready_at_ns: wall-clock time (``time.time_ns``) at which it became ready (0: never).
        published: messages published per topic (control messages excluded).
        send_drops: messages its publisher had to drop.
        received: messages received per topic (control messages excluded).
        upstream_published: per producer node, the ``published`` counts its end marker carried.
        handler_errors, decode_errors: messages that raised in the processor / were malformed.
        counters: the processor's own totals (:meth:`percept.node.Processor.counters`).
    """

    node: str
    finished: bool = False
    ready_s: float = 0.0
    ready_at_ns: int = 0
    published: Mapping[str, int] = field(default_factory=dict)
    send_drops: int = 0
    received: Mapping[str, int] = field(default_factory=dict)
    upstream_published: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    handler_errors: int = 0
    decode_errors: int = 0
    counters: Mapping[str, int] = field(default_factory=dict)

    def write(self, path: str | Path) -> None:
        """Write as JSON (atomically: a reader never sees half a file)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(p)

    @classmethod
    def read(cls, path: str | Path) -> NodeSummary:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise PerceptError(f"{path}: not a readable node summary: {exc}") from exc


def summary_path(run_dir: str | Path, node: str) -> Path:
    """Where node ``node`` of the graph running in ``run_dir`` writes its summary."""
    return Path(run_dir) / SUMMARY_DIR / f"{node}.json"


@dataclass(frozen=True)
class LinkCount:
    """Messages of ``topic`` from ``producer`` as seen by ``consumer``; ``skipped`` = published - received."""

    topic: str
    producer: str
    consumer: str
    published: int
    received: int

    @property
    def skipped(self) -> int:
        return max(0, self.published - self.received)


@dataclass(frozen=True)
class RunSummary:
    """The joined node summaries of one run (see the module docstring)."""

    nodes: Mapping[str, NodeSummary]
    links: tuple[LinkCount, ...]

    @classmethod
    def collect(cls, run_dir: str | Path, nodes: list[str]) -> RunSummary:
        """Read the summaries of ``nodes`` under ``run_dir`` (a missing one is logged, left out)."""
        found: dict[str, NodeSummary] = {}
        for name in nodes:
            path = summary_path(run_dir, name)
            try:
                found[name] = NodeSummary.read(path)
            except PerceptError as exc:
                log.warning("node %s left no summary: %s", name, exc)
        return cls(found, _links(found))

    def link(self, topic: str, consumer: str) -> LinkCount | None:
        """The count of ``topic`` at ``consumer``, or None if it received nothing of it."""
        return next((c for c in self.links if c.topic == topic and c.consumer == consumer), None)

    def lines(self) -> list[str]:
        """The summary as a table: one row per (topic, consumer), then each node's own counters."""
        out = [f"{'topic':34s} {'from':12s} {'to':12s} {'published':>9s} {'received':>9s} {'skipped':>8s}"]
        for c in self.links:
            out.append(f"{c.topic:34s} {c.producer:12s} {c.consumer:12s} {c.published:9d} "
                       f"{c.received:9d} {c.skipped:8d}")
        for name, s in self.nodes.items():
            extra = {"handler_errors": s.handler_errors, "decode_errors": s.decode_errors,
                     "send_drops": s.send_drops, **s.counters}
            shown = ", ".join(f"{k} {v}" for k, v in extra.items() if v)
            state = "ended" if s.finished else "stopped"
            out.append(f"node {name}: {state}, ready after {s.ready_s:.2f} s{'; ' + shown if shown else ''}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"nodes": {k: asdict(v) for k, v in self.nodes.items()},
                "links": [{**asdict(c), "skipped": c.skipped} for c in self.links]}


def _links(nodes: Mapping[str, NodeSummary]) -> tuple[LinkCount, ...]:
    """Every (topic, consumer) a producer's count is known for, producers' own summaries first."""
    producers: dict[str, tuple[str, int]] = {}  # topic -> (producer, published)
    for name, s in nodes.items():
        for topic, n in s.published.items():
            producers[topic] = (name, n)
    links = []
    for consumer, s in nodes.items():
        for topic, received in sorted(s.received.items()):
            known = producers.get(topic)
            if known is None:  # the producer left no summary: use what its end marker said
                known = next(((p, counts[topic]) for p, counts in s.upstream_published.items()
                              if topic in counts), None)
            if known is not None:
                links.append(LinkCount(topic, known[0], consumer, known[1], received))
        for producer, counts in s.upstream_published.items():  # topics it got nothing of
            for topic, n in counts.items():
                if topic not in s.received and n:
                    links.append(LinkCount(topic, producer, consumer, n, 0))
    return tuple(links)
