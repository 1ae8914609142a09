"""Event lifecycle: start / update / end, cooldown, id-switch de-duplication, evidence, snapshots."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from events.engine import EventEngine
from events.lifecycle import LifecycleConfig, snapshot_jpeg
from percept.messages import TrackStatus
from tests.events.scripted import SQUARE, run, scene, starts, straight, timeline, tracks_2d, tracks_3d

ZONE = {"z": {"polygon": SQUARE}}
INTRUSION = [{"type": "intrusion", "zone": "z", "min_dwell_s": 0.0}]


def _engine(**lifecycle) -> EventEngine:
    return EventEngine(scene(INTRUSION, ZONE, lifecycle=lifecycle))


def _in_out(*spans: tuple[float, float]):
    """Inside the zone during the given (from, to) spans, outside otherwise."""
    return lambda t: (5.0, 5.0) if any(a <= t < b for a, b in spans) else (20.0, 5.0)


def test_flicker_shorter_than_end_after_is_one_event() -> None:
    eng = _engine(end_after_s=1.0, update_every_s=0.0)
    events = run(eng, timeline({1: _in_out((1.0, 3.0), (3.5, 5.0), (5.6, 6.0))}, 10.0))
    assert [(e.phase, round(e.stamp_ns / 1e9, 1)) for e in events] == [("start", 1.0), ("end", 6.9)]
    assert events[1].evidence["duration_s"] == pytest.approx(4.9)
    assert eng.lifecycle.stats.started == 1 and eng.lifecycle.stats.ended == 1


def test_cooldown_suppresses_a_restart_then_lets_a_new_event_through() -> None:
    eng = _engine(end_after_s=0.5, update_every_s=0.0, cooldown_s=3.0)
    events = run(eng, timeline({1: _in_out((1.0, 2.0), (3.0, 4.0), (6.0, 7.0))}, 10.0))
    # 3.0 s re-entry is 1.5 s after the end at 2.4 s: suppressed; 6.0 s is 3.6 s after it: a new event
    assert [(e.phase, round(e.stamp_ns / 1e9, 1)) for e in events] == [
        ("start", 1.0), ("end", 2.4), ("start", 6.0), ("end", 7.4)]
    assert [e.event_id for e in events] == ["test-intrusion-1"] * 2 + ["test-intrusion-2"] * 2
    assert eng.lifecycle.stats.suppressed == 10  # the hits of 3.0 .. 3.9 s


def test_rule_cooldown_overrides_the_scene_default() -> None:
    rules = [{**INTRUSION[0], "cooldown_s": 0.0}]
    eng = EventEngine(scene(rules, ZONE, lifecycle={"end_after_s": 0.5, "cooldown_s": 30.0}))
    assert len(starts(run(eng, timeline({1: _in_out((1.0, 2.0), (3.0, 4.0))}, 6.0)))) == 2


def test_updates_are_rate_limited_and_carry_duration() -> None:
    events = run(_engine(update_every_s=2.0), timeline({1: _in_out((0.0, 7.05))}, 7.0))
    assert [(e.phase, round(e.stamp_ns / 1e9, 1)) for e in events] == [
        ("start", 0.0), ("update", 2.0), ("update", 4.0), ("update", 6.0)]
    assert events[2].evidence["duration_s"] == pytest.approx(4.0)


def test_track_id_switch_continues_the_live_event() -> None:
    """The tracker loses track 1 and starts track 2 at the same spot: still one event."""
    eng = _engine(end_after_s=1.0, update_every_s=0.0, dedup_radius=1.0)
    paths = {1: straight((5.0, 5.0), (0.1, 0.0), 0.0, 3.0), 2: straight((5.35, 5.0), (0.1, 0.0), 3.5, 8.0)}
    events = run(eng, timeline(paths, 12.0))
    assert [(e.phase, e.track_ids) for e in events] == [("start", (1,)), ("end", (2,))]
    assert eng.lifecycle.stats.merged == 1
    far = _engine(end_after_s=1.0, update_every_s=0.0, dedup_radius=1.0)
    paths[2] = straight((8.0, 8.0), (0.1, 0.0), 3.5, 8.0)  # another person elsewhere: its own event
    assert [e.track_ids for e in starts(run(far, timeline(paths, 12.0)))] == [(1,), (2,)]


def test_id_switch_after_the_end_is_suppressed_by_the_cooldown() -> None:
    eng = _engine(end_after_s=0.5, update_every_s=0.0, cooldown_s=5.0, dedup_radius=1.0)
    paths = {1: straight((5.0, 5.0), (0.0, 0.0), 0.0, 2.0), 2: straight((5.2, 5.0), (0.0, 0.0), 4.0, 6.0)}
    assert [e.phase for e in run(eng, timeline(paths, 8.0))] == ["start", "end"]
    assert eng.lifecycle.stats.suppressed > 0


def test_removed_track_ends_its_event_at_once() -> None:
    eng = _engine(end_after_s=5.0)
    msgs = timeline({1: _in_out((0.0, 9.9))}, 1.0)
    msgs.append(tracks_3d(1.1, [(1, 5.0, 5.0, {"status": TrackStatus.REMOVED})]))
    events = run(eng, msgs)
    assert [e.phase for e in events] == ["start", "update", "end"] and events[-1].stamp_ns == 1_100_000_000
    assert 1 not in eng.history.slot_of


def test_evidence_has_the_track_history() -> None:
    (ev,) = starts(run(_engine(), timeline({1: straight((4.0, 5.0), (1.0, 0.0))}, 1.0)))
    assert ev.evidence["rule"] == "intrusion" and ev.evidence["start_ns"] == 0
    assert ev.evidence["x"] == pytest.approx(4.0) and ev.evidence["sigma"] == 0.0
    assert ev.evidence["history"] == "0.00:4.00:5.00" and "intrusion start: track(s) [1] in z" in ev.text
    later = [e for e in run(_engine(update_every_s=0.5), timeline({1: straight((4.0, 5.0), (1.0, 0.0))}, 1.0))
             if e.phase == "update"][-1]
    samples = later.evidence["history"].split()
    assert len(samples) == 8 and samples[-1] == "0.00:5.00:5.00" and samples[0] == "-0.70:4.30:5.00"


def test_snapshot_is_a_jpeg_crop_of_the_box() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    image[200:300, 300:340] = (0, 0, 255)  # a red person-sized box
    whole = {"z": {"polygon": [[0, 0], [640, 0], [640, 480], [0, 480]]}}
    eng = EventEngine(scene(INTRUSION, whole, frame="image"))
    (ev,) = eng.update(tracks_2d(0.0, [(1, [300.0, 200.0, 340.0, 300.0])]), image=image)
    crop = cv2.imdecode(ev.snapshot, cv2.IMREAD_COLOR)
    assert crop.shape[:2] == (140, 56)  # the box grown by 20 % each side
    assert crop[70, 28].tolist() == pytest.approx([0, 0, 255], abs=8)
    assert eng.update(tracks_2d(0.1, [(1, [300.0, 200.0, 340.0, 300.0])]), image=image) == []
    big = snapshot_jpeg(np.zeros((1000, 2000, 3), np.uint8), None, 80, 320)
    assert cv2.imdecode(big, cv2.IMREAD_COLOR).shape[:2] == (160, 320)
    no_image = EventEngine(scene(INTRUSION, ZONE)).update(tracks_3d(0.0, [(1, 5.0, 5.0)]))
    assert no_image[0].snapshot.size == 0


def test_lifecycle_config_validation() -> None:
    with pytest.raises(ValueError, match="cooldown_s: expected >= 0"):
        LifecycleConfig(cooldown_s=-1.0)
    with pytest.raises(ValueError, match=r"snapshot_quality: expected 1\.\.100"):
        LifecycleConfig(snapshot_quality=0)
