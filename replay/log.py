"""MCAP logs of percept bus traffic: :class:`LogWriter`, :class:`LogReader` (repairs: replay.recover).

Every bus message is stored exactly as its multipart frames (see :mod:`replay.framing`) on a
channel named by the percept topic, ``message_encoding="percept-multipart"``, with a schema named
by the percept schema (``"percept.Image"``, schema encoding ``"percept"``, empty data).
``log_time`` is the record time (ns), ``publish_time`` the message's ``stamp_ns`` when its header
decodes, else the record time. With ``foxglove=True`` a protobuf view is written beside each
known message on ``<topic>/foxglove`` (:mod:`replay.foxglove`).

The reader walks the file record by record (it does not trust the summary), so a truncated or
corrupt file yields a :class:`~replay.errors.LogError` naming the file and the byte offset, or,
with ``skip_bad=True``, every readable message while the bad parts are counted and logged.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import msgpack
from mcap.writer import CompressionType, Writer

from replay._mcap_scan import Chunk, ChunkContents, Corrupt, Scanner
from replay.errors import LogError
from replay.framing import pack_frames, unpack_frames

log = logging.getLogger(__name__)

MESSAGE_ENCODING = "percept-multipart"
SCHEMA_ENCODING = "percept"
PROFILE = "percept"
COMPRESSIONS = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}


class _DirectFile:
    """Unbuffered file for ``mcap.writer.Writer``: each finished chunk reaches the OS at once,
    so a killed process loses at most the chunk being built."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._pos = 0

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        while view.nbytes:
            n = os.write(self._fd, view)
            view = view[n:]
            self._pos += n
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        """Nothing is buffered here."""

    def close(self) -> None:
        os.close(self._fd)


def _header_info(frames: Sequence[Any]) -> tuple[str, int | None]:
    """(percept schema, stamp_ns) from the msgpack header frame; ("", None) when it is not msgpack
    or not a percept header (the message is still stored as is, just without schema/stamp)."""
    if len(frames) < 2:
        return "", None
    raw = bytes(getattr(frames[1], "buffer", frames[1]))
    try:
        head = msgpack.unpackb(raw, raw=False)
    except ValueError:  # msgpack's FormatError, ExtraData, StackError, truncated input, bad UTF-8
        return "", None
    meta = head.get("h") if isinstance(head, dict) else None
    schema = head.get("s") if isinstance(head, dict) else None
    stamp = meta.get("stamp_ns") if isinstance(meta, dict) else None
    if not isinstance(schema, str) or isinstance(stamp, bool) or not isinstance(stamp, int) or stamp < 0:
        return "", None
    return schema, stamp


class LogWriter:
    """Writes bus messages (as frames) to an MCAP file.

    Args:
        path: output file (created or truncated).
        compression: ``"zstd"``, ``"lz4"`` or ``"none"`` (per chunk).
        chunk_size: uncompressed bytes per chunk; a crash loses at most the open chunk.
        foxglove: also write Foxglove protobuf views of known message types.
    """

    def __init__(self, path: str | Path, compression: str = "zstd", chunk_size: int = 4 * 1024 * 1024,
                 foxglove: bool = True) -> None:
        if compression not in COMPRESSIONS:
            raise LogError(f"{path}: compression: expected one of {list(COMPRESSIONS)}, got {compression!r}")
        if chunk_size <= 0:
            raise LogError(f"{path}: chunk_size must be > 0, got {chunk_size}")
        self.path = Path(path)
        try:
            self._file = _DirectFile(self.path)
        except OSError as exc:
            raise LogError(f"{self.path}: cannot create log: {exc}") from exc
        self._writer = Writer(self._file, chunk_size=chunk_size, compression=COMPRESSIONS[compression])
        self._writer.start(profile=PROFILE, library="percept-replay")
        self.foxglove = foxglove
        self._schemas: dict[tuple[str, str], int] = {}
        self._channels: dict[str, tuple[int, str]] = {}  # topic -> (channel id, schema name)
        self._seq: dict[int, int] = {}
        self.messages_written = 0
        self.view_errors = 0
        self._closed = False

    @property
    def bytes_written(self) -> int:
        """Bytes on disk so far (finished chunks only)."""
        return self._file.tell()

    def _schema_id(self, name: str, encoding: str, data: bytes) -> int:
        key = (name, encoding)
        sid = self._schemas.get(key)
        if sid is None:
            sid = self._schemas[key] = self._writer.register_schema(name, encoding, data)
        return sid

    def _channel(self, topic: str, schema: str, encoding: str, schema_encoding: str,
                 data: bytes) -> int | None:
        known = self._channels.get(topic)
        if known is not None:
            if known[1] != schema:
                log.warning("%s: topic %s switched schema %s -> %s; kept on its first channel",
                            self.path, topic, known[1], schema)
                return None if encoding == "protobuf" else known[0]
            return known[0]
        sid = self._schema_id(schema, schema_encoding, data) if schema else 0
        cid = self._writer.register_channel(topic, encoding, sid)
        self._channels[topic] = (cid, schema)
        return cid

    def _add(self, cid: int, log_time_ns: int, data: bytes, publish_ns: int) -> None:
        seq = self._seq.get(cid, 0)
        self._seq[cid] = seq + 1
        self._writer.add_message(cid, log_time_ns, data, publish_ns, seq & 0xFFFFFFFF)

    def write(self, topic: str, frames: Sequence[Any], log_time_ns: int) -> None:
        """Store ``frames`` (one bus message) on ``topic`` at record time ``log_time_ns``."""
        if self._closed:
            raise LogError(f"{self.path}: write after close")
        schema, stamp = _header_info(frames)
        cid = self._channel(topic, schema, MESSAGE_ENCODING, SCHEMA_ENCODING, b"")
        self._add(cid or 0, log_time_ns, pack_frames(frames), log_time_ns if stamp is None else stamp)
        self.messages_written += 1
        if self.foxglove and schema:
            self._write_view(topic, frames, log_time_ns)

    def _write_view(self, topic: str, frames: Sequence[Any], log_time_ns: int) -> None:
        from replay.foxglove import VIEW_SCHEMAS, frames_view, schema_data, view_topic

        if _header_info(frames)[0] not in VIEW_SCHEMAS:
            return
        try:
            msg, view = frames_view(frames)
        except Exception as exc:  # a bad frame costs its view, never the recording
            self.view_errors += 1
            log.warning("%s: no Foxglove view for a message on %s: %s", self.path, topic, exc)
            return
        if view is None:
            return
        name = view.DESCRIPTOR.full_name
        cid = self._channel(view_topic(topic), name, "protobuf", "protobuf", schema_data(type(view)))
        if cid is not None:
            self._add(cid, log_time_ns, view.SerializeToString(), msg.stamp_ns)

    def close(self) -> None:
        """Write the summary and indexes and close the file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.finish()
        finally:
            self._file.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoggedMessage(NamedTuple):
    """One recorded bus message: its topic, record time (ns) and wire frames."""

    topic: str
    log_time_ns: int
    frames: list[memoryview]


@dataclass
class TopicInfo:
    """Per-topic statistics of a log; times in ns."""

    topic: str
    schema: str
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0

    @property
    def rate_hz(self) -> float:
        span = (self.last_ns - self.first_ns) / 1e9
        return (self.count - 1) / span if self.count > 1 and span > 0 else 0.0


@dataclass
class LogSummary:
    """What a log holds: percept topics only (never the Foxglove views)."""

    path: Path
    topics: dict[str, TopicInfo] = field(default_factory=dict)
    bad_parts: int = 0

    @property
    def count(self) -> int:
        return sum(t.count for t in self.topics.values())

    @property
    def start_ns(self) -> int:
        return min((t.first_ns for t in self.topics.values()), default=0)

    @property
    def end_ns(self) -> int:
        return max((t.last_ns for t in self.topics.values()), default=0)


class LogReader:
    """Reads the percept messages of an MCAP log written by :class:`LogWriter` (or recovered).

    Args:
        path: the ``.mcap`` file.
        skip_bad: yield every readable message, counting and logging truncated or corrupt parts
            (``bad_parts``) instead of raising :class:`LogError`. Each bad part is counted and
            logged once, however often it is read (a summary, then playback, loops).
    """

    def __init__(self, path: str | Path, skip_bad: bool = False) -> None:
        self.path = Path(path)
        self.skip_bad = skip_bad
        self.bad_parts = 0
        self._reported: set[tuple[int, str]] = set()
        self._scanner = Scanner(self.path)
        self._chunks: list[Chunk] = []
        self._loose: ChunkContents = ChunkContents()
        for item in self._scanner.scan():
            if isinstance(item, Corrupt):
                self._bad(item)
            elif isinstance(item, Chunk):
                self._chunks.append(item)
        self._loose = self._scanner.loose
        self._chunks.sort(key=lambda c: (c.start_ns, c.offset))

    def _bad(self, problem: Corrupt) -> None:
        if not self.skip_bad:
            raise LogError(f"{self.path}: {problem.reason} at byte offset {problem.offset}")
        key = (problem.offset, problem.reason)
        if key in self._reported:
            return
        self._reported.add(key)
        self.bad_parts += 1
        log.warning("%s: skipped: %s at byte offset %d", self.path, problem.reason, problem.offset)

    def _contents(self, chunk: Chunk) -> ChunkContents | None:
        result = self._scanner.load(chunk)
        if isinstance(result, Corrupt):
            self._bad(result)
            return None
        return result

    def _raw(self, start_ns: int | None, end_ns: int | None) -> Iterator[tuple[int, int, int, Any]]:
        """(log_time, file offset, channel id, data) in log-time order (heap merge of chunks)."""
        heap: list[tuple[int, int, int, int, Any]] = []
        tick = 0
        pending = [c for c in self._chunks
                   if (start_ns is None or c.end_ns >= start_ns) and (end_ns is None or c.start_ns <= end_ns)]
        sources: list[ChunkContents] = [self._loose]
        i = 0
        while True:
            for src in sources:
                for m in src.messages:
                    heapq.heappush(heap, (m.log_time, m.offset, tick, m.channel_id, m.data))
                    tick += 1
            sources = []
            horizon = pending[i].start_ns if i < len(pending) else None
            while heap and (horizon is None or heap[0][0] < horizon):
                t, off, _, cid, data = heapq.heappop(heap)
                if (start_ns is None or t >= start_ns) and (end_ns is None or t <= end_ns):
                    yield t, off, cid, data
            if i >= len(pending):
                return
            contents = self._contents(pending[i])
            i += 1
            if contents is not None:
                sources.append(contents)

    def _percept(self, start_ns: int | None, end_ns: int | None) -> Iterator[tuple[int, int, Any, Any]]:
        """(log_time, file offset, channel, data) of the percept channels' records, in log-time order;
        a record on an unknown channel is reported as corrupt and skipped."""
        channels = self._scanner.channels
        for t, off, cid, data in self._raw(start_ns, end_ns):
            ch = channels.get(cid)
            if ch is None:
                self._bad(Corrupt(off, f"message on unknown channel {cid}"))
            elif ch.message_encoding == MESSAGE_ENCODING:
                yield t, off, ch, data

    def messages(self, topics: Sequence[str] | None = None, start_ns: int | None = None,
                 end_ns: int | None = None) -> Iterator[LoggedMessage]:
        """Percept messages whose topic starts with one of ``topics`` (all if None), in log-time order."""
        for t, off, ch, data in self._percept(start_ns, end_ns):
            if topics is not None and not any(ch.topic.startswith(p) for p in topics):
                continue
            try:
                frames = unpack_frames(data)
            except LogError as exc:
                self._bad(Corrupt(off, str(exc)))
                continue
            yield LoggedMessage(ch.topic, t, frames)

    def time_range_ns(self) -> tuple[int, int]:
        """``(first, last)`` log time (ns) of all records, from the chunk index (nothing is
        decompressed; views included); ``(0, 0)`` for an empty log."""
        starts = [c.start_ns for c in self._chunks] + [m.log_time for m in self._loose.messages]
        ends = [c.end_ns for c in self._chunks] + [m.log_time for m in self._loose.messages]
        return (min(starts), max(ends)) if starts else (0, 0)

    def summary(self) -> LogSummary:
        """Per-topic schema, count and time span of the percept channels."""
        out = LogSummary(self.path)
        schemas = self._scanner.schemas
        for t, _off, ch, _data in self._percept(None, None):
            info = out.topics.get(ch.topic)
            if info is None:
                sc = schemas.get(ch.schema_id)
                info = out.topics[ch.topic] = TopicInfo(ch.topic, sc.name if sc else "", first_ns=t)
            info.count += 1
            info.first_ns = min(info.first_ns, t)
            info.last_ns = max(info.last_ns, t)
        out.bad_parts = self.bad_parts
        return out

    def close(self) -> None:
        self._scanner.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
