"""Graph wiring checks: unwired subscriptions warn at load, and are errors with strict / --strict."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from percept.cli import main
from percept.errors import ConfigError, GraphError, UnwiredTopicError
from percept.graph import load_graph, unwired_subscriptions

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*(ROOT / "configs").glob("*.yaml"), ROOT / "percept" / "configs" / "demo.yaml"])


def _write(tmp: Path, nodes: list[dict], **top) -> Path:
    path = tmp / "graph.yaml"
    path.write_text(yaml.safe_dump({"name": "wiring", **top, "nodes": nodes}))
    return path


SOURCE = {"name": "source", "type": "test_pattern", "publishes": ["camera/test"],
          "config": {"topic": "camera/test"}}
SINK = {"name": "sink", "type": "jsonl_sink", "subscribe": ["camera/", "lidar/"]}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "percept.graph" and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_graphs_are_fully_wired(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    graph = load_graph(path)
    assert graph.nodes
    assert _warnings(caplog) == []
    assert unwired_subscriptions(graph) == []
    load_graph(path, strict=True)  # does not raise


def test_unwired_subscription_warns_naming_node_and_topic(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    graph = load_graph(_write(tmp_path, [SOURCE, SINK]))
    assert unwired_subscriptions(graph) == [("sink", "lidar/")]
    [msg] = _warnings(caplog)
    assert "'sink'" in msg and "'lidar/'" in msg and "camera/" not in msg


def test_strict_unwired_subscription_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, [SOURCE, SINK])
    with pytest.raises(UnwiredTopicError, match=r"node 'sink' subscribes to 'lidar/'") as info:
        load_graph(path, strict=True)
    assert str(path) in str(info.value) and isinstance(info.value, GraphError)


def test_external_entries_feed_subscriptions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    graph = load_graph(_write(tmp_path, [SOURCE, SINK], external=["lidar/top"]), strict=True)
    assert graph.external == ("lidar/top",) and _warnings(caplog) == []
    with pytest.raises(GraphError, match=r"graph.external\[0\]"):
        load_graph(_write(tmp_path, [SOURCE, SINK], external=[""]))


def test_own_publications_do_not_feed_a_node_but_stats_topics_do(tmp_path: Path) -> None:
    loop = {"name": "relay", "type": "relay", "subscribe": ["relayed/", "stats/source"],
            "publishes": ["relayed/"]}
    graph = load_graph(_write(tmp_path, [SOURCE, loop]))
    assert unwired_subscriptions(graph) == [("relay", "relayed/")]


def test_run_strict_exits_2_with_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write(tmp_path, [SOURCE, SINK])
    assert main(["run", str(path), "--strict", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("percept: error: ")
    assert "'sink'" in err[0] and "'lidar/'" in err[0]
    assert not (tmp_path / "run").exists()  # nothing was launched


def _relay(name: str, sub: str, pub: str) -> dict:
    return {"name": name, "type": "relay", "subscribe": [sub], "publishes": [pub]}


def test_edges_follow_data_links_not_stats_and_cycles_run_forward(tmp_path: Path) -> None:
    from percept.graph import edges, resolve

    monitor = {"name": "monitor", "type": "jsonl_sink", "subscribe": ["stats/"]}
    # det subscribes to all of camera/, so trk's output feeds it back: a cycle det <-> trk
    nodes = [SOURCE, _relay("det", "camera/", "camera/det"), _relay("trk", "camera/det", "camera/trk"),
             {**SINK, "subscribe": ["camera/trk"]}, monitor]
    graph = load_graph(_write(tmp_path, nodes))
    got = edges(graph)  # node -> (upstream, downstream, wait_for)
    assert got["source"] == ((), ("det",), ("det",))
    assert got["det"] == (("source",), ("trk",), ("trk",))  # trk -> det runs backward: not upstream
    assert got["trk"] == (("det",), ("det", "sink"), ("sink",))  # nor waited for
    assert got["sink"] == (("trk",), (), ())
    assert got["monitor"] == ((), (), ())  # stats links are no data links
    _run, specs = resolve(graph, tmp_path / "run")
    spec = {s.name: s for s in specs}
    assert spec["det"].wait_connect == (spec["trk"].endpoint,)
    assert spec["sink"].summary_path == str(tmp_path / "run" / "summary" / "sink.json")


def test_wait_for_given_explicitly_and_checked(tmp_path: Path) -> None:
    from percept.graph import edges

    nodes = [{**SOURCE, "wait_for": ["sink"]}, _relay("relay", "camera/", "relayed/"),
             {**SINK, "subscribe": ["relayed/"], "wait_for": []}]
    got = edges(load_graph(_write(tmp_path, nodes)))
    assert got["source"][2] == ("sink",) and got["relay"][2] == ("sink",) and got["sink"][2] == ()
    with pytest.raises(GraphError, match=r"graph.nodes\[0\].wait_for: 'ghost' is not another node"):
        load_graph(_write(tmp_path, [{**SOURCE, "wait_for": ["ghost"]}, SINK]))
    with pytest.raises(GraphError, match=r"graph.nodes\[1\].wait_for: 'sink' is not another node"):
        load_graph(_write(tmp_path, [SOURCE, {**SINK, "wait_for": ["sink"]}]))


@pytest.mark.parametrize(("restart", "message"), [
    ({"backoff_s": -1}, r"graph\.restart: backoff_s: expected a finite number >= 0, got -1"),
    ({"max_restarts": -2}, r"graph\.restart: max_restarts: expected a finite number >= 0, got -2"),
    ({"backoff_s": 5.0, "max_backoff_s": 1.0},
     r"graph\.restart: max_backoff_s: expected >= backoff_s \(5\.0\), got 1\.0"),
])
def test_restart_settings_are_checked_at_load(tmp_path: Path, restart: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_graph(_write(tmp_path, [SOURCE], restart=restart))
    load_graph(_write(tmp_path, [SOURCE], restart={"backoff_s": 0.0, "max_restarts": 3}))  # zeros are fine

