"""LogWriter/LogReader/recover on real MCAP files, checked with the ``mcap`` package's own reader."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import msgpack
import numpy as np
import pytest
from mcap.data_stream import ReadDataStream, RecordBuilder
from mcap.opcode import Opcode
from mcap.reader import make_reader
from mcap.records import Chunk as ChunkRecord
from mcap_protobuf.decoder import DecoderFactory

from percept import Detections2D, Detections3D
from percept.detections import Detections
from percept.message import Message
from percept.messages import Event, Image, NodeStats, PointCloud, RadarScan, Tracks
from replay._mcap_scan import MAGIC, Chunk, ChunkContents, Scanner
from replay.errors import LogError
from replay.log import LogReader, LogWriter
from replay.recover import recover

rng = np.random.default_rng(3)


def tracks(stamp: int, fields: tuple[str, ...], n: int = 3) -> Tracks:
    state = rng.uniform(1, 50, (n, len(fields))).astype(np.float32)
    if fields[0] == "x1":
        state[:, 2:] = state[:, :2] + 10
    return Tracks(stamp_ns=stamp, frame_id="cam" if fields[0] == "x1" else "base", track_id=np.arange(n) + 7,
                  class_id=np.zeros(n, np.int32), confidence=np.full(n, 0.9, np.float32), state=state,
                  age=np.ones(n, np.int32), status=np.ones(n, np.uint8), sensors=np.ones(n, np.uint32),
                  state_fields=fields, class_names=("car",))


def all_messages(stamp: int) -> dict[str, Message]:
    """One message of every type, keyed by topic."""
    bgr = rng.integers(0, 255, (8, 12, 3), np.uint8)
    det = Detections(xyxy=[[1, 2, 5, 6], [3, 3, 9, 9]], confidence=[0.9, 0.5], class_id=[0, 1])
    return {
        "cam/bgr": Image.from_bgr(bgr, stamp_ns=stamp, frame_id="cam"),
        "cam/mono": Image(stamp_ns=stamp, frame_id="cam", encoding="mono8", data=bgr[:, :, 0].copy()),
        "cam/jpeg": Image.from_bgr(bgr, stamp_ns=stamp, frame_id="cam", jpeg_quality=80),
        "lidar/points": PointCloud(stamp_ns=stamp, frame_id="lidar", points=rng.random((20, 4), np.float32)),
        "radar/scan": RadarScan(stamp_ns=stamp, frame_id="radar", xyz=np.ones((2, 3), np.float32),
                                range_rate_mps=np.zeros(2, np.float32), rcs_dbsm=np.ones(2, np.float32)),
        "cam/det": Detections2D(stamp_ns=stamp, frame_id="cam", detections=det,
                                class_names=("car", "person")),
        "lidar/det3d": Detections3D(stamp_ns=stamp, frame_id="lidar", centre=np.ones((2, 3), np.float32),
                                    size=np.full((2, 3), 2, np.float32), yaw=np.zeros(2, np.float32),
                                    class_id=np.zeros(2, np.int32), confidence=np.ones(2, np.float32)),
        "cam/tracks": tracks(stamp, ("x1", "y1", "x2", "y2")),
        "fusion/tracks": tracks(stamp, ("x", "y", "z", "vx", "vy", "vz")),
        "events": Event(stamp_ns=stamp, frame_id="site", event_type="intrusion", severity="warning",
                        text="person in zone A", track_ids=(7,)),
        "stats/node": NodeStats(stamp_ns=stamp, frame_id="node", node="x"),
    }


def write_log(path: Path, n: int = 5, **kw: object) -> list[tuple[str, int, list[bytes]]]:
    written = []
    with LogWriter(path, **kw) as w:  # type: ignore[arg-type]
        for i in range(n):
            for topic, msg in all_messages(1_000 + i).items():
                frames = msg.to_frames(topic)
                w.write(topic, frames, 10_000 + 100 * i)
                written.append((topic, 10_000 + 100 * i, [bytes(f) for f in frames]))
    return written


@pytest.mark.parametrize("compression", ["zstd", "lz4", "none"])
def test_wire_bytes_round_trip_exactly(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "a.mcap"
    written = write_log(path, compression=compression)
    with LogReader(path) as r:
        read = [(m.topic, m.log_time_ns, [bytes(f) for f in m.frames]) for m in r.messages()]
    assert read == written  # same order (stable by log time), every frame byte-identical


def test_mcap_reader_sees_foxglove_views(tmp_path: Path) -> None:
    path = tmp_path / "a.mcap"
    write_log(path, n=2)
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        assert summary is not None
        names = {c.topic: summary.schemas[c.schema_id].name for c in summary.channels.values()}
        assert names["cam/bgr/foxglove"] == "foxglove.RawImage"
        assert names["cam/jpeg/foxglove"] == "foxglove.CompressedImage"
        assert names["lidar/points/foxglove"] == "foxglove.PointCloud"
        assert names["cam/det/foxglove"] == names["cam/tracks/foxglove"] == "foxglove.ImageAnnotations"
        assert names["lidar/det3d/foxglove"] == names["fusion/tracks/foxglove"] == "foxglove.SceneUpdate"
        assert names["events/foxglove"] == "foxglove.Log"
        assert names["cam/bgr"] == "percept.Image" and "radar/scan/foxglove" not in names
        decoded = {}
        views = [t for t in names if t.endswith("/foxglove")]
        for _s, ch, _m, proto in reader.iter_decoded_messages(topics=views):
            decoded.setdefault(ch.topic, proto)
    raw = decoded["cam/bgr/foxglove"]
    assert (raw.width, raw.height, raw.encoding, raw.step, len(raw.data)) == (12, 8, "bgr8", 36, 288)
    assert decoded["cam/mono/foxglove"].encoding == "mono8"
    assert decoded["cam/jpeg/foxglove"].format == "jpeg"
    pc = decoded["lidar/points/foxglove"]
    assert pc.point_stride == 16 and [f.name for f in pc.fields] == ["x", "y", "z", "intensity"]
    assert len(pc.data) == 20 * 16 and pc.frame_id == "lidar"
    ann = decoded["cam/det/foxglove"]
    assert len(ann.points) == 2 and len(ann.points[0].points) == 4 and ann.points[0].type == 2  # LINE_LOOP
    assert (ann.points[0].points[2].x, ann.points[0].points[2].y) == (5.0, 6.0)
    assert ann.texts[1].text.startswith("person")
    assert len(decoded["cam/tracks/foxglove"].points) == 3
    scene = decoded["fusion/tracks/foxglove"]
    assert len(scene.entities) == 3 and scene.entities[0].id == "7" and len(scene.entities[0].cubes) == 1
    assert decoded["lidar/det3d/foxglove"].entities[1].cubes[0].size.x == 2.0
    assert decoded["events/foxglove"].message == "person in zone A"


def test_summary_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "a.mcap"
    write_log(path, n=4, foxglove=False)
    with LogReader(path) as r:
        s = r.summary()
        assert s.topics["cam/bgr"].schema == "percept.Image" and s.topics["cam/bgr"].count == 4
        assert (s.start_ns, s.end_ns) == (10_000, 10_300)
        assert s.topics["events"].rate_hz == pytest.approx(3 / 300e-9)
        assert {m.topic for m in r.messages(["cam/"])} == {"cam/bgr", "cam/mono", "cam/jpeg", "cam/det",
                                                            "cam/tracks"}
        times = [m.log_time_ns for m in r.messages(["events"], start_ns=10_100, end_ns=10_200)]
        assert times == [10_100, 10_200]


def test_bad_arguments_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="compression"):
        LogWriter(tmp_path / "x.mcap", compression="gzip")
    with pytest.raises(LogError, match=r"missing\.mcap"):
        LogReader(tmp_path / "missing.mcap")
    (tmp_path / "junk.mcap").write_bytes(b"hello world, not mcap")
    with pytest.raises(LogError, match=r"junk\.mcap.*byte offset 0"):
        LogReader(tmp_path / "junk.mcap")


def chunk_layout(path: Path) -> list[tuple[Chunk, int]]:
    """(chunk, message count) of every intact chunk, from the scanner."""
    sc = Scanner(path)
    out = []
    for item in sc.scan():
        if isinstance(item, Chunk):
            contents = sc.load(item)
            assert isinstance(contents, ChunkContents)
            out.append((item, len(contents.messages)))
    sc.close()
    return out


def count_percept(path: Path, skip_bad: bool = False) -> int:
    with LogReader(path, skip_bad=skip_bad) as r:
        return sum(1 for _ in r.messages())


def test_truncation_is_named_and_recovered(tmp_path: Path) -> None:
    path = tmp_path / "full.mcap"
    written = write_log(path, n=30, chunk_size=20_000, foxglove=False)
    layout = chunk_layout(path)
    assert len(layout) >= 4
    data = path.read_bytes()
    for k in (1, 2, len(layout) - 1):
        chunk = layout[k][0]
        for cut in (chunk.offset + 3, chunk.offset + chunk.length // 2):
            cut_path = tmp_path / f"cut_{cut}.mcap"
            cut_path.write_bytes(data[:cut])
            with pytest.raises(LogError, match=rf"cut_{cut}\.mcap: .*byte offset {chunk.offset}"):
                count_percept(cut_path)
            before = sum(n for _c, n in layout[:k])
            assert count_percept(cut_path, skip_bad=True) == before
            fixed = tmp_path / f"fixed_{cut}.mcap"
            rep = recover(cut_path, fixed)
            assert (rep.chunks_recovered, rep.messages) == (k, before)
            assert rep.bytes_lost == cut - chunk.offset
            with LogReader(fixed) as r:  # strict: a valid, complete file
                got = [(m.topic, m.log_time_ns, [bytes(f) for f in m.frames]) for m in r.messages()]
            assert got == written[:before]
            with open(fixed, "rb") as f:  # indexed: the mcap package reads its summary
                summary = make_reader(f).get_summary()
                assert summary is not None and summary.statistics.message_count == before
                assert len(summary.chunk_indexes) >= 1


def test_recover_counts_bus_messages_not_their_foxglove_views(tmp_path: Path) -> None:
    """Regression: `log recover` reported the Foxglove copies as recovered messages (2N for N)."""
    path = tmp_path / "full.mcap"
    written = write_log(path, n=20, chunk_size=20_000)  # with Foxglove views
    with open(path, "rb") as f:
        records = sum(1 for _ in make_reader(f).iter_messages())
    views = records - len(written)
    assert views > len(written) / 2
    data = path.read_bytes()
    layout = chunk_layout(path)
    cut = layout[-1][0].offset + 10  # the last chunk is lost
    (tmp_path / "cut.mcap").write_bytes(data[:cut])
    rep = recover(tmp_path / "cut.mcap", tmp_path / "fixed.mcap")
    with LogReader(tmp_path / "fixed.mcap") as r:
        kept = sum(1 for _ in r.messages())
    with open(tmp_path / "fixed.mcap", "rb") as f:
        kept_records = sum(1 for _ in make_reader(f).iter_messages())
    assert 0 < kept < len(written) and rep.messages == kept
    assert rep.views == kept_records - kept > 0 and rep.other == 0


def corrupt_log(tmp_path: Path, k: int) -> tuple[Path, list[tuple[Chunk, int]], int]:
    """(``bad.mcap``: a 30-step log with one byte of chunk ``k`` flipped, the intact layout, k)."""
    path = tmp_path / "full.mcap"
    write_log(path, n=30, chunk_size=20_000, foxglove=False)
    layout = chunk_layout(path)
    chunk = layout[k][0]
    data = bytearray(path.read_bytes())
    data[chunk.offset + chunk.length - 100] ^= 0xFF
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(bytes(data))
    return bad, layout, k


def test_a_bad_part_is_counted_and_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Regression: `replay --skip-bad` warned twice about each bad chunk (summary, then playback)."""
    bad, layout, k = corrupt_log(tmp_path, 1)
    bad_chunk, bad_n = layout[k]
    reader = LogReader(bad, skip_bad=True)
    with caplog.at_level("WARNING", logger="replay.log"), reader as r:
        total = r.summary().count
        assert total == sum(n for _c, n in layout) - bad_n
        for _ in range(2):
            assert sum(1 for _ in r.messages()) == total
    assert r.bad_parts == 1
    assert len([rec for rec in caplog.records if f"byte offset {bad_chunk.offset}" in rec.getMessage()]) == 1


def test_corrupt_byte_in_a_chunk(tmp_path: Path) -> None:
    bad, layout, k = corrupt_log(tmp_path, 2)
    bad_chunk, bad_n = layout[k]
    with pytest.raises(LogError, match=rf"bad\.mcap: .*(CRC|chunk).*byte offset {bad_chunk.offset}"):
        count_percept(bad)
    total = sum(n for _c, n in layout)
    with LogReader(bad, skip_bad=True) as r:
        assert sum(1 for _ in r.messages()) == total - bad_n
        assert r.bad_parts == 1
    rep = recover(bad, tmp_path / "fixed.mcap")
    assert (rep.chunks_recovered, rep.chunks_bad, rep.messages) == (len(layout) - 1, 1, total - bad_n)


def test_corrupt_record_length_is_named(tmp_path: Path) -> None:
    path = tmp_path / "full.mcap"
    write_log(path, n=10, chunk_size=20_000, foxglove=False)
    chunk = chunk_layout(path)[1][0]
    data = bytearray(path.read_bytes())
    data[chunk.offset + 8] = 0x7F  # high byte of the record length
    (tmp_path / "len.mcap").write_bytes(bytes(data))
    with pytest.raises(LogError, match=rf"runs past the end .*byte offset {chunk.offset}"):
        count_percept(tmp_path / "len.mcap")
    data[chunk.offset + 8] = 0
    data[chunk.offset] = 0x55  # opcode
    (tmp_path / "op.mcap").write_bytes(bytes(data))
    with pytest.raises(LogError, match=rf"opcode 0x55.*byte offset {chunk.offset}"):
        count_percept(tmp_path / "op.mcap")


def replace_bytes(data: bytes, start: int, end: int, new: bytes) -> bytes:
    """``data[start:end]`` replaced by ``new`` in the data section of an MCAP file; the footer's
    summary offsets are shifted and its summary CRC recomputed, so the file stays valid."""
    out = data[:start] + new + data[end:]
    shift = len(new) - (end - start)
    foot = len(out) - len(MAGIC) - 29  # footer record: opcode, length, summary start/offset start, crc
    opcode, _length, start_at, offsets_at, _crc = struct.unpack_from("<BQQQI", out, foot)
    assert opcode == Opcode.FOOTER and start_at > end
    start_at, offsets_at = start_at + shift, offsets_at + shift if offsets_at else 0
    head = struct.pack("<BQQQ", Opcode.FOOTER, 20, start_at, offsets_at)
    crc = zlib.crc32(out[start_at:foot] + head)
    return out[:foot] + head + struct.pack("<I", crc) + out[foot + 29:]


def rebuilt_chunk(data: bytes, chunk: Chunk, edit: Callable[[bytes], bytes]) -> bytes:
    """The chunk record at ``chunk`` (uncompressed) with its records ``edit``-ed and a matching CRC."""
    rec = ChunkRecord.read(ReadDataStream(BytesIO(data[chunk.offset + 9:chunk.offset + chunk.length])))
    assert rec.compression == ""
    records = edit(rec.data)
    builder = RecordBuilder()
    ChunkRecord(compression="", data=records, message_end_time=rec.message_end_time,
                message_start_time=rec.message_start_time, uncompressed_crc=zlib.crc32(records),
                uncompressed_size=len(records)).write(builder)
    return builder.end()


def test_extension_records_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "full.mcap"
    written = write_log(path, n=12, chunk_size=20_000, compression="none", foxglove=False)
    layout = chunk_layout(path)
    data = path.read_bytes()
    second = layout[1][0].offset
    ext = struct.pack("<BQ", 0x80, 5) + b"hello"  # opcodes 0x80-0xFF: extension records
    spliced = replace_bytes(data, second, second, ext + struct.pack("<BQ", 0xFF, 0))
    inner_ext = rebuilt_chunk(data, layout[0][0], lambda recs: struct.pack("<BQ", 0xA0, 3) + b"abc" + recs)
    first = layout[0][0]
    spliced = replace_bytes(spliced, first.offset, first.offset + first.length, inner_ext)
    (tmp_path / "ext.mcap").write_bytes(spliced)
    with LogReader(tmp_path / "ext.mcap") as r:  # strict: nothing is reported as corrupt
        got = [(m.topic, m.log_time_ns, [bytes(f) for f in m.frames]) for m in r.messages()]
    assert got == written
    rep = recover(tmp_path / "ext.mcap", tmp_path / "fixed.mcap")
    assert (rep.chunks_recovered, rep.chunks_bad, rep.problems) == (len(layout), 0, [])
    assert rep.messages == len(written)


def test_inner_record_running_past_its_chunk(tmp_path: Path) -> None:
    path = tmp_path / "full.mcap"
    write_log(path, n=12, chunk_size=20_000, compression="none", foxglove=False)
    layout = chunk_layout(path)
    bad_chunk, bad_n = layout[1]

    def longer_last_record(recs: bytes) -> bytes:
        pos = last = 0
        while pos < len(recs):
            last = pos
            pos += 9 + struct.unpack_from("<Q", recs, pos + 1)[0]
        length = struct.unpack_from("<Q", recs, last + 1)[0]
        return recs[:last + 1] + struct.pack("<Q", length + 1) + recs[last + 9:]

    data = path.read_bytes()
    new = rebuilt_chunk(data, bad_chunk, longer_last_record)
    assert len(new) == bad_chunk.length  # same size, valid CRC: only the inner length is wrong
    end = bad_chunk.offset + bad_chunk.length
    (tmp_path / "bad.mcap").write_bytes(replace_bytes(data, bad_chunk.offset, end, new))
    with pytest.raises(LogError, match=rf"inside chunk.*past the end.*byte offset {bad_chunk.offset}"):
        count_percept(tmp_path / "bad.mcap")
    total = sum(n for _c, n in layout)
    assert count_percept(tmp_path / "bad.mcap", skip_bad=True) == total - bad_n
    rep = recover(tmp_path / "bad.mcap", tmp_path / "fixed.mcap")
    assert (rep.chunks_recovered, rep.chunks_bad, rep.messages) == (len(layout) - 1, 1, total - bad_n)


@pytest.mark.parametrize("header", [
    b"\xc1",  # not msgpack (FormatError)
    b"\x92\x01",  # truncated array
    b"\xa2\xff\xfe",  # str that is not UTF-8
    b"\x81\x91\x01\x02",  # map with a list key
    msgpack.packb([1, 2]),  # not a map
    msgpack.packb({"s": "percept.Image"}),  # no header
    msgpack.packb({"s": "percept.Image", "h": [1]}),
    msgpack.packb({"s": "percept.Image", "h": {"stamp_ns": True}}),
    msgpack.packb({"s": 3, "h": {"stamp_ns": 5}}),
])
def test_message_without_a_percept_header_is_stored_as_is(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "odd.mcap"
    frames = [b"odd/topic", header, b"payload"]
    with LogWriter(path) as w:
        w.write("odd/topic", frames, 777)
        assert w.view_errors == 0
    with LogReader(path) as r:
        assert [[bytes(f) for f in m.frames] for m in r.messages()] == [frames]
        assert r.summary().topics["odd/topic"].schema == ""
    with open(path, "rb") as f:
        (_schema, channel, message), = make_reader(f).iter_messages()
    assert channel.schema_id == 0 and message.publish_time == message.log_time == 777
