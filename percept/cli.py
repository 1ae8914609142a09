"""The ``percept`` command line.

    percept run GRAPH.yaml [--duration SEC] [--run-dir DIR] [--strict]
    percept topics [--graph NAME | --run-dir DIR] [--duration SEC] [--json]
    percept echo TOPIC [--graph NAME | --run-dir DIR] [-n COUNT] [--timeout SEC]
    percept bench bus|detect|track2d ...     (added by the bench package, see bench/cli.py)
    percept demo [--duration SEC]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml

from percept.errors import PerceptError, UnwiredTopicError

log = logging.getLogger("percept")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cmd_run(args: argparse.Namespace) -> int:
    from percept.graph import load_graph
    from percept.launcher import Launcher

    try:
        graph = load_graph(args.graph, strict=args.strict)
    except UnwiredTopicError as exc:  # --strict: one line, like argparse's own errors
        sys.stderr.write(f"percept: error: {exc}\n")
        return 2
    launcher = Launcher(graph, Path(args.run_dir) if args.run_dir else None)
    log.info("graph %s: %d nodes, run dir %s", graph.name, len(graph.nodes), launcher.run_dir)
    return launcher.run(args.duration)


def cmd_topics(args: argparse.Namespace) -> int:
    from percept.graph import find_run_dir
    from percept.introspect import list_topics

    infos = list_topics(find_run_dir(args.run_dir, args.graph), args.duration)
    if args.json:
        _out(json.dumps([i.as_dict() for i in infos]))
        return 0
    _out(f"{'topic':32s} {'schema':24s} {'publisher':14s} {'rate Hz':>8s} {'kB/s':>10s}")
    for i in infos:
        _out(f"{i.topic:32s} {i.schema:24s} {i.publisher:14s} {i.rate_hz:8.1f} {i.bytes_per_s / 1e3:10.1f}")
    return 0


def cmd_echo(args: argparse.Namespace) -> int:
    from percept.graph import find_run_dir
    from percept.introspect import echo

    run_dir = find_run_dir(args.run_dir, args.graph)
    for line in echo(run_dir, args.topic, args.count, args.timeout,
                     on_error=lambda e: log.warning("malformed message: %s", e)):
        _out(json.dumps(line))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The largest end-to-end path that exists today, each node its own process."""
    from percept.config import build
    from percept.graph import GraphConfig, validate
    from percept.launcher import Launcher

    text = resources.files("percept").joinpath("configs/demo.yaml").read_text(encoding="utf-8")
    run_dir = Path(tempfile.mkdtemp(prefix="percept-demo-"))
    data = yaml.safe_load(text)
    sink_path = run_dir / "sink.jsonl"
    for node in data["nodes"]:
        if node["type"] == "jsonl_sink":
            node["config"]["path"] = str(sink_path)
    graph = validate(build(GraphConfig, data, "demo"))
    _out("percept demo: simulator (highway: camera + simulated detector, lidar, radar, ground truth)"
         " -> relay (latest) -> sink, one process each over ipc. Real detection, tracking and events"
         " join this demo as they land.")
    _out(f"running {args.duration:.0f} s in {run_dir} ...")
    Launcher(graph, run_dir).run(args.duration)
    lines = [json.loads(x) for x in sink_path.read_text().splitlines()] if sink_path.exists() else []
    if not lines:
        _out("the sink received nothing")
        return 1
    _out(f"{'topic':34s} {'schema':24s} {'msgs':>5s} {'lost':>5s} {'latency p50 ms':>15s}")
    for topic in sorted({x["topic"] for x in lines}):
        rows = [x for x in lines if x["topic"] == topic]
        seqs = sorted(x["seq"] for x in rows)
        lost = seqs[-1] - seqs[0] + 1 - len(seqs)
        lat = sorted((x["received_ns"] - x["stamp_ns"]) / 1e6 for x in rows)
        _out(f"{topic:34s} {rows[0]['schema']:24s} {len(rows):5d} {lost:5d} {lat[len(lat) // 2]:15.2f}")
    return 0


@dataclass
class CommandRegistry:
    """What a package's ``register(registry)`` hook (entry-point group ``percept.commands``) gets.

    Attributes:
        commands: top-level subparsers (``percept NAME ...``).
        bench: subparsers of ``percept bench`` (``percept bench NAME ...``).
    Each added parser must ``set_defaults(func=handler)``; handlers take the parsed namespace
    and return an exit code.
    """

    commands: Any
    bench: Any


def _register_plugins(registry: CommandRegistry) -> None:
    """Let other packages add commands without ``percept`` importing them statically."""
    for ep in entry_points(group="percept.commands"):
        try:
            ep.load()(registry)
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            log.warning("command plugin %s (%s) failed to load: %s", ep.name, ep.value, exc)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="percept", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a graph of nodes as processes")
    r.add_argument("graph", help="graph YAML file")
    r.add_argument("--duration", type=float, default=None, help="stop after SEC seconds")
    r.add_argument("--run-dir", default=None, help="folder for sockets and the manifest")
    r.add_argument("--strict", action="store_true",
                   help="a subscription no node publishes (and no 'external' entry declares) is an "
                        "error (exit 2), not a warning")
    r.set_defaults(func=cmd_run)

    for name, func, helptext in (("topics", cmd_topics, "list topics of a running graph"),
                                 ("echo", cmd_echo, "print messages of a topic as JSON lines")):
        c = sub.add_parser(name, help=helptext)
        if name == "echo":
            c.add_argument("topic", help="topic or topic prefix")
            c.add_argument("-n", "--count", type=int, default=None, help="stop after N messages")
            c.add_argument("--timeout", type=float, default=None, help="stop after SEC seconds")
        else:
            c.add_argument("--duration", type=float, default=1.0, help="listening time for rates")
            c.add_argument("--json", action="store_true")
        c.add_argument("--graph", default=None, help="name of the running graph")
        c.add_argument("--run-dir", default=None, help="run folder of the graph")
        c.set_defaults(func=func)

    # `percept bench bus|detect|track2d` are added by the bench package's plugin (bench.cli).
    b = sub.add_parser("bench", help="benchmarks (added by the bench package)")
    bsub = b.add_subparsers(dest="bench", required=True)

    d = sub.add_parser("demo", help="run the built-in end-to-end demo")
    d.add_argument("--duration", type=float, default=5.0)
    d.set_defaults(func=cmd_demo)
    _register_plugins(CommandRegistry(commands=sub, bench=bsub))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args))
    except PerceptError as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
