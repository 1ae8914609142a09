"""Radar point files (View-of-Delft ``.bin``, generic CSV) and a source that plays a folder of them.

View-of-Delft radar scans are raw little-endian float32 records of 7 fields ``x, y, z, RCS,
v_r, v_r_compensated, time`` (28 bytes a target) in the radar frame: x forward, y left, z up,
metres; RCS in dBsm; radial velocities in m/s (positive moving away); ``v_r_compensated`` is
``v_r`` with the ego motion removed.

Polar coordinates follow :class:`percept.messages.RadarScan`: ``range = |xyz|``, azimuth
``atan2(y, x)`` (positive to the left), elevation ``atan2(z, hypot(x, y))`` (positive up).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from percept.messages import RadarScan
from sensors.errors import SensorError
from sensors.playback import FolderSource, FolderSourceConfig, read_float32_records

log = logging.getLogger(__name__)

__all__ = ["VOD_FIELDS", "RadarFileSource", "RadarFileSourceConfig", "load_radar_csv", "load_radar_file",
           "load_vod_radar", "scan_from_xyz"]

VOD_FIELDS: tuple[str, ...] = ("x", "y", "z", "rcs", "v_r", "v_r_compensated", "time")

# CSV column aliases (lower-case header names) → canonical meaning.
_ALIASES: dict[str, tuple[str, ...]] = {
    "x": ("x", "x_m"), "y": ("y", "y_m"), "z": ("z", "z_m"),
    "range": ("range", "range_m", "r"),
    "azimuth": ("azimuth", "azimuth_rad", "az"), "azimuth_deg": ("azimuth_deg",),
    "elevation": ("elevation", "elevation_rad", "el"), "elevation_deg": ("elevation_deg",),
    "range_rate": ("range_rate", "range_rate_mps", "v_r", "doppler", "vr"),
    "rcs": ("rcs", "rcs_dbsm"),
}


def scan_from_xyz(xyz: np.ndarray, range_rate: np.ndarray, rcs: np.ndarray, *, stamp_ns: int, frame_id: str,
                  seq: int = 0, extra: np.ndarray | None = None,
                  extra_fields: tuple[str, ...] = ()) -> RadarScan:
    """A :class:`RadarScan` with cartesian float (N, 3) ``xyz`` (metres) and derived polar columns."""
    xyz = np.ascontiguousarray(xyz, dtype=np.float32)
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    ground = np.hypot(x, y)
    return RadarScan(
        stamp_ns=stamp_ns, frame_id=frame_id, seq=seq, xyz=xyz,
        range_m=np.sqrt(ground**2 + z**2).astype(np.float32),
        azimuth_rad=np.arctan2(y, x).astype(np.float32),
        elevation_rad=np.arctan2(z, ground).astype(np.float32),
        range_rate_mps=np.ascontiguousarray(range_rate, dtype=np.float32),
        rcs_dbsm=np.ascontiguousarray(rcs, dtype=np.float32),
        extra=None if extra is None else np.ascontiguousarray(extra, dtype=np.float32),
        extra_fields=extra_fields if extra is not None else ())


def load_vod_radar(path: str | Path, *, stamp_ns: int = 0, frame_id: str = "radar",
                   seq: int = 0) -> RadarScan:
    """A View-of-Delft radar ``.bin`` as a :class:`RadarScan`.

    ``range_rate_mps`` is ``v_r``; ``extra`` holds ``v_r_compensated`` and ``time`` (seconds).
    """
    a = read_float32_records(path, 7, "View-of-Delft radar .bin", "target")
    if not np.isfinite(a).all():
        raise SensorError(f"{path}: non-finite values in {int((~np.isfinite(a)).any(axis=1).sum())} targets")
    return scan_from_xyz(a[:, 0:3], a[:, 4], a[:, 3], stamp_ns=stamp_ns, frame_id=frame_id, seq=seq,
                         extra=a[:, 5:7], extra_fields=("v_r_compensated", "time"))


def _pick(path: Path, columns: dict[str, int], meaning: str) -> int | None:
    hits = [columns[a] for a in _ALIASES[meaning] if a in columns]
    if len(hits) > 1:
        raise SensorError(f"{path}: several columns mean {meaning}: {list(_ALIASES[meaning])}")
    return hits[0] if hits else None


def load_radar_csv(path: str | Path, *, stamp_ns: int = 0, frame_id: str = "radar",
                   seq: int = 0) -> RadarScan:
    """A radar CSV file (one header row, one target a row) as a :class:`RadarScan`.

    Positions come from ``range`` (m) and ``azimuth`` (rad; or ``azimuth_deg``) with optional
    ``elevation`` (rad; or ``elevation_deg``), or from ``x, y`` (m) with optional ``z``. Also
    required: ``range_rate`` (m/s, positive away; alias ``v_r``) and ``rcs`` (dBsm). Other numeric
    columns go to ``extra``. Header names are case-insensitive.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise SensorError(f"{path}: cannot read: {exc}") from exc
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise SensorError(f"{path}: empty file, expected a header row")
    names = [c.strip().lower() for c in rows[0]]
    if len(set(names)) != len(names) or not all(names):
        raise SensorError(f"{path}: header row has empty or duplicate column names: {rows[0]}")
    columns = {n: i for i, n in enumerate(names)}
    data = np.empty((len(rows) - 1, len(names)), dtype=np.float64)
    for i, row in enumerate(rows[1:]):
        try:
            if len(row) != len(names):
                raise ValueError
            data[i] = [float(c) for c in row]
        except ValueError:
            raise SensorError(f"{path}: line {i + 2}: expected {len(names)} numeric values, "
                              f"got {row}") from None
    idx = {m: _pick(path, columns, m) for m in _ALIASES}
    for need in ("range_rate", "rcs"):
        if idx[need] is None:
            raise SensorError(f"{path}: missing column {need!r} (accepted names: {list(_ALIASES[need])}); "
                              f"have {names}")
    az = idx["azimuth"] if idx["azimuth"] is not None else idx["azimuth_deg"]
    if idx["range"] is not None and az is not None:
        r = data[:, idx["range"]]
        azr = data[:, az] if idx["azimuth"] is not None else np.radians(data[:, az])
        el = idx["elevation"] if idx["elevation"] is not None else idx["elevation_deg"]
        elr = np.zeros_like(r) if el is None else (
            data[:, el] if idx["elevation"] is not None else np.radians(data[:, el]))
        ground = r * np.cos(elr)
        xyz = np.stack([ground * np.cos(azr), ground * np.sin(azr), r * np.sin(elr)], axis=1)
    elif idx["x"] is not None and idx["y"] is not None:
        z = data[:, idx["z"]] if idx["z"] is not None else np.zeros(len(data))
        xyz = np.stack([data[:, idx["x"]], data[:, idx["y"]], z], axis=1)
    else:
        raise SensorError(f"{path}: missing position columns: need range and azimuth (or azimuth_deg), "
                          f"or x and y; have {names}")
    used = {i for i in idx.values() if i is not None}
    rest = [i for i in range(len(names)) if i not in used]
    return scan_from_xyz(xyz, data[:, idx["range_rate"]], data[:, idx["rcs"]], stamp_ns=stamp_ns,
                         frame_id=frame_id, seq=seq, extra=data[:, rest] if rest else None,
                         extra_fields=tuple(names[i] for i in rest))


def load_radar_file(path: str | Path, *, stamp_ns: int = 0, frame_id: str = "radar",
                    seq: int = 0) -> RadarScan:
    """A ``.bin`` (View-of-Delft) or ``.csv`` radar file as a :class:`RadarScan`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bin":
        return load_vod_radar(path, stamp_ns=stamp_ns, frame_id=frame_id, seq=seq)
    if suffix == ".csv":
        return load_radar_csv(path, stamp_ns=stamp_ns, frame_id=frame_id, seq=seq)
    raise SensorError(f"{path}: unknown radar file type {suffix!r}, expected .bin or .csv")


@dataclass(frozen=True)
class RadarFileSourceConfig(FolderSourceConfig):
    """Options of :class:`RadarFileSource`: a folder of ``.bin`` (View-of-Delft) and/or ``.csv``
    radar files published as :class:`~percept.messages.RadarScan` (see
    :class:`~sensors.playback.FolderSourceConfig`)."""

    topic: str = "radar/scan"
    frame_id: str = "radar"
    rate_hz: float = 13.0


class RadarFileSource(FolderSource):
    """Plays a folder of radar files as :class:`~percept.messages.RadarScan` messages.

    Scans are stamped with the clock time at which they are published; unreadable files are
    counted in :attr:`bad_files`, logged and skipped.
    """

    Config = RadarFileSourceConfig
    suffixes = (".bin", ".csv")

    def load(self, path: Path, stamp_ns: int, seq: int) -> RadarScan:
        return load_radar_file(path, stamp_ns=stamp_ns, frame_id=self.config.frame_id, seq=seq)
