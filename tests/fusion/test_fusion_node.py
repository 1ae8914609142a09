"""The ``fusion`` node under LocalRunner: world and ego tracks, bad input counted, never fatal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.fusion_node import FusionNode, FusionNodeConfig
from percept.config import build
from percept.errors import ConfigError, MessageError
from percept.messages import Detections3D, Pose, RadarScan, Tracks
from percept.node import LocalRunner, make_processor

STEP = 100_000_000
CONFIG = {
    "inputs": {"lidar/objects": "lidar", "radar/front/scan": "radar"},
    "frames": {
        "lidar": {"parent": "ego", "translation": [1.0, 0.0, 1.8]},
        "radar": {"parent": "ego", "translation": [3.5, 0.0, 0.5]},
    },
    "tracker": {
        "sensors": {"lidar": {"latency_s": 0.05}, "radar": {"kind": "radar", "latency_s": 0.05}},
        "classes": {"car": {"min_hits": 1}},
    },
}


def _pose(k: int) -> Pose:
    a = 0.02 * k
    return Pose(
        stamp_ns=k * STEP,
        frame_id="world",
        child_frame_id="ego",
        translation=[1.5 * k, 0.0, 0.0],
        rotation=[0.0, 0.0, math.sin(a / 2), math.cos(a / 2)],
    )


def _boxes(k: int, centre, size=(4.0, 1.8, 1.5), frame: str = "lidar") -> Detections3D:
    return Detections3D(
        stamp_ns=k * STEP,
        frame_id=frame,
        centre=np.array([centre], np.float32),
        size=np.array([size], np.float32),
        yaw=np.zeros(1, np.float32),
        class_id=np.zeros(1, np.int32),
        confidence=np.ones(1, np.float32),
        class_names=("car",),
    )


def test_node_publishes_world_and_ego_tracks_and_counts_bad_input() -> None:
    runner = LocalRunner(make_processor("fusion.fusion_node:FusionNode", CONFIG, "nodes[0].config"))
    node: FusionNode = runner.processor
    out = []
    for k in range(12):
        runner.feed("ego/pose", _pose(k), at_ns=k * STEP)
        T = node.ego.fixed_from("lidar", k * STEP).inverse()
        seen = T.apply(np.array([[30.0, 2.0, 0.75]]))[0]
        out += runner.feed("lidar/objects", _boxes(k, seen), at_ns=k * STEP + 1)
    runner.feed("lidar/objects", _boxes(12, [5, 0, 0], size=(0.0, 1.0, 1.0)), at_ns=12 * STEP)  # zero size
    runner.feed("lidar/objects", _boxes(13, [5, 0, 0], frame="mars"), at_ns=13 * STEP)  # unknown frame
    runner.feed("lidar/objects", _boxes(2, [5, 0, 0]), at_ns=14 * STEP)  # clock jump back beyond window
    runner.feed(
        "ego/pose",
        Pose(
            stamp_ns=0, frame_id="odom", child_frame_id="ego", translation=[0, 0, 0], rotation=[0, 0, 0, 1.0]
        ),
    )
    runner.feed("other/topic", _pose(3))
    runner.advance_to(20 * STEP)
    counts = node.counts
    assert counts["invalid"] == 1 and counts["skipped"] >= 1 and counts["late"] == 1
    assert counts["bad_pose"] == 1 and counts["unknown_topic"] == 1
    world = [m for t, m in runner.outputs if t == "fusion/tracks/world"]
    ego = [m for t, m in runner.outputs if t == "fusion/tracks/ego"]
    assert world and ego and all(isinstance(m, Tracks) for m in world + ego)
    last = [m for m in world if len(m)][-1]
    assert last.frame_id == "world" and np.allclose(last.state[0, :3], [30.0, 2.0, 0.75], atol=0.1)
    assert np.linalg.norm(last.state[0, 7:9]) < 0.5  # parked: no speed from the ego's own motion
    assert [m.seq for m in world] == list(range(len(world)))
    runner.close()


def test_radar_scan_updates_tracks_in_the_node() -> None:
    runner = LocalRunner(FusionNode(build(FusionNodeConfig, CONFIG)))
    for k in range(3):
        runner.feed("ego/pose", _pose(k), at_ns=k * STEP)
    node: FusionNode = runner.processor
    T = node.ego.fixed_from("lidar", STEP).inverse()
    runner.feed("lidar/objects", _boxes(1, T.apply(np.array([[30.0, 2.0, 0.75]]))[0]), at_ns=STEP)
    rel = np.array([30.0, 2.0, 0.75]) - node.ego.fixed_from("radar", 2 * STEP).translation
    f4 = np.float32
    scan = RadarScan(
        stamp_ns=2 * STEP,
        frame_id="radar",
        range_m=np.array([np.linalg.norm(rel)], f4),
        azimuth_rad=np.array([math.atan2(rel[1], rel[0]) - 0.04], f4),
        range_rate_mps=np.array([-15.0], f4),
        rcs_dbsm=np.array([5.0], f4),
    )
    out = runner.feed("radar/front/scan", scan, at_ns=2 * STEP)
    runner.advance_to(3 * STEP)
    world = [m for t, m in runner.outputs if t == "fusion/tracks/world" and len(m)]
    assert world[-1].sensors[0] == 0b11 and world[-1].sensor_names == ("lidar", "radar")
    assert out == [] or all(isinstance(m, Tracks) for _, m in out)


def test_bad_configuration_is_refused_with_the_key() -> None:
    with pytest.raises(ConfigError, match="inputs"):
        build(FusionNodeConfig, {"inputs": {}}, "nodes[0].config")
    for key in ("release_period_s", "buffer_capacity", "max_future_s"):
        message = rf"nodes\[0\]\.config: FusionNodeConfig\.{key}: expected a finite number > 0, got 0"
        with pytest.raises(ConfigError, match=message):
            build(FusionNodeConfig, {**CONFIG, key: 0}, "nodes[0].config")
    bad = {**CONFIG, "frames": {"lidar": {"parent": "ego", "rotation": [0, 0, 0, 2.0]}}}
    with pytest.raises(ConfigError, match=r"frames\.lidar"):
        build(FusionNodeConfig, bad, "nodes[0].config")
    with pytest.raises(MessageError, match="finite"):
        Pose(
            stamp_ns=0,
            frame_id="world",
            child_frame_id="ego",
            translation=[np.nan, 0, 0],
            rotation=[0, 0, 0, 1],
        )
    assert issubclass(TrackingError, ValueError)


def _nan_pose(k: int) -> Pose:
    """A pose whose values turned NaN after decoding (the message refuses NaN when built)."""
    pose = _pose(k)
    object.__setattr__(pose, "translation", np.array([np.nan, 0.0, 0.0]))
    return pose


def test_bad_input_is_a_counted_skip_and_tracking_goes_on() -> None:
    runner = LocalRunner(FusionNode(build(FusionNodeConfig, CONFIG)))
    node: FusionNode = runner.processor
    car = np.array([30.0, 2.0, 0.75])

    def seen(k: int, at_ns: int | None = None, **kw) -> None:
        T = node.ego.fixed_from("lidar", k * STEP).inverse()
        runner.feed("lidar/objects", _boxes(k, T.apply(car[None])[0], **kw), at_ns=at_ns or k * STEP + 1)

    for k in range(4):
        runner.feed("ego/pose", _pose(k), at_ns=k * STEP)
        seen(k)
    runner.feed("ego/pose", _nan_pose(4), at_ns=4 * STEP)  # NaN pose
    runner.feed("ego/pose", _pose(4), at_ns=4 * STEP)
    seen(4, size=(0.0, 1.8, 1.5))  # zero-size box
    runner.feed("lidar/objects", _boxes(5, [5, 0, 0], frame="mars"), at_ns=5 * STEP)  # unreachable frame
    runner.feed("lidar/objects", _boxes(5 + 36_000, [5, 0, 0]), at_ns=5 * STEP + 2)  # clock jump: 1 h ahead
    runner.feed("ego/pose", _pose(5 + 36_000), at_ns=5 * STEP + 3)  # ... and a pose there
    for k in range(5, 10):
        runner.feed("ego/pose", _pose(k), at_ns=k * STEP)
        seen(k)
    runner.feed("lidar/objects", _boxes(1, [5, 0, 0]), at_ns=10 * STEP)  # clock jump back beyond the window
    runner.advance_to(11 * STEP)
    counts = node.counts
    assert counts["bad_pose"] == 1 and counts["invalid"] == 1 and counts["skipped"] == 1
    assert counts["clock_jump"] == 2 and counts["late"] == 1
    world = [m for t, m in runner.outputs if t == "fusion/tracks/world"]
    last = world[-1]  # the car is still tracked, in place, after every bad message
    assert last.stamp_ns == 9 * STEP and len(last) == 1
    assert np.allclose(last.state[0, :3], car, atol=0.15) and np.linalg.norm(last.state[0, 7:9]) < 0.5
    assert len(node.ego) == 10  # neither the NaN pose nor the one an hour ahead went in
    runner.close()


def test_frame_time_offset_moves_stamps_onto_the_node_clock() -> None:
    frames = {**CONFIG["frames"], "radar": {**CONFIG["frames"]["radar"], "time_offset_s": -0.003}}
    cfg = build(FusionNodeConfig, {**CONFIG, "frames": frames})
    assert cfg.offsets_ns() == {"radar": -3_000_000}
    runner = LocalRunner(FusionNode(cfg))
    node: FusionNode = runner.processor
    runner.feed("ego/pose", _pose(0), at_ns=0)
    runner.feed("ego/pose", _pose(1), at_ns=STEP)
    f4 = np.float32
    scan = RadarScan(stamp_ns=STEP + 3_000_000, frame_id="radar", range_m=np.array([20.0], f4),
                     azimuth_rad=np.zeros(1, f4), range_rate_mps=np.zeros(1, f4), rcs_dbsm=np.zeros(1, f4))
    runner.feed("radar/front/scan", scan, at_ns=STEP + 4_000_000)
    runner.close()
    assert node.tracker.t_ns == STEP  # fused at the radar stamp moved by its clock offset
    with pytest.raises(ConfigError, match=r"frames\.radar.*time_offset_s"):
        build(FusionNodeConfig, {**CONFIG, "frames": {"radar": {"parent": "ego", "time_offset_s": math.nan}}})


def test_tracker_file_and_subscriptions(tmp_path) -> None:
    from pathlib import Path

    sim = Path(__file__).parents[2] / "configs" / "trackers" / "sim-fusion.yaml"
    cfg = build(FusionNodeConfig, {"inputs": {"lidar/top/objects": "lidar"}, "tracker_file": str(sim)})
    assert cfg.tracker.sensors["camera"].camera_model == "box" and "vehicle" in cfg.tracker.classes
    assert FusionNode.extra_subscriptions(cfg) == ("lidar/top/objects", "ego/pose")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sensors:\n  radar:\n    kind: radar\n    reflection: sideways\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*reflection"):
        build(FusionNodeConfig, {"inputs": {"x": "radar"}, "tracker_file": str(bad)}, "nodes[0].config")
