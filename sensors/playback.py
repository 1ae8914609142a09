"""Recorded files played as live sensors: the options and the timer logic every file source shares.

Two kinds of source build on this module:

* folder sources (:mod:`sensors.lidar`, :mod:`sensors.radar`) publish one message per file of a
  folder, in name order, stamped with the clock time at which it is published;
* dataset sources (:mod:`sensors.datasets.kitti_tracking`, :mod:`sensors.datasets.mot`) publish
  one recorded frame per tick on a few topics, stamped with the frame's data time
  ``t0 + capture offset`` whatever the playback rate.

:class:`PlaybackConfig` is the base of all their configs; it checks the kinds of field they share
by name, so each source keeps the option names its users already write in graph files.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sized
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar, Generic, Protocol, TypeVar

import numpy as np

from percept.message import Message
from percept.node import NodeContext, Processor
from sensors.errors import SensorError

log = logging.getLogger(__name__)

__all__ = ["DatasetSource", "DatasetSourceConfig", "FolderPlayer", "FolderSource", "FolderSourceConfig",
           "PlaybackConfig", "RecordedSequence", "list_files", "read_float32_records"]

M = TypeVar("M", bound=Message)
#: One output of a dataset frame: ``(topic, build)``; ``build()`` makes the message (may raise).
Output = tuple[str, Callable[[], Message]]

_PATH_FIELDS = ("path", "root", "folder")
_RATE_FIELDS = ("rate", "rate_hz")


def _is_frame(name: str) -> bool:
    return name == "frame_id" or name.startswith("frame_")


@dataclass(frozen=True)
class PlaybackConfig:
    """Base of the options of every file-playing source; checks the fields they share, by name.

    * ``path``, ``root``, ``folder`` (where the files are): non-empty;
    * ``rate`` (a speed factor) and ``rate_hz`` (files per second): finite and >= 0 (0: as fast
      as a timer allows);
    * ``start_ns``: None or >= 0;
    * ``topic``: non-empty; ``topic_*``: a topic, or "" to disable that output, not all "";
    * ``frame_id`` and ``frame_*``: non-empty frame ids.

    Raises ValueError naming the field (``percept.config.build`` turns it into a ConfigError).
    """

    def __post_init__(self) -> None:
        optional_topics: dict[str, str] = {}
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            if name in _PATH_FIELDS and not value:
                raise ValueError(f"{name}: expected a file or folder path, got {value!r}")
            if name in _RATE_FIELDS and not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected >= 0 (0: as fast as possible), got {value}")
            if name == "start_ns" and value is not None and value < 0:
                raise ValueError(f"start_ns: expected None or >= 0, got {value}")
            if name == "topic" and not value:
                raise ValueError("topic: expected a non-empty topic")
            if name.startswith("topic_"):
                optional_topics[name] = value
            if _is_frame(name) and not value:
                raise ValueError(f"{name}: expected a non-empty frame id")
        if optional_topics and not any(optional_topics.values()):
            raise ValueError(f"{', '.join(optional_topics)}: all empty, the source would publish nothing")


# --- folder sources -------------------------------------------------------------------------------

def read_float32_records(path: str | Path, width: int, what: str, record: str) -> np.ndarray:
    """float32 (N, ``width``) from a raw little-endian float32 file (a ``record`` of ``width`` values,
    e.g. a point); SensorError naming the file when unreadable or of a size that is no multiple."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SensorError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) % (4 * width):
        raise SensorError(f"{path}: {what} size must be a multiple of {4 * width} bytes "
                          f"({width} float32 a {record}), got {len(raw)}")
    return np.frombuffer(raw, dtype="<f4").reshape(-1, width).astype(np.float32)


#: Timer period of a folder source asked for ``rate_hz = 0`` (as fast as possible).
FAST_PERIOD_S = 1e-3


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
        loop: start again from the first file after the last; without it, the tick after the
            last file ends the node's stream (``ctx.end_stream()``).
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
                self._ctx.end_stream()  # idempotent: the node's stream is over
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
class FolderSourceConfig(PlaybackConfig):
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


class FolderSource(Processor):
    """Base of the folder sources: plays the files of ``config.folder`` whose suffix is one of
    :attr:`suffixes`, one message per file (built by :meth:`load`), stamped with the clock time at
    which it is published; ``seq`` counts published messages. Unreadable files are counted in
    :attr:`bad_files`, logged and skipped."""

    Config: ClassVar[type] = FolderSourceConfig
    suffixes: ClassVar[tuple[str, ...]] = ()

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: FolderSourceConfig = self.config
        files = list_files(cfg.folder, self.suffixes)
        self.player = FolderPlayer(ctx, files, self.load, cfg.topic, cfg.rate_hz, cfg.loop)

    def load(self, path: Path, stamp_ns: int, seq: int) -> Message:
        """The message of one file; raises :class:`SensorError` for a bad file."""
        raise NotImplementedError

    @property
    def bad_files(self) -> int:
        """Files that could not be read so far."""
        return self.player.bad_files


# --- dataset sources ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class DatasetSourceConfig(PlaybackConfig):
    """Options shared by the dataset sources (KITTI tracking, MOTChallenge).

    Attributes:
        rate: playback speed, 1.0 = the dataset's own frame rate; 0 as fast as possible.
        start_ns: stamp of the first frame; None: the clock time of the first tick.
    """

    rate: float = 1.0
    start_ns: int | None = None


class RecordedSequence(Sized, Protocol):
    """A recorded sequence as the dataset formats read it (:class:`sensors.datasets.mot_format.
    MotSequence`, :class:`sensors.datasets.kitti_tracking.KittiTrackingSequence`): ``len`` frames
    numbered from the dataset's first frame number, recorded at ``frame_rate`` frames per second."""

    name: str
    frame_rate: float

    def stamp_ns(self, frame: int, start_ns: int = 0) -> int:
        """Capture time (ns) of the dataset's frame number ``frame`` in a sequence starting at
        ``start_ns``."""
        ...


class DatasetSource(Processor):
    """Base of the dataset sources: publishes frame ``i = 0 .. len(sequence) - 1`` of the sequence
    opened by :meth:`open`, one per tick, as the messages :meth:`outputs` lists, each stamped with
    :meth:`stamp_ns` (data time from ``t0``, whatever the playback ``rate``). After the last frame
    the source logs once, ends the node's stream (``ctx.end_stream()``) and stays idle
    (:attr:`finished`). An output that fails to build is
    counted (:attr:`errors`), logged and skipped; the other outputs of its frame still go out.

    With a :class:`RecordedSequence` the frame period, the stamps and the log label come from it;
    a source of any other ``Sized`` sequence overrides :meth:`frame_period_s` and :meth:`stamp_ns`.
    """

    Config: ClassVar[type] = DatasetSourceConfig
    #: Timer period for ``rate = 0`` (virtual clocks need a period > 0).
    fast_period_s: ClassVar[float] = 1e-6
    #: The dataset's name in the logs, before the sequence's ``name`` ("": the class name alone).
    dataset: ClassVar[str] = ""
    #: The dataset's number of frame ``index`` 0, as the logs name frames (MOT counts from 1).
    first_frame: ClassVar[int] = 0

    def open(self) -> RecordedSequence:
        """The sequence to play (its ``len`` is the number of frames); called once by :meth:`start`."""
        raise NotImplementedError

    def frame_period_s(self) -> float:
        """Seconds between two frames of the opened sequence at ``rate = 1``."""
        return 1.0 / self.sequence.frame_rate

    def stamp_ns(self, index: int, t0_ns: int) -> int:
        """Data-time stamp of frame ``index`` (0-based) of a sequence starting at ``t0_ns``."""
        return self.sequence.stamp_ns(index + self.first_frame, t0_ns)

    def outputs(self, index: int, stamp_ns: int) -> list[Output]:
        """``(topic, build)`` pairs of frame ``index``; a topic "" is skipped."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """How the logs name the sequence: ``"<dataset> <sequence name>"``."""
        return f"{self.dataset} {self.sequence.name}" if self.dataset else type(self).__name__

    def start(self, ctx: NodeContext) -> None:
        super().start(ctx)
        cfg: DatasetSourceConfig = self.config
        self.sequence = self.open()
        self.index, self.errors, self.finished = 0, 0, False
        self._t0 = cfg.start_ns
        ctx.add_timer(self.frame_period_s() / cfg.rate if cfg.rate > 0 else self.fast_period_s, self._tick)

    def _tick(self, now_ns: int) -> None:
        if self.index >= len(self.sequence):
            if not self.finished:
                self.finished = True
                self.context.log.info("%s: end of sequence after %d frames (%d errors)", self.label,
                                      self.index, self.errors)
                self.context.end_stream()
            return
        if self._t0 is None:
            self._t0 = now_ns
        i = self.index
        for topic, build in self.outputs(i, self.stamp_ns(i, self._t0)):
            if not topic:
                continue
            try:
                msg = build()
            except Exception as exc:  # counted and logged: one bad frame must not stop the source
                self.errors += 1
                self.context.log.error("%s frame %d, topic %s: %s: %s (%d errors so far)", self.label,
                                       i + self.first_frame, topic, type(exc).__name__, exc, self.errors)
                continue
            self.context.publish(topic, msg)
        self.index += 1
