"""The socket shell around a processor: one node process.

The shell owns the sockets, the poll loop, timers on the wall clock, ``NodeStats`` on
``stats/<node>`` every ``stats_period_s``, and clean shutdown on SIGINT/SIGTERM. A malformed
message or an exception in the processor is counted and logged; the node keeps running.

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
from typing import Any

import numpy as np
import psutil

from percept.bus import Publisher, Subscriber
from percept.clock import Clock, WallClock
from percept.errors import DecodeError, PerceptError
from percept.messages import NodeStats
from percept.node import NodeContext, Processor, make_processor

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

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> NodeSpec:
        data = json.loads(text)
        data["connect"] = tuple(data.get("connect", ()))
        data["subscribe"] = tuple(data.get("subscribe", ()))
        return cls(**data)


class NodeShell:
    """Runs ``processor`` on real sockets until :meth:`request_stop` or a signal."""

    def __init__(self, spec: NodeSpec, processor: Processor, clock: Clock | None = None) -> None:
        self.spec = spec
        self.processor = processor
        self.clock = clock or WallClock()
        self.pub = Publisher(spec.endpoint, hwm=spec.hwm, send_timeout_ms=spec.send_timeout_ms)
        self.sub: Subscriber | None = None
        if spec.subscribe:
            self.sub = Subscriber(list(spec.connect), spec.subscribe, policy=spec.policy,  # type: ignore[arg-type]
                                  hwm=spec.hwm)
        self.ctx = NodeContext(spec.name, self.clock, self.pub.publish)
        self._stop = False
        self._started = time.monotonic_ns()
        self._latency_us: deque[float] = deque(maxlen=2048)
        self._proc = psutil.Process()

    def request_stop(self, *_: object) -> None:
        self._stop = True

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("node %s: signal %d, stopping", self.spec.name, signum)
            self.request_stop()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def stats(self) -> NodeStats:
        """A ``NodeStats`` snapshot of this node."""
        c, sub = self.ctx.counters, self.sub
        lat = np.asarray(self._latency_us) if self._latency_us else np.zeros(1)
        times = os.times()
        return NodeStats(
            stamp_ns=time.time_ns(), frame_id="", seq=0, node=self.spec.name, pid=os.getpid(),
            uptime_ns=time.monotonic_ns() - self._started, msgs_in=c.msgs_in, msgs_out=c.msgs_out,
            dropped=sub.stats.total_dropped if sub else 0, send_drops=self.pub.stats.send_drops,
            decode_errors=sub.stats.decode_errors if sub else 0, handler_errors=c.handler_errors,
            topics_in=dict(c.topics_in), rss_bytes=self._proc.memory_info().rss,
            cpu_s=times.user + times.system, handler_p50_us=float(np.percentile(lat, 50)),
            handler_p99_us=float(np.percentile(lat, 99)),
        )

    def run(self, duration_s: float | None = None) -> int:
        """The poll loop; returns the process exit code (0 on a requested stop)."""
        ctx, sub = self.ctx, self.sub
        self.processor.start(ctx)
        stats_seq = 0
        period = self.spec.stats_period_s
        next_stats = time.monotonic() + period if period > 0 else float("inf")
        end = time.monotonic() + duration_s if duration_s is not None else float("inf")
        try:
            while not self._stop and time.monotonic() < end:
                deadline = ctx.timers.next_deadline()
                wait = 0.1
                if deadline is not None:
                    wait = min(wait, max(0.0, (deadline - self.clock.now_ns()) / 1e9))
                wait = max(0.0, min(wait, next_stats - time.monotonic()))
                if sub is not None:
                    self._receive(sub, wait)
                elif wait > 0:
                    time.sleep(wait)
                ctx.timers.run_due(self.clock.now_ns(), ctx.handler_error)
                if time.monotonic() >= next_stats:
                    self.pub.publish(f"stats/{self.spec.name}", self.stats().replace(seq=stats_seq))
                    stats_seq += 1
                    next_stats += period * max(1, int((time.monotonic() - next_stats) / period) + 1)
        finally:
            try:
                self.processor.stop()
            finally:
                if sub is not None:
                    sub.close()
                self.pub.close()
        return 0

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
            t0 = time.perf_counter_ns()
            self.ctx.dispatch(self.processor, env.topic, env.msg)
            self._latency_us.append((time.perf_counter_ns() - t0) / 1e3)


def run_node(spec: NodeSpec) -> int:
    """Build the processor named by ``spec`` and run it until stopped; the exit code."""
    processor = make_processor(spec.type, spec.config, f"nodes.{spec.name}.config")
    shell = NodeShell(spec, processor)
    shell.install_signal_handlers()
    return shell.run()


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
