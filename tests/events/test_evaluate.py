"""``percept eval events``: matching by type, track/zone and window, one-to-one; and the simulator
plaza end to end (sim -> events node -> JSONL -> evaluation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.events_plaza import simulate, write_jsonl
from events.cli import register
from events.evaluate import EventRecord, distinct, evaluate, evaluate_files, format_table, match
from tests.cli_parser import percept_parser

S = 1_000_000_000


def _rec(t: float, etype: str = "intrusion", ids: tuple[int, ...] = (1,), zone: str = "z",
         event_id: str = "", phase: str = "start", onset: float | None = None) -> EventRecord:
    onset_ns = round((t if onset is None else onset) * S)
    return EventRecord(round(t * S), etype, ids, zone, phase, event_id, onset_ns)


def test_match_by_type_track_and_window() -> None:
    gt = [_rec(10.0), _rec(20.0, "loitering", (2,)), _rec(30.0, "crowding", (), "hall")]
    pred = [_rec(11.5), _rec(20.5, "loitering", (3,)), _rec(30.2, "crowding", (4, 5), "hall"),
            _rec(10.1, "running")]
    assert match(gt, pred, 2.0) == [(0, 0), (2, 2)]  # loitering: other track; running: other type
    assert match(gt, pred, 1.0) == [(2, 2)]  # intrusion 1.5 s late is outside a 1 s window
    assert match([_rec(5.0, zone="a", ids=())], [_rec(5.0, zone="b", ids=())], 2.0) == []


def test_match_is_one_to_one_and_maximal() -> None:
    gt = [_rec(10.0, ids=(1,)), _rec(11.0, ids=(1,))]
    pred = [_rec(10.9, ids=(1,))]
    assert match(gt, pred, 2.0) == [(1, 0)]  # the nearer one
    # the greedy nearest pairing would leave gt 1 alone: (0, 0) dt 0.4 blocks (1, 0); optimum matches both
    gt = [_rec(10.0), _rec(12.0)]
    pred = [_rec(10.4), _rec(8.5)]
    assert match(gt, pred, 2.0) == [(0, 1), (1, 0)]


def test_distinct_counts_each_event_id_once() -> None:
    lines = [_rec(1.0, event_id="a"), _rec(2.0, event_id="a", phase="update"),
             _rec(3.0, event_id="a", phase="end"), _rec(2.5, event_id="b"), _rec(4.0), _rec(4.0)]
    assert [(r.event_id, r.stamp_ns) for r in distinct(lines)] == [
        ("a", S), ("b", 2.5 * S), ("", 4 * S), ("", 4 * S)]


def test_precision_recall_latency_and_delay() -> None:
    gt = [_rec(10.0, onset=8.0), _rec(20.0, ids=(2,)), _rec(50.0, "loitering", onset=40.0)]
    pred = [_rec(10.5, event_id="e1"), _rec(11.0, event_id="e1", phase="end"),
            _rec(35.0, ids=(9,), event_id="e2"), _rec(49.0, "loitering", event_id="e3")]
    rows = {r.event_type: r for r in evaluate(gt, pred, 2.0)}
    i, lo, al = rows["intrusion"], rows["loitering"], rows["all"]
    assert (i.gt, i.detected, i.matched, i.precision, i.recall) == (2, 2, 1, 0.5, 0.5)
    assert (i.latency_mean_s, i.delay_mean_s) == pytest.approx((2.5, 0.5))  # vs onset 8 s / vs stamp 10 s
    assert (lo.matched, lo.latency_max_s, lo.delay_max_s) == (1, pytest.approx(9.0), pytest.approx(-1.0))
    assert (al.gt, al.detected, al.matched) == (3, 3, 2) and al.precision == pytest.approx(2 / 3)
    nothing = evaluate([], [], 2.0)
    assert [(r.event_type, r.precision, r.recall) for r in nothing] == [("all", 1.0, 1.0)]
    assert "intrusion" in format_table(list(rows.values()))


def _run_cli(argv: list[str]) -> int:
    from fusion.eval_cli import register as register_fusion

    # `percept eval` exists already: `events` joins `mot` under it
    args = percept_parser(register_fusion, register).parse_args(argv)
    return int(args.func(args))


def test_cli_json_and_bad_lines(tmp_path: Path, capsys) -> None:
    gt, ev = tmp_path / "gt.jsonl", tmp_path / "events.jsonl"
    gt.write_text(json.dumps({"stamp_ns": 5 * S, "event_type": "running", "track_ids": [4], "zone": "plaza",
                              "evidence": {"start_ns": 4 * S}}) + "\n")
    ev.write_text(json.dumps({"stamp_ns": 5 * S + S // 2, "event_type": "running", "track_ids": [4],
                              "event_id": "p-running-1", "phase": "start", "evidence": {}}) + "\n\n")
    assert _run_cli(["eval", "events", "--gt", str(gt), "--events", str(ev), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {"event_type": "running", "gt": 1, "detected": 1, "matched": 1, "precision": 1.0,
                       "recall": 1.0, "latency_mean_s": 1.5, "latency_max_s": 1.5, "delay_mean_s": 0.5,
                       "delay_max_s": 0.5}
    ev.write_text('{"stamp_ns": 1, "event_type": "x"}\n{"event_type": "x"}\n')
    assert _run_cli(["eval", "events", "--gt", str(gt), "--events", str(ev)]) == 2
    err = capsys.readouterr().err
    assert err == f"percept: error: eval events: {ev}:2: event JSON: missing required key 'stamp_ns'\n"
    ev.write_text("not json\n")
    assert _run_cli(["eval", "events", "--gt", str(gt), "--events", str(ev)]) == 2
    assert "events.jsonl:1: invalid JSON" in capsys.readouterr().err
    assert _run_cli(["eval", "events", "--gt", str(gt), "--events", str(tmp_path / "none.jsonl")]) == 2


def test_plaza_every_scripted_anomaly_once_within_2s(tmp_path: Path) -> None:
    gt, detected, engine = simulate("plaza")
    assert sorted(g["event_type"] for g in gt) == ["abandoned_object", "intrusion", "loitering", "running",
                                                   "wrong_way"]
    write_jsonl(tmp_path / "gt.jsonl", gt)
    write_jsonl(tmp_path / "events.jsonl", detected)
    rows = {r.event_type: r for r in evaluate_files(tmp_path / "gt.jsonl", tmp_path / "events.jsonl", 2.0)}
    for etype in ("abandoned_object", "intrusion", "loitering", "running", "wrong_way"):
        r = rows[etype]
        assert (r.gt, r.detected, r.matched) == (1, 1, 1), r
        assert abs(r.delay_max_s) <= 2.0
    assert rows["all"].precision == rows["all"].recall == 1.0
    assert {d["phase"] for d in detected} == {"start", "update", "end"} and engine.stats.updates == 300


@pytest.mark.slow
def test_plaza_normal_ten_minutes_raises_nothing() -> None:
    gt, detected, engine = simulate("plaza_normal", duration_s=600.0)
    assert gt == [] and detected == []
    assert engine.stats.updates == 6000 and engine.stats.eligible > 90_000
