"""Record bus traffic to MCAP: subscribe with the ``reliable`` policy and write every message.

Messages are kept as their raw wire frames (nothing is decoded except for the Foxglove views).
Files rotate by size or duration: with rotation ``out=run.mcap`` becomes ``run_0000.mcap``,
``run_0001.mcap``, ...; without, the log is ``out`` itself. Chunks are kept small (1 MiB by
default) and reach the OS as soon as they are full, so a killed recorder loses at most the open
chunk, and :func:`replay.recover.recover` rebuilds an indexed file from the rest.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from percept.bus import Subscriber
from percept.codec import peek_topic
from percept.errors import DecodeError
from replay.errors import LogError
from replay.log import COMPRESSIONS, LogWriter

log = logging.getLogger(__name__)

_WILDCARDS = "*?["


def _prefix(pattern: str) -> str:
    """The literal part of ``pattern`` before its first wildcard (the ZeroMQ subscription)."""
    cut = min((pattern.index(c) for c in _WILDCARDS if c in pattern), default=len(pattern))
    return pattern[:cut]


@dataclass
class RecorderStats:
    """Counters of one recording."""

    messages: int = 0
    bytes: int = 0
    skipped: int = 0
    files: list[Path] = field(default_factory=list)
    per_topic: dict[str, int] = field(default_factory=dict)


class Recorder:
    """Records topics from bus endpoints into MCAP files.

    Args:
        endpoints: publisher endpoints to connect to.
        topic_patterns: topic prefixes, or glob patterns (``cam/*/image``); empty records all.
        out: output path ``NAME.mcap``.
        compression: ``zstd``, ``lz4`` or ``none``.
        rotate_bytes: start a new file after this many bytes of message data (uncompressed).
        rotate_s: start a new file after this many seconds.
        chunk_size: uncompressed bytes per MCAP chunk (the most a crash can lose).
        foxglove: also write Foxglove views of known message types.
    """

    def __init__(self, endpoints: Sequence[str], topic_patterns: Sequence[str], out: str | Path,
                 compression: str = "zstd", rotate_bytes: int | None = None, rotate_s: float | None = None,
                 *, chunk_size: int = 1024 * 1024, foxglove: bool = True, hwm: int = 1000) -> None:
        if not endpoints:
            raise LogError(f"{out}: recorder needs at least one endpoint")
        if compression not in COMPRESSIONS:
            raise LogError(f"{out}: compression: expected one of {list(COMPRESSIONS)}, got {compression!r}")
        for name, value in (("rotate_bytes", rotate_bytes), ("rotate_s", rotate_s)):
            if value is not None and value <= 0:
                raise LogError(f"{out}: {name} must be > 0, got {value}")
        self.out = Path(out)
        self.compression = compression
        self.rotate_bytes = rotate_bytes
        self.rotate_s = rotate_s
        self.chunk_size = chunk_size
        self.foxglove = foxglove
        self.patterns = list(topic_patterns) or [""]
        self._globs = [p for p in self.patterns if any(c in p for c in _WILDCARDS)]
        self._plain = [p for p in self.patterns if p not in self._globs]
        prefixes = sorted({_prefix(p) for p in self.patterns})
        self._sub = Subscriber(list(endpoints), prefixes, policy="reliable", hwm=hwm)
        self.stats = RecorderStats()
        self._writer: LogWriter | None = None
        self._file_bytes = 0
        self._file_started = 0.0
        self._last_ns = 0
        self._stop = threading.Event()

    def _wanted(self, topic: str) -> bool:
        return any(topic.startswith(p) for p in self._plain) or any(fnmatch.fnmatchcase(topic, g)
                                                                     for g in self._globs)

    def _path(self, index: int) -> Path:
        if self.rotate_bytes is None and self.rotate_s is None:
            return self.out
        return self.out.with_name(f"{self.out.stem}_{index:04d}{self.out.suffix or '.mcap'}")

    def _open(self) -> LogWriter:
        path = self._path(len(self.stats.files))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = LogWriter(path, self.compression, self.chunk_size, self.foxglove)
        self.stats.files.append(path)
        self._file_bytes = 0
        self._file_started = time.monotonic()
        log.info("recording to %s", path)
        return self._writer

    def _rotate_due(self) -> bool:
        return ((self.rotate_bytes is not None and self._file_bytes >= self.rotate_bytes)
                or (self.rotate_s is not None and time.monotonic() - self._file_started >= self.rotate_s))

    def record_frames(self, frames: Sequence[object]) -> bool:
        """Write one received message; ``False`` if it was skipped (unwanted or no readable topic)."""
        try:
            topic = peek_topic(frames)
        except DecodeError as exc:
            self.stats.skipped += 1
            log.warning("skipped a message without a readable topic: %s", exc)
            return False
        if not self._wanted(topic):
            return False
        writer = self._writer
        if writer is None or self._rotate_due():
            if writer is not None:
                writer.close()
            writer = self._open()
        now = max(time.time_ns(), self._last_ns)  # log time never goes back
        self._last_ns = now
        writer.write(topic, frames, now)
        size = sum(len(getattr(f, "buffer", f)) for f in frames)
        self._file_bytes += size
        self.stats.bytes += size
        self.stats.messages += 1
        self.stats.per_topic[topic] = self.stats.per_topic.get(topic, 0) + 1
        return True

    def run(self, duration_s: float | None = None, max_messages: int | None = None) -> RecorderStats:
        """Record until :meth:`stop`, ``duration_s`` seconds or ``max_messages``; then close the file."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if max_messages is not None and self.stats.messages >= max_messages:
                    break
                frames = self._sub.recv_frames(timeout=0.1)
                if frames is not None:
                    self.record_frames(frames)
        finally:
            self.close()
        return self.stats

    def stop(self) -> None:
        """Ask :meth:`run` to finish (thread- and signal-safe)."""
        self._stop.set()

    def close(self) -> None:
        """Finish the current file and disconnect."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._sub.close()
