"""Fusion tracker on a shared KITTI sequence: ego poses published, parked cars stay still."""

from __future__ import annotations

import numpy as np
import pytest

from bench.track3d_fusion import run
from fusion.ego import transform_from_pose
from percept.config import build
from percept.node import LocalRunner
from sensors.datasets.kitti_tracking import KittiTrackingSource, KittiTrackingSourceConfig

pytestmark = pytest.mark.data


def test_source_publishes_oxts_poses_when_asked(shared_data) -> None:
    root = shared_data("kitti_tracking")
    cfg = build(
        KittiTrackingSourceConfig, {"root": str(root), "sequence": 12, "rate": 0.0, "topic_pose": "ego/pose"}
    )
    runner = LocalRunner(KittiTrackingSource(cfg))
    runner.advance_to(5_000_000)
    poses = [m for t, m in runner.outputs if t == "ego/pose"]
    assert poses and poses[0].frame_id == "world" and poses[0].child_frame_id == "imu"
    src = runner.processor
    k = poses[-1].seq
    assert np.allclose(
        transform_from_pose(poses[-1]).as_matrix(), src.sequence.pose(k).as_matrix(), atol=1e-9
    )


def test_parked_cars_get_near_zero_speed(shared_data) -> None:
    rows = run([12], root=shared_data("kitti_tracking"))
    assert rows[-1]["static_matches"] > 20
    assert rows[-1]["static_median_speed_mps"] < 0.5
    assert rows[-1]["frames_per_s"] > 0
