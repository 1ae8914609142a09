"""PCD reader/writer: round trips in all three encodings, hand-written files, LZF, malformed files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from sensors.errors import SensorError
from sensors.pcd import lzf_compress, lzf_decompress, read_pcd, write_pcd

FIELDS = ("x", "y", "z", "intensity")


def _cloud(n: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.normal(0, 20, (n, 4)).astype(np.float32)
    pts[:, 3] = rng.integers(0, 256, n)  # repetitive column: gives LZF real back-references
    return pts


def _literal_only_lzf(data: bytes) -> bytes:
    """The simplest valid LZF stream: literal runs of at most 32 bytes (control byte = run - 1)."""
    out = bytearray()
    for i in range(0, len(data), 32):
        chunk = data[i:i + 32]
        out += bytes([len(chunk) - 1]) + chunk
    return bytes(out)


@pytest.mark.parametrize("encoding", ["ascii", "binary", "binary_compressed"])
def test_round_trip(tmp_path: Path, encoding: str) -> None:
    pts = _cloud()
    path = tmp_path / f"c_{encoding}.pcd"
    write_pcd(path, pts, FIELDS, encoding)
    cloud = read_pcd(path)
    assert cloud.fields == FIELDS
    assert cloud.points.dtype == np.float32 and cloud.points.shape == pts.shape
    np.testing.assert_array_equal(cloud.points, pts)
    assert f"DATA {encoding}".encode() in path.read_bytes()[:400]


def test_round_trip_empty_cloud(tmp_path: Path) -> None:
    for enc in ("ascii", "binary", "binary_compressed"):
        write_pcd(tmp_path / "e.pcd", np.zeros((0, 3), np.float32), ("x", "y", "z"), enc)
        assert read_pcd(tmp_path / "e.pcd").points.shape == (0, 3)


def test_compressed_is_smaller_for_repetitive_data(tmp_path: Path) -> None:
    pts = np.zeros((2000, 4), np.float32)
    pts[:, 0] = np.arange(2000) % 7
    write_pcd(tmp_path / "b.pcd", pts, FIELDS, "binary")
    write_pcd(tmp_path / "c.pcd", pts, FIELDS, "binary_compressed")
    assert (tmp_path / "c.pcd").stat().st_size < (tmp_path / "b.pcd").stat().st_size / 5
    np.testing.assert_array_equal(read_pcd(tmp_path / "c.pcd").points, pts)


def _reference_lzf_decompress(data: bytes) -> bytes:
    """Independent LZF decoder written from the liblzf format, pinning the format in the tests.

    Control byte c: c < 32 is a literal run of c + 1 bytes; else a back-reference of length
    (c >> 5) + 2 (length code 7 takes an extra length byte) at distance ((c & 31) << 8 | next) + 1.
    """
    out = bytearray()
    i = 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            out += data[i:i + ctrl + 1]
            i += ctrl + 1
            continue
        length = ctrl >> 5
        if length == 7:
            length += data[i]
            i += 1
        ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        if ref < 0:
            raise ValueError("back-reference before the start")
        for k in range(length + 2):  # byte by byte: the copy may overlap its own output
            out.append(out[ref + k])
    return bytes(out)


def _compressed_body(path: Path) -> tuple[int, int, bytes]:
    """(compressed size, raw size, LZF stream) of a binary_compressed PCD file."""
    blob = path.read_bytes()
    start = blob.index(b"DATA binary_compressed\n") + len(b"DATA binary_compressed\n")
    csize, usize = struct.unpack("<II", blob[start:start + 8])
    return csize, usize, blob[start + 8:start + 8 + csize]


def test_lzf_spec_vectors() -> None:
    # liblzf format by hand: literal "abc" (ctrl 2), then a back-reference of 6 bytes at
    # distance 3 (ctrl (6-2)<<5 | 0, offset byte 3-1): the copy overlaps its own output.
    # Long match: length code 7 plus an extra length byte.
    for stream, raw in ((b"\x02abc\x80\x02", b"abcabcabc"), (b"\x00z\xe0\x03\x00", b"z" * 13)):
        assert lzf_decompress(stream, len(raw)) == raw
        assert _reference_lzf_decompress(stream) == raw
    assert lzf_decompress(_literal_only_lzf(b"hello world"), 11) == b"hello world"


def test_lzf_library_output_decodes_with_the_reference() -> None:
    rng = np.random.default_rng(1)
    cases = (b"a", b"ab" * 1000, bytes(rng.integers(0, 3, 5000, dtype=np.uint8)),
             bytes(rng.integers(0, 256, 3000, dtype=np.uint8)),  # incompressible: the stream grows
             _cloud(2000).T.tobytes())
    for data in cases:
        comp = lzf_compress(data)
        assert _reference_lzf_decompress(comp) == data
        assert lzf_decompress(comp, len(data)) == data
    assert lzf_compress(b"") == b"" and lzf_decompress(b"", 0) == b""
    assert len(lzf_compress(b"ab" * 1000)) < 100


def test_lzf_errors() -> None:
    with pytest.raises(ValueError, match="decodes to 3 bytes, expected 10"):
        lzf_decompress(b"\x02abc", 10)
    with pytest.raises(ValueError, match="more than the expected 2"):
        lzf_decompress(b"\x02abc", 2)
    with pytest.raises(ValueError, match="before the start"):
        lzf_decompress(b"\x00a\x20\x05", 4)
    with pytest.raises(ValueError, match="past the end"):
        lzf_decompress(b"\x05abc", 6)  # literal run of 6 with 3 bytes left
    with pytest.raises(ValueError, match="empty stream"):
        lzf_decompress(b"", 4)
    with pytest.raises(ValueError, match="at most 88x"):  # refused before allocating the output
        lzf_decompress(b"\x00a", 10**9)


def test_written_pcd_decodes_with_the_reference(tmp_path: Path) -> None:
    pts = _cloud(3000)
    path = tmp_path / "c.pcd"
    write_pcd(path, pts, FIELDS, "binary_compressed")
    csize, usize, stream = _compressed_body(path)
    assert len(stream) == csize < usize
    assert _reference_lzf_decompress(stream) == pts.T.astype("<f4").tobytes()  # field-major columns


def _header(fields: str = "x y z", size: str = "4 4 4", typ: str = "F F F", count: str = "1 1 1",
            width: int = 2, points: int = 2, data: str = "ascii") -> str:
    return (f"# .PCD v0.7\nVERSION 0.7\nFIELDS {fields}\nSIZE {size}\nTYPE {typ}\nCOUNT {count}\n"
            f"WIDTH {width}\nHEIGHT 1\nVIEWPOINT 1 2 3 1 0 0 0\nPOINTS {points}\nDATA {data}\n")


def test_hand_written_mixed_types_binary(tmp_path: Path) -> None:
    # x,y,z float32, intensity uint8, ring uint16, normal float64 x3 (COUNT 3), one padding field
    rec = np.dtype([("xyz", "<f4", 3), ("i", "u1"), ("ring", "<u2"), ("n", "<f8", 3), ("pad", "u1")])
    arr = np.zeros(3, rec)
    arr["xyz"] = [[1, 2, 3], [4, 5, 6], [-1, -2, -3]]
    arr["i"] = [10, 200, 255]
    arr["ring"] = [0, 15, 7]
    arr["n"] = [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    head = _header("x y z intensity ring normal _", "4 4 4 1 2 8 1", "F F F U U F U", "1 1 1 1 1 3 1",
                   3, 3, "binary")
    path = tmp_path / "mixed.pcd"
    path.write_bytes(head.encode() + arr.tobytes())
    cloud = read_pcd(path)
    assert cloud.fields == ("x", "y", "z", "intensity", "ring", "normal_0", "normal_1", "normal_2")
    assert cloud.viewpoint == (1.0, 2.0, 3.0, 1.0, 0.0, 0.0, 0.0)
    np.testing.assert_array_equal(cloud.points[:, :3], arr["xyz"])
    np.testing.assert_array_equal(cloud.points[:, 3], [10, 200, 255])
    np.testing.assert_array_equal(cloud.points[:, 4], [0, 15, 7])
    np.testing.assert_array_equal(cloud.points[:, 5:], arr["n"])


def test_hand_written_compressed_literal_only_column_major(tmp_path: Path) -> None:
    xyz = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    label = np.array([7, 9], np.int32)
    raw = xyz[:, 0].tobytes() + xyz[:, 1].tobytes() + xyz[:, 2].tobytes() + label.tobytes()
    comp = _literal_only_lzf(raw)
    head = _header("x y z label", "4 4 4 4", "F F F I", "1 1 1 1", data="binary_compressed")
    path = tmp_path / "lit.pcd"
    path.write_bytes(head.encode() + struct.pack("<II", len(comp), len(raw)) + comp)
    cloud = read_pcd(path)
    np.testing.assert_array_equal(cloud.points, [[1, 2, 3, 7], [4, 5, 6, 9]])


def test_ascii_hand_written(tmp_path: Path) -> None:
    path = tmp_path / "a.pcd"
    path.write_text(_header() + "1 2 3\n\n4.5 -5 6e1\n")
    np.testing.assert_allclose(read_pcd(path).points, [[1, 2, 3], [4.5, -5, 60]])


@pytest.mark.parametrize(("text", "key"), [
    (_header(points=3), "POINTS"),
    (_header(size="4 4"), "SIZE"),
    (_header(typ="F F Q"), "TYPE"),
    (_header(size="4 4 3"), "SIZE"),
    (_header(count="1 0 1"), "COUNT"),
    (_header(data="zip"), "DATA"),
    (_header(fields="x x y"), "FIELDS"),
    (_header().replace("WIDTH 2\n", ""), "WIDTH"),
    (_header().replace("VERSION 0.7", "COLOR red"), "COLOR"),
    (_header().replace("VIEWPOINT 1 2 3 1 0 0 0", "VIEWPOINT 1 2"), "VIEWPOINT"),
    ("VERSION 0.7\nFIELDS x\n", "DATA"),
])
def test_malformed_header(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.pcd"
    path.write_text(text + "1 2 3\n4 5 6\n")
    with pytest.raises(SensorError, match=key) as err:
        read_pcd(path)
    assert str(path) in str(err.value)


def test_malformed_data(tmp_path: Path) -> None:
    cases = {
        "ascii_rows": (_header() + "1 2 3\n", "found 1 lines"),
        "ascii_cols": (_header() + "1 2 3\n4 5\n", "line 2: expected 3"),
        "ascii_text": (_header() + "1 2 3\n4 five 6\n", "non-numeric"),
    }
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(SensorError, match=match):
            read_pcd(tmp_path / name)
    good = tmp_path / "good.pcd"
    write_pcd(good, _cloud(50), FIELDS, "binary")
    (tmp_path / "trunc.pcd").write_bytes(good.read_bytes()[:-5])
    with pytest.raises(SensorError, match="binary truncated"):
        read_pcd(tmp_path / "trunc.pcd")
    write_pcd(good, _cloud(50), FIELDS, "binary_compressed")
    blob = good.read_bytes()
    (tmp_path / "ctrunc.pcd").write_bytes(blob[:-20])
    with pytest.raises(SensorError, match="binary_compressed truncated"):
        read_pcd(tmp_path / "ctrunc.pcd")
    start = blob.index(b"DATA binary_compressed\n") + len(b"DATA binary_compressed\n")
    csize, usize = struct.unpack("<II", blob[start:start + 8])
    wrong = blob[:start] + struct.pack("<II", csize, usize - 4) + blob[start + 8:]
    (tmp_path / "usize.pcd").write_bytes(wrong)
    with pytest.raises(SensorError, match="uncompressed size"):
        read_pcd(tmp_path / "usize.pcd")
    corrupt = blob[:start + 8] + b"\xe0\xff\xff" + blob[start + 11:]  # reference before the start
    (tmp_path / "corrupt.pcd").write_bytes(corrupt)
    with pytest.raises(SensorError, match="corrupt LZF"):
        read_pcd(tmp_path / "corrupt.pcd")
    with pytest.raises(SensorError, match="cannot read"):
        read_pcd(tmp_path / "missing.pcd")


def test_corrupt_compressed_stream_is_a_sensor_error(tmp_path: Path) -> None:
    good = tmp_path / "good.pcd"
    write_pcd(good, _cloud(200), FIELDS, "binary_compressed")
    blob = good.read_bytes()
    start = blob.index(b"DATA binary_compressed\n") + len(b"DATA binary_compressed\n")
    csize, usize = struct.unpack("<II", blob[start:start + 8])
    stream = blob[start + 8:start + 8 + csize]
    cases = {  # each keeps the header sizes consistent, so only the LZF stream is wrong
        "short": (stream[:csize // 2], "corrupt LZF stream: .*(past the end|decodes to)"),
        "long": (stream + b"\x00\x00", "corrupt LZF stream: decodes to more than"),
        "ref": (b"\x00a\x20\x05" + stream[4:], "corrupt LZF stream: .*before the start"),
    }
    for name, (body, match) in cases.items():
        path = tmp_path / f"{name}.pcd"
        path.write_bytes(blob[:start] + struct.pack("<II", len(body), usize) + body)
        with pytest.raises(SensorError, match=match) as err:
            read_pcd(path)
        assert str(path) in str(err.value)
    huge = tmp_path / "huge.pcd"  # a header claiming 10^8 points over a 2-byte stream
    head = _header(width=10**8, points=10**8, data="binary_compressed")
    huge.write_bytes(head.encode() + struct.pack("<II", 2, 12 * 10**8) + b"\x00a")
    with pytest.raises(SensorError, match="cannot decode to 1200000000"):
        read_pcd(huge)


def test_writer_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="points must be"):
        write_pcd(tmp_path / "w.pcd", np.zeros((3, 2)), FIELDS)
    with pytest.raises(SensorError, match="without spaces"):
        write_pcd(tmp_path / "w.pcd", np.zeros((3, 1)), ("a b",))
    with pytest.raises(SensorError, match="encoding"):
        write_pcd(tmp_path / "w.pcd", np.zeros((3, 1)), ("a",), "gzip")
