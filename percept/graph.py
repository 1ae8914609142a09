"""Graph files: which nodes run, what they publish and subscribe to, and how they are wired.

A graph YAML (see ``configs/relay.yaml``)::

    name: relay-demo
    transport: ipc            # ipc (default) or tcp
    host: 127.0.0.1           # tcp bind address (loopback unless told otherwise)
    run_dir: null             # default: $PERCEPT_RUN_DIR/<name> or /tmp/percept-<uid>/<name>
    restart: {backoff_s: 0.5, max_backoff_s: 10.0, reset_after_s: 10.0, max_restarts: 0}
    external: [replayed/]     # topics/prefixes published from outside the graph (optional)
    nodes:
      - name: camera
        type: test_pattern    # built-in short name or package.module:Class
        publishes: [camera/test]
        config: {rate_hz: 30}
      - name: sink
        type: jsonl_sink
        subscribe: [camera/]
        policy: reliable      # or latest
        wait_for: null        # nodes to be ready before this one starts (default: derived)

Each node binds one endpoint for everything it publishes; a subscriber is connected to every
node that publishes a topic its prefixes can match (and every node publishes ``stats/<name>``).

A processor class may derive subscriptions from its config: an optional classmethod
``extra_subscriptions(config) -> tuple[str, ...]`` (e.g. the image topics a 2D tracker needs for
camera-motion compensation). :func:`validate` adds them to the node's ``subscribe`` (unless a
prefix there covers them already), so the launcher, ``percept rerun`` and the wiring check see them.

Edges (:mod:`percept.control`): a node *feeds* another when one of its ``publishes`` entries can
match one of the other's ``subscribe`` prefixes (``stats/`` topics do not count). By default a
node waits, before running its timers, until every node it feeds is ready (``wait_for: null``),
and a node ends once every node that feeds it has ended; on a cycle only the links that run
forward in the file's node order count (see :func:`edges`). ``wait_for: [...]`` names the nodes
to wait for explicitly, ``[]`` none. Once every node without feeders (the sources) has finished,
the launcher stops the others when none has finished for ``drain_timeout_s``.

Wiring is checked when a graph is validated: a ``subscribe`` prefix that no *other* node's
``publishes`` (or ``stats/<name>``) can match, and that no ``external`` entry can match, is
unwired -- nothing would ever arrive. It is logged as a warning naming the node and the prefix,
or raised as :class:`~percept.errors.UnwiredTopicError` with ``strict`` (``percept run --strict``).
Declare topics that come from outside the graph (``percept replay`` feeding it, a recorder's
log re-run by ``percept rerun``) under ``external``. Topics a node derives at run time (a tracker
publishing ``<input>/tracks``) must be listed in its ``publishes`` for subscribers to be connected
to it at all, so they take part in the check like any other.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from percept.config import build, load_yaml, require_positive
from percept.errors import ConfigError, GraphError, UnwiredTopicError
from percept.node import load_processor_class
from percept.shell import NodeSpec
from percept.summary import summary_path

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
IPC_PATH_MAX = 100  # sun_path is 108 bytes on Linux

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartConfig:
    """How the launcher restarts a node that exited on its own.

    Attributes:
        enabled: restart crashed nodes at all.
        backoff_s: first delay before a restart; doubles on each consecutive crash.
        max_backoff_s: upper bound of the delay.
        reset_after_s: a node that ran this long before crashing starts again at ``backoff_s``.
        max_restarts: give up on a node after this many restarts (0: never give up).
    """

    enabled: bool = True
    backoff_s: float = 0.5
    max_backoff_s: float = 10.0
    reset_after_s: float = 10.0
    max_restarts: int = 0

    def __post_init__(self) -> None:
        require_positive(self, ("backoff_s", "max_backoff_s", "reset_after_s", "max_restarts"), zero=True,
                         error=ValueError)
        if self.max_backoff_s < self.backoff_s:
            raise ValueError(f"max_backoff_s: expected >= backoff_s ({self.backoff_s}), "
                             f"got {self.max_backoff_s}")


@dataclass(frozen=True)
class NodeConfig:
    """One node of a graph file (see the module docstring)."""

    name: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)
    publishes: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    policy: Literal["latest", "reliable"] = "reliable"
    connect: tuple[str, ...] = ()
    hwm: int = 100
    send_timeout_ms: int = 1000
    stats_period_s: float = 1.0
    wait_for: tuple[str, ...] | None = None
    ready_timeout_s: float = 30.0


@dataclass(frozen=True)
class GraphConfig:
    """A whole graph file; ``external``: topics/prefixes published from outside the graph."""

    name: str
    nodes: tuple[NodeConfig, ...]
    external: tuple[str, ...] = ()
    transport: Literal["ipc", "tcp"] = "ipc"
    host: str = "127.0.0.1"
    run_dir: str | None = None
    output: Literal["screen", "log"] = "screen"
    stop_timeout_s: float = 5.0
    drain_timeout_s: float = 30.0
    restart: RestartConfig = field(default_factory=RestartConfig)


def default_run_root() -> Path:
    """``$PERCEPT_RUN_DIR`` or ``/tmp/percept-<uid>``: where graphs keep sockets and manifests."""
    env = os.environ.get("PERCEPT_RUN_DIR")
    return Path(env) if env else Path(f"/tmp/percept-{os.getuid()}")


def load_graph(path: str | Path, strict: bool = False) -> GraphConfig:
    """Read and validate a graph file; errors name the file and the offending key.

    ``strict``: unwired subscriptions raise :class:`UnwiredTopicError` instead of a warning.
    """
    data = load_yaml(path)
    try:
        return validate(build(GraphConfig, data, "graph"), strict=strict)
    except ConfigError as exc:
        raise type(exc)(f"{path}: {exc}") from exc


def validate(graph: GraphConfig, strict: bool = False) -> GraphConfig:
    """Check names, types, node configs and wiring up front, so a bad graph fails before it starts.

    Returns the graph with each node's derived subscriptions added (see the module docstring).
    Unwired subscriptions (see the module docstring) are logged as warnings, or raise
    :class:`UnwiredTopicError` when ``strict``.
    """
    if not NAME_RE.match(graph.name):
        raise GraphError(f"graph.name: {graph.name!r} must match {NAME_RE.pattern}")
    if not graph.nodes:
        raise GraphError("graph.nodes: a graph needs at least one node")
    seen: set[str] = set()
    nodes: list[NodeConfig] = []
    for i, node in enumerate(graph.nodes):
        where = f"graph.nodes[{i}]"
        if not NAME_RE.match(node.name):
            raise GraphError(f"{where}.name: {node.name!r} must match {NAME_RE.pattern}")
        if node.name in seen:
            raise GraphError(f"{where}.name: duplicate node name {node.name!r}")
        seen.add(node.name)
        cls = load_processor_class(node.type)
        config = build(cls.Config, node.config, f"{where}.config ({node.name})")
        nodes.append(_with_extra_subscriptions(node, cls, config))
    graph = replace(graph, nodes=tuple(nodes))
    if graph.drain_timeout_s < 0:
        raise GraphError(f"graph.drain_timeout_s: expected >= 0, got {graph.drain_timeout_s}")
    for i, node in enumerate(graph.nodes):
        if node.ready_timeout_s < 0:
            raise GraphError(f"graph.nodes[{i}].ready_timeout_s: expected >= 0, got {node.ready_timeout_s}")
        for name in node.wait_for or ():
            if name not in seen or name == node.name:
                raise GraphError(f"graph.nodes[{i}].wait_for: {name!r} is not another node of the graph")
    for i, topic in enumerate(graph.external):
        if not topic:
            raise GraphError(f"graph.external[{i}]: expected a topic or topic prefix, got ''")
    check_wiring(graph, strict)
    return graph


def _with_extra_subscriptions(node: NodeConfig, cls: type, config: Any) -> NodeConfig:
    """``node`` with the topics its processor needs (``cls.extra_subscriptions(config)``, if the
    class defines it) added to ``subscribe`` where no prefix there covers them yet."""
    extra = getattr(cls, "extra_subscriptions", None)
    topics = tuple(extra(config)) if extra is not None else ()
    missing = [t for t in topics if not any(t.startswith(s) for s in node.subscribe)]
    return replace(node, subscribe=(*node.subscribe, *missing)) if missing else node


def unwired_subscriptions(graph: GraphConfig) -> list[tuple[str, str]]:
    """``(node name, subscribe prefix)`` of every subscription nothing in or outside the graph feeds.

    A prefix is fed when some other node's ``publishes`` entry or ``stats/<name>`` topic, or an
    ``external`` entry, can match a topic it matches (:func:`topics_overlap`). A node's own
    publications do not count: the launcher never connects a node to itself.
    """
    out = []
    for node in graph.nodes:
        sources = [*graph.external]
        for other in graph.nodes:
            if other.name != node.name:
                sources += [*other.publishes, f"stats/{other.name}"]
        out += [(node.name, sub) for sub in node.subscribe
                if not any(topics_overlap(src, sub) for src in sources)]
    return out


def check_wiring(graph: GraphConfig, strict: bool = False) -> None:
    """Warn about (``strict``: raise :class:`UnwiredTopicError` on) unwired subscriptions."""
    problems = [f"node {node!r} subscribes to {topic!r}, which no other node publishes and no "
                "'external' entry declares" for node, topic in unwired_subscriptions(graph)]
    if strict and problems:
        raise UnwiredTopicError(f"graph {graph.name}: " + "; ".join(problems))
    for problem in problems:
        log.warning("graph %s: %s", graph.name, problem)


def topics_overlap(a: str, b: str) -> bool:
    """Whether prefix ``a`` and prefix ``b`` can both match some topic."""
    return a.startswith(b) or b.startswith(a)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def feeds(graph: GraphConfig) -> dict[str, tuple[str, ...]]:
    """Node name -> the nodes it feeds: those subscribed to a topic it publishes (``stats/`` aside)."""
    return {p.name: tuple(c.name for c in graph.nodes if c.name != p.name and any(
        topics_overlap(t, s) for t in p.publishes for s in c.subscribe)) for p in graph.nodes}


def _reaches(fed: dict[str, tuple[str, ...]], start: str, target: str) -> bool:
    """Whether data from node ``start`` can reach node ``target`` (through the ``fed`` links)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        n = todo.pop()
        if n == target:
            return True
        if n not in seen:
            seen.add(n)
            todo.extend(fed[n])
    return False


def edges(graph: GraphConfig) -> dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """Node name -> ``(upstream, downstream, wait_for)`` (see the module docstring).

    ``downstream``: the nodes it feeds. A link ``a -> b`` is *forward* unless ``b`` also feeds
    ``a`` back (they are on a cycle) and ``a`` comes after ``b`` in the graph file.
    ``upstream``: the nodes that feed it on forward links (a cycle cannot make two nodes wait for
    each other's end). ``wait_for``: as given, or the nodes it feeds on forward links.
    """
    fed = feeds(graph)
    order = {n.name: i for i, n in enumerate(graph.nodes)}

    def forward(a: str, b: str) -> bool:
        return order[a] < order[b] or not _reaches(fed, b, a)

    out = {}
    for n in graph.nodes:
        up = tuple(p for p, targets in fed.items() if n.name in targets and forward(p, n.name))
        wait = tuple(n.wait_for) if n.wait_for is not None else tuple(
            c for c in fed[n.name] if forward(n.name, c))
        out[n.name] = (up, fed[n.name], wait)
    return out


def resolve(graph: GraphConfig, run_dir: Path | None = None) -> tuple[Path, list[NodeSpec]]:
    """Assign endpoints, connections and edges; return the run directory and one spec per node."""
    run = Path(run_dir or graph.run_dir or default_run_root() / graph.name)
    endpoints: dict[str, str] = {}
    for node in graph.nodes:
        if graph.transport == "ipc":
            path = run / f"{node.name}.sock"
            if len(str(path)) > IPC_PATH_MAX:
                raise GraphError(f"ipc path {path} is longer than {IPC_PATH_MAX} characters; "
                                 "set run_dir (or PERCEPT_RUN_DIR) to a shorter folder")
            endpoints[node.name] = f"ipc://{path}"
        else:
            endpoints[node.name] = f"tcp://{graph.host}:{_free_port(graph.host)}"
    specs = []
    links = edges(graph)
    for node in graph.nodes:
        upstream, downstream, wait = links[node.name]
        connect = [endpoints[other.name] for other in graph.nodes
                   if other.name != node.name and any(
                       topics_overlap(p, s) for p in (*other.publishes, f"stats/{other.name}")
                       for s in node.subscribe)]
        specs.append(NodeSpec(
            name=node.name, type=node.type, endpoint=endpoints[node.name],
            config=dict(node.config), connect=(*connect, *node.connect),
            subscribe=node.subscribe, policy=node.policy, hwm=node.hwm,
            send_timeout_ms=node.send_timeout_ms, stats_period_s=node.stats_period_s,
            upstream=upstream, downstream=downstream,
            wait_for=wait, wait_connect=tuple(endpoints[n] for n in wait),
            ready_timeout_s=node.ready_timeout_s, summary_path=str(summary_path(run, node.name))))
    return run, specs


@dataclass(frozen=True)
class Manifest:
    """What ``percept topics``/``echo`` read to find a running graph (``graph.json``)."""

    name: str
    launcher_pid: int
    nodes: dict[str, dict[str, Any]]

    FILE = "graph.json"

    def write(self, run_dir: Path) -> None:
        tmp = run_dir / (self.FILE + ".tmp")
        tmp.write_text(json.dumps({"name": self.name, "launcher_pid": self.launcher_pid,
                                   "nodes": self.nodes}, indent=1), encoding="utf-8")
        tmp.replace(run_dir / self.FILE)

    @classmethod
    def read(cls, run_dir: Path) -> Manifest:
        path = run_dir / cls.FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(name=data["name"], launcher_pid=data["launcher_pid"], nodes=data["nodes"])
        except FileNotFoundError as exc:
            raise GraphError(f"no graph running in {run_dir} (no {cls.FILE}); start one with `percept run` "
                             "or listen to a publisher with --endpoint") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise GraphError(f"no readable graph manifest at {path}: {exc}") from exc

    @property
    def endpoints(self) -> list[str]:
        return [n["endpoint"] for n in self.nodes.values()]


def find_run_dir(run_dir: str | None, graph_name: str | None) -> Path:
    """The run directory of a running graph: given, by name, or the only one running."""
    if run_dir:
        return Path(run_dir)
    root = default_run_root()
    if graph_name:
        return root / graph_name
    live = []
    for manifest in sorted(root.glob(f"*/{Manifest.FILE}")):
        try:
            pid = Manifest.read(manifest.parent).launcher_pid
            os.kill(pid, 0)
        except (GraphError, ProcessLookupError, PermissionError):
            continue
        live.append(manifest.parent)
    if len(live) != 1:
        names = [p.name for p in live]
        if not live:
            raise GraphError(f"no graph running under {root}; start one with `percept run`, or listen to "
                             "a publisher with --endpoint")
        raise GraphError(f"{len(live)} running graphs under {root} {names}; name one with --graph")
    return live[0]
