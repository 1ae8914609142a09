"""World, actors, scenarios and anomaly ground truth of the simulator (no sensors)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from percept.errors import ConfigError
from sensors.errors import SensorError
from sensors.sim.classes import CLASSES
from sensors.sim.scenario import ANOMALY_TYPES, builtin_scenarios, load_scenario
from sensors.sim.world import World
from tests.rejects import assert_rejects


def _trace(name: str, seed: int = 0, seconds: float | None = None) -> tuple[World, dict[str, list], list]:
    """Run a scenario's world; per-actor-name lists of (t_s, x, y, yaw, v, accel, yaw_rate)."""
    sc = load_scenario(name)
    world = World(sc, seed)
    end = round((seconds or sc.duration_s) * 1e9)
    trace: dict[str, list] = {}
    events = []
    while world.t_ns < end:
        world.step()
        events += world.pop_events()
        actors = [a for a in world.actors if a.active] + ([world.ego] if world.ego else [])
        for a in actors:
            trace.setdefault(a.name, []).append(
                (world.t_ns / 1e9, a.x, a.y, a.yaw, a.v, a.accel, a.yaw_rate))
    return world, {k: np.array(v) for k, v in trace.items()}, events


@pytest.fixture(scope="module")
def highway():
    return _trace("highway")


def test_builtin_scenarios_load():
    names = builtin_scenarios()
    assert {"highway", "intersection", "plaza", "plaza_normal"} <= set(names)
    for n in names:
        sc = load_scenario(n)
        assert sc.name == n
        assert sc.sensors.cameras, f"{n} has no camera"


def test_dynamics_within_class_limits(highway):
    world, trace, _ = highway
    for name, tr in trace.items():
        cls = world.ego.cls if name == "ego" else next(a.cls for a in world.actors if a.name == name)
        kind = CLASSES[cls]
        assert np.all(tr[:, 4] >= 0), name
        assert np.all(tr[:, 5] <= kind.max_accel + 1e-6), name
        assert np.all(tr[:, 5] >= -kind.max_decel - 1e-6), name
        assert np.all(np.abs(tr[:, 6]) <= kind.max_yaw_rate + 1e-9), name
        # positions integrate the speeds: no teleporting
        step = np.hypot(np.diff(tr[:, 1]), np.diff(tr[:, 2]))
        assert np.all(step <= tr[1:, 4] * 0.01 + 1e-6), name
        lateral = np.abs(tr[:, 4] * tr[:, 6])
        assert lateral.max() < 8.0, f"{name}: lateral acceleration {lateral.max():.1f} m/s^2"


def test_highway_lead_brakes_hard_and_stops(highway):
    _, trace, _ = highway
    lead = trace["lead"]
    before = lead[lead[:, 0] < 9.0]
    after = lead[lead[:, 0] > 9.0]
    assert np.allclose(before[:, 4], 25.0, atol=0.01)
    assert after[:, 5].min() <= -7.5  # hard braking, 8 m/s^2 requested
    assert after[-1, 4] == 0.0
    stop_time = after[np.argmax(after[:, 4] == 0.0), 0]
    assert 11.5 < stop_time < 13.5  # 25 m/s at 8 m/s^2 takes 3.1 s


def test_highway_cut_in_changes_lane_in_front_of_ego(highway):
    _, trace, _ = highway
    cut, ego = trace["cut_in"], trace["ego"]
    assert abs(cut[cut[:, 0] < 2.0][:, 2] - 3.5).max() < 0.05  # left lane before
    settled = cut[(cut[:, 0] > 6.5)]
    assert np.abs(settled[:, 2]).max() < 0.3  # in the ego lane after
    at = np.searchsorted(cut[:, 0], 5.0)
    assert cut[at, 1] > ego[at, 1] + 5.0  # ahead of the ego
    # nobody crashes into anybody in the ego lane
    for other in ("cut_in", "lead"):
        o = trace[other]
        same_lane = np.abs(o[:, 2] - ego[:, 2]) < 1.8
        gaps = (o[:, 1] - ego[:, 1])[same_lane & (o[:, 1] > ego[:, 1])]
        assert gaps.min() > 4.6, other


def test_highway_shoulder_car_is_stationary(highway):
    _, trace, _ = highway
    sh = trace["shoulder"]
    assert np.all(sh[:, 4] == 0.0)
    assert np.ptp(sh[:, 1]) == 0.0 and np.ptp(sh[:, 2]) == 0.0
    assert sh[0, 2] == pytest.approx(-6.2)


def test_intersection_turns_and_ego_waits():
    _, trace, _ = _trace("intersection")
    lt = trace["left_turn"]
    assert abs(math.degrees(lt[0, 3])) == pytest.approx(180.0, abs=1.0)  # westbound
    assert math.degrees(lt[-1, 3]) == pytest.approx(-90.0, abs=5.0)  # southbound after the turn
    rt = trace["right_turn"]
    assert rt[0, 0] >= 8.0  # spawned late
    ego = trace["ego"]
    stopped = ego[(ego[:, 4] < 0.05)]
    assert 1.8 <= stopped[-1, 0] - stopped[0, 0] <= 3.0  # waits ~2 s at the stop line
    assert stopped[:, 1].max() == pytest.approx(-16.0, abs=0.6)
    peds = [n for n in trace if n.startswith("ped_")]
    assert len(peds) == 4
    for n in peds:
        assert trace[n][:, 4].max() < 2.0


def test_plaza_events_cover_each_anomaly_with_the_right_tracks():
    world, trace, events = _trace("plaza")
    by_name = {a.name: a.track_id for a in world.actors}
    got = {e.event_type: e for e in events}
    assert set(got) == set(ANOMALY_TYPES)
    assert len(events) == len(ANOMALY_TYPES)
    assert got["intrusion"].track_ids == (by_name["intruder"],)
    assert got["intrusion"].zone == "restricted"
    assert got["loitering"].track_ids == (by_name["loiterer"],)
    assert got["loitering"].stamp_ns - got["loitering"].start_ns >= 10e9
    assert got["wrong_way"].track_ids == (by_name["wrong_way"],)
    assert got["running"].track_ids == (by_name["runner"],)
    assert got["abandoned_object"].track_ids == (by_name["bag"], by_name["owner"])
    # the events happen where the scenario says: the intruder is inside the zone at its event
    intr = trace["intruder"]
    k = np.argmin(np.abs(intr[:, 0] - got["intrusion"].stamp_ns / 1e9))
    assert 6.0 <= intr[k, 1] <= 14.0 and 18.0 <= intr[k, 2] <= 25.0
    runner = trace["runner"]
    assert runner[:, 4].max() > 4.0
    bag = trace["bag"]
    assert np.ptp(bag[:, 1]) == 0.0 and bag[0, 0] > 5.0  # appears when dropped, never moves
    for e in events:
        assert e.start_ns <= e.stamp_ns <= 30e9


def test_plaza_normal_has_no_events_and_normal_walkers():
    _, trace, events = _trace("plaza_normal")
    assert events == []
    speeds = np.concatenate([t[:, 4] for t in trace.values()])
    assert speeds.max() < 2.1
    walkers = [n for n in trace if n.startswith("walker")]
    assert len(walkers) >= 17
    for n in walkers:  # all walk with the flow (+x), never against it
        tr = trace[n]
        moving = tr[tr[:, 4] > 0.5]
        assert np.all(np.cos(moving[:, 3]) > -0.5), n


def test_same_seed_same_world_and_different_seed_differs():
    a = _trace("plaza", seed=5, seconds=5.0)[1]
    b = _trace("plaza", seed=5, seconds=5.0)[1]
    c = _trace("plaza", seed=6, seconds=5.0)[1]
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(k not in c or not np.array_equal(a[k], c[k]) for k in a)


def test_bad_scenarios_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    for text, match in [
        ("name: x\nactors:\n  - name: a\n    path: [[0, 0]]\n    colour: red\n", r"actors\[0\].*colour"),
        ("name: x\nactors:\n  - name: a\n    cls: spaceship\n    path: [[0, 0]]\n",
         r"actors\[0\]\.cls.*spaceship"),
        ("name: x\nactors:\n  - name: a\n    path: [[0, 0]]\n    anomaly: intrusion\n    zone: nowhere\n",
         r"actors\[0\]\.zone.*nowhere"),
    ]:
        assert_rejects(load_scenario, bad, text, ConfigError, match)
    bad.write_text("name: x\nsensors:\n  lidars: [{name: top}]\n")
    with pytest.raises(ConfigError, match="no ego"):
        load_scenario(bad)
    with pytest.raises(SensorError, match="not a built-in"):
        load_scenario("no_such_scenario")
