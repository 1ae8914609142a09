"""The ``percept`` command line: the top-level parser, plugin commands, errors and ``--version``.

Commands of other packages arrive through the entry-point group ``percept.commands`` (see
:class:`CommandRegistry`); ``percept`` never imports them statically. Every command runs through
:func:`percept.cliutil.run_command`: an error is one line ``percept: error: ...`` (``--debug``
adds the traceback) and a closed stdout ends it quietly.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import Any

from percept import cliutil
from percept.cliutil import out as _out
from percept.errors import UnwiredTopicError

log = logging.getLogger("percept")


def cmd_run(args: argparse.Namespace) -> int:
    from percept.graph import load_graph
    from percept.launcher import Launcher

    try:
        graph = load_graph(args.graph, strict=args.strict)
    except UnwiredTopicError as exc:  # --strict: one line, like every other error
        return cliutil.error(exc)
    launcher = Launcher(graph, Path(args.run_dir) if args.run_dir else None)
    log.info("graph %s: %d nodes, run dir %s", graph.name, len(graph.nodes), launcher.run_dir)
    return launcher.run(args.duration)


def _source(args: argparse.Namespace) -> dict[str, Any]:
    """``run_dir``/``endpoints`` keyword arguments of :mod:`percept.introspect` from the options."""
    if args.endpoint:
        return {"run_dir": None, "endpoints": list(args.endpoint)}
    from percept.graph import find_run_dir

    return {"run_dir": find_run_dir(args.run_dir, args.graph)}


def cmd_topics(args: argparse.Namespace) -> int:
    from percept.introspect import list_topics

    if args.duration <= 0:
        raise ValueError(f"--duration: expected > 0 seconds, got {args.duration}")
    infos = list_topics(duration_s=args.duration, **_source(args))
    if args.json:
        _out(json.dumps([i.as_dict() for i in infos]))
        return 0
    rows = [(i.topic, i.schema, i.publisher, i.count, i.rate_hz, i.bytes_per_s / 1e3) for i in infos]
    for line in cliutil.table(["topic", "schema", "publisher", "msgs", "rate Hz", "kB/s"], rows):
        _out(line)
    return 0


def cmd_echo(args: argparse.Namespace) -> int:
    from percept.introspect import echo

    for line in echo(topic=args.topic, count=args.count, timeout_s=args.timeout, values=args.values,
                     on_error=lambda e: log.warning("malformed message: %s", e), **_source(args)):
        _out(json.dumps(line, default=str))
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
        except Exception as exc:  # a broken plugin must not take the whole CLI down; it is reported
            cliutil.warn(f"command plugin {ep.name} ({ep.value}) failed to load: {cliutil.error_text(exc)}")


COMMAND_ORDER = ("watch", "detect", "track2d", "track3d", "anomaly", "eval", "events", "run", "demo", "sim",
                 "record", "replay", "rerun", "log", "import", "report", "topics", "echo", "calibrate",
                 "export", "bench")
"""Order of ``percept --help``'s command list (the main jobs first); others follow by name."""

DESCRIPTION = """\
Real-time perception for driving and CCTV: sensors, detectors, trackers, fusion and events \
over a ZeroMQ bus, recorded to and replayed from MCAP logs.

Run `percept COMMAND --help` for a command's options."""

EPILOG = """\
examples:
  percept detect --model yolox_nano.onnx --source clip.mp4 --out dets.jsonl
  percept run configs/relay.yaml --duration 10
  percept topics                      (in another terminal, while a graph runs)
  percept log cat run.mcap --topic camera/ -n 1 --values
"""


def _version() -> str:
    try:
        return version("percept")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _sort_commands(sub: Any) -> None:
    """Put the help list of ``sub`` (a sub-command group) in :data:`COMMAND_ORDER`."""
    listed = getattr(sub, "_choices_actions", None)
    if listed is None:
        return
    rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
    listed.sort(key=lambda a: (rank.get(a.dest, len(rank)), a.dest))


def _add_graph_source(c: argparse.ArgumentParser) -> None:
    """``--graph NAME | --run-dir DIR | --endpoint EP...``: where ``topics``/``echo`` listen."""
    src = c.add_mutually_exclusive_group()
    src.add_argument("--graph", default=None, metavar="NAME",
                     help="name of the running graph (default: the only one running)")
    src.add_argument("--run-dir", default=None, metavar="DIR", help="run folder of the running graph")
    src.add_argument("--endpoint", nargs="+", default=None, metavar="EP",
                     help="publisher endpoint(s) to listen to instead of a graph, e.g. the "
                          "tcp://127.0.0.1:5600 of a `percept replay`")


def _add_builtin_commands(sub: Any) -> None:
    r = sub.add_parser("run", help="run a graph of nodes, each node its own process")
    r.add_argument("graph", help="graph YAML file (see configs/)")
    r.add_argument("--duration", type=float, default=None, metavar="SEC",
                   help="stop after SEC seconds (default: until Ctrl-C)")
    r.add_argument("--run-dir", default=None, metavar="DIR",
                   help="folder for sockets and the manifest (default: $PERCEPT_RUN_DIR/<graph name> or "
                        "/tmp/percept-<uid>/<graph name>)")
    r.add_argument("--strict", action="store_true",
                   help="a subscription no node publishes (and no 'external' entry declares) is an "
                        "error (exit 2), not a warning")
    r.set_defaults(func=cmd_run)

    t = sub.add_parser("topics", help="list the topics of a running graph or publisher, with rates")
    _add_graph_source(t)
    t.add_argument("--duration", type=float, default=1.0, metavar="SEC", help="listening time for the rates")
    t.add_argument("--json", action="store_true", help="print the topics as one JSON list")
    t.set_defaults(func=cmd_topics)

    e = sub.add_parser("echo", help="print the messages of a topic as JSON lines")
    e.add_argument("topic", help="topic or topic prefix ('' for all)")
    _add_graph_source(e)
    e.add_argument("-n", "--count", type=cliutil.positive_int, default=None, metavar="N",
                   help="stop after N messages (default: no limit)")
    e.add_argument("--timeout", type=float, default=None, metavar="SEC",
                   help="stop after SEC seconds (default: no limit)")
    e.add_argument("--values", action="store_true",
                   help="show array contents (as lists; big arrays truncated) instead of dtype and shape")
    e.set_defaults(func=cmd_echo)


def build_parser() -> argparse.ArgumentParser:
    """The ``percept`` parser with the built-in commands and every plugin's."""
    p = cliutil.Parser(prog="percept", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"percept {_version()}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--debug", action="store_true", help="print the full traceback of an error")
    sub = cliutil.add_commands(p, "command")
    _add_builtin_commands(sub)
    # `percept bench bus|detect|track2d` are added by the bench package's plugin (bench.cli).
    b = sub.add_parser("bench", help="benchmarks: bus, detector and tracker speed")
    bsub = cliutil.add_commands(b, "bench", "benchmarks")
    _register_plugins(CommandRegistry(commands=sub, bench=bsub))
    _sort_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``percept`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return cliutil.run_command(args.func, args, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
