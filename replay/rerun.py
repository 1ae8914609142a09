"""Deterministic re-run of a graph's processors over a recorded log, in virtual time.

Every node of the graph file gets its processor (built by name with
:func:`percept.node.make_processor`, so this module imports no node package) and its own
:class:`~percept.clock.VirtualClock`. Recorded topics are fed in log-time order; before each
delivery every node's timers up to that time fire (globally in deadline order, ties by node
order) and all clocks advance to the message's time. What a node publishes is routed at once,
breadth-first, to every other node subscribing to a matching prefix (the rules of
:mod:`percept.graph`) and written to the output log with ``log_time`` = its virtual publication
time. Nothing depends on wall time or thread scheduling, so two re-runs are byte-identical.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from percept.clock import VirtualClock
from percept.codec import decode
from percept.counters import Counters
from percept.errors import DecodeError
from percept.graph import GraphConfig, NodeConfig, load_graph
from percept.message import Message
from percept.node import NodeContext, Processor, make_processor
from replay.log import LogReader, LogWriter

if TYPE_CHECKING:
    from percept.cliutil import ProgressCallback

log = logging.getLogger(__name__)


class RerunStats(Counters, ints="inputs outputs decode_errors", floats="span_s wall_s", maps="per_topic"):
    """Outcome of one re-run.

    Attributes:
        inputs: recorded messages delivered to at least one node.
        outputs: messages published by the nodes (and written).
        decode_errors: recorded messages that could not be decoded (skipped).
        span_s: log time covered by the inputs, seconds.
        wall_s: wall time the re-run took, seconds.
        per_topic: output messages per topic.
    """

    @property
    def speed_x(self) -> float:
        """How many times faster than real time (``span_s / wall_s``)."""
        return self.span_s / self.wall_s if self.wall_s > 0 else float("inf")


class _Node:
    """One processor, its clock and context, plus its graph wiring."""

    def __init__(self, cfg: NodeConfig, index: int, start_ns: int, sink: _Router) -> None:
        self.cfg = cfg
        self.index = index
        self.clock = VirtualClock(start_ns)
        self.processor: Processor = make_processor(cfg.type, cfg.config,
                                                   f"graph.nodes[{index}].config ({cfg.name})")
        self.ctx = NodeContext(cfg.name, self.clock, lambda t, m: sink.publish(self, t, m))

    def wants(self, topic: str) -> bool:
        return any(topic.startswith(p) for p in self.cfg.subscribe)


class _Router:
    """Routes published messages between nodes and into the output log."""

    def __init__(self, writer: LogWriter, stats: RerunStats) -> None:
        self.nodes: list[_Node] = []
        self.queue: deque[tuple[_Node | None, str, Message]] = deque()
        self.writer = writer
        self.stats = stats
        self.now_ns = 0

    def publish(self, node: _Node, topic: str, msg: Message) -> bool:
        self.writer.write(topic, msg.to_frames(topic), node.clock.now_ns())
        self.stats.outputs += 1
        self.stats.per_topic[topic] = self.stats.per_topic.get(topic, 0) + 1
        self.queue.append((node, topic, msg))
        return True

    def deliver(self, source: _Node | None, topic: str, msg: Message) -> bool:
        """Hand ``msg`` to every subscriber (not its own publisher), then drain what follows."""
        self.queue.append((source, topic, msg))
        return self._drain() > 0

    def advance_to(self, t_ns: int) -> None:
        """Fire all timers due up to ``t_ns`` in global deadline order; set every clock to it."""
        while True:
            due = [(d, n.index, n) for n in self.nodes
                   if (d := n.ctx.timers.next_deadline()) is not None and d <= t_ns]
            if not due:
                break
            d, _, node = min(due, key=lambda x: (x[0], x[1]))
            for n in self.nodes:
                n.clock.advance_to(max(d, n.clock.now_ns()))
            node.ctx.timers.run_due(node.clock.now_ns(), node.ctx.handler_error)
            self._drain()
        for n in self.nodes:
            n.clock.advance_to(max(t_ns, n.clock.now_ns()))

    def _drain(self) -> int:
        """Deliver queued messages breadth-first; return how many deliveries were made."""
        n = 0
        while self.queue:
            src, t, m = self.queue.popleft()
            for node in self.nodes:
                if node is not src and node.wants(t):
                    node.ctx.dispatch(node.processor, t, m)
                    n += 1
        return n


def input_topics(graph: GraphConfig, log_topics: Sequence[str]) -> list[str]:
    """Recorded topics to feed: subscribed by some node, not re-made by a node, not stats."""
    made = [p for n in graph.nodes for p in n.publishes]
    subs = [p for n in graph.nodes for p in n.subscribe]
    return sorted(t for t in log_topics
                  if not t.startswith("stats/") and any(t.startswith(s) for s in subs)
                  and not any(t.startswith(p) for p in made))


def rerun(log_path: str | Path, graph_path: str | Path, out_path: str | Path, *,
          with_inputs: bool = False, compression: str = "zstd",
          progress: ProgressCallback | None = None) -> RerunStats:
    """Re-run ``graph_path``'s nodes over ``log_path``; write their outputs to ``out_path``.

    Args:
        with_inputs: also copy every recorded topic the graph does not re-make (e.g. ground
            truth) into the output, at its original log time, so reports need one file.
        progress: ``progress(recorded messages read, recorded messages)`` after each one.
    """
    graph = load_graph(graph_path)
    reader = LogReader(log_path)
    topics_info = reader.summary().topics
    total = sum(t.count for t in (topics_info.values() if isinstance(topics_info, dict) else topics_info))
    all_topics = sorted(topics_info if isinstance(topics_info, dict) else [t.topic for t in topics_info])
    feed = input_topics(graph, all_topics)
    made = [p for n in graph.nodes for p in n.publishes]
    stats = RerunStats()
    t0 = time.perf_counter()
    first_ns: int | None = None
    last_ns = 0
    with LogWriter(out_path, compression=compression) as writer:  # type: ignore[arg-type]
        router = _Router(writer, stats)
        started = False
        for done, m in enumerate(reader.messages(), start=1):
            if progress is not None:
                progress(done, total)
            if not started:
                router.nodes = [_Node(cfg, i, m.log_time_ns, router) for i, cfg in enumerate(graph.nodes)]
                for node in router.nodes:
                    node.processor.start(node.ctx)
                router._drain()
                started = True
            if first_ns is None:
                first_ns = m.log_time_ns
            last_ns = m.log_time_ns
            copy = with_inputs and not m.topic.startswith("stats/") and not any(
                m.topic.startswith(p) for p in made)
            if copy:
                writer.write(m.topic, [bytes(f) for f in m.frames], m.log_time_ns)
            if m.topic not in feed:
                continue
            try:
                _topic, msg = decode(m.frames)
            except DecodeError as exc:
                stats.decode_errors += 1
                log.warning("%s: %s at %d ns not decodable, skipped: %s", log_path, m.topic,
                            m.log_time_ns, exc)
                continue
            router.advance_to(m.log_time_ns)
            if router.deliver(None, m.topic, msg):
                stats.inputs += 1
        for node in router.nodes:
            node.processor.stop()
    stats.wall_s = time.perf_counter() - t0
    stats.span_s = 0.0 if first_ns is None else (last_ns - first_ns) / 1e9
    return stats
