"""``percept track3d`` on a small synthetic KITTI sequence: result files, tracks, scores, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion.kitti_results import SCORE_STEP, read_results
from percept.cli import build_parser
from percept.cli import main as percept_main

# rectified camera = camera 0; P2 as KITTI's; the IMU sits at the camera (identity chain, axes turned)
CALIB = "\n".join([
    "P0: 721.5 0 609.6 0 0 721.5 172.9 0 0 0 1 0",
    "P1: 721.5 0 609.6 -387.6 0 721.5 172.9 0 0 0 1 0",
    "P2: 721.5 0 609.6 44.86 0 721.5 172.9 0.2164 0 0 1 0.002746",
    "P3: 721.5 0 609.6 -339.5 0 721.5 172.9 2.200 0 0 1 0.002730",
    "R_rect 1 0 0 0 1 0 0 0 1",
    "Tr_velo_cam 0 -1 0 0 0 0 -1 0 1 0 0 0",
    "Tr_imu_velo 1 0 0 0 0 1 0 0 0 0 1 0",
]) + "\n"
FRAMES = 12
MOVING, PARKED = 5.0, 3.0  # detector scores of the two cars


def _oxts() -> str:
    v = [49.0, 8.0, 100.0] + [0.0] * 27  # the ego stands still
    return "\n".join(" ".join(f"{x:.9f}" for x in v) for _ in range(FRAMES)) + "\n"


def _det(frame: int, kind: int, score: float, x: float, z: float, hwl=(1.5, 1.6, 4.0),
         ry: float = 0.0) -> str:
    h, w, length = hwl
    return f"{frame},{kind},500,150,600,250,{score},{h},{w},{length},{x},1.7,{z},{ry},0.0"


@pytest.fixture
def kitti_dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    det, calib, oxts = tmp_path / "det", tmp_path / "calib", tmp_path / "oxts"
    for d in (det / "Car", det / "Pedestrian", calib, oxts):
        d.mkdir(parents=True)
    # one car drives away at 10 m/s (heading +z: ry = -pi/2), one is parked across the road
    cars = [_det(k, 2, MOVING, 2.0, 10.0 + 1.0 * k, ry=-np.pi / 2) for k in range(FRAMES)]
    cars += [_det(k, 2, PARKED, -3.0, 15.0) for k in range(FRAMES)]
    (det / "Car" / "0003.txt").write_text("\n".join(cars) + "\n")
    (det / "Pedestrian" / "0003.txt").write_text(_det(6, 1, 0.5, 1.0, 8.0, (1.7, 0.6, 0.8)) + "\n")
    (calib / "0003.txt").write_text(CALIB)
    (oxts / "0003.txt").write_text(_oxts())
    return det, calib, oxts


def _run(dirs: tuple[Path, Path, Path], out: Path, *extra: str, seqs: str = "3") -> int:
    det, calib, oxts = dirs
    return percept_main(["track3d", "--kitti-det", str(det), "--calib", str(calib), "--oxts", str(oxts),
                         "--seqs", seqs, "--out", str(out), *extra])


def test_parser_has_track3d() -> None:
    args = build_parser().parse_args(["track3d", "--kitti-det", "d", "--calib", "c", "--oxts", "o",
                                      "--seqs", "0001,0006", "--out", "r"])
    assert args.seqs == "0001,0006" and args.config.name == "kitti-fusion3d.yaml" and not args.frame_scores


def test_track3d_writes_one_track_per_car_with_track_scores(kitti_dirs, tmp_path) -> None:
    out = tmp_path / "res"
    assert _run(kitti_dirs, out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["Car", "Cyclist", "Pedestrian"]
    ped = read_results(out / "Pedestrian" / "0003.txt")  # one detection, at frame 6: min_hits 1
    assert ped.frame.tolist() == [6, 7, 8, 9]  # then reported through 3 missed frames (0.35 s)
    np.testing.assert_allclose(ped.bottom, np.tile([1.0, 1.7, 8.0], (4, 1)), atol=1e-6)
    assert read_results(out / "Cyclist" / "0003.txt").frame.size == 0
    cars = read_results(out / "Car" / "0003.txt")
    ids = np.unique(cars.track_id)
    assert len(ids) == 2
    by_id = {int(t): cars.select(cars.track_id == t) for t in ids}
    moving = next(r for r in by_id.values() if np.ptp(r.bottom[:, 2]) > 5)
    parked = next(r for r in by_id.values() if r is not moving)
    for rows in (moving, parked):
        assert np.array_equal(rows.frame, np.arange(FRAMES))  # reported from frame 0 (AB3DMOT's rule)
        assert len(np.unique(rows.score)) == 1  # the track's mean, on every row
        assert rows.score[0] / SCORE_STEP == pytest.approx(round(rows.score[0] / SCORE_STEP))
        assert (rows.box2d[:, 2] > rows.box2d[:, 0]).all() and (rows.box2d[:, 0] >= 0).all()
        assert (rows.box2d[:, 2] <= 1241).all() and (rows.box2d[:, 3] <= 374).all()
    assert moving.score[0] > parked.score[0]
    np.testing.assert_allclose(moving.bottom[-4:, 2], 10.0 + np.arange(FRAMES - 4, FRAMES), atol=0.3)
    np.testing.assert_allclose(parked.bottom[:, [0, 2]], np.tile([-3.0, 15.0], (FRAMES, 1)), atol=0.05)
    np.testing.assert_allclose(parked.hwl, np.tile([1.5, 1.6, 4.0], (FRAMES, 1)), atol=0.05)


def test_frame_scores_grow_with_the_matches(kitti_dirs, tmp_path) -> None:
    out = tmp_path / "res"
    assert _run(kitti_dirs, out, "--frame-scores") == 0
    cars = read_results(out / "Car" / "0003.txt")
    first = cars.select(cars.track_id == cars.track_id[0])
    assert (np.diff(first.score) > 0).all()  # (s + 1) * n / (n + 3): the same detection score, more matches


@pytest.mark.parametrize(("args", "message"), [
    ({"seqs": "3,x"}, "--seqs"),
    ({"seqs": "4"}, "no calibration file"),
    ({"extra": ("--config", "nope.yaml")}, "nope.yaml"),
])
def test_bad_input_is_one_error_line(kitti_dirs, tmp_path, capsys, args, message) -> None:
    assert _run(kitti_dirs, tmp_path / "res", *args.get("extra", ()), seqs=args.get("seqs", "3")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("percept: error: ") and message in err[0]


def test_a_configuration_without_the_kitti_sensor_is_refused(kitti_dirs, tmp_path, capsys) -> None:
    cfg = tmp_path / "plain.yaml"
    cfg.write_text("fixed_frame: world\nego_frame: imu\n")  # boxes would be read as z-up
    assert _run(kitti_dirs, tmp_path / "res", "--config", str(cfg)) == 2
    assert "sensors.kitti" in capsys.readouterr().err


def test_missing_detection_folder_is_one_error_line(kitti_dirs, tmp_path, capsys) -> None:
    _det_dir, calib, oxts = kitti_dirs
    assert _run((tmp_path / "none", calib, oxts), tmp_path / "res") == 2
    assert capsys.readouterr().err.startswith("percept: error: --kitti-det")
