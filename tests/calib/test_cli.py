"""``percept calibrate camera|check`` through a parser built with ``calib.cli.register``."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

from calib.cli import register
from calib.formats import load_percept_yaml
from percept.cli import CommandRegistry
from tests.calib.test_chessboard import K_TRUE, SIZE, rendered_views, write_views


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="percept")
    sub = p.add_subparsers(dest="command", required=True)
    register(CommandRegistry(commands=sub, bench=None))
    return p


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return int(args.func(args))


def test_camera_json_and_yaml(tmp_path, capsys):
    images = write_views(tmp_path / "views", rendered_views()[:12])
    out = tmp_path / "cam.yaml"
    rc = _run(["calibrate", "camera", "--images", str(images), "--board", "9x6", "--square", "0.025",
               "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert set(doc) == {"fx", "fy", "cx", "cy", "dist", "rms", "views_used"}
    truth = {"fx": K_TRUE[0, 0], "fy": K_TRUE[1, 1], "cx": K_TRUE[0, 2], "cy": K_TRUE[1, 2]}
    for key, value in truth.items():
        assert abs(doc[key] - value) / value < 0.005, (key, doc[key], value)
    assert doc["views_used"] == 12 and doc["rms"] < 0.3 and len(doc["dist"]) == 5
    cam = load_percept_yaml(out).cameras["camera"]
    assert (cam.width, cam.height) == SIZE and cam.model == "pinhole"
    assert cam.fx == pytest.approx(doc["fx"]) and cam.cy == pytest.approx(doc["cy"])
    assert np.allclose(cam.dist, doc["dist"])


def test_camera_from_video_with_step(tmp_path, capsys):
    path = tmp_path / "board.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, SIZE)
    for img in rendered_views()[:10]:
        for _ in range(2):
            writer.write(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    writer.release()
    out = tmp_path / "cam.yaml"
    rc = _run(["calibrate", "camera", "--video", str(path), "--step", "2", "--out", str(out),
               "--name", "camera_front"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "RMS" in captured.out and "over 10 views" in captured.out
    assert "rejected: none" in captured.out  # step 2 never sees the duplicate frames
    assert list(load_percept_yaml(out).cameras) == ["camera_front"]


def test_camera_without_a_board_exits_2(tmp_path, capsys):
    folder = tmp_path / "empty_scenes"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((120, 160), 40 * i, np.uint8))
    out = tmp_path / "cam.yaml"
    rc = _run(["calibrate", "camera", "--images", str(folder), "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert rc == 2
    assert "no chessboard with 9x6 inner corners" in captured.err
    assert captured.out == "" and not out.exists()


def test_camera_argument_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        _run(["calibrate", "camera", "--images", str(tmp_path), "--board", "nine", "--out", "x.yaml"])
    assert info.value.code == 2
    assert "COLSxROWS" in capsys.readouterr().err
    rc = _run(["calibrate", "camera", "--images", str(tmp_path), "--min-views", "2", "--out", "x.yaml"])
    assert rc == 2 and "min_views" in capsys.readouterr().err


def test_check_counts_only_the_points_in_view(tmp_path, capsys):
    """Regression: `calibrate check` reported every lidar point as drawn, even those behind the
    camera or outside the image."""
    from tests.calib.test_overlay import SYNTH

    (tmp_path / "calib.txt").write_text(SYNTH)
    pts = np.array([[5.0, 0.0, 0.0, 0.3], [40.0, -4.0, 2.0, 0.1], [-5.0, 0.0, 0.0, 0.0],
                    [5.0, 50.0, 0.0, 0.0], [-30.0, 1.0, 1.0, 0.0]], np.float32)
    pts.tofile(tmp_path / "scan.bin")
    cv2.imwrite(str(tmp_path / "img.png"), np.full((360, 1200, 3), 40, np.uint8))
    rc = _run(["calibrate", "check", "--calib", str(tmp_path / "calib.txt"),
               "--lidar", str(tmp_path / "scan.bin"), "--image", str(tmp_path / "img.png"),
               "--out", str(tmp_path / "o.png")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.strip() == f"wrote {tmp_path / 'o.png'} (1200x360): 2 of 5 lidar points in view"


def test_errors_are_one_line_in_the_percept_style(tmp_path, capsys):
    rc = _run(["calibrate", "check", "--calib", str(tmp_path / "none.txt"),
               "--lidar", str(tmp_path / "s.bin"), "--image", str(tmp_path / "i.png"),
               "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("percept: error: calibrate check: ") and "none.txt" in err[0]


def test_check_writes_overlay(shared_data, tmp_path, capsys):
    root = shared_data("kitti_object", "training")
    image_path = root / "image_2" / "000000.png"
    out = tmp_path / "overlay.png"
    rc = _run(["calibrate", "check", "--calib", str(root / "calib" / "000000.txt"),
               "--lidar", str(root / "velodyne" / "000000.bin"), "--image", str(image_path),
               "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    image = cv2.imread(str(image_path))
    overlay = cv2.imread(str(out))
    assert overlay is not None and overlay.shape == image.shape
    changed = np.any(overlay != image, axis=2)
    assert changed.sum() > 2000  # thousands of lidar points land in the image
    assert changed[: image.shape[0] // 3].sum() < changed.sum() / 10  # few points in the sky


def test_check_with_missing_image_exits_2(shared_data, tmp_path, capsys):
    root = shared_data("kitti_object", "training")
    rc = _run(["calibrate", "check", "--calib", str(root / "calib" / "000000.txt"),
               "--lidar", str(root / "velodyne" / "000000.bin"), "--image", str(tmp_path / "none.png"),
               "--out", str(tmp_path / "o.png")])
    assert rc == 2
    assert "none.png: missing or unreadable image" in capsys.readouterr().err


def test_installed_percept_command_runs_calibrate_check(shared_data, tmp_path):
    """The real `percept` entry point finds the calibrate command through its plugin group."""
    import subprocess
    import sys

    root = shared_data("kitti_object", "training")
    out = tmp_path / "overlay.png"
    res = subprocess.run(
        [sys.executable, "-m", "percept.cli", "calibrate", "check", "--calib", str(root / "calib/000000.txt"),
         "--lidar", str(root / "velodyne/000000.bin"), "--image", str(root / "image_2/000000.png"),
         "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    img = cv2.imread(str(out))
    assert img is not None and img.shape == cv2.imread(str(root / "image_2/000000.png")).shape
