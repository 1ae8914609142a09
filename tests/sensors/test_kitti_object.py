"""KITTI object / View-of-Delft sample reader: label parsing, frame conversion, VoD attributes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from calib.transform import Transform
from perception.radar.evaluate import points_in_boxes
from sensors.datasets.kitti_object import (
    boxes_in_frame,
    list_samples,
    load_object_sample,
    read_object_labels,
    read_vod_activity,
)
from sensors.errors import SensorError
from sensors.lidar import load_kitti_bin

# rect (x right, y down, z forward) -> velo (x forward, y left, z up)
T_VELO_FROM_RECT = Transform(np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]), np.zeros(3))
LINES = [
    "Car 0.00 0 -1.57 100 150 200 250 1.50 1.60 4.00 2.00 1.70 20.00 -1.5707963",
    "DontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 -1000 -10",
    "Pedestrian 0.50 1 0.20 300 100 340 220 1.80 0.60 0.80 -3.00 1.60 10.00 0.0 0.75",
]


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "000007.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_labels_parse_types_scores_and_dontcare(tmp_path):
    labels = read_object_labels(_write(tmp_path, LINES))
    assert labels.types == ("Car", "Pedestrian") and labels.class_names == ("Car", "Pedestrian")
    np.testing.assert_allclose(labels.boxes.score, [1.0, 0.75])
    np.testing.assert_allclose(labels.boxes.hwl[1], [1.8, 0.6, 0.8], rtol=1e-6)
    assert labels.boxes.occluded.tolist() == [0, 1] and labels.mask("Pedestrian").tolist() == [False, True]
    with_dc = read_object_labels(_write(tmp_path, LINES), include_dontcare=True)
    assert with_dc.types == ("Car", "DontCare", "Pedestrian") and with_dc.boxes.class_id[1] == -1


@pytest.mark.parametrize("line, match", [
    ("Car 0 0 0 1 2 3 4 1 1 1 0 0 5", r"000007\.txt:1: expected 15 columns"),
    ("Car 0 0 0 1 2 3 4 1 1 1 0 0 5 x", r"000007\.txt:1: not a number"),
    ("Car 0 0 0 1 2 3 4 1 1 nan 0 0 5 0", r"000007\.txt:1: non-finite"),
])
def test_bad_label_lines_name_file_and_line(tmp_path, line, match):
    with pytest.raises(SensorError, match=match):
        read_object_labels(_write(tmp_path, [line]))


def test_boxes_in_frame_geometric_centre_and_heading(tmp_path):
    boxes = read_object_labels(_write(tmp_path, LINES)).boxes
    centre, size, yaw = boxes_in_frame(boxes, T_VELO_FROM_RECT)
    # bottom (2, 1.7, 20) in rect, raised by h/2 (rect y is down) -> velo (20, -2, -1.7 + 0.75)
    np.testing.assert_allclose(centre[0], [20.0, -2.0, -0.95], atol=1e-6)
    np.testing.assert_allclose(size[0], [4.0, 1.6, 1.5], rtol=1e-6)
    # rotation_y = -pi/2 heads along rect +z (forward) -> yaw 0; rotation_y = 0 heads along rect +x -> -pi/2
    assert abs(yaw[0]) < 1e-6 and math.isclose(yaw[1], -math.pi / 2, abs_tol=1e-6)


def test_vod_activity_is_matched_by_size(tmp_path):
    labels = read_object_labels(_write(tmp_path, [LINES[0], LINES[2]]))
    objs = [{"geometry": {"size": {"height": 1.5, "width": 1.6, "length": 4.0}},
             "attributes": {"activity": "parked"}},
            {"geometry": {"size": {"height": 1.8, "width": 0.6, "length": 0.8}}, "attributes": {}}]
    p = tmp_path / "a.json"
    p.write_text(json.dumps(objs))
    assert read_vod_activity(p, labels) == ("parked", "")
    p.write_text(json.dumps(objs[::-1]))
    with pytest.raises(SensorError, match=r"object 0: size .* differs from label row 0"):
        read_vod_activity(p, labels)
    p.write_text(json.dumps(objs[:1]))
    with pytest.raises(SensorError, match="expected a list of 2 objects"):
        read_vod_activity(p, labels)


@pytest.mark.data
def test_kitti_label_boxes_hold_lidar_points(shared_data):
    root = shared_data("kitti_object", "training")
    assert list_samples(root) == ["000000", "000001", "000002"]
    sample = load_object_sample(root, "000000")
    centre, size, yaw = sample.labels_in_sensor()
    points = load_kitti_bin(sample.points_path)
    inside = points_in_boxes(points, centre, size, yaw).sum(axis=1)
    assert sample.labels.types == ("Pedestrian",) and inside[0] > 100  # the walking person of frame 0
    assert sample.image_size() == (1224, 370)  # this sample's image_2 PNG
    assert sample.in_image(centre, sample.image_size()).all()


@pytest.mark.data
def test_vod_radar_frames_use_lidar_labels_and_radar_calib(shared_data):
    vod = shared_data("vod")
    radar = load_object_sample(vod / "radar" / "training", "00549", label_root=vod / "lidar" / "training")
    lidar = load_object_sample(vod / "lidar" / "training", "00549")
    activity = read_vod_activity(vod / "radar" / "training" / "label_2" / "00549.json", radar.labels)
    assert len(activity) == len(radar.labels) == 15 and activity.count("moving") == 9
    c_radar, _, _ = radar.labels_in_sensor()
    c_lidar, _, _ = lidar.labels_in_sensor()
    # the radar sits ~2.5 m ahead of the lidar on the same car: same objects, shifted frames
    shift = c_lidar - c_radar
    assert np.all(np.abs(shift[:, 0] - shift[0, 0]) < 0.2) and 2.0 < shift[0, 0] < 3.0
