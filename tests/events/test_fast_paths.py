"""The fast paths give what the plain computations give: zones tested all at once against shapely,
the windowed velocity against a fit over the whole ring, intrusion rules run together against one
by one, events numbered by the engine, and the quicker message checks refuse what the full ones
refuse."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
import shapely

from bench.events import bench_scene, make_updates
from events.engine import EventEngine
from events.errors import EventsError
from events.geometry import Zone, ZoneIndex
from events.history import TrackHistory
from events.rules_zone import Intrusion
from events.scene import scene_from_dict
from percept.codec import decode
from percept.errors import DecodeError, MessageError
from percept.messages import Event, EventPhase, Severity, Tracks

#: name -> (vertices, whether the zone takes it for an axis-aligned box)
POLYGONS = {
    "box": ([[0.0, 0.0], [4.0, 0.0], [4.0, 2.0], [0.0, 2.0]], True),
    "box_closed_cw": ([[0.0, 0.0], [0.0, 3.0], [5.0, 3.0], [5.0, 0.0], [0.0, 0.0]], True),
    "box_with_a_midpoint": ([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0], [4.0, 2.0], [0.0, 2.0]], False),
    "triangle": ([[0.0, 0.0], [4.0, 0.5], [1.0, 3.0]], False),
    "concave_l": ([[0.0, 0.0], [4.0, 0.0], [4.0, 1.0], [1.0, 1.0], [1.0, 4.0], [0.0, 4.0]], False),
    "rotated_box": ([[2.0, -1.0], [5.0, 2.0], [2.0, 5.0], [-1.0, 2.0]], False),
}


def _points(polygon: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random points around ``polygon`` plus its vertices, points on its edges and NaN."""
    lo, hi = polygon.min(axis=0) - 1.0, polygon.max(axis=0) + 1.0
    edges = [a + t * (b - a) for a, b in zip(polygon, np.roll(polygon, -1, axis=0), strict=True)
             for t in (0.0, 0.25, 0.5, 1 / 3)]
    grid = np.stack(np.meshgrid(np.arange(-1.0, 6.5, 0.5), np.arange(-1.0, 6.5, 0.5)), axis=-1).reshape(-1, 2)
    return np.concatenate([rng.uniform(lo, hi, (2000, 2)), polygon, np.array(edges), grid,
                           [[np.nan, 1.0], [1.0, np.nan], [np.inf, 1.0]]])


@pytest.mark.parametrize("name", sorted(POLYGONS))
def test_zone_contains_is_shapely_contains_xy(name: str) -> None:
    polygon = np.array(POLYGONS[name][0])
    zone = Zone(name, polygon)
    assert zone.is_box == POLYGONS[name][1]
    pts = _points(polygon, np.random.default_rng(1))
    expected = shapely.contains_xy(shapely.Polygon(polygon), pts[:, 0], pts[:, 1])
    assert zone.contains(pts).tolist() == expected.tolist()


def test_zone_index_tests_every_zone_at_once_like_each_zone() -> None:
    zones = [Zone(n, np.array(p)) for n, (p, _) in POLYGONS.items()]
    pts = np.concatenate([_points(z.polygon, np.random.default_rng(i)) for i, z in enumerate(zones)])
    got = ZoneIndex(zones).contains(pts)
    assert list(got) == [z.name for z in zones]
    for z in zones:
        assert got[z.name].tolist() == z.contains(pts).tolist()
    assert ZoneIndex([]).contains(pts) == {}
    with pytest.raises(EventsError, match="zone names repeat"):
        ZoneIndex([zones[0], Zone(zones[0].name, zones[1].polygon)])


def _velocity_over_the_ring(h: TrackHistory, t: float, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The windowed least-squares velocity over all ``length`` columns (the plain computation)."""
    T = h.t[slots]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = t - h.window_s <= T
        n = np.maximum(m.sum(axis=1), 1)
        dt = np.where(m, T - (np.where(m, T, 0.0).sum(axis=1) / n)[:, None], 0.0)
        P = np.where(m[:, :, None], h.xy[slots], 0.0)
        den = (dt * dt).sum(axis=1)
        vel = np.where(den[:, None] > 0, np.einsum("nl,nlk->nk", dt, P) / den[:, None], 0.0)
        span = np.where(m, T, -np.inf).max(axis=1) - np.where(m, T, np.inf).min(axis=1)
    ok = (span >= h.min_span_s) & np.all(np.isfinite(vel), axis=1)
    return np.where(ok[:, None], vel, 0.0), ok


@pytest.mark.parametrize("rate_hz", [5.0, 10.0, 25.0, 60.0])  # 60 Hz: the window holds more than 48 samples
def test_windowed_velocity_is_the_fit_over_the_whole_ring(rate_hz: float) -> None:
    rng = np.random.default_rng(int(rate_hz))
    h = TrackHistory(length=48, window_s=1.0, min_span_s=0.3, capacity=4)
    ids = np.arange(1, 9)
    slots, _ = h.slots(ids)
    for k in range(150):  # wraps the ring; tracks skip updates at random, one only starts late
        t = k / rate_hz
        seen = np.nonzero((rng.random(len(ids)) < 0.8) & ((ids != 8) | (k > 120)))[0]
        h.record(t, slots[seen], rng.normal(0.0, 5.0, (len(seen), 2)) + t, np.ones(len(seen)))
        want_vel, want_ok = _velocity_over_the_ring(h, t, slots)
        speed_before = h.speed.copy()
        vel, ok = h.velocity(t, slots)
        assert ok.tolist() == want_ok.tolist()
        np.testing.assert_allclose(vel, want_vel, rtol=1e-9, atol=1e-9)
        newest = (h.head[slots] - 1) % h.length
        changed = np.argwhere(~((h.speed == speed_before) | (np.isnan(h.speed) & np.isnan(speed_before))))
        assert {(int(s), int(c)) for s, c in changed} <= {(int(s), int(c)) for s, c in zip(slots, newest,
                                                                                            strict=True)}


def _some_rows(msg: Tracks, rng: np.random.Generator) -> Tracks:
    """``msg`` without a random tenth of its rows, and with the ids of another tenth changed (so
    slots are freed, taken and grown)."""
    keep = rng.random(len(msg)) > 0.1
    ids = np.where(rng.random(len(msg)) < 0.1, msg.track_id + 1000, msg.track_id)[keep]
    return msg.replace(track_id=ids, class_id=msg.class_id[keep], confidence=msg.confidence[keep],
                       state=msg.state[keep], age=msg.age[keep], status=msg.status[keep],
                       sensors=msg.sensors[keep])


def test_intrusion_rules_run_together_as_one_by_one() -> None:
    scene = scene_from_dict(bench_scene(), "bench")
    one, together = EventEngine(scene), EventEngine(scene)
    rng = np.random.default_rng(4)
    for msg in make_updates(120, 80, seed=4):
        msg = _some_rows(msg, rng)
        frames = [eng._frame(msg, eng.locator.locate(msg)) for eng in (one, together)]
        rules = [[r for r in eng.rules if isinstance(r, Intrusion)] for eng in (one, together)]
        assert len(rules[0]) == 8
        assert Intrusion.evaluate_all(rules[1], frames[1]) == [r.evaluate(frames[0]) for r in rules[0]]
        for a, b in zip(*rules, strict=True):
            assert np.array_equal(a.state.since, b.state.since, equal_nan=True)
        for eng, f in zip((one, together), frames, strict=True):
            eng.history.forget(f.t, [])


def test_events_are_numbered_by_the_engine() -> None:
    scene = scene_from_dict(bench_scene(), "bench")
    plain, numbered = EventEngine(scene), EventEngine(scene)
    seq = 100
    for msg in make_updates(60, 60, seed=2):
        want = plain.update(msg)
        got = numbered.update(msg, seq=seq)
        assert [e.seq for e in want] == [0] * len(want)
        assert [e.seq for e in got] == list(range(seq, seq + len(got)))
        assert [e.replace(seq=0) for e in got] == want
        seq += len(got)
    assert seq > 150  # some events were numbered


@pytest.mark.parametrize("dtype", ["<f4", "=f4", np.float32])
def test_array_check_takes_equal_dtypes_at_once(dtype: object) -> None:
    msg = make_updates(3, 1)[0]
    assert msg.replace(state=msg.state.astype(dtype)).state.dtype == np.float32


@pytest.mark.parametrize(("dtype", "problem"), [(">f4", "expected dtype in"), (">i4", "expected dtype in"),
                                                ("<f2", "expected dtype in")])
def test_array_check_still_refuses_other_dtypes(dtype: str, problem: str) -> None:
    msg = make_updates(3, 1)[0]
    with pytest.raises(MessageError, match=problem):
        msg.replace(state=msg.state.astype(dtype))


@pytest.mark.parametrize(("field", "value", "ok"), [
    ("severity", "warning", True), ("severity", Severity.INFO, True), ("severity", "Warning", False),
    ("severity", 1, False), ("severity", ["info"], False), ("phase", EventPhase.END, True),
    ("phase", "update", True), ("phase", b"end", False)])
def test_event_enums_take_values_and_members_only(field: str, value: object, ok: bool) -> None:
    if ok:
        ev = Event(stamp_ns=1, frame_id="", event_type="x", **{field: value})
        assert type(getattr(ev, field)) is str and getattr(ev, field) == str(value)
    else:
        with pytest.raises(MessageError, match=f"Event.{field}: expected one of"):
            Event(stamp_ns=1, frame_id="", event_type="x", **{field: value})


@pytest.mark.parametrize(("kind_field", "value", "problem"), [
    ("seq", True, "expected int, got bool"), ("stamp_ns", 1.5, "expected int, got float"),
    ("frame_id", 3, "expected str, got int")])
def test_decoded_scalars_of_the_wrong_type_are_refused(kind_field: str, value: object, problem: str) -> None:
    ev = Event(stamp_ns=1, frame_id="f", event_type="x")
    topic, header = ev.to_frames("events/x")
    h = msgpack.unpackb(header)
    h["h"][kind_field] = value
    with pytest.raises(DecodeError, match=problem):
        decode([topic, msgpack.packb(h)])
