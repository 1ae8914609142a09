"""Scene configs: the shipped plaza scene loads, and every bad config fails at load naming file,
line and key."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from calib.ground import GroundPairs, apply_homography, estimate_ground_homography, save_ground_yaml
from events.errors import EventsError
from events.scene import load_scene
from tests.calib.test_ground import GROUND, H_TRUE

REPO = Path(__file__).resolve().parents[2]

SQUARE = "[[100, 100], [300, 100], [300, 400], [100, 400]]"
GOOD = """\
name: lobby
camera: cam1
zones:
  door:
    polygon: [[100, 100], [300, 100], [300, 400], [100, 400]]
    classes: [person]
lines:
  gate: {points: [[0, 500], [900, 500]], direction: left_to_right}
rules:
  - {type: intrusion, zone: door, min_dwell_s: 1.0}
  - {type: line_crossing, line: gate}
"""


def _write(tmp_path: Path, text: str, name: str = "scene.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _fails(tmp_path: Path, text: str, pattern: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(EventsError) as info:
        load_scene(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert re.search(pattern, msg), msg
    assert msg.startswith(str(path))
    return msg


def test_plaza_scene_loads() -> None:
    scene = load_scene(REPO / "configs/scenes/plaza.yaml")
    assert scene.name == "plaza" and scene.camera == "cctv" and scene.frame == "ground"
    assert set(scene.zones) == {"restricted", "plaza", "walkway_south", "walkway_north"}
    assert set(scene.lines) == {"entrance"}
    assert {r.type for r in scene.rules} == {"intrusion", "loitering", "wrong_way", "running",
                                            "abandoned_object", "line_crossing"}
    assert len({r.name for r in scene.rules}) == len(scene.rules)
    # the zones are the simulator scenario's
    assert np.array_equal(scene.zones["restricted"].polygon, [[6, 18], [14, 18], [14, 25], [6, 25]])


def test_good_image_scene_defaults(tmp_path: Path) -> None:
    scene = load_scene(_write(tmp_path, GOOD))
    assert scene.frame == "image" and scene.homography is None and scene.max_sigma == 15.0
    assert [r.name for r in scene.rules] == ["intrusion", "line_crossing"]
    assert scene.rules[0].config.min_dwell_s == 1.0
    assert scene.lines["gate"].direction == "left_to_right"


def test_unknown_rule_type(tmp_path: Path) -> None:
    msg = _fails(tmp_path, GOOD + "  - {type: teleport, zone: door}\n",
                 r"scene.yaml:12: rules\[2\]\.type: unknown rule type 'teleport'; known: \[")
    assert "'intrusion'" in msg


def test_self_intersecting_polygon(tmp_path: Path) -> None:
    bad = GOOD.replace(SQUARE, "[[100, 100], [300, 400], [300, 100], [100, 400]]")  # a bow tie
    _fails(tmp_path, bad, r"scene.yaml:5: zones\.door\.polygon: polygon is self-intersecting at \(200, 250\)")


def test_polygon_without_area_or_too_few_points(tmp_path: Path) -> None:
    _fails(tmp_path, GOOD.replace(SQUARE, "[[1, 1], [2, 2], [3, 3]]"),
           r"zones\.door\.polygon: polygon has no area")
    _fails(tmp_path, GOOD.replace(SQUARE, "[[1, 1], [2, 2]]"),
           r"zones\.door\.polygon: a polygon needs at least 3 \[x, y\] points, got 2")


def test_zone_outside_the_image(tmp_path: Path) -> None:
    _fails(tmp_path, "image_size: [250, 480]\n" + GOOD,
           r"scene.yaml:6: zones\.door\.polygon: point 2 \(300, 100\) is outside the 250x480 image")
    msg = _fails(tmp_path, "image_size: [1280, 480]\n" + GOOD,
                 r"scene.yaml:9: lines\.gate\.points: point 1 \(0, 500\) is outside the 1280x480 image")
    assert "zones" not in msg
    assert load_scene(_write(tmp_path, "image_size: [1280, 720]\n" + GOOD)).image_size == (1280, 720)


def test_ground_zone_outside_the_image(tmp_path: Path) -> None:
    H = H_TRUE.tolist()
    # the plaza camera sees the ground north of it; a zone 40 m behind it is never in the image
    text = f"""\
        name: yard
        homography: {H}
        image_size: [960, 540]
        zones:
          seen: {{polygon: [[-2, 8], [2, 8], [2, 12], [-2, 12]]}}
          behind: {{polygon: [[-2, -40], [2, -40], [2, -36], [-2, -36]]}}
        """
    _fails(tmp_path, text, r"scene.yaml:6: zones\.behind\.polygon: lies outside the 960x540 image")
    near = text.replace("-40], [2, -40], [2, -36], [-2, -36", "5], [2, 5], [2, 6], [-2, 6")
    ok = load_scene(_write(tmp_path, near))
    assert ok.frame == "ground" and np.allclose(ok.homography, H_TRUE)


def test_line_of_one_point(tmp_path: Path) -> None:
    _fails(tmp_path, GOOD.replace("points: [[0, 500], [900, 500]]", "points: [[0, 500]]"),
           r"scene.yaml:8: lines\.gate\.points: a line needs 2 points \[\[x, y\], \[x, y\]\], got 1")
    _fails(tmp_path, GOOD.replace("points: [[0, 500], [900, 500]]", "points: [[0, 500], [0, 500]]"),
           r"lines\.gate\.points: the 2 points must be finite and distinct")


@pytest.mark.parametrize(("text", "pattern"), [
    (GOOD.replace("name: lobby\n", ""), r"scene.yaml: \(top level\): missing required key 'name'"),
    (GOOD.replace("    polygon: [[100, 100], [300, 100], [300, 400], [100, 400]]\n", ""),
     r"scene.yaml:4: zones\.door: missing required key 'polygon'"),
    (GOOD.replace("{type: intrusion, zone: door, min_dwell_s: 1.0}", "{zone: door}"),
     r"scene.yaml:10: rules\[0\]: missing required key 'type'"),
    (GOOD.replace("{type: intrusion, zone: door, min_dwell_s: 1.0}", "{type: intrusion}"),
     r"scene.yaml:10: rules\[0\]\.zone: missing required key 'zone'"),
    (GOOD.replace("{type: line_crossing, line: gate}", "{type: line_crossing}"),
     r"scene.yaml:11: rules\[1\]\.line: missing required key 'line'"),
    (GOOD + "  - {type: crowding, zone: door}\n",
     r"scene.yaml:12: rules\[2\]\.max_count: missing required key"),
    (GOOD + "  - {type: speed}\n", r"rules\[2\]\.limit: missing required key 'limit'"),
])
def test_missing_required_key(tmp_path: Path, text: str, pattern: str) -> None:
    _fails(tmp_path, text, pattern)


@pytest.mark.parametrize(("text", "pattern"), [
    (GOOD.replace("zone: door, min_dwell_s", "zone: lobby, min_dwell_s"),
     r"scene.yaml:10: rules\[0\]\.zone: unknown zone 'lobby'; zones: \['door'\]"),
    (GOOD.replace("min_dwell_s: 1.0", "min_dwell_s: -1.0"),
     r"scene.yaml:10: rules\[0\]\.min_dwell_s: expected a finite number >= 0, got -1.0"),
    (GOOD.replace("min_dwell_s: 1.0", "min_dwel_s: 1.0"),
     r"scene.yaml:10: rules\[0\]\.min_dwel_s: unknown key 'min_dwel_s'"),
    (GOOD.replace("min_dwell_s: 1.0", "min_dwell_s: soon"), r"rules\[0\]\.min_dwell_s: expected a number"),
    (GOOD.replace("direction: left_to_right", "direction: up"), r"lines\.gate\.direction: expected one of"),
    (GOOD + "  - {type: wrong_way, zone: door}\n",
     r"rules\[2\]\.zone: zone 'door' has no direction_deg"),
    (GOOD + "  - {type: intrusion, zone: door}\n",
     r"scene.yaml:12: rules\[2\]: duplicate rule name 'intrusion_door'; give each rule"),
    (GOOD + "  - {type: intrusion, zone: door, name: intrusion_door}\n",
     r"scene.yaml:12: rules\[2\]\.name: duplicate rule name 'intrusion_door'"),
    (GOOD + "tracks: {max_sigma: -2}\n", r"scene.yaml:12: tracks\.max_sigma: expected >= 0, got -2"),
    (GOOD + "colour: red\n", r"scene.yaml:12: colour: unknown key 'colour'"),
    (GOOD + "homography: [[1, 0, 0], [0, 1, 0]]\n", r"scene.yaml:12: homography: expected 3 rows"),
    (GOOD + "severity: high\n", r"severity: unknown key"),
    (GOOD.replace("min_dwell_s: 1.0", "severity: high"), r"rules\[0\]\.severity: expected one of \['info'"),
])
def test_other_bad_values_name_the_key(tmp_path: Path, text: str, pattern: str) -> None:
    _fails(tmp_path, text, pattern)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    _fails(tmp_path, "name: [unclosed\n",
           r"scene.yaml:2: expected .* \(while parsing a flow sequence at line 1, column 7\)")


def test_calibration_file_gives_the_homography_and_image_size(tmp_path: Path) -> None:
    img = apply_homography(np.linalg.inv(H_TRUE), GROUND)
    calib = estimate_ground_homography(GroundPairs(img, GROUND, image_size=(960, 540)))
    save_ground_yaml(tmp_path / "ground.yaml", calib)
    scene = load_scene(_write(tmp_path, "name: yard\ncalibration: ground.yaml\n"))
    assert scene.frame == "ground" and scene.image_size == (960, 540)
    assert np.allclose(scene.homography, calib.H)
    _fails(tmp_path, "name: yard\ncalibration: nowhere.yaml\n", r"scene.yaml:2: calibration: .*nowhere.yaml")
    _fails(tmp_path, f"name: yard\ncalibration: ground.yaml\nhomography: {H_TRUE.tolist()}\n",
           r"calibration: give either 'homography' or 'calibration', not both")
