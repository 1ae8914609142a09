"""The lidar_objects node under LocalRunner: topics, headers, bad clouds counted and skipped."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import numpy as np
import pytest

from percept.config import build
from percept.errors import ConfigError
from percept.messages import Detections3D, PointCloud, RadarScan
from percept.node import LocalRunner, load_processor_class
from perception.lidar.base import objects_topic
from perception.lidar.node import LidarObjectsNode, LidarObjectsNodeConfig
from tests.perception.lidar_scenes import scene

CAR = ((12.0, -3.0), (4.4, 1.8, 1.5), 0.5)


def _cloud(points: np.ndarray, seq: int, stamp_ns: int = 1_000) -> PointCloud:
    return PointCloud(stamp_ns=stamp_ns, frame_id="lidar_top", seq=seq, points=points.astype(np.float32))


def test_objects_topic_mapping():
    assert objects_topic("lidar/points", "points") == "lidar/objects"
    assert objects_topic("lidar/top", "points") == "lidar/top/objects"
    assert objects_topic("points", "points", "boxes") == "boxes"


def test_node_publishes_one_detections3d_per_cloud_and_survives_bad_clouds(caplog):
    caplog.set_level(logging.INFO)
    node = LidarObjectsNode()
    runner = LocalRunner(node, name="lidar_objects")
    assert "inputs ['lidar/'], ground grid, clustering euclidean, boxes lshape" in caplog.text
    good = scene([CAR], seed=0)
    out = runner.feed("lidar/points", _cloud(good, seq=4))
    assert [t for t, _ in out] == ["lidar/objects"]
    dets = out[0][1]
    assert isinstance(dets, Detections3D) and len(dets) == 1
    assert (dets.stamp_ns, dets.frame_id, dets.seq) == (1_000, "lidar_top", 4)
    bad = good.copy()
    bad[10, 1] = np.nan
    assert runner.feed("lidar/points", _cloud(bad, seq=5, stamp_ns=2_000)) == []
    no_z = PointCloud(stamp_ns=3_000, frame_id="l", points=np.zeros((4, 2), np.float32), fields=("x", "y"))
    assert runner.feed("lidar/points", no_z) == []
    assert runner.feed("camera/points", _cloud(good, seq=6, stamp_ns=4_000)) == []  # not an input
    scan = RadarScan(stamp_ns=5_000, frame_id="r", xyz=np.zeros((1, 3), np.float32),
                     range_rate_mps=np.zeros(1, np.float32), rcs_dbsm=np.zeros(1, np.float32))
    assert runner.feed("lidar/scan", scan) == []
    out = runner.feed("lidar/points", _cloud(good, seq=7, stamp_ns=6_000))
    assert len(out) == 1 and out[0][1].seq == 7
    s = node.stats
    assert (s.inputs, s.bad_inputs, s.ignored, s.outputs, s.objects) == (4, 2, 2, 2, 2)
    assert "non-finite coordinates" in caplog.text and "no field(s) ['z']" in caplog.text
    assert runner.ctx.counters.handler_errors == 0


def test_node_type_and_config_from_yaml_mapping():
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["percept.nodes"]["lidar_objects"]
    assert load_processor_class(target) is LidarObjectsNode  # the name graphs use once installed
    cfg = build(LidarObjectsNodeConfig, {"inputs": ["velo/"], "extractor": {"ground": {"method": "ransac"}}},
                "nodes[1].config")
    assert cfg.inputs == ("velo/",) and cfg.extractor.ground.method == "ransac"
    with pytest.raises(ConfigError, match=r"nodes\[1\]\.config: output_suffix: expected a non-empty name"):
        build(LidarObjectsNodeConfig, {"output_suffix": "a/b"}, "nodes[1].config")
    with pytest.raises(ConfigError, match=r"nodes\[1\]\.config\.extractor: unknown key 'groud'"):
        build(LidarObjectsNodeConfig, {"extractor": {"groud": {}}}, "nodes[1].config")
