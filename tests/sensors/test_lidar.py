"""KITTI .bin loading on the shared samples and the folder-playing LidarFileSource."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from percept.config import build
from percept.errors import ConfigError
from percept.messages import PointCloud
from percept.node import LocalRunner
from sensors.errors import SensorError
from sensors.lidar import (
    KITTI_FIELDS,
    LidarFileSource,
    LidarFileSourceConfig,
    load_kitti_bin,
    load_lidar_file,
)
from sensors.pcd import write_pcd


def _kitti_files(shared_data) -> list[Path]:
    files = sorted(shared_data("kitti_object", "training", "velodyne").glob("*.bin"))
    assert len(files) >= 3
    return files


def test_kitti_samples_load(shared_data) -> None:
    for f in _kitti_files(shared_data):
        pts = load_kitti_bin(f)
        assert pts.dtype == np.float32
        assert pts.shape == (f.stat().st_size // 16, 4)
        assert np.isfinite(pts).all()
        r = np.linalg.norm(pts[:, :3], axis=1)
        assert 40 < r.max() < 130  # HDL-64E: returns out to ~120 m
        assert pts[:, 3].min() >= 0 and pts[:, 3].max() <= 1  # KITTI reflectance is 0..1
        assert np.median(pts[:, 2]) < 0  # sensor 1.73 m above the road: most returns below it
        same, fields = load_lidar_file(f)
        assert fields == KITTI_FIELDS and np.array_equal(same, pts)


def test_kitti_bad_size(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\0" * 20)
    with pytest.raises(SensorError, match=r"bad\.bin.*multiple of 16.*got 20"):
        load_kitti_bin(bad)
    with pytest.raises(SensorError, match="unknown lidar file type"):
        load_lidar_file(tmp_path / "x.ply")


def _folder(tmp_path: Path, shared_data) -> tuple[Path, list[np.ndarray]]:
    """kitti .bin links, a bad .bin, a .pcd and an unrelated file; returns the expected clouds in order."""
    d = tmp_path / "scans"
    d.mkdir()
    expected = []
    for i, f in enumerate(_kitti_files(shared_data)[:2]):
        (d / f"{i:03d}.bin").symlink_to(f)
        expected.append(load_kitti_bin(f))
    (d / "002.bin").write_bytes(b"\1" * 17)  # truncated: must be skipped and counted
    pcd = np.arange(30, dtype=np.float32).reshape(10, 3)
    write_pcd(d / "003.pcd", pcd, ("x", "y", "z"), "binary_compressed")
    expected.append(pcd)
    (d / "notes.txt").write_text("not a scan")
    return d, expected


def test_source_plays_folder_and_survives_bad_file(tmp_path: Path, shared_data) -> None:
    d, expected = _folder(tmp_path, shared_data)
    cfg = build(LidarFileSourceConfig, {"folder": str(d), "rate_hz": 10.0, "topic": "lidar/top"})
    src = LidarFileSource(cfg)
    runner = LocalRunner(src, name="lidar", start_ns=1_000)
    runner.advance_to(1_000 + 2_000_000_000)  # 2 s at 10 Hz: 4 files, then nothing more
    outs = runner.outputs
    assert [t for t, _ in outs] == ["lidar/top"] * 3
    msgs = [m for _, m in outs]
    assert all(isinstance(m, PointCloud) and m.frame_id == "lidar_top" for m in msgs)
    assert [m.seq for m in msgs] == [0, 1, 2]
    assert [m.stamp_ns for m in msgs] == [1_000 + k * 100_000_000 for k in (1, 2, 4)]
    for m, want in zip(msgs, expected, strict=True):
        np.testing.assert_array_equal(m.points, want)
    assert msgs[2].fields == ("x", "y", "z")
    assert src.bad_files == 1 and src.player.finished
    runner.close()


def test_source_loop_and_fast_rate(tmp_path: Path, shared_data) -> None:
    d, _ = _folder(tmp_path, shared_data)
    src = LidarFileSource(LidarFileSourceConfig(folder=str(d), rate_hz=0, loop=True))
    runner = LocalRunner(src)
    runner.advance_to(8_000_000)  # 1 kHz timer: 8 ticks = two passes over 4 files
    assert [m.seq for _, m in runner.outputs] == [0, 1, 2, 3, 4, 5]
    assert src.bad_files == 2


def test_source_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rate_hz"):
        build(LidarFileSourceConfig, {"rate_hz": -1})
    with pytest.raises(ConfigError, match="fps"):
        build(LidarFileSourceConfig, {"fps": 3})
    with pytest.raises(SensorError, match="not a folder"):
        LocalRunner(LidarFileSource(LidarFileSourceConfig(folder=str(tmp_path / "nope"))))
    with pytest.raises(SensorError, match=r"no \.bin/\.pcd files"):
        LocalRunner(LidarFileSource(LidarFileSourceConfig(folder=str(tmp_path))))
