"""SimSource as a node: determinism, wire encoding, topics, latencies; the ``percept sim`` command."""

from __future__ import annotations

import argparse
import threading
from collections import Counter

import numpy as np
import pytest

from percept.bus import Subscriber
from percept.codec import decode, encode
from percept.messages import Detections2D, Event, Image, PointCloud, Pose, RadarScan, Tracks
from percept.node import LocalRunner
from sensors.cli import register
from sensors.sim.source import SimSource, SimSourceConfig
from tests.cli_parser import percept_parser


def _run(scenario: str, seed: int, seconds: float, **kw) -> tuple[SimSource, list, list[int]]:
    """Outputs of a LocalRunner run and, per output, the virtual time it was published at."""
    src = SimSource(SimSourceConfig(scenario=scenario, seed=seed, duration_s=seconds, **kw))
    runner = LocalRunner(src)
    times: list[int] = []
    t = 0
    while not src.finished:
        t += 10_000_000
        runner.advance_to(t)
        times += [t] * (len(runner.outputs) - len(times))
    return src, runner.outputs, times


def _wire(outputs: list) -> list[bytes]:
    return [b"".join(bytes(f) for f in encode(topic, msg)) for topic, msg in outputs]


@pytest.fixture(scope="module")
def highway():
    return _run("highway", 7, 2.0)


def test_same_seed_gives_byte_identical_messages(highway):
    _, out_a, _ = highway
    _, out_b, _ = _run("highway", 7, 2.0)
    assert _wire(out_a) == _wire(out_b)
    _, out_c, _ = _run("highway", 8, 2.0)
    assert [t for t, _ in out_a] == [t for t, _ in out_c]  # same schedule ...
    assert _wire(out_a) != _wire(out_c)  # ... different noise


def test_plaza_is_deterministic_too():
    a = _wire(_run("plaza", 3, 1.5)[1])
    assert a == _wire(_run("plaza", 3, 1.5)[1])
    assert a != _wire(_run("plaza", 4, 1.5)[1])


def test_every_message_round_trips_through_the_codec(highway):
    _, outputs, _ = highway
    for topic, msg in outputs:
        env = decode(encode(topic, msg))
        assert env.topic == topic
        assert env.msg == msg


def test_topics_rates_frames_and_sequence_numbers(highway):
    src, outputs, _ = highway
    counts = Counter(t for t, _ in outputs)
    assert counts == {"camera/front/image": 20, "camera/front/detections": 20, "gt/camera/front/boxes": 20,
                      "lidar/top/points": 20, "radar/front/scan": 40, "gt/tracks/world": 20,
                      "gt/tracks/ego": 20, "gt/ego": 20, "ego/pose": 40}
    frames = {"camera/front/image": "camera_front", "lidar/top/points": "lidar_top",
              "radar/front/scan": "radar_front", "gt/tracks/world": "world", "gt/tracks/ego": "ego",
              "ego/pose": "world"}
    kinds = {"camera/front/image": Image, "lidar/top/points": PointCloud, "radar/front/scan": RadarScan,
             "gt/tracks/world": Tracks, "camera/front/detections": Detections2D, "ego/pose": Pose}
    for topic in counts:
        msgs = [m for t, m in outputs if t == topic]
        assert [m.seq for m in msgs] == list(range(len(msgs)))
        assert all(np.diff([m.stamp_ns for m in msgs]) > 0)
        if topic in frames:
            assert {m.frame_id for m in msgs} == {frames[topic]}
        if topic in kinds:
            assert all(isinstance(m, kinds[topic]) for m in msgs)
    radar = [m for t, m in outputs if t == "radar/front/scan"]
    assert radar[0].stamp_ns == 50_000_000 + 3_000_000  # 20 Hz, clock 3 ms ahead
    assert src.frame_tree().time_offset_ns("radar_front") == -3_000_000
    world = [m for t, m in outputs if t == "gt/tracks/world"][-1]
    assert world.state_fields == ("x", "y", "z", "vx", "vy", "yaw", "l", "w", "h")
    assert len(world) == 6


def test_gt_tracks_in_ego_frame_are_the_world_tracks_moved(highway):
    _, outputs, _ = highway
    world = [m for t, m in outputs if t == "gt/tracks/world"][-1]
    ego_frame = [m for t, m in outputs if t == "gt/tracks/ego"][-1]
    ego = [m for t, m in outputs if t == "gt/ego"][-1]
    assert np.array_equal(world.track_id, ego_frame.track_id)
    ex, ey, eyaw = ego.state[0, 0], ego.state[0, 1], ego.state[0, 5]
    c, s = np.cos(eyaw), np.sin(eyaw)
    dx, dy = world.state[:, 0] - ex, world.state[:, 1] - ey
    np.testing.assert_allclose(ego_frame.state[:, 0], c * dx + s * dy, atol=1e-3)
    np.testing.assert_allclose(ego_frame.state[:, 1], -s * dx + c * dy, atol=1e-3)


def test_ego_pose_is_the_ego_odometry_at_every_sensor_stamp(highway):
    src, outputs, times = highway
    poses = [(m, at) for (t, m), at in zip(outputs, times, strict=True) if t == "ego/pose"]
    assert all(m.frame_id == "world" and m.child_frame_id == "ego" for m, _ in poses)
    by_stamp = {m.stamp_ns: m for m, _ in poses}
    for ego in (m for t, m in outputs if t == "gt/ego"):  # the pose is the ground-truth ego state
        pose = by_stamp[ego.stamp_ns]
        x, y, yaw = ego.state[0, 0], ego.state[0, 1], ego.state[0, 5]
        np.testing.assert_allclose(pose.translation, [x, y, 0.0], atol=1e-4)
        np.testing.assert_allclose(pose.rotation, [0, 0, np.sin(yaw / 2), np.cos(yaw / 2)], atol=1e-6)
    offset = src.frame_tree().time_offset_ns("radar_front")
    first_at = {}
    for (topic, msg), at in zip(outputs, times, strict=True):
        first_at.setdefault((topic, msg.stamp_ns), at)
        if topic.split("/")[0] in ("lidar", "radar", "camera"):
            stamp = msg.stamp_ns + (offset if topic.startswith("radar/") else 0)
            assert stamp in by_stamp  # a pose sample at every capture time ...
            index = outputs.index((topic, msg))
            assert outputs.index(("ego/pose", by_stamp[stamp])) < index  # ... published before it


def test_radar_targets_carry_the_compensated_radial_velocity(highway):
    _, outputs, _ = highway
    ego = {m.stamp_ns: m.state[0] for t, m in outputs if t == "gt/ego"}
    scans = [m for t, m in outputs if t == "radar/front/scan"]
    assert all(m.extra_fields == ("v_r_compensated",) for m in scans)
    for scan in scans:
        e = ego.get(scan.stamp_ns - 3_000_000)
        if e is None:
            continue
        los = np.stack([np.cos(scan.azimuth_rad), np.sin(scan.azimuth_rad)], axis=1)  # ego drives along +x
        v_ego_along_los = los @ np.array([e[3], e[4]])
        np.testing.assert_allclose(scan.extra[:, 0], scan.range_rate_mps + v_ego_along_los, atol=1e-3)


def test_scenarios_without_ego_publish_no_pose():
    _, outputs, _ = _run("plaza", 0, 0.5, images=False)
    assert outputs and not any(t == "ego/pose" for t, _ in outputs)


def test_detections_are_stamped_at_capture_and_published_after_their_latency(highway):
    _, outputs, times = highway
    images = {m.stamp_ns for t, m in outputs if t == "camera/front/image"}
    for (topic, msg), at in zip(outputs, times, strict=True):
        if topic != "camera/front/detections":
            continue
        assert msg.stamp_ns in images
        assert 20_000_000 <= msg.latency_ns <= 70_000_000
        assert at == msg.stamp_ns + msg.latency_ns


def test_plaza_publishes_each_scripted_event():
    _, outputs, _ = _run("plaza", 0, 30.0, images=False, gt_rate_hz=1.0, camera_rate_hz=2.0)
    events = [m for t, m in outputs if t == "gt/events"]
    assert all(isinstance(e, Event) and e.frame_id == "world" for e in events)
    assert sorted(e.event_type for e in events) == sorted(
        ["intrusion", "loitering", "wrong_way", "abandoned_object", "running"])
    intrusion = next(e for e in events if e.event_type == "intrusion")
    assert intrusion.zone == "restricted" and len(intrusion.track_ids) == 1
    tracks = [m for t, m in outputs if t == "gt/tracks/world"]
    assert intrusion.track_ids[0] in set(np.concatenate([m.track_id for m in tracks]).tolist())
    assert not any(t.startswith("camera/cctv/image") for t, _ in outputs)
    for e in events:
        assert e.evidence["start_ns"] <= e.stamp_ns
        assert decode(encode("gt/events", e)).msg == e


def _parse(argv: list[str]) -> argparse.Namespace:
    return percept_parser(register).parse_args(argv)


@pytest.mark.parametrize("rate", ["max", "4.0"])
def test_sim_command_publishes_on_the_bus(short_tmp, rate):
    endpoint = f"ipc://{short_tmp}/sim.sock"
    args = _parse(["sim", "plaza", "--seed", "2", "--duration", "1.0", "--rate", rate,
                   "--endpoint", endpoint, "--wait-subscribers", "5"])
    sub = Subscriber([endpoint], ("gt/", "camera/"), policy="reliable", hwm=10000)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(args.func(args)))
    thread.start()
    got: Counter[str] = Counter()
    try:
        while thread.is_alive() or got.total() == 0:
            env = sub.recv(timeout=0.5)
            if env is None and not thread.is_alive():
                break
            if env is not None:
                got[env.topic] += 1
    finally:
        thread.join(timeout=20)
        sub.close()
    assert result == [0]
    assert got["gt/tracks/world"] >= 5
    assert got["camera/cctv/image"] >= 5


def test_sim_command_prints_a_per_topic_summary(short_tmp, capsys):
    """The summary's counts are what a subscriber received; its rates those of the stamps."""
    endpoint = f"ipc://{short_tmp}/sum.sock"
    args = _parse(["sim", "highway", "--duration", "1.0", "--rate", "max", "--endpoint", endpoint,
                   "--wait-subscribers", "5"])
    stamps: dict[str, list[int]] = {}
    with Subscriber([endpoint], ("",), policy="reliable", hwm=10000) as sub:
        thread = threading.Thread(target=args.func, args=(args,))
        thread.start()
        while (env := sub.recv(timeout=1.0)) is not None or thread.is_alive():
            if env is not None:
                stamps.setdefault(env.topic, []).append(env.msg.stamp_ns)
        thread.join(timeout=20)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["topic", "schema", "msgs", "rate", "Hz"]
    rows = {r.split()[0]: r.split() for r in lines[1:-1]}
    assert set(rows) == set(stamps) and len(rows) >= 5
    for topic, got in stamps.items():
        assert int(rows[topic][2]) == len(got)
        assert float(rows[topic][3]) == pytest.approx((len(got) - 1) * 1e9 / (got[-1] - got[0]), abs=0.05)
    assert lines[-1].startswith(f"{sum(map(len, stamps.values()))} messages on {len(stamps)} topics, 1.0 s")


def test_sim_command_rejects_a_bad_rate(short_tmp):
    from percept.errors import ConfigError

    args = _parse(["sim", "plaza", "--rate", "fast", "--endpoint", f"ipc://{short_tmp}/x.sock"])
    with pytest.raises(ConfigError, match="--rate"):
        args.func(args)


def test_sim_command_default_endpoint_writes_a_manifest(short_tmp, monkeypatch):
    from percept.graph import Manifest

    monkeypatch.setenv("PERCEPT_RUN_DIR", str(short_tmp))
    args = _parse(["sim", "highway", "--duration", "0.3", "--rate", "max"])
    assert args.func(args) == 0
    manifest = Manifest.read(short_tmp / "sim")
    assert manifest.endpoints == [f"ipc://{short_tmp / 'sim' / 'sim.sock'}"]


def test_the_simulation_ends_the_node_stream_when_its_duration_is_over():
    src = SimSource(SimSourceConfig(scenario="highway", seed=1, duration_s=0.3, images=False))
    runner = LocalRunner(src)
    runner.advance_to(200_000_000)
    assert not runner.ctx.ended
    t = 200_000_000
    while not src.finished:
        t += 50_000_000
        runner.advance_to(t)
    runner.advance_to(t + 100_000_000)
    assert runner.ctx.ended
