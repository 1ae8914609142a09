"""Typed config building and graph validation: errors name the bad key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from percept.config import build, load_yaml
from percept.errors import ConfigError, GraphError
from percept.graph import GraphConfig, load_graph, resolve, topics_overlap, validate
from tests.rejects import assert_rejects


@dataclass(frozen=True)
class Inner:
    gain: float = 1.0


@dataclass(frozen=True)
class Outer:
    name: str
    rate_hz: float = 10.0
    count: int = 3
    mode: Literal["a", "b"] = "a"
    tags: tuple[str, ...] = ()
    inner: Inner = field(default_factory=Inner)
    limit: int | None = None


def test_build_fills_defaults_and_coerces():
    cfg = build(Outer, {"name": "x", "rate_hz": 5, "tags": ["p", "q"], "inner": {"gain": 2}})
    assert cfg == Outer(name="x", rate_hz=5.0, tags=("p", "q"), inner=Inner(2.0))
    assert isinstance(cfg.rate_hz, float) and cfg.limit is None


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "x", "rate": 1}, "cfg: unknown key 'rate'"),
    ({}, "cfg: missing required key 'name'"),
    ({"name": "x", "count": 1.5}, "cfg.count: expected an integer"),
    ({"name": "x", "count": True}, "cfg.count: expected an integer"),
    ({"name": "x", "mode": "c"}, r"cfg.mode: expected one of \['a', 'b'\], got 'c'"),
    ({"name": "x", "tags": "p"}, "cfg.tags: expected a list"),
    ({"name": "x", "tags": [1]}, r"cfg.tags\[0\]: expected str"),
    ({"name": "x", "inner": {"gian": 1}}, "cfg.inner: unknown key 'gian'"),
    ({"name": "x", "limit": "many"}, "cfg.limit: expected an integer"),
])
def test_build_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        build(Outer, data, "cfg")


def _graph(**over):
    base = {"name": "g", "nodes": [
        {"name": "cam", "type": "test_pattern", "publishes": ["camera/a"]},
        {"name": "sink", "type": "jsonl_sink", "subscribe": ["camera/"], "config": {"path": "/tmp/x"}},
        {"name": "mon", "type": "jsonl_sink", "subscribe": ["stats/"], "config": {"path": "/tmp/y"}},
    ]}
    base.update(over)
    return base


def test_resolve_wires_subscribers_to_matching_publishers(tmp_path):
    _, specs = resolve(validate(build(GraphConfig, _graph(), "graph")), tmp_path)
    by = {s.name: s for s in specs}
    assert by["cam"].endpoint == f"ipc://{tmp_path}/cam.sock"
    assert by["sink"].connect == (by["cam"].endpoint,)
    assert set(by["mon"].connect) == {by["cam"].endpoint, by["sink"].endpoint}  # stats/ of all
    assert by["cam"].subscribe == () and by["cam"].connect == ()
    assert topics_overlap("camera/", "camera/a") and not topics_overlap("camera/a", "lidar/")


@pytest.mark.parametrize(("over", "message"), [
    ({"transport": "udp"}, r"graph.transport: expected one of \['ipc', 'tcp'\]"),
    ({"nodes": []}, "at least one node"),
    ({"name": "bad name"}, "graph.name"),
    ({"nodes": [{"name": "a", "type": "nosuchtype"}]}, "node type 'nosuchtype'"),
    ({"nodes": [{"name": "a", "type": "os:path"}]}, "cannot import|not a Processor"),
    ({"nodes": [{"name": "a", "type": "relay"}, {"name": "a", "type": "relay"}]}, "duplicate node name"),
    ({"nodes": [{"name": "a", "type": "relay", "policy": "fast"}]}, r"graph.nodes\[0\].policy"),
    ({"nodes": [{"name": "a", "type": "test_pattern", "config": {"rate_hz": -1}}]},
     "rate_hz: expected > 0"),
    ({"nodes": [{"name": "a", "type": "relay", "publish": ["x"]}]},
     r"graph.nodes\[0\]: unknown key 'publish'"),
])
def test_graph_validation_errors(over, message):
    with pytest.raises((ConfigError, GraphError), match=message):
        validate(build(GraphConfig, _graph(**over), "graph"))


def test_load_graph_and_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    info = assert_rejects(load_graph, bad, "name: [unclosed\n", ConfigError)
    # one line FILE:LINE: message, no parser dump (regression: the trial saw PyYAML's multi-line text)
    assert str(info.value) == (f"{bad}:2: expected ',' or ']', but got '<stream end>' "
                               "(while parsing a flow sequence at line 1, column 7)")
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml(tmp_path / "missing.yaml")
    assert_rejects(load_graph, tmp_path / "wrong.yaml",
                   "name: g\nnodes: [{name: a, type: relay, hwm: lots}]\n", ConfigError,
                   r"wrong.yaml: graph.nodes\[0\].hwm: expected an integer")


def test_shipped_graphs_are_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in [*sorted((root / "configs").glob("*.yaml")), root / "percept/configs/demo.yaml"]:
        assert load_graph(path).nodes, path


def test_long_ipc_path_is_refused(tmp_path):
    graph = validate(build(GraphConfig, _graph(), "graph"))
    with pytest.raises(GraphError, match="longer than"):
        resolve(graph, tmp_path / ("x" * 120))
