"""Wire codec: malformed input always raises DecodeError, and arrays travel without copies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percept import Detections2D, Detections3D
from percept.codec import CodecLimits, Envelope, decode, encode, peek_topic
from percept.detections import Detections
from percept.errors import DecodeError, MessageError
from percept.message import Message
from percept.messages import Event, Image, NodeStats, PointCloud, RadarScan, Tracks

TOPIC = b"lidar/top"


def _cloud(n: int = 3) -> PointCloud:
    return PointCloud(stamp_ns=123, frame_id="lidar", seq=7,
                      points=np.arange(n * 4, dtype=np.float32).reshape(n, 4))


def _frames(msg: Message | None = None) -> list[bytes]:
    return [bytes(f) for f in (msg or _cloud()).to_frames(TOPIC.decode())]


def _header(frames: list[bytes]) -> dict[str, Any]:
    return msgpack.unpackb(frames[1], raw=False)


def _with_header(mutate: Callable[[dict[str, Any]], object], msg: Message | None = None,
                 buffers: list[bytes] | None = None) -> list[bytes]:
    """Valid frames of ``msg`` whose header went through ``mutate`` (and optionally new buffers)."""
    frames = _frames(msg)
    header = _header(frames)
    mutate(header)
    return [frames[0], msgpack.packb(header, use_bin_type=True),
            *(frames[2:] if buffers is None else buffers)]


def _refused(frames: list[Any], match: str | None = None, limits: CodecLimits | None = None) -> None:
    with pytest.raises(DecodeError, match=match):
        if limits is None:
            decode(frames)
        else:
            decode(frames, limits)


def test_valid_frames_decode() -> None:
    """The helpers above produce decodable frames (so each refusal below is about its one change)."""
    env = decode(_with_header(lambda h: None))
    assert isinstance(env, Envelope)
    assert env.topic == TOPIC.decode() and env.msg == _cloud()
    assert peek_topic(_frames()) == TOPIC.decode()


# --------------------------------------------------------------------------------------------
# truncation and frame counts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0, 1, 5, -1])
def test_header_cut_short(keep: int) -> None:
    frames = _frames()
    frames[1] = frames[1][:keep]
    _refused(frames, "header is not valid msgpack")


def test_array_buffer_one_byte_short() -> None:
    frames = _frames()
    frames[2] = frames[2][:-1]
    _refused(frames, r"needs 48 bytes, buffer has 47")


def test_array_buffer_one_byte_long() -> None:
    frames = _frames()
    frames[2] = frames[2] + b"\0"
    _refused(frames, r"needs 48 bytes, buffer has 49")


def test_missing_array_buffer() -> None:
    _refused(_frames()[:2], "header declares 1 array buffers, message has 0")


def test_missing_one_of_several_buffers() -> None:
    v = np.zeros(2, np.float32)
    frames = _frames(RadarScan(stamp_ns=0, frame_id="r", range_rate_mps=v, rcs_dbsm=v, range_m=v,
                               azimuth_rad=v))
    _refused(frames[:-1], "header declares 4 array buffers, message has 3")


def test_extra_array_buffer() -> None:
    _refused([*_frames(), b"\0" * 4], "header declares 1 array buffers, message has 2")


def test_only_topic_frame() -> None:
    _refused(_frames()[:1], "expected at least 2 frames")


def test_empty_frame_list() -> None:
    _refused([], "expected at least 2 frames")
    with pytest.raises(DecodeError, match="empty multipart"):
        peek_topic([])


def test_frame_not_bytes_like() -> None:
    frames: list[Any] = _frames()
    _refused([TOPIC.decode(), *frames[1:]], "not bytes-like")
    _refused([frames[0], frames[1], 12345], "not bytes-like")
    _refused([frames[0], None], "not bytes-like")


# --------------------------------------------------------------------------------------------
# schema, version
# --------------------------------------------------------------------------------------------


def test_unknown_schema() -> None:
    frames = _with_header(lambda h: h.update(s="percept.NoSuchThing"))
    _refused(frames, "unknown schema 'percept.NoSuchThing'")


def test_schema_not_a_string() -> None:
    _refused(_with_header(lambda h: h.update(s=["percept.PointCloud"])), r"header 's' \(schema\)")


@pytest.mark.parametrize("version", [0, 2, -1, 2**64 - 1, "1", 1.0, True, None])
def test_version_mismatch(version: object) -> None:
    _refused(_with_header(lambda h: h.update(v=version)), "unsupported version")


# --------------------------------------------------------------------------------------------
# dtypes and shapes
# --------------------------------------------------------------------------------------------


def _set_entry(index: int, pos: int, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(h: dict[str, Any]) -> None:
        h["a"][index][pos] = value

    return mutate


@pytest.mark.parametrize("dtype", ["O", "|O", "<U8", "<U1", ">f4", "f8", "<f4", "float32", "V4", "i4", "", 4])
def test_disallowed_dtype_for_float32_field(dtype: object) -> None:
    # the buffer keeps 48 bytes, so 4-byte dtypes would fit: only the dtype name is wrong
    _refused(_with_header(_set_entry(0, 1, dtype)), r"dtype .* not allowed, expected one of \['f4'\]")


def test_disallowed_dtype_f4_where_u1_required() -> None:
    img = Image(stamp_ns=1, frame_id="cam", encoding="jpeg", data=np.zeros(8, np.uint8))
    # 'f4' (2 x 4 bytes = the same 8 bytes) is not among the u1/u2 allowed for Image.data
    _refused(_with_header(lambda h: h["a"][0].__setitem__(slice(1, 3), ["f4", [2]]), img),
             r"Image\.data: dtype 'f4' not allowed")


def test_allowed_dtype_that_the_message_refuses() -> None:
    # u2 is a wire dtype of Image.data, but a jpeg payload must be uint8
    img = Image(stamp_ns=1, frame_id="cam", encoding="jpeg", data=np.zeros(8, np.uint8))
    _refused(_with_header(lambda h: h["a"][0].__setitem__(slice(1, 3), ["u2", [4]]), img),
             "compressed data must be uint8")


@pytest.mark.parametrize("shape", [[4, 4], [3, 5], [48], [2, 2, 3, 4, 1], [0, 4], []])
def test_shape_size_mismatch(shape: list[int]) -> None:
    _refused(_with_header(_set_entry(0, 2, shape)))


def test_shape_with_right_size_but_wrong_rank() -> None:
    # 12 float32 = 48 bytes, the right size; but PointCloud.points must be (N, C)
    _refused(_with_header(_set_entry(0, 2, [12])), r"points: expected shape \(N, N\), got \(12,\)")


def test_shape_right_size_but_fields_disagree() -> None:
    # (6, 2) is 48 bytes too, but the message names 4 columns
    _refused(_with_header(_set_entry(0, 2, [6, 2])), "fields: expected 2 names")


@pytest.mark.parametrize(
    "shape",
    [[-1, 4], [3, -4], [True, 4], [3, False], [3.0, 4], ["3", 4], [None, 4], [[3], 4], [2**64 - 1, 4],
     "3x4", 12, None, {"0": 3}, [1] * 9],
)
def test_bad_dims(shape: object) -> None:
    _refused(_with_header(_set_entry(0, 2, shape)), "shape must be a list of <= 8 non-negative ints")


@pytest.mark.parametrize("shape", [[0, 2**62], [0, 2**63 - 1, 2**63 - 1], [2**40, 0, 2**40]])
def test_zero_size_shape_with_huge_dims(shape: list[int]) -> None:
    # zero bytes declared, zero bytes sent: numpy still cannot build such a shape
    _refused(_with_header(_set_entry(0, 2, shape), buffers=[b""]))


def test_declared_size_over_cap_fails_fast() -> None:
    limits = CodecLimits(max_array_bytes=1024)
    frames = _with_header(_set_entry(0, 2, [2**40, 2**40]), buffers=[b""])
    t0 = time.perf_counter()
    _refused(frames, r"declared \d+ bytes, cap is 1024", limits)
    _refused(frames, "cap is")  # default limits too
    assert time.perf_counter() - t0 < 0.5


def test_declared_size_just_over_cap() -> None:
    frames = _frames(_cloud(4))  # 64 bytes
    assert decode(frames, CodecLimits(max_array_bytes=64)).msg == _cloud(4)
    _refused(frames, "declared 64 bytes, cap is 63", CodecLimits(max_array_bytes=63))


def test_message_total_over_cap() -> None:
    v = np.zeros(10, np.float32)  # four arrays of 40 bytes
    frames = _frames(RadarScan(stamp_ns=0, frame_id="r", range_rate_mps=v, rcs_dbsm=v, range_m=v,
                               azimuth_rad=v))
    assert isinstance(decode(frames, CodecLimits(max_message_bytes=160)).msg, RadarScan)
    _refused(frames, r"arrays total 160 bytes, cap is 159", CodecLimits(max_message_bytes=159))


def test_too_many_arrays_declared() -> None:
    entries = [["points", "f4", [0, 4]]] * 17
    _refused(_with_header(lambda h: h.update(a=entries), buffers=[b""] * 17), "17 arrays declared, cap is 16")


def test_header_over_cap() -> None:
    frames = _frames()
    _refused(frames, r"header is \d+ bytes, cap is", CodecLimits(max_header_bytes=len(frames[1]) - 1))


def test_scalar_items_over_cap() -> None:
    _refused(_frames(), "expected a list of at most 3 items", CodecLimits(max_scalar_items=3))


@pytest.mark.parametrize(
    "entry", [["points", "f4"], ["points", "f4", [3, 4], 0], "points", None, {"points": 1}]
)
def test_array_entry_malformed(entry: object) -> None:
    _refused(_with_header(lambda h: h.update(a=[entry])), r"expected \[name, dtype, shape\]")


@pytest.mark.parametrize("name", ["pixels", "", 3, None, ["points"]])
def test_unknown_array_field(name: object) -> None:
    _refused(_with_header(_set_entry(0, 0, name)), "unknown array field")


def test_array_field_twice() -> None:
    frames = _frames()
    _refused(_with_header(lambda h: h.update(a=h["a"] * 2), buffers=[frames[2]] * 2), "appears twice")


def test_required_array_missing() -> None:
    frames = _with_header(lambda h: h.update(a=[]), buffers=[])
    _refused(frames, r"required array fields missing: \['points'\]")


def test_optional_array_may_be_absent_but_not_the_required_ones() -> None:
    v = np.zeros(2, np.float32)
    scan = RadarScan(stamp_ns=0, frame_id="r", range_rate_mps=v, rcs_dbsm=v, xyz=np.zeros((2, 3), np.float32))
    frames = _frames(scan)
    names = [e[0] for e in _header(frames)["a"]]
    keep = [i for i, n in enumerate(names) if n != "xyz"]
    dropped = _with_header(lambda h: h.update(a=[h["a"][i] for i in keep]), scan,
                           buffers=[frames[2 + i] for i in keep])
    _refused(dropped, "needs polar")  # all arrays optional on the wire, but the message wants positions


def test_array_values_checked_by_the_message() -> None:
    n = 2
    trk = Tracks(stamp_ns=0, frame_id="ego", track_id=np.arange(n, dtype=np.int64),
                 class_id=np.zeros(n, np.int32), confidence=np.ones(n, np.float32),
                 state=np.zeros((n, 2), np.float32), age=np.ones(n, np.int32),
                 status=np.ones(n, np.uint8), sensors=np.ones(n, np.uint32), state_fields=("x", "y"))
    frames = _frames(trk)
    idx = 2 + [e[0] for e in _header(frames)["a"]].index("status")
    frames[idx] = bytes([1, 9])
    _refused(frames, "status: values must be TrackStatus")


# --------------------------------------------------------------------------------------------
# header structure and scalar fields
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"\xc1", b"not msgpack", b"\x81", b"\xdf\xff\xff\xff\xff", b"\x92\x01"])
def test_header_not_msgpack(raw: bytes) -> None:
    _refused([TOPIC, raw, *_frames()[2:]], "header is not valid msgpack")


@pytest.mark.parametrize("obj", [[1, 2], "header", None, 3, 1.5, True])
def test_header_not_a_map(obj: object) -> None:
    _refused([TOPIC, msgpack.packb(obj), *_frames()[2:]], "header: expected a map")


def test_header_map_with_non_string_keys() -> None:
    _refused([TOPIC, msgpack.packb({1: 2}), *_frames()[2:]], "header is not valid msgpack")


def test_header_with_bin_or_ext_values() -> None:
    _refused(_with_header(lambda h: h.update(s=b"percept.PointCloud")), "not valid msgpack")
    _refused(_with_header(lambda h: h["h"].update(frame_id=msgpack.ExtType(1, b"abc"))), "not valid msgpack")


@pytest.mark.parametrize(
    "mutate",
    [lambda h: h.pop("a"), lambda h: h.pop("s"), lambda h: h.update(x=1), lambda h: h.clear()],
    ids=["missing-a", "missing-s", "extra-key", "empty"],
)
def test_header_wrong_keys(mutate: Callable[[dict[str, Any]], object]) -> None:
    _refused(_with_header(mutate), "header keys")


def test_header_h_not_a_map() -> None:
    _refused(_with_header(lambda h: h.update(h=[1, 2])), "header 'h': expected a map")


def test_header_a_not_a_list() -> None:
    _refused(_with_header(lambda h: h.update(a={"points": ["f4", [3, 4]]})), "header 'a': expected a list")


def _set_scalar(name: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(h: dict[str, Any]) -> None:
        h["h"][name] = value

    return mutate


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("stamp_ns", "123", "stamp_ns: expected int, got str"),
        ("stamp_ns", 1.5, "stamp_ns: expected int, got float"),
        ("stamp_ns", True, "stamp_ns: expected int, got bool"),
        ("stamp_ns", None, "stamp_ns: expected int, got NoneType"),
        ("seq", [1], "seq: expected int, got list"),
        ("frame_id", 3, "frame_id: expected str, got int"),
        ("frame_id", ["lidar"], "frame_id: expected str, got list"),
        ("fields", "xyzi", "fields: expected a list"),
        ("fields", ["x", "y", "z", 4], "fields: list has items of the wrong type"),
        ("fields", {"x": 0}, "fields: expected a list"),
    ],
)
def test_scalar_wrong_type(name: str, value: object, match: str) -> None:
    _refused(_with_header(_set_scalar(name, value)), match)


def _stats() -> NodeStats:
    return NodeStats(stamp_ns=1, frame_id="", node="det", topics_in={"cam": 3}, cpu_s=1.5)


def _event() -> Event:
    return Event(stamp_ns=1, frame_id="", event_type="intrusion", track_ids=(1, 2), evidence={"dwell_s": 3.5})


@pytest.mark.parametrize(
    ("make", "name", "value", "match"),
    [
        (_stats, "cpu_s", "1.5", "cpu_s: expected float, got str"),
        (_stats, "cpu_s", True, "cpu_s: expected float, got bool"),
        (_stats, "pid", 1.0, "pid: expected int, got float"),
        (_stats, "topics_in", {"cam": 1.5}, "topics_in: map has keys or values of the wrong type"),
        (_stats, "topics_in", {"cam": True}, "topics_in: map has keys or values of the wrong type"),
        (_stats, "topics_in", ["cam"], "topics_in: expected a map"),
        (_event, "evidence", {"dwell_s": [1, 2]}, "evidence: map has keys or values of the wrong type"),
        (_event, "evidence", {"dwell_s": None}, "evidence: map has keys or values of the wrong type"),
        (_event, "track_ids", ["1"], "track_ids: list has items of the wrong type"),
        (_event, "track_ids", [True], "track_ids: list has items of the wrong type"),
        (_event, "severity", 2, "severity: expected str, got int"),
    ],
)
def test_scalar_wrong_type_other_kinds(make: Callable[[], Message], name: str, value: object,
                                       match: str) -> None:
    _refused(_with_header(_set_scalar(name, value), make()), match)


def test_image_width_bool_refused() -> None:
    img = Image(stamp_ns=1, frame_id="cam", encoding="png", data=np.zeros(4, np.uint8), width=1)
    _refused(_with_header(_set_scalar("width", True), img), "width: expected int, got bool")


@pytest.mark.parametrize(
    ("make", "name", "value", "match"),
    [
        (_cloud, "stamp_ns", -1, "stamp_ns: expected 0 <= value"),
        (_cloud, "seq", 2**64 - 1, "seq: expected 0 <= value"),
        (_event, "severity", "urgent", "Event.severity: expected one of"),
        (_event, "event_type", "", "event_type must be a non-empty str"),
        (_cloud, "fields", ["x", "y", "z", "x"], "duplicate names"),
    ],
)
def test_scalar_right_type_invalid_value(make: Callable[[], Message], name: str, value: object,
                                         match: str) -> None:
    _refused(_with_header(_set_scalar(name, value), make()), match)


def test_unknown_extra_scalar_field() -> None:
    _refused(_with_header(_set_scalar("colour", "red")), r"missing \[\], unexpected \['colour'\]")


def test_missing_scalar_field() -> None:
    _refused(_with_header(lambda h: h["h"].pop("seq")), r"missing \['seq'\], unexpected \[\]")
    _refused(_with_header(lambda h: h["h"].pop("fields")), r"missing \['fields'\]")


# --------------------------------------------------------------------------------------------
# topic frame
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", [b"\xff\xfe", b"cam\x80", b"\xed\xa0\x80"])  # last: a UTF-8 surrogate
def test_non_utf8_topic(topic: bytes) -> None:
    _refused([topic, *_frames()[1:]], "topic frame is not UTF-8")


def test_empty_topic() -> None:
    _refused([b"", *_frames()[1:]], r"topic frame: expected 1\.\.256 bytes, got 0")


def test_topic_over_cap() -> None:
    _refused([b"t" * 257, *_frames()[1:]], "got 257")
    assert decode([b"t" * 256, *_frames()[1:]]).topic == "t" * 256


def test_encode_refuses_empty_topic_and_non_messages() -> None:
    with pytest.raises(MessageError, match="non-empty"):
        _cloud().to_frames("")
    with pytest.raises(MessageError, match="not a registered Message"):
        encode("t", Detections.empty())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# frames given as memoryviews of other formats (len() of those is not their byte count)
# --------------------------------------------------------------------------------------------


def test_buffer_as_non_byte_memoryview() -> None:
    pc = _cloud()
    frames: list[Any] = _frames(pc)
    frames[2] = memoryview(pc.points)  # format 'f', 2-D: 3 items by len(), 48 bytes
    assert decode(frames).msg == pc
    frames[2] = memoryview(np.zeros(48, np.float64))  # len() == 48 but 384 bytes
    _refused(frames, "needs 48 bytes, buffer has 384")
    frames[2] = memoryview(np.zeros((0, 4), np.float32))
    _refused(frames, "buffer has 0")


def test_buffer_as_non_contiguous_memoryview() -> None:
    frames: list[Any] = _frames()
    frames[2] = memoryview(frames[2] * 2)[::2]  # 48 items, not contiguous
    _refused(frames, "not C-contiguous")


# --------------------------------------------------------------------------------------------
# zero copy
# --------------------------------------------------------------------------------------------


def test_decoded_arrays_share_memory_with_input_buffer() -> None:
    frames: list[Any] = _frames()
    buf = bytearray(frames[2])
    frames[2] = buf
    pts = decode(frames).msg.points
    assert np.shares_memory(pts, np.frombuffer(buf, np.uint8))
    buf[0:4] = np.float32(99.0).tobytes()  # the decoded array is a view: it sees the change
    assert pts[0, 0] == 99.0
    assert not pts.flags.writeable  # received arrays are read-only views


def test_decoded_arrays_share_memory_with_bytes_frames() -> None:
    frames = _frames()
    pts = decode(frames).msg.points
    assert np.shares_memory(pts, np.frombuffer(frames[2], np.uint8))
    base = pts
    while isinstance(base, np.ndarray):
        base = base.base
    assert base is frames[2]


def test_encode_does_not_copy_contiguous_arrays() -> None:
    pc = _cloud()
    frames = pc.to_frames("lidar")
    assert isinstance(frames[2], memoryview)
    assert frames[2].obj is pc.points
    assert np.shares_memory(np.frombuffer(frames[2], np.uint8), pc.points)
    # decoding the very frames that were sent (in-process) then shares the sender's memory
    assert np.shares_memory(decode(frames).msg.points, pc.points)

    dets = Detections2D(stamp_ns=1, frame_id="cam",
                        detections=Detections(np.zeros((2, 4), np.float32), np.ones(2, np.float32),
                                              np.zeros(2, np.int32), np.arange(2, dtype=np.int64)))
    sent = dets.to_frames("dets")
    assert all(isinstance(f, memoryview) for f in sent[2:])
    for f, arr in zip(sent[2:], dets.wire_arrays().values(), strict=True):
        assert np.shares_memory(np.frombuffer(f, np.uint8), arr)


def test_encode_copies_non_contiguous_arrays_once() -> None:
    big = np.arange(4 * 6, dtype=np.uint8).reshape(4, 6)
    img = Image(stamp_ns=1, frame_id="cam", encoding="mono8", data=big[:, ::2])
    frames = img.to_frames("cam")
    assert len(frames[2]) == 12
    assert not np.shares_memory(np.frombuffer(frames[2], np.uint8), big)
    assert decode(frames).msg == img


# --------------------------------------------------------------------------------------------
# fuzzing: nothing but DecodeError or a valid Envelope ever comes out
# --------------------------------------------------------------------------------------------


def _samples() -> list[Message]:
    n = 3
    v = np.linspace(0, 1, n, dtype=np.float32)
    return [
        _cloud(),
        Image(stamp_ns=5, frame_id="cam", encoding="bgr8", data=np.zeros((2, 3, 3), np.uint8)),
        Image(stamp_ns=5, frame_id="cam", encoding="mono16", data=np.ones((2, 2), np.uint16)),
        Image(stamp_ns=5, frame_id="cam", encoding="jpeg", data=np.arange(6, dtype=np.uint8), width=4),
        RadarScan(stamp_ns=6, frame_id="radar", range_rate_mps=v, rcs_dbsm=v, range_m=v, azimuth_rad=v,
                  xyz=np.zeros((n, 3), np.float32), extra=np.zeros((n, 1), np.float32),
                  extra_fields=("snr",)),
        Detections2D(stamp_ns=7, frame_id="cam", class_names=("car", "person"),
                     detections=Detections(np.zeros((n, 4)), v, [0, 1, 0], [1, 2, 3])),
        Detections3D(stamp_ns=8, frame_id="ego", centre=np.zeros((n, 3), np.float32),
                     size=np.ones((n, 3), np.float32), yaw=v, class_id=np.zeros(n, np.int32), confidence=v,
                     velocity=np.zeros((n, 3), np.float32), covariance=np.zeros((n, 2, 2), np.float32),
                     covariance_fields=("x", "y")),
        Tracks(stamp_ns=9, frame_id="ego", track_id=np.arange(n, dtype=np.int64),
               class_id=np.zeros(n, np.int32), confidence=v, state=np.zeros((n, 2), np.float32),
               covariance=np.zeros((n, 2, 2), np.float32), age=np.ones(n, np.int32),
               status=np.ones(n, np.uint8), sensors=np.ones(n, np.uint32), state_fields=("x", "y"),
               sensor_names=("cam", "radar")),
        _event(),
        _stats(),
    ]


SAMPLE_FRAMES = [_frames(m) for m in _samples()]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_refuse(frames: list[Any]) -> Envelope | None:
    """Decode, allowing only DecodeError; a result must be a valid, re-encodable message."""
    try:
        env = decode(frames)
    except DecodeError:
        return None
    assert isinstance(env, Envelope)
    assert isinstance(env.topic, str) and env.topic
    assert isinstance(env.msg, Message)
    again = decode(env.msg.to_frames(env.topic))  # a decoded message is always valid to send
    assert type(again.msg) is type(env.msg)
    return env


@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=5))
def test_fuzz_random_frames(frames: list[bytes]) -> None:
    assert _decode_or_refuse(frames) is None or len(frames) >= 2


@FUZZ
@given(topic=st.binary(min_size=1, max_size=8), rest=st.lists(st.binary(max_size=64), max_size=3),
       sample=st.sampled_from(SAMPLE_FRAMES))
def test_fuzz_valid_header_random_buffers(topic: bytes, rest: list[bytes], sample: list[bytes]) -> None:
    env = _decode_or_refuse([topic, sample[1], *rest])
    if env is not None:
        assert [len(b) for b in rest] == [len(b) for b in sample[2:]]


@FUZZ
@given(sample=st.sampled_from(SAMPLE_FRAMES), data=st.data())
def test_fuzz_flipped_header_bytes(sample: list[bytes], data: st.DataObject) -> None:
    header = bytearray(sample[1])
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(header) - 1), st.integers(1, 255)),
                               min_size=1, max_size=4), label="flips")
    for pos, mask in flips:
        header[pos] ^= mask
    _decode_or_refuse([sample[0], bytes(header), *sample[2:]])


@FUZZ
@given(sample=st.sampled_from(SAMPLE_FRAMES), data=st.data())
def test_fuzz_mutated_frames(sample: list[bytes], data: st.DataObject) -> None:
    frames = list(sample)
    i = data.draw(st.integers(0, len(frames) - 1), label="frame")
    ops = ["truncate", "extend", "drop", "duplicate", "swap", "replace"]
    op = data.draw(st.sampled_from(ops), label="op")
    if op == "truncate":
        frames[i] = frames[i][: data.draw(st.integers(0, max(len(frames[i]) - 1, 0)))]
    elif op == "extend":
        frames[i] = frames[i] + data.draw(st.binary(min_size=1, max_size=8))
    elif op == "drop":
        del frames[i]
    elif op == "duplicate":
        frames.insert(i, frames[i])
    elif op == "swap":
        j = data.draw(st.integers(0, len(frames) - 1))
        frames[i], frames[j] = frames[j], frames[i]
    else:
        frames[i] = data.draw(st.binary(max_size=64))
    _decode_or_refuse(frames)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(),
                    st.text(max_size=8))
msgpack_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(sample=st.sampled_from(SAMPLE_FRAMES), data=st.data())
def test_fuzz_structured_headers(sample: list[bytes], data: st.DataObject) -> None:
    """Well-formed msgpack maps with the right keys but random values in one place."""
    header = _header(sample)
    where = data.draw(st.sampled_from(["s", "v", "h", "a", "scalar", "entry", "dims"]), label="where")
    value = data.draw(msgpack_values, label="value")
    if where in ("s", "v", "h", "a"):
        header[where] = value
    elif where == "scalar":
        header["h"][data.draw(st.sampled_from(sorted(header["h"])), label="field")] = value
    elif header["a"]:
        entry = header["a"][data.draw(st.integers(0, len(header["a"]) - 1), label="entry")]
        if where == "entry":
            entry[data.draw(st.integers(0, 2), label="pos")] = value
        else:
            entry[2] = data.draw(st.lists(st.integers(-2, 2**40), max_size=4), label="dims")
    _decode_or_refuse([sample[0], msgpack.packb(header, use_bin_type=True), *sample[2:]])
