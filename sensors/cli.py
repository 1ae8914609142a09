"""Commands of the ``sensors`` package for the ``percept`` command line.

    percept sim SCENARIO [--seed N] [--duration SEC] [--rate 1.0|max] [--endpoint URL]

At the end ``sim`` prints a per-topic summary on stdout: messages sent and their rate per
simulated second (from the messages' stamps).

``register(registry)`` is the ``percept.commands`` entry-point hook (see
:class:`percept.cli.CommandRegistry`).
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from percept import cliutil

log = logging.getLogger(__name__)


def register(registry: Any) -> None:
    """Add the ``sim`` command to ``registry.commands``."""
    p = registry.commands.add_parser("sim", help="run the multi-sensor simulator and publish its topics")
    p.add_argument("scenario", help="built-in scenario name (highway, intersection, plaza, plaza_normal) "
                                    "or scenario YAML path")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (same seed, same output)")
    p.add_argument("--duration", type=float, default=None, metavar="SEC",
                   help="simulated seconds (default: the scenario's)")
    p.add_argument("--rate", default="1.0",
                   help="speed relative to real time (e.g. 1.0, 2.0), or 'max' for as fast as possible")
    p.add_argument("--endpoint", default=None, metavar="EP",
                   help="publisher endpoint (default: ipc://<run root>/sim/sim.sock, which "
                        "`percept topics --graph sim` finds)")
    p.add_argument("--wait-subscribers", type=float, default=0.0, metavar="SEC",
                   help="wait up to SEC seconds for a subscriber before starting")
    p.set_defaults(func=cmd_sim)


@dataclass
class TopicTally:
    """Messages published per topic, with the first and last stamp (ns) of each."""

    counts: dict[str, int] = field(default_factory=dict)
    schemas: dict[str, str] = field(default_factory=dict)
    span: dict[str, tuple[int, int]] = field(default_factory=dict)

    def wrap(self, sink: Callable[[str, Any], bool]) -> Callable[[str, Any], bool]:
        """``sink`` counting what passes through it."""

        def counted(topic: str, msg: Any) -> bool:
            self.counts[topic] = self.counts.get(topic, 0) + 1
            self.schemas.setdefault(topic, msg.SCHEMA)
            first, _last = self.span.get(topic, (msg.stamp_ns, msg.stamp_ns))
            self.span[topic] = (first, msg.stamp_ns)
            return sink(topic, msg)

        return counted

    def lines(self) -> list[str]:
        """The summary table: topic, schema, messages and rate per second of stamps."""
        rows = []
        for topic in sorted(self.counts):
            n, (first, last) = self.counts[topic], self.span[topic]
            rate = (n - 1) * 1e9 / (last - first) if last > first else 0.0
            rows.append((topic, self.schemas[topic], n, rate))
        return cliutil.table(["topic", "schema", "msgs", "rate Hz"], rows)


class ScaledClock:
    """Wall time running ``factor`` times faster than real time from the moment of creation."""

    is_virtual = False

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self._t0 = time.time_ns()
        self._m0 = time.monotonic_ns()

    def now_ns(self) -> int:
        return self._t0 + round((time.monotonic_ns() - self._m0) * self.factor)


def _default_endpoint() -> tuple[str, Path]:
    from percept.graph import default_run_root

    run_dir = default_run_root() / "sim"
    run_dir.mkdir(parents=True, exist_ok=True)
    return f"ipc://{run_dir / 'sim.sock'}", run_dir


def cmd_sim(args: argparse.Namespace) -> int:
    """Run :class:`~sensors.sim.source.SimSource` until its duration is simulated."""
    from percept.errors import ConfigError
    from percept.graph import Manifest
    from sensors.sim.source import SimSource, SimSourceConfig

    source = SimSource(SimSourceConfig(scenario=args.scenario, seed=args.seed, duration_s=args.duration))
    run_dir: Path | None = None
    endpoint = args.endpoint
    if endpoint is None:
        endpoint, run_dir = _default_endpoint()
    if args.rate == "max":
        rate = None
    else:
        try:
            rate = float(args.rate)
        except ValueError:
            raise ConfigError(f"--rate: expected a number or 'max', got {args.rate!r}") from None
        if rate <= 0:
            raise ConfigError(f"--rate: expected > 0, got {rate}")
    topics = ["camera/", "lidar/", "radar/", "gt/", "ego/"]
    if run_dir is not None:
        Manifest("sim", os.getpid(), {"sim": {
            "endpoint": endpoint, "type": "sensors.sim.source:SimSource", "publishes": topics,
            "subscribe": [], "pid": os.getpid(), "restarts": 0}}).write(run_dir)
    log.info("sim %s seed %d: %.1f s simulated at rate %s on %s", args.scenario, args.seed,
             source.end_ns / 1e9, args.rate, endpoint)
    tally = TopicTally()
    t0 = time.monotonic()
    if rate is None:
        code = _run_max(source, endpoint, args.wait_subscribers, tally)
    else:
        code = _run_shell(source, endpoint, rate, args.wait_subscribers, tally)
    for line in tally.lines():
        cliutil.out(line)
    cliutil.out(f"{sum(tally.counts.values())} messages on {len(tally.counts)} topics, "
                f"{source.end_ns / 1e9:.1f} s simulated in {time.monotonic() - t0:.1f} s on {endpoint}")
    return code


def _run_shell(source: Any, endpoint: str, rate: float, wait_s: float, tally: TopicTally) -> int:
    """Real-time (or scaled) run inside a :class:`percept.shell.NodeShell`."""
    from percept.node import NodeContext
    from percept.shell import NodeShell, NodeSpec

    spec = NodeSpec(name="sim", type="sensors.sim.source:SimSource", endpoint=endpoint)
    clock = None if rate == 1.0 else ScaledClock(rate)
    shell = NodeShell(spec, source, clock=clock)
    shell.ctx = NodeContext(spec.name, shell.clock, tally.wrap(shell.pub.publish))
    if threading.current_thread() is threading.main_thread():
        shell.install_signal_handlers()
    if wait_s > 0 and not shell.pub.wait_for_subscribers(1, wait_s):
        log.warning("no subscriber within %.1f s; publishing anyway", wait_s)
    duration_wall = (source.end_ns / 1e9 + 1.0) / rate
    return shell.run(duration_wall)


def _run_max(source: Any, endpoint: str, wait_s: float, tally: TopicTally) -> int:
    """As fast as possible: a virtual clock advanced from timer to timer, one publisher."""
    from percept.bus import Publisher
    from percept.clock import VirtualClock
    from percept.node import NodeContext

    pub = Publisher(endpoint, send_timeout_ms=-1)
    try:
        if wait_s > 0 and not pub.wait_for_subscribers(1, wait_s):
            log.warning("no subscriber within %.1f s; publishing anyway", wait_s)
        clock = VirtualClock(time.time_ns())
        ctx = NodeContext("sim", clock, tally.wrap(pub.publish))
        source.start(ctx)
        t_start = time.monotonic()
        while not source.finished:
            deadline = ctx.timers.next_deadline()
            if deadline is None:
                break
            clock.advance_to(max(deadline, clock.now_ns()))
            ctx.timers.run_due(clock.now_ns(), ctx.handler_error)
        source.stop()
        log.info("simulated %.1f s in %.2f s wall (%d messages)", source.end_ns / 1e9,
                 time.monotonic() - t_start, pub.stats.sent)
    finally:
        pub.close()
    return 0
