"""Lidar point files (KITTI ``.bin``, PCD) and a source that plays a folder of them.

KITTI velodyne scans are raw little-endian float32 records ``x, y, z, reflectance`` (16 bytes a
point) in the Velodyne frame of the KITTI car: x forward, y left, z up, metres; reflectance
0..1. PCD files keep whatever frame they were written in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from percept.message import Message
from percept.messages import PointCloud
from percept.node import NodeContext, Processor
from sensors.errors import SensorError
from sensors.pcd import read_pcd

log = logging.getLogger(__name__)

__all__ = ["KITTI_FIELDS", "FolderPlayer", "LidarFileSource", "LidarFileSourceConfig", "list_files",
           "load_kitti_bin", "load_lidar_file"]

KITTI_FIELDS: tuple[str, ...] = ("x", "y", "z", "intensity")
#: Timer period used when a source is asked for ``rate_hz = 0`` (as fast as possible).
FAST_PERIOD_S = 1e-3

M = TypeVar("M", bound=Message)


def load_kitti_bin(path: str | Path) -> np.ndarray:
    """float32 (N, 4) ``x, y, z, intensity`` from a KITTI velodyne ``.bin`` (N = size / 16)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SensorError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) % 16:
        raise SensorError(f"{path}: KITTI .bin size must be a multiple of 16 bytes (4 float32 a point), "
                          f"got {len(raw)}")
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 4).astype(np.float32)


def load_lidar_file(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """float32 (N, C) points and their C field names from a ``.bin`` (KITTI) or ``.pcd`` file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bin":
        return load_kitti_bin(path), KITTI_FIELDS
    if suffix == ".pcd":
        cloud = read_pcd(path)
        return cloud.points, cloud.fields
    raise SensorError(f"{path}: unknown lidar file type {suffix!r}, expected .bin or .pcd")


def list_files(folder: str | Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of ``folder`` whose suffix (case-insensitive) is one of ``suffixes``, sorted by name."""
    d = Path(folder)
    if not d.is_dir():
        raise SensorError(f"{d}: not a folder")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise SensorError(f"{d}: no {'/'.join(suffixes)} files")
    return files


class FolderPlayer(Generic[M]):
    """Publishes one message per file of a sorted list on a timer; unreadable files are skipped.

    Args:
        ctx: the node context (clock, timers, publish).
        files: files to play, in order.
        load: ``(path, stamp_ns, seq) -> message``; raises :class:`SensorError` for a bad file.
        topic: output topic.
        rate_hz: files per second of clock time; 0 plays as fast as a timer allows.
        loop: start again from the first file after the last.
    """

    def __init__(self, ctx: NodeContext, files: list[Path], load: Callable[[Path, int, int], M],
                 topic: str, rate_hz: float, loop: bool) -> None:
        self._ctx, self._files, self._load = ctx, files, load
        self._topic, self._loop = topic, loop
        self._index = 0
        self.seq = 0
        self.bad_files = 0
        ctx.add_timer(1.0 / rate_hz if rate_hz > 0 else FAST_PERIOD_S, self._tick)

    @property
    def finished(self) -> bool:
        """True once every file was played (never when looping)."""
        return self._index >= len(self._files)

    def _tick(self, now_ns: int) -> None:
        if self.finished:
            if not self._loop:
                return
            self._index = 0
        path = self._files[self._index]
        self._index += 1
        try:
            msg = self._load(path, now_ns, self.seq)
        except (SensorError, OSError, ValueError) as exc:
            self.bad_files += 1
            self._ctx.log.warning("skipping unreadable file (%d so far): %s", self.bad_files, exc)
            return
        self.seq += 1
        self._ctx.publish(self._topic, msg)


@dataclass(frozen=True)
class FolderSourceConfig:
    """Options shared by the file-folder sources (lidar, radar).

    Attributes:
        folder: folder of sensor files, played in name order.
        topic: output topic.
        frame_id: frame of the data.
        rate_hz: messages per second of clock time; 0 plays as fast as a timer allows (1 kHz).
        loop: start again after the last file.
    """

    folder: str = "."
    topic: str = "sensor"
    frame_id: str = "sensor"
    rate_hz: float = 10.0
    loop: bool = False

    def __post_init__(self) -> None:
        if self.rate_hz < 0:
            raise ValueError(f"rate_hz: expected >= 0, got {self.rate_hz}")
        if not self.topic or not self.frame_id:
            raise ValueError("topic and frame_id must be non-empty")


@dataclass(frozen=True)
class LidarFileSourceConfig(FolderSourceConfig):
    """Options of :class:`LidarFileSource`: a folder of ``.bin`` (KITTI) and/or ``.pcd`` files
    published as :class:`~percept.messages.PointCloud` (see :class:`FolderSourceConfig`)."""

    topic: str = "lidar/points"
    frame_id: str = "lidar_top"
    rate_hz: float = 10.0


class LidarFileSource(Processor):
    """Plays a folder of lidar files as :class:`~percept.messages.PointCloud` messages.

    Each cloud is stamped with the clock time at which it is published; ``seq`` counts published
    clouds. Unreadable files are counted in :attr:`bad_files`, logged and skipped.
    """

    Config = LidarFileSourceConfig

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: LidarFileSourceConfig = self.config
        files = list_files(cfg.folder, (".bin", ".pcd"))
        self.player = FolderPlayer(ctx, files, self._load, cfg.topic, cfg.rate_hz, cfg.loop)

    def _load(self, path: Path, stamp_ns: int, seq: int) -> PointCloud:
        points, fields = load_lidar_file(path)
        return PointCloud(stamp_ns=stamp_ns, frame_id=self.config.frame_id, seq=seq,
                          points=points, fields=fields)

    @property
    def bad_files(self) -> int:
        """Files that could not be read so far."""
        return self.player.bad_files
