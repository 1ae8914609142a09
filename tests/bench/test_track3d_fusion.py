"""``percept bench track3d``: the fusion tracker's frames/s on KITTI (ratio to AB3DMOT) and parked cars."""

from __future__ import annotations

import json

import pytest

from bench import cli as bench_cli
from bench import track3d_fusion


def test_percept_bench_track3d_parses(bench_parser) -> None:
    args = bench_parser.parse_args(["bench", "track3d", "--seqs", "1,12", "--json"])
    assert args.func is bench_cli.cmd_bench_track3d
    assert args.seqs == "1,12" and args.json and args.config is None


def test_rows_table_states_the_ratio_to_ab3dmot() -> None:
    rows = [{"sequence": "0001", "frames": 10, "frames_per_s": 410.0, "vs_ab3dmot": 410.0 / 41.0,
             "static_matches": 3, "static_median_speed_mps": 0.1234},
            {"sequence": "all", "frames": 10, "frames_per_s": 410.0, "vs_ab3dmot": 10.0, "static_matches": 0,
             "static_median_speed_mps": None}]
    lines = track3d_fusion.format_rows(rows)
    assert "vs AB3DMOT (41 fps)" in lines[0]
    assert lines[2] == "| 0001 | 10 | 410 | x10.0 | 3 | 0.12 |"
    assert lines[3].endswith("| 0 | - |")


@pytest.mark.data
def test_bench_track3d_json_on_one_sequence(bench_parser, shared_data, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PERCEPT_DATA", str(shared_data("kitti_tracking").parent))
    args = bench_parser.parse_args(["bench", "track3d", "--seqs", "12", "--json"])
    assert bench_cli.cmd_bench_track3d(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["sequence"] for r in rows] == ["0012", "all"]
    assert rows[-1]["frames"] == 78 and rows[-1]["frames_per_s"] > 0
    assert rows[-1]["vs_ab3dmot"] == pytest.approx(rows[-1]["frames_per_s"] / track3d_fusion.AB3DMOT_FPS)
    assert rows[-1]["static_matches"] > 20 and rows[-1]["static_median_speed_mps"] < 0.15
