"""Fusion tracker configuration: the point-sensor and camera settings, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion.fusion_config import load_fusion_config
from percept.errors import ConfigError

SIM = Path(__file__).parents[2] / "configs" / "trackers" / "sim-fusion.yaml"


def test_sim_config_loads_with_its_sensors() -> None:
    cfg = load_fusion_config(SIM)
    radar, camera, lidar = cfg.sensors["radar"], cfg.sensors["camera"], cfg.sensors["lidar"]
    assert radar.starts_tracks and lidar.starts_tracks and not camera.starts_tracks
    assert radar.reflection == "nearest" and camera.camera_model == "box"
    assert camera.camera_calibration().size == (640, 360)
    assert set(radar.class_map.values()) == {"vehicle"} and cfg.classes["vehicle"].gate_on == "box"


CAMERA = "sensors:\n  c:\n    kind: camera\n    intrinsics: [500, 500, 320, 240]\n"


@pytest.mark.parametrize(("text", "key"), [
    ("sensors:\n  r:\n    kind: radar\n    reflection: behind\n", "reflection"),
    (CAMERA + "    camera_model: mesh\n", "camera_model"),
    (CAMERA + "    initiates: true\n", "initiates"),  # a centre-model camera cannot start tracks
    (CAMERA + "    distortion: [0.1, 0.2]\n", "camera"),
    (CAMERA + "    image_size: [640]\n", "image_size"),
    ("classes:\n  Car:\n    init_size: [4.5, 0, 1.5]\n", "init_size"),
    ("classes:\n  Car:\n    merge_iou: 2\n", "merge_iou"),
    ("classes:\n  Car:\n    gate_on: corners\n", "gate_on"),
    ("ground_z: .nan\n", "ground_z"),
])
def test_bad_settings_name_the_key(tmp_path, text: str, key: str) -> None:
    p = tmp_path / "f.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=rf"f\.yaml.*{key}"):
        load_fusion_config(p)
