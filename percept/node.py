"""Node runtime: pure processors, the context they run in, timers, and a socket-free runner.

A node is a :class:`Processor` (pure logic: messages in, messages out through its context)
inside a thin transport shell (:mod:`percept.shell` for sockets, :class:`LocalRunner` for tests
and deterministic re-runs). Processors never touch sockets, threads or ``time``: they read time
from ``ctx.clock`` and schedule work with ``ctx.add_timer``, so the same code runs live on the
wall clock and in virtual time over a recorded log.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

from percept.clock import Clock, VirtualClock
from percept.config import build
from percept.errors import ConfigError
from percept.message import Message

log = logging.getLogger(__name__)

TimerCallback = Callable[[int], None]


@dataclass(frozen=True)
class EmptyConfig:
    """Config of a processor that takes no options."""


class Timers:
    """Periodic callbacks ordered by deadline (ties in registration order: deterministic).

    With ``catch_up`` (virtual time) a timer fires once for every period that elapsed, as it
    would have live; without it (wall clock, overloaded node) missed periods are skipped.
    A callback gets the time its tick stands for: its deadline (so ticks on schedule are spaced
    by exactly one period, and never stand for a time later than the call), or, on a wall clock
    after a whole period was missed, the current time (the schedule restarts from there).
    """

    def __init__(self, catch_up: bool) -> None:
        self._heap: list[tuple[int, int, int, TimerCallback]] = []
        self._ids = itertools.count()
        self.catch_up = catch_up

    def add(self, period_ns: int, callback: TimerCallback, first_ns: int) -> None:
        if period_ns < 0:
            raise ValueError(f"timer period must be >= 0 ns, got {period_ns}")
        heapq.heappush(self._heap, (first_ns, next(self._ids), period_ns, callback))

    def next_deadline(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def run_due(self, now_ns: int, on_error: Callable[[BaseException], None]) -> int:
        """Fire every timer due at ``now_ns``; return how many callbacks ran."""
        fired = 0
        while self._heap and self._heap[0][0] <= now_ns:
            deadline, tid, period, cb = heapq.heappop(self._heap)
            on_time = self.catch_up or now_ns - deadline < period
            try:
                cb(deadline if on_time else now_ns)
            except Exception as exc:
                on_error(exc)
            fired += 1
            nxt = deadline + period if period else now_ns + 1
            if not self.catch_up and nxt <= now_ns:
                nxt = now_ns + period if period else now_ns + 1
            heapq.heappush(self._heap, (nxt, tid, period, cb))
            if period == 0:
                break  # "as often as possible" timers yield to message handling
        return fired


@dataclass
class NodeCounters:
    """What a shell counts for ``NodeStats``."""

    msgs_in: int = 0
    msgs_out: int = 0
    handler_errors: int = 0
    topics_in: dict[str, int] = field(default_factory=dict)
    topics_out: dict[str, int] = field(default_factory=dict)


class NodeContext:
    """What a processor may use: its name, clock, logger, ``publish``, ``add_timer`` and
    ``end_stream``.

    Args:
        name: node name (used in stats topics and logs).
        clock: time source (wall clock live, virtual clock in re-runs).
        sink: transport function taking ``(topic, message)``, returning False if dropped.
    """

    def __init__(self, name: str, clock: Clock, sink: Callable[[str, Message], bool]) -> None:
        self.name = name
        self.clock = clock
        self.log = logging.getLogger(f"percept.node.{name}")
        self.timers = Timers(catch_up=clock.is_virtual)
        self.counters = NodeCounters()
        self._sink = sink
        self._ended = False

    def publish(self, topic: str, msg: Message) -> bool:
        """Send ``msg`` on ``topic``; ``False`` if the transport had to drop it."""
        c = self.counters
        c.msgs_out += 1
        c.topics_out[topic] = c.topics_out.get(topic, 0) + 1
        return self._sink(topic, msg)

    def end_stream(self) -> None:
        """Say that this node's own stream is over (a file source played its last frame).

        The socket shell then lets the processor flush (:meth:`Processor.on_end_of_stream`),
        sends the end-of-stream marker downstream (:mod:`percept.control`) and stops the node;
        socket-free runners only record it (:attr:`ended`). Calling it again does nothing.
        """
        if not self._ended:
            self._ended = True
            self.log.info("end of stream after %d messages out", self.counters.msgs_out)

    @property
    def ended(self) -> bool:
        """Whether the processor called :meth:`end_stream`."""
        return self._ended

    def add_timer(self, period_s: float, callback: TimerCallback) -> None:
        """Call ``callback(now_ns)`` every ``period_s`` seconds of clock time (0: every loop)."""
        period_ns = round(period_s * 1e9)
        if period_ns <= 0 and self.clock.is_virtual:
            raise ValueError("a timer on a virtual clock needs a period > 0")
        self.timers.add(period_ns, callback, self.clock.now_ns() + period_ns)

    def handler_error(self, exc: BaseException) -> None:
        """Count and log an exception raised while handling one message or timer."""
        self.counters.handler_errors += 1
        self.log.error("handler error (%d so far): %s: %s", self.counters.handler_errors,
                       type(exc).__name__, exc, exc_info=exc)

    def dispatch(self, processor: Processor, topic: str, msg: Message) -> bool:
        """Hand one message to ``processor``; an exception is counted, never propagated."""
        c = self.counters
        c.msgs_in += 1
        c.topics_in[topic] = c.topics_in.get(topic, 0) + 1
        try:
            processor.on_message(topic, msg)
        except Exception as exc:
            self.handler_error(exc)
            return False
        return True


class Processor:
    """Base of node processors. Subclasses set ``Config`` (a frozen dataclass) and override
    :meth:`start`, :meth:`on_message`, :meth:`on_end_of_stream`, :meth:`counters` and
    :meth:`stop` as needed.

    In a graph the node becomes *ready* (see :mod:`percept.control`) once :meth:`start` has
    returned: load models there, so that sources hold their first frame until it is done.
    """

    Config: ClassVar[type] = EmptyConfig

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()
        self.ctx: NodeContext | None = None

    def start(self, ctx: NodeContext) -> None:
        """Called once before any message; keep ``ctx`` and register timers here."""
        self.ctx = ctx

    def on_message(self, topic: str, msg: Message) -> None:
        """Handle one message (default: ignore)."""

    def on_end_of_stream(self) -> None:
        """Called once when every node this one takes data from has ended and every message
        they sent was handled: publish what is still pending (e.g. a partly filled batch).
        The node then sends its own end of stream and stops (default: nothing to flush)."""

    def counters(self) -> Mapping[str, int]:
        """Totals for the end-of-run summary, e.g. input frames a detector skipped (default: none)."""
        return {}

    def stop(self) -> None:
        """Called once at shutdown; flush and release resources."""

    @property
    def context(self) -> NodeContext:
        if self.ctx is None:
            raise RuntimeError(f"{type(self).__name__} used before start()")
        return self.ctx


class SequencedProcessor(Processor):
    """A processor that numbers its own outputs: one ``seq`` counter per output topic.

    Downstream, ``seq`` gaps on a topic count as bus losses, so a node that publishes fewer
    messages than it receives (it drops superseded frames, batches, filters) numbers what it
    publishes itself instead of copying its input's ``seq``. Counters start at 0 in
    :meth:`start`; ``ignored`` counts messages a subclass chose not to handle.
    """

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        self.seq: dict[str, int] = {}
        self.ignored = 0

    def counters(self) -> Mapping[str, int]:
        return {"ignored": self.ignored}

    def next_seq(self, topic: str) -> int:
        """The next ``seq`` of output ``topic`` (0, 1, 2, ...)."""
        seq = self.seq.get(topic, 0)
        self.seq[topic] = seq + 1
        return seq


#: Short names for the processors that ship with percept (``type:`` in graph files).
BUILTIN_TYPES: dict[str, str] = {
    "test_pattern": "percept.builtin_nodes:TestPatternCamera",
    "relay": "percept.builtin_nodes:Relay",
    "jsonl_sink": "percept.builtin_nodes:JsonlSink",
}


def node_types() -> dict[str, str]:
    """Short node-type names: the built-ins plus entry points of group ``percept.nodes``."""
    types = dict(BUILTIN_TYPES)
    for ep in entry_points(group="percept.nodes"):
        types.setdefault(ep.name, ep.value)
    return types


def load_processor_class(type_name: str) -> type[Processor]:
    """Resolve a registered short name or ``package.module:Class`` to a processor class."""
    known = node_types()
    path = known.get(type_name, type_name)
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"node type {type_name!r}: expected a registered name {sorted(known)} "
            "or 'package.module:Class'"
        )
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"node type {type_name!r}: cannot import {path}: {exc}") from exc
    if not (isinstance(obj, type) and issubclass(obj, Processor)):
        raise ConfigError(f"node type {type_name!r}: {path} is not a Processor subclass")
    return obj


def make_processor(type_name: str, config: Mapping[str, Any] | None, where: str) -> Processor:
    """Instantiate a processor with its config validated (errors name ``where``'s keys)."""
    cls = load_processor_class(type_name)
    return cls(build(cls.Config, config, where))


class LocalRunner:
    """Runs one processor in-process, without sockets, on a virtual clock.

    ``feed`` advances time to the message's stamp (firing due timers first) and dispatches it;
    published messages are collected in :attr:`outputs`. This is how processors are unit
    tested and how a recorded log is re-run deterministically.
    """

    def __init__(self, processor: Processor, name: str = "node", start_ns: int = 0) -> None:
        self.clock = VirtualClock(start_ns)
        self.outputs: list[tuple[str, Message]] = []
        self.processor = processor
        self.ctx = NodeContext(name, self.clock, self._collect)
        processor.start(self.ctx)

    def _collect(self, topic: str, msg: Message) -> bool:
        self.outputs.append((topic, msg))
        return True

    def advance_to(self, t_ns: int) -> None:
        """Move virtual time to ``t_ns``, firing timers in deadline order."""
        while (d := self.ctx.timers.next_deadline()) is not None and d <= t_ns:
            self.clock.advance_to(max(d, self.clock.now_ns()))
            self.ctx.timers.run_due(self.clock.now_ns(), self.ctx.handler_error)
        self.clock.advance_to(max(t_ns, self.clock.now_ns()))

    def feed(self, topic: str, msg: Message, at_ns: int | None = None) -> list[tuple[str, Message]]:
        """Deliver ``msg`` at ``at_ns`` (default its ``stamp_ns``); return what it published."""
        before = len(self.outputs)
        self.advance_to(msg.stamp_ns if at_ns is None else at_ns)
        self.ctx.dispatch(self.processor, topic, msg)
        return self.outputs[before:]

    def end_of_stream(self) -> list[tuple[str, Message]]:
        """Tell the processor its inputs have ended (:meth:`Processor.on_end_of_stream`); return
        what it published in response."""
        before = len(self.outputs)
        try:
            self.processor.on_end_of_stream()
        except Exception as exc:
            self.ctx.handler_error(exc)
        return self.outputs[before:]

    def close(self) -> None:
        self.processor.stop()
