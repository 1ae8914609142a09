"""Ground-plane homography from marked pairs (``calib.ground``) and ``percept calibrate ground``."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import yaml

from calib.cli import register
from calib.errors import CalibrationError
from calib.ground import (
    GroundPairs,
    apply_homography,
    estimate_ground_homography,
    homography_jacobian,
    load_ground_yaml,
    read_pairs,
)
from percept.cli import CommandRegistry
from tests.rejects import assert_rejects


def _camera_homography() -> np.ndarray:
    """Image->ground H of a pinhole camera 9 m above the ground at (0, -4), pitched 35 deg down,
    looking north (+y), 960x540 with f = 572 px: the plaza CCTV geometry, built from K [r1 r2 t]."""
    f, cx, cy = 572.0, 479.5, 269.5
    K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
    pitch = math.radians(35.0)
    # camera axes in the world: x right (east), y down, z forward (north, tilted down)
    z = np.array([0.0, math.cos(pitch), -math.sin(pitch)])
    x = np.array([1.0, 0.0, 0.0])
    y = np.cross(z, x)
    R_cam_from_world = np.stack([x, y, z])
    centre = np.array([0.0, -4.0, 9.0])
    t = -R_cam_from_world @ centre
    H_img_from_ground = K @ np.column_stack([R_cam_from_world[:, 0], R_cam_from_world[:, 1], t])
    return np.linalg.inv(H_img_from_ground)


H_TRUE = _camera_homography()
GROUND = np.array([[-10.0, 5.0], [10.0, 5.0], [12.0, 25.0], [-12.0, 25.0], [0.0, 12.0], [4.0, 18.0],
                   [-6.0, 9.0], [8.0, 10.0]])


def _pixels(ground: np.ndarray) -> np.ndarray:
    return apply_homography(np.linalg.inv(H_TRUE), ground)


def test_homography_from_exact_pairs_recovers_the_camera() -> None:
    img = _pixels(GROUND)
    assert np.all((img > 0) & (img < [960, 540]))  # all marked points are in the image
    calib = estimate_ground_homography(GroundPairs(img, GROUND))
    assert np.allclose(calib.H, H_TRUE / H_TRUE[2, 2], rtol=1e-6, atol=1e-9)
    assert calib.rms_error_m < 1e-6 and calib.rms_error_px < 1e-4 and calib.inlier_count == 8
    probe = np.array([[3.0, 20.0], [-15.0, 7.0]])
    assert np.allclose(apply_homography(calib.H, _pixels(probe)), probe, atol=1e-6)


def test_jacobian_matches_finite_differences_and_horizon_is_nan() -> None:
    px = _pixels(np.array([[2.0, 10.0], [-5.0, 28.0]]))
    jac = homography_jacobian(H_TRUE, px)
    eps = 1e-3
    for k in range(2):
        step = np.zeros(2)
        step[k] = eps
        fd = (apply_homography(H_TRUE, px + step) - apply_homography(H_TRUE, px - step)) / (2 * eps)
        assert np.allclose(jac[:, :, k], fd, rtol=1e-5)
    # farther points: more metres per pixel
    assert np.linalg.norm(jac[1]) > np.linalg.norm(jac[0])
    sky = np.array([[480.0, -400.0]])  # far above the horizon of a camera pitched 35 deg down
    assert np.all(np.isnan(apply_homography(H_TRUE, sky)))
    assert np.all(np.isnan(homography_jacobian(H_TRUE, sky)))


def test_ransac_ignores_a_mismarked_pair() -> None:
    rng = np.random.default_rng(3)
    img = _pixels(GROUND) + rng.normal(0, 0.3, GROUND.shape)
    gnd = GROUND.copy()
    gnd[2] += [6.0, -4.0]  # one pair marked at the wrong ground spot
    plain = estimate_ground_homography(GroundPairs(img, gnd))
    robust = estimate_ground_homography(GroundPairs(img, gnd), ransac=True, ransac_threshold_m=0.5)
    assert not robust.inliers[2] and robust.inlier_count == 7
    assert robust.rms_error_m < 0.1 < plain.rms_error_m
    probe = np.array([[0.0, 20.0]])
    assert np.linalg.norm(apply_homography(robust.H, _pixels(probe)) - probe) < 0.2


@pytest.mark.parametrize(("image", "ground", "match"), [
    (GROUND[:3], GROUND[:3], "need at least 4 image<->ground pairs, got 3"),
    (np.array([[0.0, 0], [1, 1], [2, 2], [0, 5]]), GROUND[:4], "image points 1, 2 and 3 are collinear"),
    (np.array([[0.0, 0], [1, 1], [2, 2], [3, 3], [4, 4]]), GROUND[:5], "all image points lie on one line"),
    (_pixels(GROUND[:4]), np.array([[0.0, 0], [5, 0], [9, 0], [0, 4]]),
     "ground points 1, 2 and 3 are collinear"),
])
def test_degenerate_pairs_are_refused(image: np.ndarray, ground: np.ndarray, match: str) -> None:
    with pytest.raises(CalibrationError, match=match):
        estimate_ground_homography(GroundPairs(image, ground))


def _run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="percept")
    register(CommandRegistry(commands=p.add_subparsers(dest="command", required=True), bench=None))
    args = p.parse_args(argv)
    return int(args.func(args))


def test_cli_yaml_pairs_to_ground_yaml(tmp_path, capsys) -> None:
    img = _pixels(GROUND).tolist()
    gnd = GROUND.tolist()
    items = [{"image": u, "ground": g} for u, g in zip(img[:6], gnd[:6], strict=True)]
    items += [[*u, *g] for u, g in zip(img[6:], gnd[6:], strict=True)]  # both row forms
    pairs = tmp_path / "pairs.yaml"
    pairs.write_text(yaml.safe_dump({"image_size": [960, 540], "pairs": items}))
    out = tmp_path / "H.yaml"
    assert _run(["calibrate", "ground", "--pairs", str(pairs), "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["pairs"] == doc["inliers"] == 8 and doc["rms_error_m"] < 1e-6
    loaded = load_ground_yaml(out)
    assert loaded.image_size == (960, 540)
    assert np.allclose(loaded.H, H_TRUE / H_TRUE[2, 2], rtol=1e-6, atol=1e-9)
    assert np.allclose(loaded.H, np.array(doc["homography"]))


def test_cli_csv_pairs_with_header_and_text_report(tmp_path, capsys) -> None:
    img = _pixels(GROUND[:5])
    csv_path = tmp_path / "pairs.csv"
    rows = "".join(f"{u},{v},{x},{y}\n" for (u, v), (x, y) in zip(img, GROUND[:5], strict=True))
    csv_path.write_text("# marks of the yard\n\nu,v,x,y\n" + rows)  # comments, then a header
    out = tmp_path / "H.yaml"
    assert _run(["calibrate", "ground", "--pairs", str(csv_path), "--out", str(out),
                 "--image-size", "960x540"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("homography from 5 pairs (5 inliers): reprojection RMS 0.0000 m")
    assert load_ground_yaml(out).image_size == (960, 540)
    assert read_pairs(csv_path).image.shape == (5, 2)


@pytest.mark.parametrize(("name", "content", "match"), [
    ("short.csv", "1,2,3,4\n5,6,7,8\n9,10,11,12\n", "need at least 4 image<->ground pairs, got 3"),
    ("bad.csv", "u,v,x,y\n1,2,3,4\n1,2,3\n", r"bad.csv: line 3: expected 4 finite numbers u,v,x,y, got 3"),
    ("text.csv", "1,2,3,4\n1,a,3,4\n", r"text.csv: line 2: expected numbers u,v,x,y"),
    ("nokey.yaml", "points: []\n", r"nokey.yaml: points: unknown key"),
    ("missing.yaml", "image_size: [4, 4]\n", r"missing.yaml: pairs: missing required key"),
    ("badpair.yaml", "pairs:\n  - {image: [1, 2]}\n",
     r"badpair.yaml: pairs\[0\].ground: missing required key"),
    ("three.yaml", "pairs:\n  - [1, 2, 3]\n", r"three.yaml: pairs\[0\]: expected 4 numbers, got 3"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, name: str, content: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert _run(["calibrate", "ground", "--pairs", str(path), "--out", str(tmp_path / "H.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("percept: error: calibrate ground: ")
    assert __import__("re").search(match, err), err
    assert not (tmp_path / "H.yaml").exists()


def test_load_ground_yaml_names_the_key(tmp_path) -> None:
    path = tmp_path / "H.yaml"
    for text, match in [
        ("version: 1\nhomography: [[1, 0, 0], [0, 1, 0]]\n",
         r"H.yaml: homography: expected 3 rows of equal length"),
        ("version: 1\nhomography: [[1, 0, 0], [2, 0, 0], [0, 0, 0]]\n",
         r"H.yaml: homography: homography is singular"),
        ("homography: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]\n", r"H.yaml: version: missing required key"),
    ]:
        assert_rejects(load_ground_yaml, path, text, CalibrationError, match)
