"""Record-by-record MCAP scanning that locates damage by byte offset (used by :mod:`replay.log`).

The ``mcap`` package's readers either trust the summary or stop at the first problem without
saying where it is, so the walk over the data section stays here: :class:`Scanner` reads each
record header, bounds-checks its length against the file size, checks the opcode (``0x80``-``0xFF``
are extension records: skipped), and reports each problem as a :class:`Corrupt` with the offset of
the record it lies in. Record bodies are parsed by ``mcap.records``; a chunk is decompressed and
CRC-checked by ``mcap.stream_reader.get_chunk_data_stream`` and its records are read by
``mcap.stream_reader.StreamReader``, so one bad chunk costs only that chunk.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

import zstandard
from mcap.data_stream import ReadDataStream
from mcap.exceptions import EndOfFile, McapError, UnsupportedCompressionError
from mcap.opcode import Opcode
from mcap.records import Channel, Footer, McapRecord, Message, Schema
from mcap.records import Chunk as ChunkRecord
from mcap.stream_reader import CRCValidationError, StreamReader, get_chunk_data_stream

from replay.errors import LogError

MAGIC = b"\x89MCAP0\r\n"
_HEAD = struct.Struct("<BQ")
_KNOWN = {int(o) for o in Opcode}
#: opcodes reserved by the MCAP spec for extension records, which readers skip
EXTENSION_OPCODES = range(0x80, 0x100)
_COMPRESSIONS = ("", "zstd", "lz4")
#: the largest uncompressed chunk accepted (a corrupt size must not allocate gigabytes)
MAX_CHUNK_BYTES = 1 << 30
#: a Footer record put after a chunk's records, where StreamReader stops (see _chunk_records)
_END = struct.pack("<BQQQI", Opcode.FOOTER, 20, 0, 0, 0)
#: what a damaged record or chunk can raise while parsed or decompressed
_DAMAGE: tuple[type[Exception], ...] = (McapError, struct.error, ValueError, RuntimeError,
                                       zstandard.ZstdError)


class _Body(ReadDataStream):
    """One record body for the ``mcap.records`` parsers; a field running past it raises
    :class:`~mcap.exceptions.EndOfFile` (mcap's own stream returns short reads silently)."""

    def __init__(self, body: bytes) -> None:
        super().__init__(BytesIO(body))

    def read(self, length: int) -> bytes:
        data = super().read(length)
        if len(data) != length:
            raise EndOfFile(f"a field of {length} bytes runs past the record ({len(data)} left)")
        return data


@dataclass
class Corrupt:
    """A damaged part: where it starts, why, how many bytes it spans, and whether reading must stop."""

    offset: int
    reason: str
    length: int = 0
    fatal: bool = False


@dataclass
class Chunk:
    """A chunk record: file offset of its header, total record length, message time range (ns)."""

    offset: int
    length: int
    start_ns: int
    end_ns: int


@dataclass
class RawMessage:
    """A message record; ``offset`` is that of the enclosing chunk (or of the record itself)."""

    channel_id: int
    sequence: int
    log_time: int
    publish_time: int
    data: bytes
    offset: int

    @classmethod
    def of(cls, msg: Message, offset: int) -> RawMessage:
        return cls(msg.channel_id, msg.sequence, msg.log_time, msg.publish_time, msg.data, offset)


@dataclass
class ChunkContents:
    messages: list[RawMessage] = field(default_factory=list)


def _chunk_records(data: bytes) -> Iterator[McapRecord]:
    """The records in a chunk's uncompressed ``data``, read by ``StreamReader``.

    ``StreamReader`` stops only at a Footer, so one (:data:`_END`) is put after the records: it
    must be met exactly where ``data`` ends, else an inner record ran past the chunk.

    Raises:
        McapError, struct.error, ValueError: an inner record is malformed or runs past the chunk.
    """
    buf = BytesIO(data + _END)
    try:
        for record in StreamReader(buf, skip_magic=True).records:
            if isinstance(record, Footer):
                if buf.tell() != len(data) + len(_END):
                    raise ValueError("a record inside the chunk is not where its records end")
                return
            yield record
    except EndOfFile:
        raise ValueError("an inner record runs past the end of the chunk") from None


class Scanner:
    """Walks one MCAP file; collects schemas and channels wherever they appear."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._f: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
            self.size = path.stat().st_size
        except OSError as exc:
            raise LogError(f"{path}: cannot open log: {exc.strerror or exc}") from exc
        self.schemas: dict[int, Schema] = {}
        self.channels: dict[int, Channel] = {}
        self.loose = ChunkContents()

    def close(self) -> None:
        self._f.close()

    def _read(self, offset: int, n: int) -> bytes:
        self._f.seek(offset)
        return self._f.read(n)

    def _add_definitions(self, record: McapRecord) -> None:
        if isinstance(record, Schema):
            self.schemas.setdefault(record.id, record)
        elif isinstance(record, Channel):
            self.channels.setdefault(record.id, record)

    def _record(self, off: int, opcode: int, length: int) -> Iterator[Chunk]:
        """Take in the bounds-checked record at ``off`` (body of ``length`` bytes); a chunk is yielded."""
        if opcode == Opcode.CHUNK:  # only the time range now; the body is read by load()
            times = _Body(self._read(off + _HEAD.size, min(length, 16)))
            start, stop = (times.read8(), times.read8()) if length >= 16 else (0, 0)
            yield Chunk(off, _HEAD.size + length, start, stop)
        elif opcode in (Opcode.SCHEMA, Opcode.CHANNEL):
            body = _Body(self._read(off + _HEAD.size, length))
            self._add_definitions(Schema.read(body) if opcode == Opcode.SCHEMA else Channel.read(body))
        elif opcode == Opcode.MESSAGE:
            msg = Message.read(_Body(self._read(off + _HEAD.size, length)), length)
            self.loose.messages.append(RawMessage.of(msg, off))

    def scan(self, stop_at_data_end: bool = False) -> Iterator[Chunk | Corrupt]:
        """Yield each :class:`Chunk` and each :class:`Corrupt` part in file order (extension records
        and records this reader does not need are skipped)."""
        if self._read(0, 8) != MAGIC:
            yield Corrupt(0, "not an MCAP file (bad magic)", self.size, fatal=True)
            return
        off = 8
        while True:
            if off == self.size:
                yield Corrupt(off, "file ends without a footer (truncated)", 0, fatal=True)
                return
            head = self._read(off, _HEAD.size)
            if len(head) < _HEAD.size:
                yield Corrupt(off, f"truncated record header ({len(head)} of 9 bytes)", self.size - off, True)
                return
            opcode, length = _HEAD.unpack(head)
            if opcode not in _KNOWN and opcode not in EXTENSION_OPCODES:
                yield Corrupt(off, f"unknown record opcode 0x{opcode:02x} (corrupt)", self.size - off, True)
                return
            end = off + _HEAD.size + length
            if end > self.size:
                yield Corrupt(off, f"record 0x{opcode:02x} of {length} bytes runs past the end of the "
                                   f"file ({self.size} bytes): truncated or corrupt", self.size - off, True)
                return
            if opcode == Opcode.DATA_END and stop_at_data_end:
                return
            try:
                if opcode == Opcode.FOOTER:
                    yield from self._check_footer(off, self._read(off + _HEAD.size, length))
                    return
                yield from self._record(off, opcode, length)
            except _DAMAGE as exc:
                why = f"unreadable record 0x{opcode:02x}: {type(exc).__name__}: {exc}"
                yield Corrupt(off, why, end - off)
            off = end

    def _check_footer(self, off: int, body: bytes) -> Iterator[Corrupt]:
        footer = Footer.read(_Body(body))
        tail = self._read(off + _HEAD.size + len(body), 9)
        if tail[:8] != MAGIC or len(tail) != 8:
            yield Corrupt(off, "footer is not followed by the closing magic and the end of file", 0)
        if footer.summary_crc and footer.summary_start:
            crc = zlib.crc32(self._read(footer.summary_start, off - footer.summary_start))
            crc = zlib.crc32(struct.pack("<BQQQ", Opcode.FOOTER, 20, footer.summary_start,
                                         footer.summary_offset_start), crc)
            if crc != footer.summary_crc:
                yield Corrupt(footer.summary_start, "summary section CRC mismatch (corrupt)",
                              off - footer.summary_start)

    def load(self, chunk: Chunk) -> ChunkContents | Corrupt:
        """Decompress, CRC-check and split ``chunk``; learn its schemas and channels."""
        try:
            record = ChunkRecord.read(_Body(self._read(chunk.offset + _HEAD.size, chunk.length - _HEAD.size)))
            if record.compression not in _COMPRESSIONS:
                raise UnsupportedCompressionError(repr(record.compression))
            if record.uncompressed_size > MAX_CHUNK_BYTES:
                raise ValueError(f"uncompressed size {record.uncompressed_size} over the cap "
                                 f"{MAX_CHUNK_BYTES}")
            stream, size = get_chunk_data_stream(record, validate_crc=True)
        except CRCValidationError:
            return Corrupt(chunk.offset, "chunk CRC mismatch (corrupt)", chunk.length)
        except _DAMAGE as exc:  # zstd/lz4/struct/unicode errors all mean a damaged chunk
            return Corrupt(chunk.offset, f"bad chunk: {type(exc).__name__}: {exc}", chunk.length)
        if size != record.uncompressed_size:
            return Corrupt(chunk.offset, f"chunk decompressed to {size} bytes, header says "
                                         f"{record.uncompressed_size}", chunk.length)
        out = ChunkContents()
        try:
            for inner in _chunk_records(stream.read(size)):
                if isinstance(inner, Message):
                    out.messages.append(RawMessage.of(inner, chunk.offset))
                else:
                    self._add_definitions(inner)
        except _DAMAGE as exc:  # struct/unicode errors from damaged inner records
            why = f"bad record inside chunk: {type(exc).__name__}: {exc}"
            return Corrupt(chunk.offset, why, chunk.length)
        return out
