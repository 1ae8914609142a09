"""``percept bench track2d``: well-formed rows on a tiny run, boxmot adapters when installed."""

from __future__ import annotations

import json

import pytest

from bench import track2d
from fusion.errors import TrackingError


def test_bench_rows_well_formed(shared_data, capsys, bench_parser) -> None:
    seq = str(shared_data("mot15", "TUD-Campus"))
    args = bench_parser.parse_args(["bench", "track2d", "--json", "--runs", "1", "--sequences", seq,
                                    "--trackers", "percept", "sort"])
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["tracker"], r["sequence"], r["frames"]) for r in rows] == [
        ("percept", "TUD-Campus", 71), ("sort", "TUD-Campus", 71)]
    assert all(set(r) == {"tracker", "sequence", "frames", "fps"} and r["fps"] > 0 for r in rows)
    args = bench_parser.parse_args(["bench", "track2d", "--runs", "1", "--sequences", seq,
                                    "--trackers", "sort"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].split()[:2] == ["sort", "ALL"]


def test_bench_rejects_bad_arguments(shared_data) -> None:
    seq = shared_data("mot15", "TUD-Campus")
    with pytest.raises(TrackingError, match="runs"):
        track2d.run([seq], runs=0)
    with pytest.raises(TrackingError, match="unknown tracker"):
        track2d.make_step("deepsort", track2d.MotSequence(seq))


@pytest.mark.parametrize("name", ["bytetrack", "ocsort"])
def test_boxmot_trackers_track_the_same_detections(shared_data, name: str) -> None:
    pytest.importorskip("boxmot", reason="boxmot is a bench/dev extra")
    seq = track2d.MotSequence(shared_data("mot15", "TUD-Campus"))
    results, seconds = track2d.track_sequence(name, seq)
    assert sorted(results) == list(range(1, 72)) and seconds > 0
    ids = {int(i) for d in results.values() if len(d) for i in d.track_id}
    assert 3 <= len(ids) <= 40  # a handful of pedestrians, not one id per detection
    assert sum(len(d) for d in results.values()) > 150  # TUD-Campus has 359 GT boxes
