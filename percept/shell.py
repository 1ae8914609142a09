"""The socket shell around a processor: one node process.

The shell owns the sockets, the poll loop, timers on the wall clock, ``NodeStats`` on
``stats/<node>`` every ``stats_period_s``, and clean shutdown on SIGINT/SIGTERM. A malformed
message or an exception in the processor is counted and logged; the node keeps running.

Graph edges (the protocol is in :mod:`percept.control`):

* *Readiness*: after the processor's ``start`` returned, a node with ``wait_for`` says ``hello``
  until each node it waits for answered ``ready`` (or ``ready_timeout_s`` passed: a warning names
  the missing ones), and only then runs its timers; a source therefore holds its first frame
  until its consumers, and theirs, are connected and loaded. A node with nothing to wait for is
  ready at once.
* *End of stream*: when the processor calls ``ctx.end_stream()`` (a file has ended), or every
  node in ``upstream`` has sent its end marker (everything they sent before it has been handled),
  the shell calls the processor's ``on_end_of_stream``, sends its own end marker after its last
  message, writes its summary (:mod:`percept.summary`) and returns 0: the node has *finished*.
  Control messages never reach the processor.

Run as ``python -m percept.shell SPEC_JSON`` (the launcher does this); the spec is a
:class:`NodeSpec` as JSON.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any, ClassVar

import numpy as np
import psutil

from percept.bus import Publisher, Subscriber, terminate
from percept.clock import Clock, WallClock
from percept.codec import Envelope
from percept.control import (
    HELLO_PERIOD_S,
    READY_CONTROL,
    UPSTREAM_CONTROL,
    Control,
    ControlKind,
    control_topic,
    is_control_topic,
)
from percept.errors import DecodeError, PerceptError
from percept.messages import NodeStats
from percept.node import NodeContext, Processor, make_processor
from percept.summary import NodeSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeSpec:
    """Everything a node process needs, as resolved by the launcher.

    Attributes:
        name: node name; stats go to ``stats/<name>``.
        type: processor type (built-in short name or ``module:Class``).
        config: the processor's config mapping (validated by the processor's ``Config``).
        endpoint: where the node's publisher binds.
        connect: publisher endpoints the node's subscriber connects to.
        subscribe: topic prefixes to receive (empty: the node subscribes to nothing).
        policy: ``latest`` or ``reliable``.
        hwm: queue length in messages for both sockets.
        send_timeout_ms: how long a publish may wait on a full reliable subscriber.
        stats_period_s: seconds between ``NodeStats`` messages (0: never).
        upstream: nodes this one takes data from; their end markers end its stream.
        downstream: nodes that take data from this one (their ``ready`` must have heard us).
        wait_for: nodes that must be ready before this one runs its timers.
        wait_connect: endpoints of the ``wait_for`` nodes.
        ready_timeout_s: longest wait for ``wait_for``; then the node starts anyway (warning).
        end_timeout_s: longest time the end marker may wait for a full subscriber queue.
        summary_path: where to write the node's summary when it stops ("" : nowhere).
    """

    name: str
    type: str
    endpoint: str
    config: dict[str, Any] = field(default_factory=dict)
    connect: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    policy: str = "reliable"
    hwm: int = 100
    send_timeout_ms: int = 1000
    stats_period_s: float = 1.0
    upstream: tuple[str, ...] = ()
    downstream: tuple[str, ...] = ()
    wait_for: tuple[str, ...] = ()
    wait_connect: tuple[str, ...] = ()
    ready_timeout_s: float = 30.0
    end_timeout_s: float = 10.0
    summary_path: str = ""

    _TUPLES: ClassVar[tuple[str, ...]] = ("connect", "subscribe", "upstream", "downstream", "wait_for",
                                          "wait_connect")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> NodeSpec:
        data = json.loads(text)
        for name in cls._TUPLES:
            data[name] = tuple(data.get(name, ()))
        return cls(**data)


class NodeShell:
    """Runs ``processor`` on real sockets until its stream ends, :meth:`request_stop` or a signal."""

    def __init__(self, spec: NodeSpec, processor: Processor, clock: Clock | None = None) -> None:
        self.spec = spec
        self.processor = processor
        self.clock = clock or WallClock()
        self.pub = Publisher(spec.endpoint, hwm=spec.hwm, send_timeout_ms=spec.send_timeout_ms)
        self.sub: Subscriber | None = None
        if spec.subscribe:
            self.sub = Subscriber(list(spec.connect), (*spec.subscribe, *UPSTREAM_CONTROL),
                                  policy=spec.policy, hwm=spec.hwm)  # type: ignore[arg-type]
        self.ctl: Subscriber | None = None
        if spec.wait_for:
            self.ctl = Subscriber(list(spec.wait_connect), [READY_CONTROL], hwm=1000)
        self.ctx = NodeContext(spec.name, self.clock, self.pub.publish)
        self._stop = False
        self._started = time.monotonic_ns()
        self._latency_us: deque[float] = deque(maxlen=2048)
        self._proc = psutil.Process()
        self.ready = False
        self.ready_s = 0.0
        self.ready_at_ns = 0
        self.finished = False
        self._waiting = set(spec.wait_for)
        self._heard: set[str] = set()
        self._ended: dict[str, dict[str, int]] = {}  # upstream node -> the counts its end carried
        self._next_hello = 0.0
        self._ready_deadline = float("inf")

    def request_stop(self, *_: object) -> None:
        self._stop = True

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("node %s: signal %d, stopping", self.spec.name, signum)
            self.request_stop()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def _data_dropped(self) -> int:
        sub = self.sub
        return sum(n for t, n in sub.stats.dropped.items() if not is_control_topic(t)) if sub else 0

    def stats(self) -> NodeStats:
        """A ``NodeStats`` snapshot of this node."""
        c, sub = self.ctx.counters, self.sub
        lat = np.asarray(self._latency_us) if self._latency_us else np.zeros(1)
        times = os.times()
        return NodeStats(
            stamp_ns=time.time_ns(), frame_id="", seq=0, node=self.spec.name, pid=os.getpid(),
            uptime_ns=time.monotonic_ns() - self._started, msgs_in=c.msgs_in, msgs_out=c.msgs_out,
            dropped=self._data_dropped(), send_drops=self.pub.stats.send_drops,
            decode_errors=sub.stats.decode_errors if sub else 0, handler_errors=c.handler_errors,
            topics_in=dict(c.topics_in), rss_bytes=self._proc.memory_info().rss,
            cpu_s=times.user + times.system, handler_p50_us=float(np.percentile(lat, 50)),
            handler_p99_us=float(np.percentile(lat, 99)),
        )

    def summary(self) -> NodeSummary:
        """This node's totals for the end-of-run summary."""
        c, sub = self.ctx.counters, self.sub
        return NodeSummary(
            node=self.spec.name, finished=self.finished, ready_s=round(self.ready_s, 3),
            ready_at_ns=self.ready_at_ns,
            published=dict(c.topics_out), send_drops=self.pub.stats.send_drops,
            received=dict(c.topics_in), upstream_published=dict(self._ended),
            handler_errors=c.handler_errors, decode_errors=sub.stats.decode_errors if sub else 0,
            counters={k: int(v) for k, v in self.processor.counters().items()})

    def run(self, duration_s: float | None = None) -> int:
        """The poll loop; returns the process exit code (0 when stopped or finished).

        A node stopped on request (a signal, :meth:`request_stop`, ``duration_s``) flushes and
        sends its end marker like a finished one, so the nodes behind it drain and stop too; one
        whose processor raised sends none (the launcher restarts it).
        """
        ctx = self.ctx
        self.processor.start(ctx)
        self._ready_deadline = time.monotonic() + self.spec.ready_timeout_s
        if self._waiting:
            log.info("node %s: waiting for %s to be ready (at most %.0f s)", self.spec.name,
                     sorted(self._waiting), self.spec.ready_timeout_s)
        else:
            self._become_ready()
        stats_seq = 0
        period = self.spec.stats_period_s
        next_stats = time.monotonic() + period if period > 0 else float("inf")
        end = time.monotonic() + duration_s if duration_s is not None else float("inf")
        try:
            while not self._stop and time.monotonic() < end:
                self._step(self._wait_s(next_stats))
                if time.monotonic() >= next_stats:
                    self.pub.publish(f"stats/{self.spec.name}", self.stats().replace(seq=stats_seq))
                    stats_seq += 1
                    next_stats += period * max(1, int((time.monotonic() - next_stats) / period) + 1)
            if not self.finished:
                self._finish(natural=False)
        finally:
            self._close()
        return 0

    def _step(self, wait: float) -> None:
        """One turn of the loop: handshake, messages, subscriptions, timers, end of stream."""
        ctx, sub = self.ctx, self.sub
        if not self.ready:
            self._handshake(0.0 if sub is not None else wait)
        if sub is not None:
            self._receive(sub, wait)
        elif self.ready and wait > 0:
            time.sleep(wait)
        self._answer_subscriptions()
        if self.ready:
            ctx.timers.run_due(self.clock.now_ns(), ctx.handler_error)
            if ctx.ended or self._upstream_ended():
                self._finish(natural=True)

    def _wait_s(self, next_stats: float) -> float:
        """How long the loop may block: until the next timer, stats or handshake step."""
        deadline = self.ctx.timers.next_deadline()
        wait = 0.1 if self.ready else HELLO_PERIOD_S / 2
        if deadline is not None and self.ready:
            wait = min(wait, max(0.0, (deadline - self.clock.now_ns()) / 1e9))
        return max(0.0, min(wait, next_stats - time.monotonic()))

    def _close(self) -> None:
        try:
            self.processor.stop()
        finally:
            if self.spec.summary_path:
                try:
                    self.summary().write(self.spec.summary_path)
                except OSError as exc:
                    log.error("node %s: cannot write its summary: %s", self.spec.name, exc)
            for s in (self.sub, self.ctl):
                if s is not None:
                    s.close()
            # a finished node's end marker must leave before the socket goes
            self.pub.close(max(1000, round(self.spec.end_timeout_s * 1000)) if self.finished else None)

    # -- readiness ------------------------------------------------------------------------
    def _publish_control(self, kind: ControlKind, **fields: Any) -> bool:
        msg = Control(stamp_ns=time.time_ns(), frame_id="", kind=kind, node=self.spec.name, **fields)
        return self.pub.publish(msg.topic, msg, block=False)

    def _publish_ready(self) -> None:
        self._publish_control(ControlKind.READY, heard=tuple(sorted(self._heard)))

    def _handshake(self, block_s: float) -> None:
        """One step of waiting for ``wait_for``: say hello when due, take the answers."""
        now = time.monotonic()
        if now >= self._next_hello:
            self._publish_control(ControlKind.HELLO)
            self._next_hello = now + HELLO_PERIOD_S
        ctl, timeout = self.ctl, block_s
        while ctl is not None and self._waiting:
            try:
                env = ctl.recv(timeout)
            except DecodeError as exc:
                log.warning("node %s: malformed control message: %s", self.spec.name, exc)
                continue
            if env is None:
                break
            timeout = 0.0
            msg = env.msg
            # a consumer of our data is ready only once our hello reached it on the data path
            if (isinstance(msg, Control) and msg.kind == ControlKind.READY and msg.node in self._waiting
                    and (msg.node not in self.spec.downstream or self.spec.name in msg.heard)):
                self._waiting.discard(msg.node)
        if not self._waiting:
            self._become_ready()
        elif time.monotonic() >= self._ready_deadline:
            log.warning("node %s: %s not ready after %.1f s; starting without them", self.spec.name,
                        sorted(self._waiting), self.spec.ready_timeout_s)
            self._become_ready()

    def _become_ready(self) -> None:
        self.ready = True
        self.ready_at_ns = time.time_ns()
        self.ready_s = (time.monotonic_ns() - self._started) / 1e9
        if self.spec.wait_for:
            log.info("node %s: ready after %.2f s (%s ready)", self.spec.name, self.ready_s,
                     ", ".join(n for n in self.spec.wait_for if n not in self._waiting) or "none")
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        self._publish_ready()

    def _answer_subscriptions(self) -> None:
        """A ready node answers every new subscription to its ``ready`` topic (late joiners)."""
        topic = control_topic(ControlKind.READY, self.spec.name)
        fresh = [p for p in self.pub.new_subscriptions() if topic.startswith(p) or p.startswith(topic)]
        if fresh and self.ready:
            self._publish_ready()

    # -- end of stream --------------------------------------------------------------------
    def _on_control(self, msg: Control) -> None:
        if msg.kind == ControlKind.HELLO:
            self._heard.add(msg.node)
            if self.ready:
                self._publish_ready()
        elif msg.kind == ControlKind.END and msg.node in self.spec.upstream and msg.node not in self._ended:
            mine = {t: n for t, n in msg.published.items() if t.startswith(self.spec.subscribe)}
            self._ended[msg.node] = mine
            log.info("node %s: %s ended (%d messages for us)", self.spec.name, msg.node, sum(mine.values()))

    def _upstream_ended(self) -> bool:
        return bool(self.spec.upstream) and all(u in self._ended for u in self.spec.upstream)

    def _finish(self, natural: bool) -> None:
        """Flush the processor, send the end marker after the last message and stop.

        ``natural``: the stream ended (the node *finished*); else the node was told to stop, and
        the marker gets at most a second to leave (the launcher's stop timeout is running).
        """
        try:
            self.processor.on_end_of_stream()
        except Exception as exc:
            self.ctx.handler_error(exc)
        self.finished = natural
        self._stop = True
        msg = Control(stamp_ns=time.time_ns(), frame_id="", kind=ControlKind.END, node=self.spec.name,
                      published=dict(self.ctx.counters.topics_out))
        patience = self.spec.end_timeout_s if natural else min(1.0, self.spec.end_timeout_s)
        deadline = time.monotonic() + patience
        while not self.pub.publish(msg.topic, msg):  # blocks up to send_timeout_ms per try
            if time.monotonic() >= deadline:
                log.error("node %s: end of stream not delivered within %.1f s (a subscriber's queue "
                          "stayed full)", self.spec.name, patience)
                return
        log.info("node %s: %s (%d messages in, %d out)", self.spec.name, "finished" if natural else "stopped",
                 self.ctx.counters.msgs_in, self.ctx.counters.msgs_out)

    def _receive(self, sub: Subscriber, wait: float) -> None:
        """Handle the messages available within ``wait`` seconds (at most a small batch)."""
        for i in range(64):
            try:
                env = sub.recv(wait if i == 0 else 0)
            except DecodeError as exc:
                log.warning("node %s: dropped malformed message (%d so far): %s",
                            self.spec.name, sub.stats.decode_errors, exc)
                continue
            if env is None:
                return
            if isinstance(env.msg, Control):
                self._on_control(env.msg)
                if self._upstream_ended():
                    return  # finish before anything that came after the last end marker
                continue
            self._dispatch(env)

    def _dispatch(self, env: Envelope) -> None:
        t0 = time.perf_counter_ns()
        self.ctx.dispatch(self.processor, env.topic, env.msg)
        self._latency_us.append((time.perf_counter_ns() - t0) / 1e3)


def run_node(spec: NodeSpec) -> int:
    """Build the processor named by ``spec`` and run it until stopped; the exit code."""
    processor = make_processor(spec.type, spec.config, f"nodes.{spec.name}.config")
    shell = NodeShell(spec, processor)
    shell.install_signal_handlers()
    try:
        return shell.run()
    finally:  # queued zero-copy frames must leave before the interpreter frees their arrays
        terminate(round(spec.end_timeout_s * 1000))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m percept.shell NODE_SPEC_JSON\n")
        return 2
    spec = NodeSpec.from_json(args[0])
    logging.basicConfig(
        level=os.environ.get("PERCEPT_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {spec.name} %(levelname)s %(name)s: %(message)s",
    )
    try:
        return run_node(spec)
    except PerceptError as exc:
        log.error("node %s failed: %s", spec.name, exc)
        return 3


if __name__ == "__main__":
    sys.exit(main())
