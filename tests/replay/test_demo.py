"""``percept demo``: the scenario graphs and one short scored run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from percept.cli import build_parser
from replay.demo import FUSION_GRAPH, SCENARIOS, run_scenario, scenario_graph


def test_plaza_graph_runs_sensors_tracking_events_and_the_sink(tmp_path: Path) -> None:
    plaza = next(s for s in SCENARIOS if s.name == "plaza")
    graph, what = scenario_graph(plaza, tmp_path, 5.0)
    assert [n.name for n in graph.nodes] == ["sim", "tracker2d", "events", "sink"]
    assert graph.nodes[0].config["duration_s"] == 5.0
    assert "events" in what


def test_highway_graph_uses_the_fusion_graph_when_it_exists(tmp_path: Path) -> None:
    highway = next(s for s in SCENARIOS if s.name == "highway")
    graph, what = scenario_graph(highway, tmp_path, 5.0)
    names = [n.name for n in graph.nodes]
    assert names[-1] == "sink" and "tracker2d" in names
    assert (FUSION_GRAPH.name in what) == FUSION_GRAPH.is_file()


def test_demo_is_a_replay_command() -> None:
    args = build_parser().parse_args(["demo", "--duration", "3", "--no-watch"])
    assert args.func.__module__ == "replay.watch_cli" and args.duration == 3.0


@pytest.mark.slow
def test_a_short_plaza_run_is_scored_against_ground_truth(short_tmp: Path) -> None:
    plaza = next(s for s in SCENARIOS if s.name == "plaza")
    row = run_scenario(plaza, short_tmp / "plaza", duration_s=6.0)
    for name in ("log.mcap", "annotated.mp4", "events.jsonl", "tracks.txt", "gt.jsonl"):
        assert (short_tmp / "plaza" / name).is_file(), name
    assert 0.5 < row["MOTA"] <= 1.0 and 0.5 < row["IDF1"] <= 1.0  # the simulated detector is good
    assert not math.isnan(row["MOTA"])
    assert row["drops"] == 0
    assert row["tracks"] != "-"  # latency measured
