"""Fusion on the simulator: the measurement models against the simulated sensors, the driving graph
(configuration, and as real processes), and the bench's virtual-time run of the highway."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench import fusion_sim as bench
from calib.transform import Transform
from fusion.camera_models import CameraBoxModel
from fusion.fusion_config import load_fusion_config
from fusion.fusion_inputs import camera_measurements
from fusion.measurements import RadarModel
from fusion.motion_world import MotionModel, MotionNoise
from percept.config import build
from percept.graph import load_graph
from percept.messages import Detections2D
from percept.node import load_processor_class
from sensors.sim.camera import SimCamera
from sensors.sim.detector import gt_boxes
from sensors.sim.radar import SimRadar
from sensors.sim.scenario import load_scenario
from sensors.sim.source import SimSource, SimSourceConfig
from sensors.sim.world import World, WorldState

ROOT = Path(__file__).resolve().parents[2]
GRAPH = ROOT / "configs" / "driving-fusion.yaml"


def _states(times_s: list[float]) -> list[WorldState]:
    world = World(load_scenario("highway"), 0)
    out = []
    for t in times_s:
        world.run_until(round(t * 1e9))
        out.append(world.state())
    return out


def _track_states(state: WorldState) -> np.ndarray:
    """The ground truth as fusion track states (T, 10): centre, yaw, size, velocity (CV)."""
    X = np.zeros((len(state), 10))
    X[:, :3], X[:, 3], X[:, 4:7], X[:, 7:10] = state.centre, state.yaw, state.size, state.velocity
    return X


def test_nearest_point_radar_model_predicts_the_simulated_radar() -> None:
    spec = load_scenario("highway").sensors.radars[0]
    radar = SimRadar(spec, np.random.default_rng(0))
    noise = load_fusion_config(ROOT / "configs" / "trackers" / "sim-fusion.yaml").sensors["radar"].radar
    for state in _states([1.0, 5.0, 11.0]):
        truth = radar.truth(state)  # noise-free returns of the actors in the field of view
        X = _track_states(state)[np.searchsorted(state.track_id, truth.track_id)]
        args = (noise, radar.pose(state), radar.velocity(state), MotionModel(MotionNoise()))
        zhat, H = RadarModel(*args, "nearest").predict(X)
        expected = np.column_stack([truth.range_m, truth.azimuth_rad, truth.range_rate_mps])
        np.testing.assert_allclose(zhat, expected, atol=1e-5)
        assert np.isfinite(H).all() and H.shape == (len(X), 3, 10)
        centre = RadarModel(*args, "centre").predict(X)[0]
        assert (centre[:, 0] > zhat[:, 0] + 0.5).all()  # the centre is half a car beyond the near side


def test_camera_box_model_predicts_the_simulated_camera_boxes() -> None:
    src = SimSource(SimSourceConfig(scenario="highway"))
    cam = SimCamera(load_scenario("highway").sensors.cameras[0])
    scfg = load_fusion_config(ROOT / "configs" / "trackers" / "sim-fusion.yaml").sensors["camera"]
    calibration = scfg.camera_calibration()
    assert np.allclose(calibration.K, src.camera_models()["camera_front"].K)
    checked = 0
    for state in _states([1.0, 4.0, 8.0]):
        view = cam.view(state)
        boxes = gt_boxes(state, view)
        meas = camera_measurements(Detections2D(stamp_ns=0, frame_id="camera_front", detections=boxes),
                                   calibration, "box", {}, check_border=True)
        inside = np.flatnonzero(((boxes.xyxy[:, :2] > 1) & (boxes.xyxy[:, 2:] < [638, 358])).all(axis=1))
        rows = np.searchsorted(state.track_id, boxes.track_id[inside])
        zhat, _ = CameraBoxModel(scfg.camera, cam.pose(state)).predict(_track_states(state)[rows])
        np.testing.assert_allclose(meas.z, zhat, atol=1e-6)  # amodal boxes: the 3D box's projection
        checked += len(inside)
    assert checked >= 6


def test_driving_graph_matches_the_simulator_and_is_fully_wired() -> None:
    graph = load_graph(GRAPH, strict=True)  # percept run --strict: no unwired subscription
    nodes = {n.name: n for n in graph.nodes}
    assert [nodes[n].type for n in ("sim", "lidar", "radar", "fusion")] == [
        "sim", "lidar_objects", "radar_objects", "fusion"]
    fusion = nodes["fusion"]
    wanted = {"lidar/top/objects", "radar/front/objects", "camera/front/detections", "ego/pose"}
    assert set(fusion.subscribe) >= wanted
    cfg = build(load_processor_class("fusion").Config, fusion.config, "fusion")
    tree = SimSource(SimSourceConfig(scenario="highway")).frame_tree()
    for frame, f in cfg.frames.items():  # the fusion node's extrinsics are the simulator's mounts
        T = Transform.from_quaternion(f.rotation, f.translation)
        sim = tree.lookup("ego", frame)
        assert np.allclose(T.as_matrix(), sim.as_matrix(), atol=1e-8), frame
        assert round(f.time_offset_s * 1e9) == tree.time_offset_ns(frame)
    assert set(cfg.tracker.sensors) == set(cfg.inputs.values()) == {"lidar", "radar", "camera"}


@pytest.fixture(scope="module")
def highway_run():
    """The bench's five configurations on 13 s of the highway (the ego passes the parked car)."""
    graph = load_graph(GRAPH)
    rec = bench.simulate(graph, 13.0, 0)
    return bench, rec, bench.compare(rec, graph, 100.0)


def test_fused_tracks_beat_every_single_sensor(highway_run) -> None:
    _, _, rows = highway_run
    fused = rows["lidar+radar+camera"]
    for name in ("lidar", "radar", "camera"):
        assert fused["MOTA"] > rows[name]["MOTA"] + 0.2, name
        row = rows[name]  # position error on the objects both track, at the same stamps
        assert row["shared_matches"] > 100 and row["fused_pos_rmse_shared_m"] < row["pos_rmse_shared_m"], name
    assert rows["lidar+radar"]["vel_rmse_mps"] < rows["lidar"]["vel_rmse_mps"]  # radar's range rate


def test_radar_and_camera_alone_start_and_keep_tracks(highway_run) -> None:
    _, _, rows = highway_run
    for name in ("radar", "camera"):
        assert rows[name]["matches"] > 100 and rows[name]["MOTA"] > 0.1, name
    # the lead car, 90 m ahead, beyond the lidar's reach: radar starts it, the fused list has it
    assert rows["lidar"]["FN"] > rows["lidar+radar"]["FN"] + 200


def test_parked_car_seen_from_the_moving_ego_stands_still(highway_run) -> None:
    _, _, rows = highway_run
    fused = rows["lidar+radar+camera"]
    assert fused["parked_frames"] >= 20
    assert fused["parked_speed_mps"] < 0.3 and fused["parked_speed_max_mps"] < 1.0


@pytest.mark.slow
def test_driving_graph_runs_as_processes_and_stops_on_ctrl_c(short_tmp) -> None:
    run = short_tmp / "run"
    cmd = [sys.executable, "-m", "percept.cli", "run", str(GRAPH), "--strict", "--run-dir", str(run)]
    launcher = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        tracks = []
        while time.monotonic() < deadline and len(tracks) < 2:
            echo = subprocess.run([sys.executable, "-m", "percept.cli", "echo", "fusion/tracks/world", "-n",
                                   "2", "--run-dir", str(run), "--timeout", "10"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=60)
            tracks = [json.loads(line) for line in echo.stdout.splitlines() if line.startswith("{")]
            if len(tracks) < 2:
                time.sleep(1.0)
        assert len(tracks) == 2 and all(t["schema"] == "percept.Tracks" for t in tracks)
        assert tracks[0]["frame_id"] == "world" and tracks[0]["sensor_names"]
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=20) == 0
        log = launcher.stderr.read()
        assert "Traceback" not in log and "unwired" not in log
    finally:
        if launcher.poll() is None:
            launcher.kill()
