"""EventEngine and the per-track history: ordering, bad updates, forgetting, bounded memory, velocity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from events.engine import EventEngine
from events.errors import EventsError
from events.history import TrackHistory
from events.rules_zone import IntrusionConfig
from events.scene import SceneRule, scene_from_dict
from percept.messages import TrackStatus
from tests.events.scripted import SQUARE, run, scene, starts, straight, timeline, tracks_3d

INTRUSION = [{"type": "intrusion", "zone": "z", "min_dwell_s": 1.0}]
ZONE = {"z": {"polygon": SQUARE}}


def test_out_of_order_update_is_refused_and_changes_nothing() -> None:
    eng = EventEngine(scene(INTRUSION, ZONE))
    for msg in timeline({1: straight((5.0, 5.0), (0.0, 0.0))}, 0.5):
        eng.update(msg)
    before = (eng.stats.updates, eng.history.t.copy())
    with pytest.raises(EventsError, match=r"older than the previous update \(500000000 ns\)"):
        eng.update(tracks_3d(0.2, [(1, 5.0, 5.0)]))
    assert eng.stats.updates == before[0] and np.array_equal(eng.history.t, before[1], equal_nan=True)
    with pytest.raises(EventsError, match="repeat a track_id"):
        eng.update(tracks_3d(0.6, [(1, 5.0, 5.0), (1, 6.0, 5.0)]))
    # the dwell went on from t = 0 despite the refused updates
    later = timeline({1: straight((5.0, 5.0), (0, 0))}, 1.2, t0=0.7)
    assert [e.stamp_ns for e in starts(run(eng, later))] == [1_000_000_000]


def test_same_stamp_update_is_accepted() -> None:
    eng = EventEngine(scene(INTRUSION, ZONE))
    eng.update(tracks_3d(1.0, [(1, 5.0, 5.0)]))
    eng.update(tracks_3d(1.0, [(2, 6.0, 5.0)]))  # a second camera's tracks at the same instant
    assert set(eng.history.slot_of) == {1, 2}


def test_stale_and_removed_tracks_are_forgotten_and_slots_reused() -> None:
    eng = EventEngine(scene(INTRUSION, ZONE, tracks={"forget_after_s": 1.0}))
    eng.update(tracks_3d(0.0, [(1, 5.0, 5.0), (2, 6.0, 5.0)]))
    eng.update(tracks_3d(0.5, [(2, 6.0, 5.0)]))
    assert set(eng.history.slot_of) == {1, 2}
    eng.update(tracks_3d(1.2, [(2, 6.0, 5.0)]))  # track 1 unseen for 1.2 s
    assert set(eng.history.slot_of) == {2}
    eng.update(tracks_3d(1.3, [(2, 6.0, 5.0, {"status": TrackStatus.REMOVED}), (3, 1.0, 1.0)]))
    assert set(eng.history.slot_of) == {3}
    # a new track in a reused slot starts with a fresh dwell (the rule's slot state was reset)
    events = run(eng, timeline({3: straight((1.0, 1.0), (0.0, 0.0))}, 2.5, t0=1.4))
    assert [e.stamp_ns for e in starts(events)] == [2_300_000_000]


def test_tentative_tracks_keep_their_slot_until_stale() -> None:
    eng = EventEngine(scene(INTRUSION, ZONE, tracks={"forget_after_s": 1.0}))
    tentative = {"status": TrackStatus.TENTATIVE}
    eng.update(tracks_3d(0.0, [(4, 5.0, 5.0, tentative)]))
    slot = eng.history.slot_of[4]
    eng.update(tracks_3d(0.5, [(4, 5.0, 5.0, tentative)]))
    assert eng.history.slot_of == {4: slot}  # seen, though never recorded (not CONFIRMED)
    assert np.all(np.isnan(eng.history.t[slot]))
    eng.update(tracks_3d(1.6, []))
    assert eng.history.slot_of == {}


def test_memory_is_bounded_over_many_tracks() -> None:
    eng = EventEngine(scene(INTRUSION, ZONE, tracks={"forget_after_s": 0.5, "history_len": 16}))
    for k in range(400):  # 400 updates, a new set of 50 ids every 2 s
        t = k * 0.1
        base = (k // 20) * 50
        eng.update(tracks_3d(t, [(base + i, float(i % 10), float(i // 10)) for i in range(50)]))
    assert len(eng.history.slot_of) == 50 and eng.history.capacity <= 128
    assert eng.history.t.shape == (eng.history.capacity, 16)
    live = sum(len(v) for v in eng.lifecycle.live.values())
    ended = sum(len(v) for v in eng.lifecycle.ended.values())
    assert live <= 50 and ended <= 6 * 50  # ends older than the 10 s cooldown are pruned


def test_class_names_fall_back_to_ids() -> None:
    rules = [{"type": "intrusion", "zone": "z", "min_dwell_s": 0.0, "classes": ["7"]}]
    msg = tracks_3d(0.0, [(1, 5.0, 5.0, {"class_id": 7}), (2, 6.0, 5.0)]).replace(class_names=())
    assert [e.track_ids for e in EventEngine(scene(rules, ZONE)).update(msg)] == [(1,)]


def test_history_velocity_is_a_windowed_fit() -> None:
    h = TrackHistory(length=32, window_s=1.0, min_span_s=0.3)
    slots, fresh = h.slots(np.array([5, 6]))
    assert fresh.tolist() == [True, True]
    rng = np.random.default_rng(0)
    for k in range(20):
        t = k * 0.1
        xy = np.array([[1.0 + 2.0 * t, 3.0 - 1.0 * t], [0.5, 0.5]]) + rng.normal(0, 0.02, (2, 2))
        h.record(t, slots, xy, np.array([2.0, 2.0]))
        vel, ok = h.velocity(t, slots)
        if k == 2:
            assert ok.tolist() == [False, False] and vel.tolist() == [[0, 0], [0, 0]]  # spans 0.2 s only
    assert ok.all()
    assert vel[0] == pytest.approx([2.0, -1.0], abs=0.1) and np.hypot(*vel[1]) < 0.1
    assert h.recent("speed", slots, 1.9, 0.25)[0][~np.isnan(h.recent("speed", slots, 1.9, 0.25)[0])].size == 3
    assert [round(x, 1) for x in h.path(int(slots[0]), 3)[-1][1:]] == [pytest.approx(4.8, abs=0.1),
                                                                      pytest.approx(1.1, abs=0.1)]
    assert h.slots(np.array([6, 7]))[1].tolist() == [False, True]
    assert h.seconds(1_000_000_000) == 0.0 and math.isclose(h.seconds(3_000_000_000), 2.0)  # since the first


def test_latency_bench_scene_has_20_rules_and_raises_events() -> None:
    from bench.events import bench_engine, bench_scene, make_updates

    sc = scene_from_dict(bench_scene(), "bench")
    assert len(sc.rules) == 20 and len({r.type for r in sc.rules}) == 8
    updates = make_updates(200, 150)
    assert len(updates[0]) == 200
    row = bench_engine(updates)
    assert row["rules"] == 20 and row["events"] > 100 and row["with_events"]["n"] > 100
    eng = EventEngine(sc)
    kinds = {e.event_type for m in updates for e in eng.update(m)}
    assert {"intrusion", "line_crossing", "running", "speed", "wrong_way"} <= kinds


def test_engine_runs_a_given_subset_of_rules_and_checks_them() -> None:
    sc = scene([*INTRUSION, {"type": "running"}], ZONE)
    only_running = EventEngine(sc, [r for r in sc.rules if r.type == "running"])
    assert [r.TYPE for r in only_running.rules] == ["running"]
    assert run(only_running, timeline({1: _still_inside()}, 3.0)) == []  # no intrusion rule here
    bad = SceneRule("intrusion", "intrusion", IntrusionConfig(zone="nowhere"))
    with pytest.raises(EventsError, match=r"rule 'intrusion': zone: unknown zone 'nowhere'"):
        EventEngine(sc, [bad])
    with pytest.raises(EventsError, match=r"rule 'x': unknown rule type 'teleport'"):
        EventEngine(sc, [SceneRule("x", "teleport", IntrusionConfig(zone="z"))])


def _still_inside():
    return straight((5.0, 5.0), (0.0, 0.0))
