"""Record-by-record MCAP scanning that locates damage by byte offset (used by :mod:`replay.log`).

The ``mcap`` package's readers either trust the summary or stop at the first problem without
saying where it is. :class:`Scanner` walks the data section record by record, bounds-checks every
record length against the file size, checks the opcode, CRC-checks and decompresses chunks on
demand, and reports each problem as a :class:`Corrupt` with the offset of the record it lies in.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.records import Channel, Footer, Schema

from replay.errors import LogError

MAGIC = b"\x89MCAP0\r\n"
_HEAD = struct.Struct("<BQ")
_CHUNK_FIXED = struct.Struct("<QQQII")  # start, end, uncompressed size, crc, compression length
_MSG = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
_KNOWN = {int(o) for o in Opcode}
#: the largest uncompressed chunk accepted (a corrupt size must not allocate gigabytes)
MAX_CHUNK_BYTES = 1 << 30


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
    data: memoryview
    offset: int


@dataclass
class ChunkContents:
    messages: list[RawMessage] = field(default_factory=list)


class Scanner:
    """Walks one MCAP file; collects schemas and channels wherever they appear."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._f: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
            self.size = path.stat().st_size
        except OSError as exc:
            raise LogError(f"{path}: cannot open log: {exc}") from exc
        self.schemas: dict[int, Schema] = {}
        self.channels: dict[int, Channel] = {}
        self.loose = ChunkContents()

    def close(self) -> None:
        self._f.close()

    def _read(self, offset: int, n: int) -> bytes:
        self._f.seek(offset)
        return self._f.read(n)

    def _add_definitions(self, opcode: int, body: bytes) -> None:
        stream = ReadDataStream(BytesIO(body))
        if opcode == Opcode.SCHEMA:
            sc = Schema.read(stream)
            self.schemas.setdefault(sc.id, sc)
        else:
            ch = Channel.read(stream)
            self.channels.setdefault(ch.id, ch)

    def scan(self, stop_at_data_end: bool = False) -> Iterator[Chunk | Corrupt]:
        """Yield each :class:`Chunk` and each :class:`Corrupt` part in file order."""
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
            if opcode not in _KNOWN:
                yield Corrupt(off, f"unknown record opcode 0x{opcode:02x} (corrupt)", self.size - off, True)
                return
            end = off + _HEAD.size + length
            if end > self.size:
                yield Corrupt(off, f"record 0x{opcode:02x} of {length} bytes runs past the end of the "
                                   f"file ({self.size} bytes): truncated or corrupt", self.size - off, True)
                return
            try:
                if opcode == Opcode.CHUNK:
                    fixed = self._read(off + _HEAD.size, 28)
                    start, stop = struct.unpack_from("<QQ", fixed) if len(fixed) == 28 else (0, 0)
                    yield Chunk(off, end - off, start, stop)
                elif opcode in (Opcode.SCHEMA, Opcode.CHANNEL):
                    self._add_definitions(opcode, self._read(off + _HEAD.size, length))
                elif opcode == Opcode.MESSAGE:
                    body = self._read(off + _HEAD.size, length)
                    cid, seq, lt, pt = _MSG.unpack_from(body)
                    data = memoryview(body)[_MSG.size:]
                    self.loose.messages.append(RawMessage(cid, seq, lt, pt, data, off))
                elif opcode == Opcode.DATA_END and stop_at_data_end:
                    return
                elif opcode == Opcode.FOOTER:
                    yield from self._check_footer(off, self._read(off + _HEAD.size, length))
                    return
            except Exception as exc:
                why = f"unreadable record 0x{opcode:02x}: {type(exc).__name__}: {exc}"
                yield Corrupt(off, why, end - off)
            off = end

    def _check_footer(self, off: int, body: bytes) -> Iterator[Corrupt]:
        footer = Footer.read(ReadDataStream(BytesIO(body)))
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
        body = self._read(chunk.offset + _HEAD.size, chunk.length - _HEAD.size)
        try:
            _start, _end, usize, crc, clen = _CHUNK_FIXED.unpack_from(body)
            pos = _CHUNK_FIXED.size
            compression = body[pos:pos + clen].decode("utf-8")
            pos += clen
            (dlen,) = struct.unpack_from("<Q", body, pos)
            pos += 8
            if pos + dlen > len(body):
                raise ValueError(f"chunk data of {dlen} bytes exceeds its record")
            if usize > MAX_CHUNK_BYTES:
                raise ValueError(f"uncompressed size {usize} over the cap {MAX_CHUNK_BYTES}")
            data = _decompress(compression, body[pos:pos + dlen], usize)
        except Exception as exc:  # zstd/lz4/struct/unicode errors all mean a damaged chunk
            return Corrupt(chunk.offset, f"bad chunk: {type(exc).__name__}: {exc}", chunk.length)
        if len(data) != usize:
            return Corrupt(chunk.offset, f"chunk decompressed to {len(data)} bytes, header says {usize}",
                           chunk.length)
        if crc and zlib.crc32(data) != crc:
            return Corrupt(chunk.offset, "chunk CRC mismatch (corrupt)", chunk.length)
        return self._split(chunk, memoryview(data))

    def _split(self, chunk: Chunk, data: memoryview) -> ChunkContents | Corrupt:
        out = ChunkContents()
        pos = 0
        try:
            while pos < len(data):
                opcode, length = _HEAD.unpack_from(data, pos)
                body_at = pos + _HEAD.size
                if body_at + length > len(data):
                    raise ValueError(f"inner record of {length} bytes runs past the chunk")
                if opcode == Opcode.MESSAGE:
                    cid, seq, lt, pt = _MSG.unpack_from(data, body_at)
                    payload = data[body_at + _MSG.size:body_at + length]
                    out.messages.append(RawMessage(cid, seq, lt, pt, payload,
                                                   chunk.offset))
                elif opcode in (Opcode.SCHEMA, Opcode.CHANNEL):
                    self._add_definitions(opcode, bytes(data[body_at:body_at + length]))
                pos = body_at + length
        except Exception as exc:  # struct/unicode errors from damaged inner records
            why = f"bad record inside chunk: {type(exc).__name__}: {exc}"
            return Corrupt(chunk.offset, why, chunk.length)
        return out


def _decompress(compression: str, data: bytes, usize: int) -> bytes:
    if compression == "":
        return data
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompress(data, max_output_size=usize)
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    raise ValueError(f"unsupported chunk compression {compression!r}")
