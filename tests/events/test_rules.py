"""Each rule on scripted tracks: it fires when its definition holds, at the right time, and not otherwise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calib.ground import apply_homography
from events.engine import EventEngine
from percept.messages import TrackStatus
from tests.calib.test_ground import H_TRUE
from tests.events.scripted import (
    BAG,
    CAR,
    SQUARE,
    run,
    scene,
    starts,
    straight,
    timeline,
    tracks_2d,
)

ZONE = {"z": {"polygon": SQUARE}}


def _engine(rules: list[dict], zones: dict | None = None, lines: dict | None = None, **top) -> EventEngine:
    return EventEngine(scene(rules, zones if zones is not None else ZONE, lines, **top))


def _still(x: float, y: float, t_from: float = 0.0, t_to: float = 1e9, **extra) -> object:
    return straight((x, y), (0.0, 0.0), t_from, t_to, **extra)


# ------------------------------------------------------------------------------------- intrusion
def test_intrusion_after_min_dwell_per_class() -> None:
    eng = _engine([{"type": "intrusion", "zone": "z", "min_dwell_s": 1.0, "classes": ["pedestrian"]}])
    events = run(eng, timeline({1: straight((-5.0, 5.0), (1.0, 0.0)),  # enters at t = 5 s
                                2: straight((-5.0, 6.0), (1.0, 0.0), class_id=CAR)}, 12.0))
    (ev,) = starts(events)
    assert (ev.event_type, ev.track_ids, ev.zone, ev.severity) == ("intrusion", (1,), "z", "warning")
    assert ev.stamp_ns == pytest.approx(6.1e9, abs=1)
    assert ev.evidence["start_ns"] == pytest.approx(5.1e9, abs=1)
    assert ev.event_id == "test-intrusion-1" and ev.camera == "cam" and ev.frame_id == "world"
    assert [e.phase for e in events] == ["start"] + ["update"] * 5  # one a second, still inside at 12 s
    assert {e.event_id for e in events} == {ev.event_id}


def test_intrusion_needs_the_dwell_and_ends_after_leaving() -> None:
    eng = _engine([{"type": "intrusion", "zone": "z", "min_dwell_s": 1.0}], lifecycle={"end_after_s": 0.5})
    # 0.8 s inside (too short), then out, then 3 s inside, then out for good
    def path(t: float) -> tuple[float, float]:
        return (5.0, 5.0) if 2.0 <= t < 2.8 or 5.0 <= t < 8.0 else (15.0, 5.0)
    events = run(eng, timeline({7: path}, 12.0))
    assert [(e.phase, round(e.stamp_ns / 1e9, 1)) for e in events if e.phase != "update"] == [
        ("start", 6.0), ("end", 8.4)]  # last inside at 7.9 s, + end_after_s


def test_uncertain_position_does_not_trigger_a_zone_rule() -> None:
    rules = [{"type": "intrusion", "zone": "z", "min_dwell_s": 0.5}]
    inside = {1: _still(5.0, 5.0, sigma=2.0)}  # 2 m standard deviation > max_sigma 1 m
    eng = _engine(rules)
    assert run(eng, timeline(inside, 10.0, covariance=True)) == []
    assert eng.stats.uncertain == eng.stats.eligible == 101
    sure = _engine(rules)
    assert len(starts(run(sure, timeline({1: _still(5.0, 5.0, sigma=0.2)}, 10.0, covariance=True)))) == 1
    loose = _engine(rules, tracks={"max_sigma": 3.0})
    assert len(starts(run(loose, timeline(inside, 10.0, covariance=True)))) == 1


def test_uncertain_2d_box_far_away_does_not_trigger() -> None:
    """Without covariance, a box's ground uncertainty is its pixel uncertainty times metres per
    pixel there: the same 20x60 px box is certain at 12 m and not at 60 m."""
    zones = {"near": {"polygon": [[-2, 10], [2, 10], [2, 14], [-2, 14]]},
             "far": {"polygon": [[-10, 55], [10, 55], [10, 65], [-10, 65]]}}
    rules = [{"type": "intrusion", "zone": "near", "min_dwell_s": 0.5},
             {"type": "intrusion", "zone": "far", "min_dwell_s": 0.5}]
    feet = apply_homography(np.linalg.inv(H_TRUE), np.array([[0.0, 12.0], [0.0, 60.0]]))
    boxes = [(i + 1, [u - 10, v - 60, u + 10, v]) for i, (u, v) in enumerate(feet)]
    eng = EventEngine(scene(rules, zones, homography=H_TRUE.tolist()))
    events = run(eng, [tracks_2d(k * 0.1, boxes) for k in range(30)])
    assert [(e.zone, e.track_ids) for e in starts(events)] == [("near", (1,))]


def test_tentative_and_lost_rows_neither_trigger_nor_reset() -> None:
    rules = [{"type": "intrusion", "zone": "z", "min_dwell_s": 1.0}]
    tentative = {1: _still(5.0, 5.0, status=TrackStatus.TENTATIVE)}
    assert run(_engine(rules), timeline(tentative, 5.0)) == []

    def flicker(t: float) -> tuple[float, float, dict]:  # LOST for 0.3 s in the middle of its dwell
        return 5.0, 5.0, {"status": TrackStatus.LOST if 0.45 < t < 0.75 else TrackStatus.CONFIRMED}
    (ev,) = starts(run(_engine(rules), timeline({1: flicker}, 3.0)))
    assert ev.stamp_ns == pytest.approx(1.0e9, abs=1)  # dwell counted from t = 0, the LOST rows skipped


# --------------------------------------------------------------------------------- line crossing
LINE = {"gate": {"points": [[0.0, 0.0], [10.0, 0.0]], "direction": "right_to_left", "margin": 0.5}}


def _jitter_across(t: float) -> tuple[float, float]:
    """South of the line, then 4 s jittering +-0.3 m on it, then north of it."""
    if t < 2.0:
        return 5.0, -3.0 + 1.5 * t
    if t < 6.0:
        return 5.0, 0.3 * math.sin(7.0 * t) + 0.1 * math.cos(23.0 * t)
    return 5.0, min(3.0, 1.5 * (t - 6.0))


def test_line_crossing_jittering_track_counts_once() -> None:
    eng = _engine([{"type": "line_crossing", "line": "gate", "cooldown_s": 0.0}], lines=LINE,
                  lifecycle={"end_after_s": 0.0})
    events = run(eng, timeline({1: _jitter_across}, 10.0))
    (ev,) = starts(events)
    assert (ev.event_type, ev.zone, ev.evidence["crossing"]) == ("line_crossing", "gate", "right_to_left")
    assert ev.stamp_ns == pytest.approx(6.4e9, abs=1)  # first sample more than 0.5 m north of the line
    assert len(events) == 2 and events[1].phase == "end"


def test_line_crossing_direction_is_respected() -> None:
    rules = [{"type": "line_crossing", "line": "gate", "cooldown_s": 0.0}]
    south_to_north, north_to_south = straight((5.0, -3.0), (0.0, 1.0)), straight((6.0, 3.0), (0.0, -1.0))
    one_way = run(_engine(rules, lines=LINE), timeline({1: south_to_north, 2: north_to_south}, 8.0))
    assert [e.track_ids for e in starts(one_way)] == [(1,)]
    both = {"gate": {**LINE["gate"], "direction": "both"}}
    two_ways = starts(run(_engine(rules, lines=both), timeline({1: south_to_north, 2: north_to_south}, 8.0)))
    assert sorted((e.track_ids, e.evidence["crossing"]) for e in two_ways) == [
        ((1,), "right_to_left"), ((2,), "left_to_right")]


def test_line_crossing_beside_the_segment_does_not_count() -> None:
    around = straight((12.0, -3.0), (0.0, 1.0))  # crosses y = 0 at x = 12, past the end at x = 10
    eng = _engine([{"type": "line_crossing", "line": "gate"}], lines=LINE)
    assert run(eng, timeline({1: around}, 8.0)) == []


# ----------------------------------------------------------------------------- loitering, wrong way
def test_loitering_stays_versus_walks_through() -> None:
    rules = [{"type": "loitering", "zone": "z", "dwell_s": 5.0, "radius": 1.0}]
    pacing = lambda t: (5.0 + 0.6 * math.sin(t), 5.0 + 0.3 * math.cos(2 * t))  # noqa: E731
    events = run(_engine(rules), timeline({1: pacing, 2: straight((-1.0, 2.0), (0.5, 0.0))}, 12.0))
    (ev,) = starts(events)
    assert ev.track_ids == (1,) and ev.severity == "info"
    assert ev.stamp_ns == pytest.approx(5.0e9, abs=1) and ev.evidence["dwell_s"] == pytest.approx(5.0)


def test_wrong_way_against_the_zone_direction() -> None:
    zones = {"road": {"polygon": SQUARE, "direction_deg": 0.0}}
    rules = [{"type": "wrong_way", "zone": "road", "min_duration_s": 1.0}]
    paths = {1: straight((9.0, 3.0), (-1.2, 0.0)),  # west: against
             2: straight((1.0, 5.0), (1.2, 0.0)),  # east: with
             3: straight((5.0, 1.0), (0.0, 1.0))}  # north: 90 degrees off, not against (< 120)
    (ev,) = starts(run(_engine(rules, zones), timeline(paths, 5.0)))
    assert ev.track_ids == (1,) and ev.evidence["off_deg"] == pytest.approx(180.0)
    # velocity trusted after 0.3 s, then held 1 s
    assert ev.stamp_ns == pytest.approx(1.3e9, abs=1)
    assert ev.evidence["start_ns"] == pytest.approx(0.3e9, abs=1)


# ------------------------------------------------------------------------------ speed and stops
def test_speed_over_the_zone_limit() -> None:
    zones = {"z": {"polygon": SQUARE, "speed_limit": 2.0}}
    rules = [{"type": "speed", "zone": "z"}]
    events = run(_engine(rules, zones), timeline({1: straight((0.5, 2.0), (3.0, 0.0), class_id=CAR),
                                                   2: straight((0.5, 6.0), (1.5, 0.0), class_id=CAR)}, 3.0))
    (ev,) = starts(events)
    assert ev.track_ids == (1,) and ev.evidence["speed"] == pytest.approx(3.0) and ev.evidence["limit"] == 2.0


def test_running_is_for_people() -> None:
    rules = [{"type": "running", "speed": 2.8, "min_duration_s": 1.0}]
    paths = {1: straight((0.0, 0.0), (4.0, 0.0)), 2: straight((0.0, 5.0), (4.0, 0.0), class_id=CAR),
             3: straight((0.0, 9.0), (1.4, 0.0))}
    (ev,) = starts(run(_engine(rules), timeline(paths, 4.0)))
    assert ev.track_ids == (1,) and ev.event_type == "running"


def test_stopped_vehicle_in_no_stopping_zone() -> None:
    rules = [{"type": "stopped_vehicle", "zone": "z", "min_duration_s": 5.0}]

    def parks(t: float) -> tuple[float, float, dict]:
        return (-5.0 + 5.0 * min(t, 2.0), 5.0, {"class_id": CAR})  # drives in, stops at x = 5 at t = 2
    (ev,) = starts(run(_engine(rules), timeline({1: parks, 2: _still(3.0, 3.0)}, 10.0)))
    assert ev.track_ids == (1,) and 7.0e9 <= ev.stamp_ns <= 8.0e9


def test_sudden_stop_but_not_a_gentle_one() -> None:
    rules = [{"type": "sudden_stop", "min_speed": 1.5, "stop_speed": 0.3, "within_s": 1.0}]

    def brakes(t: float) -> tuple[float, float]:  # 2 m/s, full stop within 0.2 s at t = 3
        return 2.0 * min(t, 3.0), 2.0

    def slows(t: float) -> tuple[float, float]:  # 2 m/s decelerating to 0 over 6 s
        u = min(t, 6.0)
        return 2.0 * u - u * u / 6.0, 6.0
    events = starts(run(_engine(rules), timeline({1: brakes, 2: slows}, 9.0)))
    assert [e.track_ids for e in events] == [(1,)]
    assert events[0].evidence["speed_before"] >= 1.5 and events[0].evidence["decel"] > 2.0


def test_fall_from_box_aspect() -> None:
    rules = [{"type": "fall"}]

    def box(t: float) -> list[float]:
        h = 180.0 if t < 3.0 else 180.0 - 450.0 * min(t - 3.0, 0.3)  # 180 px tall -> 45 px in 0.3 s
        w = 60.0 if t < 3.0 else 60.0 + 300.0 * min(t - 3.0, 0.3)  # and 60 -> 150 px wide
        return [100.0, 300.0 - h, 100.0 + w, 300.0]
    msgs = [tracks_2d(k * 0.1, [(1, box(k * 0.1)), (2, [400.0, 120.0, 460.0, 300.0])]) for k in range(60)]
    (ev,) = starts(run(EventEngine(scene(rules, frame="image")), msgs))
    assert ev.track_ids == (1,) and ev.severity == "critical"
    assert ev.evidence["aspect_before"] == pytest.approx(3.0)


# ---------------------------------------------------------------------------- objects and crowds
def test_abandoned_object_after_its_owner_left() -> None:
    rules = [{"type": "abandoned_object", "distance": 4.0, "duration_s": 5.0}]
    owner = lambda t: (2.0, 2.0) if t < 3.0 else (2.0 + 1.5 * (t - 3.0), 2.0)  # noqa: E731
    bag = _still(2.5, 2.0, t_from=1.0, class_id=BAG)
    stays, other_bag = _still(7.0, 8.0), _still(7.5, 8.0, t_from=1.0, class_id=BAG)
    (ev,) = starts(run(_engine(rules), timeline({1: owner, 2: bag, 3: stays, 4: other_bag}, 14.0)))
    # the owner is more than 4 m from the bag after t = 3 + 4.5 / 1.5 = 6.0 s; abandoned 5 s later
    assert ev.track_ids == (2, 1) and ev.severity == "critical"
    assert ev.stamp_ns == pytest.approx(11.1e9, abs=1) and ev.evidence["owner_distance"] > 4.0


def test_abandoned_object_jitter_is_static_and_moving_it_restarts_the_clock() -> None:
    rules = [{"type": "abandoned_object", "distance": 4.0, "duration_s": 5.0, "static_radius": 1.0}]
    owner = lambda t: (2.0, 2.0) if t < 1.0 else (2.0 + 3.0 * (t - 1.0), 2.0)  # noqa: E731  # gone fast

    def jittery_bag(t: float) -> tuple[float, float, dict]:  # a noisy camera box: +-0.4 m at 10 Hz
        return 2.5 + 0.4 * math.sin(9.0 * t), 2.0 + 0.4 * math.cos(13.0 * t), {"class_id": BAG}

    (ev,) = starts(run(_engine(rules), timeline({1: owner, 2: jittery_bag}, 9.0)))
    assert ev.track_ids == (2, 1) and 7.0e9 <= ev.stamp_ns <= 8.0e9  # owner 4 m away after ~2.5 s

    def moved_bag(t: float) -> tuple[float, float, dict]:  # picked up and put down 3 m away at t = 4
        return (2.5 if t < 4.0 else 5.5), 2.0, {"class_id": BAG}
    (ev,) = starts(run(_engine(rules), timeline({1: owner, 2: moved_bag}, 12.0)))
    assert ev.track_ids == (2,) and ev.stamp_ns == pytest.approx(9.0e9, abs=1)  # no one near at 4 s


def test_crowding_one_event_per_zone_with_its_tracks() -> None:
    rules = [{"type": "crowding", "zone": "z", "max_count": 3, "min_duration_s": 1.0}]
    paths = {i: _still(1.0 + i, 5.0, t_to=6.0 if i == 4 else 1e9) for i in range(1, 5)}
    events = run(_engine(rules, lifecycle={"end_after_s": 0.5, "update_every_s": 2.0}), timeline(paths, 10.0))
    phases = [(e.phase, round(e.stamp_ns / 1e9, 1), e.track_ids) for e in events]
    all4 = (1, 2, 3, 4)
    assert phases == [("start", 1.0, all4), ("update", 3.0, all4), ("update", 5.0, all4),
                      ("end", 6.5, all4)]  # 4 inside until 6.0 s, + end_after_s
    assert events[0].evidence["count"] == 4 and events[0].zone == "z"
