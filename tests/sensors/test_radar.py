"""View-of-Delft radar files, the CSV radar loader and the folder-playing RadarFileSource."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from percept.messages import RadarScan
from percept.node import LocalRunner
from sensors.errors import SensorError
from sensors.radar import RadarFileSource, RadarFileSourceConfig, load_radar_csv, load_vod_radar


def _vod_files(shared_data) -> list[Path]:
    files = sorted(shared_data("vod", "radar", "training", "velodyne").glob("*.bin"))
    assert len(files) >= 3
    return files


def test_vod_samples_load_all_fields(shared_data) -> None:
    for f in _vod_files(shared_data):
        raw = np.fromfile(f, dtype="<f4").reshape(-1, 7)
        scan = load_vod_radar(f, stamp_ns=5, frame_id="radar_vod", seq=2)
        n = f.stat().st_size // 28
        assert len(scan) == n and (scan.stamp_ns, scan.frame_id, scan.seq) == (5, "radar_vod", 2)
        np.testing.assert_array_equal(scan.xyz, raw[:, :3])
        np.testing.assert_array_equal(scan.rcs_dbsm, raw[:, 3])
        np.testing.assert_array_equal(scan.range_rate_mps, raw[:, 4])
        assert scan.extra_fields == ("v_r_compensated", "time")
        np.testing.assert_array_equal(scan.extra, raw[:, 5:7])
        for arr in (scan.xyz, scan.range_m, scan.azimuth_rad, scan.elevation_rad, scan.extra):
            assert np.isfinite(arr).all()
        assert scan.range_m.min() > 0.5 and scan.range_m.max() < 150  # ZF FRGen21 3+1D radar
        assert (np.abs(scan.range_rate_mps) < 60).all()
        assert (np.abs(scan.rcs_dbsm) < 80).all()
        # polar columns agree with the cartesian ones
        x, y, z = scan.xyz.T
        np.testing.assert_allclose(scan.range_m, np.sqrt(x**2 + y**2 + z**2), rtol=1e-5)
        np.testing.assert_allclose(scan.azimuth_rad, np.arctan2(y, x), atol=1e-6)
        np.testing.assert_allclose(scan.range_m * np.sin(scan.elevation_rad), z, atol=1e-4)
        assert (x > -1).all() and np.median(np.abs(scan.azimuth_rad)) < np.radians(45)  # forward-looking


def test_vod_bad_size(tmp_path: Path) -> None:
    (tmp_path / "b.bin").write_bytes(b"\0" * 30)
    with pytest.raises(SensorError, match=r"b\.bin.*multiple of 28.*got 30"):
        load_vod_radar(tmp_path / "b.bin")
    (tmp_path / "n.bin").write_bytes(np.full(7, np.nan, np.float32).tobytes())
    with pytest.raises(SensorError, match="non-finite"):
        load_vod_radar(tmp_path / "n.bin")


def test_csv_polar_degrees_and_extra(tmp_path: Path) -> None:
    p = tmp_path / "polar.csv"
    p.write_text("Range,azimuth_deg,elevation_deg,range_rate,RCS,snr\n10,90,0,-1.5,3,20\n20,0,30,2,-4,11\n")
    scan = load_radar_csv(p, frame_id="r1")
    np.testing.assert_allclose(scan.xyz, [[0, 10, 0], [20 * np.cos(np.pi / 6), 0, 10]], atol=1e-5)
    np.testing.assert_allclose(scan.range_m, [10, 20], rtol=1e-6)
    np.testing.assert_allclose(scan.azimuth_rad, [np.pi / 2, 0], atol=1e-6)
    np.testing.assert_allclose(scan.elevation_rad, [0, np.pi / 6], atol=1e-6)
    np.testing.assert_array_equal(scan.range_rate_mps, [-1.5, 2])
    np.testing.assert_array_equal(scan.rcs_dbsm, [3, -4])
    assert scan.extra_fields == ("snr",) and scan.extra[:, 0].tolist() == [20, 11]


def test_csv_cartesian_radians(tmp_path: Path) -> None:
    p = tmp_path / "xy.csv"
    p.write_text("x,y,v_r,rcs_dbsm\n3,4,1,0\n")
    scan = load_radar_csv(p)
    np.testing.assert_allclose(scan.xyz, [[3, 4, 0]])
    np.testing.assert_allclose(scan.range_m, [5])
    assert scan.extra is None
    p.write_text("range,azimuth,range_rate,rcs\n2,-1.0,0,0\n")
    np.testing.assert_allclose(load_radar_csv(p).xyz, [[2 * np.cos(-1), 2 * np.sin(-1), 0]], atol=1e-6)


@pytest.mark.parametrize(("text", "match"), [
    ("x,y,rcs\n1,2,3\n", "missing column 'range_rate'"),
    ("x,y,range_rate\n1,2,3\n", "missing column 'rcs'"),
    ("x,z,range_rate,rcs\n1,2,3,4\n", "missing position columns"),
    ("range,range_rate,rcs\n1,2,3\n", "missing position columns"),
    ("x,y,range_rate,rcs\n1,2,3\n", "line 2: expected 4"),
    ("x,y,range_rate,rcs\n1,2,three,4\n", "line 2: expected 4 numeric"),
    ("x,y,v_r,range_rate,rcs\n1,2,3,4,5\n", "several columns mean range_rate"),
    ("", "empty file"),
])
def test_csv_errors(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(SensorError, match=match) as err:
        load_radar_csv(p)
    assert str(p) in str(err.value)


def test_source_plays_folder_and_survives_bad_file(tmp_path: Path, shared_data) -> None:
    d = tmp_path / "radar"
    d.mkdir()
    vod = _vod_files(shared_data)
    for i, f in enumerate(vod):
        (d / f"{i:02d}.bin").symlink_to(f)
    (d / "03.csv").write_text("x,y\n1,2\n")  # missing columns: skipped, counted
    (d / "04.csv").write_text("x,y,range_rate,rcs\n1,2,3,4\n5,6,7,8\n")
    src = RadarFileSource(RadarFileSourceConfig(folder=str(d), rate_hz=20.0, frame_id="radar_front"))
    runner = LocalRunner(src, start_ns=10**18)
    runner.advance_to(10**18 + 10**9)
    msgs = [m for _, m in runner.outputs]
    assert [t for t, _ in runner.outputs] == ["radar/scan"] * 4
    assert all(isinstance(m, RadarScan) and m.frame_id == "radar_front" for m in msgs)
    assert [m.seq for m in msgs] == [0, 1, 2, 3]
    assert [m.stamp_ns - 10**18 for m in msgs] == [50_000_000, 100_000_000, 150_000_000, 250_000_000]
    assert [len(m) for m in msgs] == [f.stat().st_size // 28 for f in vod] + [2]
    assert src.bad_files == 1
    runner.close()
