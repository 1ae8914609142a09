"""The radar_objects node under LocalRunner: topics, headers, velocities, bad scans skipped."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import numpy as np

from percept.messages import Detections3D, PointCloud
from percept.node import LocalRunner, load_processor_class
from perception.radar.node import RadarObjectsNode, RadarObjectsNodeConfig
from sensors.radar import scan_from_xyz
from tests.perception.radar_scenes import scene


def test_node_publishes_objects_with_velocity_and_survives_bad_scans(caplog):
    caplog.set_level(logging.INFO)
    node = RadarObjectsNode(RadarObjectsNodeConfig(inputs=("radar/front",)))
    runner = LocalRunner(node, name="radar_objects")
    assert "inputs ['radar/front'], moving >= 0.20 m/s, eps 1.50 m, keep_static False" in caplog.text
    scan, _ = scene()
    out = runner.feed("radar/front/scan", scan)
    assert [t for t, _ in out] == ["radar/front/objects"]
    dets = out[0][1]
    assert isinstance(dets, Detections3D) and len(dets) == 2 and dets.velocity.shape == (2, 3)
    assert (dets.stamp_ns, dets.frame_id, dets.seq) == (scan.stamp_ns, "radar", scan.seq)
    rcs = scan.rcs_dbsm.copy()
    rcs[0] = np.inf
    bad = scan_from_xyz(scan.xyz, scan.range_rate_mps, rcs, stamp_ns=20, frame_id="radar",
                        extra=scan.extra, extra_fields=scan.extra_fields)
    assert runner.feed("radar/front/scan", bad) == []
    assert runner.feed("radar/rear/scan", scan, at_ns=30) == []  # not an input
    cloud = PointCloud(stamp_ns=40, frame_id="r", points=np.zeros((1, 4), np.float32))
    assert runner.feed("radar/front/points", cloud) == []
    assert len(runner.feed("radar/front", scan, at_ns=50)) == 1
    assert runner.outputs[-1][0] == "radar/front/objects"
    s = node.stats
    assert (s.inputs, s.bad_inputs, s.ignored, s.outputs, s.objects) == (3, 1, 2, 2, 4)
    assert "non-finite values" in caplog.text and runner.ctx.counters.handler_errors == 0


def test_node_type_is_registered_in_pyproject():
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["percept.nodes"]["radar_objects"]
    assert load_processor_class(target) is RadarObjectsNode
