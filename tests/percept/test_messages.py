"""Topic messages: wire round-trips of every message type (hypothesis) and field validation."""

from __future__ import annotations

import dataclasses

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from percept.codec import decode, encode
from percept.detections import Detections
from percept.errors import DecodeError, MessageError
from percept.message import Message, arrays_equal
from percept.messages import (
    Detections2D,
    Detections3D,
    Event,
    EventPhase,
    Image,
    NodeStats,
    PointCloud,
    Pose,
    RadarScan,
    Severity,
    Tracks,
    TrackStatus,
)

INT64_MAX = 2**63 - 1
ALL_TYPES = (Image, PointCloud, RadarScan, Detections2D, Detections3D, Tracks, Event, NodeStats)

# --------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------

#: row counts: 0 is drawn as its own branch so empty arrays come up often, not only by shrinking
rows = st.one_of(st.just(0), st.integers(1, 6))
text = st.text(st.characters(codec="utf-8"), max_size=12)
names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=6)
topics = st.text(st.characters(codec="utf-8"), min_size=1, max_size=24)
stamps = st.integers(0, INT64_MAX)
int64s = st.integers(-(2**63), INT64_MAX)
finite = st.floats(allow_nan=False, allow_infinity=False)
#: float32 values including NaN, infinities and subnormals: equality treats NaN as equal
f32_elems = st.floats(width=32)


def f32(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float32, shape, elements=f32_elems)


def unique_names(n: int) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(names, min_size=n, max_size=n, unique=True).map(tuple)


@st.composite
def header(draw: st.DrawFn) -> dict:
    return {"stamp_ns": draw(stamps), "frame_id": draw(text), "seq": draw(stamps)}


@st.composite
def images(draw: st.DrawFn, encoding: str) -> Image:
    h, w = draw(st.integers(0, 7)), draw(st.integers(0, 7))
    if encoding in ("bgr8", "rgb8"):
        data = draw(hnp.arrays(np.uint8, (h, w, 3)))
    elif encoding == "mono8":
        data = draw(hnp.arrays(np.uint8, (h, w)))
    elif encoding == "mono16":
        data = draw(hnp.arrays(np.uint16, (h, w)))
    else:
        data = draw(hnp.arrays(np.uint8, (draw(st.integers(0, 64)),)))
        return Image(**draw(header()), encoding=encoding, data=data,
                     width=draw(st.integers(0, 10_000)), height=draw(st.integers(0, 10_000)))
    explicit = draw(st.booleans())  # width/height given explicitly or derived from data (0)
    return Image(**draw(header()), encoding=encoding, data=data,
                 width=w if explicit else 0, height=h if explicit else 0)


@st.composite
def point_clouds(draw: st.DrawFn) -> PointCloud:
    n, c = draw(rows), draw(st.integers(0, 5))
    return PointCloud(**draw(header()), points=draw(f32((n, c))), fields=draw(unique_names(c)))


@st.composite
def radar_scans(draw: st.DrawFn, variant: str) -> RadarScan:
    n = draw(rows)
    kw: dict = {"range_rate_mps": draw(f32((n,))), "rcs_dbsm": draw(f32((n,)))}
    if variant in ("polar", "both", "extra"):
        kw["range_m"] = draw(f32((n,)))
        kw["azimuth_rad"] = draw(f32((n,)))
        if draw(st.booleans()):
            kw["elevation_rad"] = draw(f32((n,)))
    if variant in ("cartesian", "both") or (variant == "extra" and draw(st.booleans())):
        kw["xyz"] = draw(f32((n, 3)))
    if variant == "extra":
        k = draw(st.integers(1, 3))
        kw["extra"] = draw(f32((n, k)))
        kw["extra_fields"] = draw(unique_names(k))
    return RadarScan(**draw(header()), **kw)


@st.composite
def detections(draw: st.DrawFn, with_track_id: bool) -> Detections:
    n = draw(rows)
    return Detections(
        xyxy=draw(f32((n, 4))),
        confidence=draw(f32((n,))),
        class_id=draw(hnp.arrays(np.int32, (n,))),
        track_id=draw(hnp.arrays(np.int64, (n,))) if with_track_id else None,
    )


@st.composite
def detections_2d(draw: st.DrawFn, with_track_id: bool) -> Detections2D:
    return Detections2D(**draw(header()), detections=draw(detections(with_track_id)),
                        class_names=draw(st.lists(text, max_size=4)),
                        latency_ns=draw(stamps))


@st.composite
def detections_3d(draw: st.DrawFn, velocity: bool, covariance: bool) -> Detections3D:
    n = draw(rows)
    kw: dict = {}
    if velocity:
        kw["velocity"] = draw(f32((n, 3)))
    if covariance:
        d = draw(st.integers(0, 4))
        kw["covariance"] = draw(f32((n, d, d)))
        kw["covariance_fields"] = draw(unique_names(d))
    return Detections3D(
        **draw(header()), centre=draw(f32((n, 3))), size=draw(f32((n, 3))), yaw=draw(f32((n,))),
        class_id=draw(hnp.arrays(np.int32, (n,))), confidence=draw(f32((n,))),
        class_names=draw(st.lists(text, max_size=4)), **kw,
    )


@st.composite
def tracks(draw: st.DrawFn, covariance: bool) -> Tracks:
    n, d = draw(rows), draw(st.integers(1, 6))
    statuses = st.sampled_from([int(s) for s in TrackStatus])
    return Tracks(
        **draw(header()),
        track_id=draw(hnp.arrays(np.int64, (n,))),
        class_id=draw(hnp.arrays(np.int32, (n,))),
        confidence=draw(f32((n,))),
        state=draw(f32((n, d))),
        covariance=draw(f32((n, d, d))) if covariance else None,
        age=draw(hnp.arrays(np.int32, (n,))),
        status=draw(hnp.arrays(np.uint8, (n,), elements=statuses)),
        sensors=draw(hnp.arrays(np.uint32, (n,))),
        state_fields=draw(unique_names(d)),
        class_names=draw(st.lists(text, max_size=4)),
        sensor_names=draw(st.lists(names, max_size=5)),
    )


evidence_values = st.one_of(int64s, finite, text, st.booleans())


@st.composite
def events(draw: st.DrawFn) -> Event:
    return Event(
        **draw(header()),
        event_type=draw(names),
        severity=draw(st.sampled_from([*Severity, *(s.value for s in Severity)])),
        track_ids=draw(st.lists(int64s, max_size=6)),
        zone=draw(text),
        evidence=draw(st.dictionaries(text, evidence_values, max_size=5)),
        text=draw(text),
        event_id=draw(text),
        phase=draw(st.sampled_from([*EventPhase, *(p.value for p in EventPhase)])),
        camera=draw(text),
        snapshot=draw(hnp.arrays(np.uint8, (draw(st.integers(0, 64)),))),
    )


@st.composite
def node_stats(draw: st.DrawFn) -> NodeStats:
    ints = {k: draw(int64s) for k in ("pid", "uptime_ns", "msgs_in", "msgs_out", "dropped",
                                      "send_drops", "decode_errors", "handler_errors", "rss_bytes")}
    floats = {k: draw(st.one_of(finite, int64s)) for k in ("cpu_s", "handler_p50_us", "handler_p99_us")}
    return NodeStats(**draw(header()), node=draw(text), **ints, **floats,
                     topics_in=draw(st.dictionaries(text, int64s, max_size=5)))


MESSAGES: dict[str, st.SearchStrategy[Message]] = {
    **{f"image-{enc}": images(enc) for enc in ("bgr8", "rgb8", "mono8", "mono16", "jpeg", "png")},
    "pointcloud": point_clouds(),
    **{f"radar-{v}": radar_scans(v) for v in ("polar", "cartesian", "both", "extra")},
    "det2d": detections_2d(False),
    "det2d-track_id": detections_2d(True),
    "det3d": detections_3d(False, False),
    "det3d-velocity": detections_3d(True, False),
    "det3d-covariance": detections_3d(False, True),
    "det3d-velocity-covariance": detections_3d(True, True),
    "tracks": tracks(False),
    "tracks-covariance": tracks(True),
    "event": events(),
    "nodestats": node_stats(),
}

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_round_trip(msg: Message, topic: str) -> None:
    frames = msg.to_frames(topic)
    env = decode(frames)
    assert env.topic == topic
    assert type(env.msg) is type(msg)
    assert env.msg == msg
    as_bytes = [bytes(f) for f in frames]
    assert all(type(f) is bytes for f in as_bytes)
    env_b = decode(as_bytes)
    assert env_b.topic == topic
    assert env_b.msg == msg
    assert type(msg).from_frames(frames) == msg
    assert type(msg).from_frames(as_bytes) == msg


# --------------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MESSAGES))
@FAST
@given(data=st.data(), topic=topics)
def test_round_trip(kind: str, data: st.DataObject, topic: str) -> None:
    _check_round_trip(data.draw(MESSAGES[kind], label=kind), topic)


@pytest.mark.parametrize("kind", sorted(MESSAGES))
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_from_frames_of_wrong_class_raises(kind: str, data: st.DataObject) -> None:
    msg = data.draw(MESSAGES[kind], label=kind)
    frames = msg.to_frames("some/topic")
    for other in ALL_TYPES:
        if other is not type(msg):
            with pytest.raises(DecodeError, match=f"expected schema {other.SCHEMA}"):
                other.from_frames(frames)


def _empty_messages() -> dict[str, Message]:
    e32 = np.zeros(0, np.float32)
    hdr = {"stamp_ns": 0, "frame_id": ""}
    return {
        "image-bgr8": Image(**hdr, encoding="bgr8", data=np.zeros((0, 0, 3), np.uint8)),
        "image-rgb8": Image(**hdr, encoding="rgb8", data=np.zeros((0, 5, 3), np.uint8)),
        "image-mono8": Image(**hdr, encoding="mono8", data=np.zeros((4, 0), np.uint8)),
        "image-mono16": Image(**hdr, encoding="mono16", data=np.zeros((0, 0), np.uint16)),
        "image-jpeg": Image(**hdr, encoding="jpeg", data=np.zeros(0, np.uint8)),
        "image-png": Image(**hdr, encoding="png", data=np.zeros(0, np.uint8), width=3, height=2),
        "pointcloud": PointCloud(**hdr, points=np.zeros((0, 4), np.float32)),
        "pointcloud-no-columns": PointCloud(**hdr, points=np.zeros((3, 0), np.float32), fields=()),
        "radar-polar": RadarScan(**hdr, range_rate_mps=e32, rcs_dbsm=e32, range_m=e32, azimuth_rad=e32),
        "radar-cartesian": RadarScan(**hdr, range_rate_mps=e32, rcs_dbsm=e32,
                                     xyz=np.zeros((0, 3), np.float32)),
        "radar-extra": RadarScan(**hdr, range_rate_mps=e32, rcs_dbsm=e32, range_m=e32, azimuth_rad=e32,
                                 elevation_rad=e32, xyz=np.zeros((0, 3), np.float32),
                                 extra=np.zeros((0, 2), np.float32), extra_fields=("a", "b")),
        "det2d": Detections2D(**hdr),
        "det2d-track_id": Detections2D(**hdr, detections=Detections.empty(with_track_id=True)),
        "det3d": Detections3D(**hdr, centre=np.zeros((0, 3), np.float32),
                              size=np.zeros((0, 3), np.float32), yaw=e32,
                              class_id=np.zeros(0, np.int32), confidence=e32,
                              velocity=np.zeros((0, 3), np.float32),
                              covariance=np.zeros((0, 2, 2), np.float32), covariance_fields=("x", "y")),
        "tracks": Tracks(**hdr, track_id=np.zeros(0, np.int64), class_id=np.zeros(0, np.int32),
                         confidence=e32, state=np.zeros((0, 4), np.float32),
                         covariance=np.zeros((0, 4, 4), np.float32), age=np.zeros(0, np.int32),
                         status=np.zeros(0, np.uint8), sensors=np.zeros(0, np.uint32),
                         state_fields=("x1", "y1", "x2", "y2")),
        "event": Event(**hdr, event_type="intrusion"),
        "nodestats": NodeStats(**hdr, node="n"),
    }


@pytest.mark.parametrize("kind", sorted(_empty_messages()))
def test_round_trip_empty(kind: str) -> None:
    msg = _empty_messages()[kind]
    _check_round_trip(msg, "empty")
    decoded = decode(msg.to_frames("empty")).msg
    for name, arr in msg.wire_arrays().items():
        assert decoded.wire_arrays()[name].shape == arr.shape
        assert decoded.wire_arrays()[name].dtype == arr.dtype


def test_round_trip_keeps_optional_arrays_absent() -> None:
    e32 = np.zeros(2, np.float32)
    scan = RadarScan(stamp_ns=1, frame_id="radar", range_rate_mps=e32, rcs_dbsm=e32,
                     xyz=np.zeros((2, 3), np.float32))
    out = decode(scan.to_frames("radar")).msg
    assert out.range_m is None and out.azimuth_rad is None and out.extra is None
    assert out.xyz is not None
    dets = Detections2D(stamp_ns=1, frame_id="cam", detections=Detections([[0, 0, 1, 1]], [0.5], [1]))
    assert decode(dets.to_frames("dets")).msg.detections.track_id is None


def test_round_trip_keeps_nan_and_float_bits() -> None:
    pts = np.array([[np.nan, np.inf, -np.inf, -0.0], [1e-45, 3.4e38, 0.0, 1.0]], np.float32)
    pc = PointCloud(stamp_ns=5, frame_id="lidar", points=pts)
    out = decode(pc.to_frames("lidar")).msg
    assert out == pc
    assert np.array_equal(np.signbit(out.points), np.signbit(pts))
    assert np.array_equal(np.isnan(out.points), np.isnan(pts))


def test_round_trip_of_non_contiguous_array() -> None:
    big = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    img = Image(stamp_ns=1, frame_id="cam", encoding="rgb8", data=big[:, ::2])
    assert not img.data.flags.c_contiguous
    out = decode(img.to_frames("cam")).msg
    assert out == img
    assert (out.width, out.height) == (3, 4)


# --------------------------------------------------------------------------------------------
# equality itself (so that the round trips above are not vacuous)
# --------------------------------------------------------------------------------------------


def test_equality_compares_dtype_shape_values_and_scalars() -> None:
    pts = np.arange(8, dtype=np.float32).reshape(2, 4)
    pc = PointCloud(stamp_ns=1, frame_id="lidar", points=pts)
    assert pc == PointCloud(stamp_ns=1, frame_id="lidar", points=pts.copy())
    assert pc != pc.replace(points=pts + 1)
    assert pc != pc.replace(points=pts.reshape(4, 2), fields=("a", "b"))
    assert pc != pc.replace(seq=1)
    assert pc != pc.replace(frame_id="other")
    assert pc != pc.replace(fields=("x", "y", "z", "i"))
    img = Image(stamp_ns=1, frame_id="c", encoding="mono8", data=np.zeros((2, 2), np.uint8))
    assert img != Image(stamp_ns=1, frame_id="c", encoding="mono16", data=np.zeros((2, 2), np.uint16))
    assert pc != img
    assert arrays_equal(np.array([np.nan], np.float32), np.array([np.nan], np.float32))
    assert not arrays_equal(np.zeros(2, np.float32), np.zeros(2, np.float64))
    assert not arrays_equal(np.zeros(2, np.float32), None)
    assert arrays_equal(None, None)
    d = Detections([[0, 0, 1, 1]], [0.5], [1])
    assert d != d.with_track_ids(np.array([7]))


def test_messages_are_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(Event(stamp_ns=0, frame_id="", event_type="x"))


# --------------------------------------------------------------------------------------------
# Detections validation and helpers
# --------------------------------------------------------------------------------------------


def test_detections_shape_mismatch_names_expected_and_actual() -> None:
    with pytest.raises(MessageError, match=r"Detections\.xyxy: expected shape \(N, 4\), got \(3, 5\)"):
        Detections(np.zeros((3, 5), np.float32), np.zeros(3, np.float32), np.zeros(3, np.int32))
    with pytest.raises(MessageError, match=r"Detections\.confidence: expected shape \(N,\), got \(3, 1\)"):
        Detections(np.zeros((3, 4), np.float32), np.zeros((3, 1), np.float32), np.zeros(3, np.int32))
    with pytest.raises(MessageError, match=r"Detections\.xyxy: expected shape \(N, 4\), got \(4,\)"):
        Detections(np.zeros(4, np.float32), np.zeros(1, np.float32), np.zeros(1, np.int32))


@pytest.mark.parametrize("field", ["confidence", "class_id", "track_id"])
def test_detections_length_mismatch(field: str) -> None:
    kw = {"xyxy": np.zeros((3, 4), np.float32), "confidence": np.zeros(3, np.float32),
          "class_id": np.zeros(3, np.int32), "track_id": np.zeros(3, np.int64)}
    kw[field] = kw[field][:2]
    match = rf"Detections\.{field}: expected length 3 \(rows of xyxy\), got 2"
    with pytest.raises(MessageError, match=match):
        Detections(**kw)


@pytest.mark.parametrize("field", ["class_id", "track_id"])
def test_detections_refuse_float_to_int(field: str) -> None:
    kw = {"xyxy": np.zeros((2, 4), np.float32), "confidence": np.zeros(2, np.float32),
          "class_id": np.zeros(2, np.int32), "track_id": np.zeros(2, np.int64)}
    kw[field] = np.array([1.0, 2.5])
    with pytest.raises(MessageError, match=rf"Detections\.{field}: expected dtype <i\d, got <f8"):
        Detections(**kw)


def test_detections_safe_casts_and_list_inputs_are_coerced() -> None:
    d = Detections([[0, 0, 10, 20], [1, 2, 3, 4]], [0.5, 1.0], [3, 1], track_id=[7, 8])
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (2, 4)
    assert d.confidence.dtype == np.float32
    assert d.class_id.dtype == np.int32 and d.class_id.tolist() == [3, 1]
    assert d.track_id is not None and d.track_id.dtype == np.int64
    # float64 -> float32 and int64 -> int32 are same-kind casts: accepted
    d64 = Detections(np.zeros((1, 4)), np.ones(1), np.array([5], np.int64))
    assert d64.xyxy.dtype == np.float32 and d64.class_id.dtype == np.int32
    # an empty list becomes (0, 4)
    empty = Detections([], [], [])
    assert empty.xyxy.shape == (0, 4) and len(empty) == 0
    with pytest.raises(MessageError, match=r"Detections\.xyxy: expected dtype <f4, got <U1"):
        Detections([["a", "b", "c", "d"]], [0.1], [1])
    # a float list is never truncated into an int field
    with pytest.raises(MessageError, match=r"Detections\.class_id: expected dtype <i4, got <f8"):
        Detections([[0, 0, 1, 1]], [0.1], [1.5])
    with pytest.raises(MessageError, match=r"Detections\.xyxy: cannot convert"):
        Detections([[0, 0, 1], [0, 0]], [0.1, 0.2], [1, 2])


def test_detections_array_of_matching_dtype_is_not_copied() -> None:
    xyxy = np.zeros((2, 4), np.float32)
    assert Detections(xyxy, np.zeros(2, np.float32), np.zeros(2, np.int32)).xyxy is xyxy


def _three() -> Detections:
    return Detections(
        xyxy=np.array([[0, 0, 2, 3], [10, 10, 14, 12], [5, 5, 4, 4]], np.float32),
        confidence=np.array([0.9, 0.5, 0.1], np.float32),
        class_id=np.array([0, 1, 2], np.int32),
        track_id=np.array([100, 101, 102], np.int64),
    )


def test_detections_indexing() -> None:
    d = _three()
    first = d[0]
    assert len(first) == 1 and first.xyxy.shape == (1, 4)
    assert first.track_id is not None and first.track_id.tolist() == [100]
    assert d[-1].class_id.tolist() == [2]
    assert d[-2].class_id.tolist() == [1]
    assert d[np.int64(1)].class_id.tolist() == [1]
    assert d[1:].class_id.tolist() == [1, 2]
    assert d[np.array([True, False, True])].class_id.tolist() == [0, 2]
    picked = d[[2, 0]]
    assert picked.class_id.tolist() == [2, 0]
    assert picked.track_id is not None and picked.track_id.tolist() == [102, 100]
    assert picked.xyxy.shape == (2, 4)
    no_ids = Detections(d.xyxy, d.confidence, d.class_id)
    assert no_ids[0:2].track_id is None
    assert len(d[np.zeros(3, bool)]) == 0


def test_detections_area() -> None:
    area = _three().area
    assert area.dtype == np.float32
    assert area.tolist() == [6.0, 8.0, 0.0]  # the last box is inverted: area 0
    assert Detections.empty().area.shape == (0,)


def test_detections_empty() -> None:
    e = Detections.empty()
    assert len(e) == 0
    assert e.xyxy.shape == (0, 4) and e.xyxy.dtype == np.float32
    assert e.confidence.shape == (0,) and e.class_id.dtype == np.int32
    assert e.track_id is None
    et = Detections.empty(with_track_id=True)
    assert et.track_id is not None and et.track_id.shape == (0,) and et.track_id.dtype == np.int64


def test_detections_concatenate() -> None:
    d = _three()
    both = Detections.concatenate([d[0:1], d[1:]])
    assert both == d
    mixed = Detections.concatenate([d, Detections(d.xyxy, d.confidence, d.class_id)])
    assert len(mixed) == 6 and mixed.track_id is None
    assert Detections.concatenate([]) == Detections.empty()
    assert Detections.concatenate([Detections.empty(), d]) != d  # empty part has no track ids
    assert Detections.concatenate([Detections.empty(True), d]) == d


def test_detections_with_track_ids() -> None:
    d = Detections(np.zeros((2, 4)), [0.1, 0.2], [0, 0])
    t = d.with_track_ids(np.array([5, 6]))
    assert t.track_id is not None and t.track_id.dtype == np.int64 and t.track_id.tolist() == [5, 6]
    assert d.track_id is None
    with pytest.raises(MessageError, match="expected length 2"):
        d.with_track_ids(np.array([1, 2, 3]))


def test_detections2d_requires_detections_object() -> None:
    with pytest.raises(MessageError, match="detections: expected Detections"):
        Detections2D(stamp_ns=0, frame_id="cam", detections={"xyxy": []})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# per-message validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "data", "match"),
    [
        ("bgr8", np.zeros((4, 4), np.uint8), "bgr8 expects u1 data with 3 dims"),
        ("rgb8", np.zeros((4, 4, 3), np.uint16), "rgb8 expects u1 data with 3 dims"),
        ("mono8", np.zeros((4, 4, 3), np.uint8), "mono8 expects u1 data with 2 dims"),
        ("mono8", np.zeros((4, 4), np.uint16), "mono8 expects u1 data with 2 dims"),
        ("mono16", np.zeros((4, 4), np.uint8), "mono16 expects u2 data with 2 dims"),
        ("jpeg", np.zeros((4, 4), np.uint8), "compressed data must be uint8"),
        ("png", np.zeros(4, np.uint16), "compressed data must be uint8"),
        ("yuv422", np.zeros(4, np.uint8), "unknown encoding 'yuv422'"),
    ],
)
def test_image_encoding_shape_mismatch(encoding: str, data: np.ndarray, match: str) -> None:
    with pytest.raises(MessageError, match=match):
        Image(stamp_ns=0, frame_id="cam", encoding=encoding, data=data)


def test_image_dtype_and_size_checks() -> None:
    with pytest.raises(MessageError, match=r"Image\.data: expected dtype"):
        Image(stamp_ns=0, frame_id="cam", encoding="mono8", data=np.zeros((2, 2), np.float32))
    with pytest.raises(MessageError, match=r"Image\.data: expected shape"):
        Image(stamp_ns=0, frame_id="cam", encoding="bgr8", data=np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(MessageError, match="expected numpy array"):
        Image(stamp_ns=0, frame_id="cam", encoding="mono8", data=[[0, 1]])  # type: ignore[arg-type]
    with pytest.raises(MessageError, match="width: expected 3 \\(from data\\), got 5"):
        Image(stamp_ns=0, frame_id="cam", encoding="bgr8", data=np.zeros((2, 3, 3), np.uint8), width=5)
    img = Image(stamp_ns=0, frame_id="cam", encoding="bgr8", data=np.zeros((2, 3, 3), np.uint8))
    assert (img.width, img.height) == (3, 2)
    with pytest.raises(MessageError, match=r"Image\.width"):
        Image(stamp_ns=0, frame_id="cam", encoding="jpeg", data=np.zeros(3, np.uint8), width=-1)


def test_image_full_frame_size_of_a_downscaled_copy() -> None:
    small = Image.from_bgr(np.zeros((27, 48, 3), np.uint8), stamp_ns=5, frame_id="cam", seq=2,
                           full_size=(1920, 1080))
    again = decode(encode("cam/analytics", small)).msg
    assert (again.full_width, again.full_height, again.width) == (1920, 1080, 48)
    assert again.full_frame_scale() == (40.0, 40.0)
    full = Image.from_bgr(np.zeros((2, 3, 3), np.uint8), stamp_ns=0, frame_id="c")
    assert full.full_frame_scale() == (1.0, 1.0)
    with pytest.raises(MessageError, match="full_width, full_height: expected both 0 or both > 0"):
        Image(stamp_ns=0, frame_id="cam", encoding="bgr8", data=np.zeros((2, 3, 3), np.uint8), full_width=6)


def test_detections_scaled_maps_boxes_to_another_pixel_grid() -> None:
    dets = Detections([[1, 2, 3, 4], [0, 0, 10, 5]], [0.9, 0.5], [0, 1])
    big = dets.scaled(2.0, 4.0)
    np.testing.assert_allclose(big.xyxy, [[2, 8, 6, 16], [0, 0, 20, 20]])
    assert big.xyxy.dtype == np.float32 and big.confidence.tolist() == dets.confidence.tolist()
    assert dets.scaled(1.0, 1.0) is dets


def test_pointcloud_field_count_mismatch() -> None:
    pts = np.zeros((2, 4), np.float32)
    with pytest.raises(MessageError, match=r"fields: expected 4 names \(array columns\), got 3"):
        PointCloud(stamp_ns=0, frame_id="lidar", points=pts, fields=("x", "y", "z"))
    with pytest.raises(MessageError, match="duplicate names"):
        PointCloud(stamp_ns=0, frame_id="lidar", points=pts, fields=("x", "y", "z", "x"))
    with pytest.raises(MessageError, match="non-empty str"):
        PointCloud(stamp_ns=0, frame_id="lidar", points=pts, fields=("x", "y", "z", ""))
    with pytest.raises(MessageError, match=r"PointCloud\.points: expected dtype"):
        PointCloud(stamp_ns=0, frame_id="lidar", points=pts.astype(np.float64))
    with pytest.raises(MessageError, match=r"PointCloud\.points: expected shape \(N, N\), got \(4,\)"):
        PointCloud(stamp_ns=0, frame_id="lidar", points=np.zeros(4, np.float32))
    pc = PointCloud(stamp_ns=0, frame_id="lidar", points=np.arange(8, dtype=np.float32).reshape(2, 4),
                    fields=["x", "y", "z", "i"])
    assert pc.fields == ("x", "y", "z", "i")
    assert pc.column("z").tolist() == [2.0, 6.0]
    with pytest.raises(MessageError, match="no field 'w'"):
        pc.column("w")


def test_radarscan_needs_polar_or_xyz() -> None:
    v = np.zeros(3, np.float32)
    with pytest.raises(MessageError, match="needs polar"):
        RadarScan(stamp_ns=0, frame_id="radar", range_rate_mps=v, rcs_dbsm=v)
    with pytest.raises(MessageError, match="needs polar"):
        RadarScan(stamp_ns=0, frame_id="radar", range_rate_mps=v, rcs_dbsm=v, range_m=v)
    with pytest.raises(MessageError, match="azimuth_rad given without range_m"):
        RadarScan(stamp_ns=0, frame_id="radar", range_rate_mps=v, rcs_dbsm=v, azimuth_rad=v,
                  xyz=np.zeros((3, 3), np.float32))
    with pytest.raises(MessageError, match=r"RadarScan\.rcs_dbsm: expected 3 rows, got 2"):
        RadarScan(stamp_ns=0, frame_id="radar", range_rate_mps=v, rcs_dbsm=v[:2], range_m=v,
                  azimuth_rad=v)
    with pytest.raises(MessageError, match=r"extra_fields: expected 2 names"):
        RadarScan(stamp_ns=0, frame_id="radar", range_rate_mps=v, rcs_dbsm=v, range_m=v, azimuth_rad=v,
                  extra=np.zeros((3, 2), np.float32))
    ok = RadarScan(stamp_ns=0, frame_id="radar", range_rate_mps=v, rcs_dbsm=v, range_m=v, azimuth_rad=v)
    assert len(ok) == 3


def test_detections3d_validation() -> None:
    z3, z = np.zeros((2, 3), np.float32), np.zeros(2, np.float32)
    kw = {"stamp_ns": 0, "frame_id": "ego", "centre": z3, "size": z3, "yaw": z,
          "class_id": np.zeros(2, np.int32), "confidence": z}
    assert len(Detections3D(**kw)) == 2
    with pytest.raises(MessageError, match=r"Detections3D\.confidence: expected 2 rows, got 1"):
        Detections3D(**{**kw, "confidence": z[:1]})
    with pytest.raises(MessageError, match="covariance: expected \\(N, D, D\\)"):
        Detections3D(**kw, covariance=np.zeros((2, 3, 2), np.float32), covariance_fields=("a", "b", "c"))
    with pytest.raises(MessageError, match="covariance_fields: expected 3 names"):
        Detections3D(**kw, covariance=np.zeros((2, 3, 3), np.float32))
    with pytest.raises(MessageError, match=r"Detections3D\.class_id: expected dtype <i4, got <f4"):
        Detections3D(**{**kw, "class_id": np.zeros(2, np.float32)})
    # cast like Detections: a safe (same-kind) cast is accepted, lists too
    cast = Detections3D(**{**kw, "class_id": np.zeros(2, np.int64), "centre": [[0, 0, 0], [1, 1, 1]]})
    assert cast.class_id.dtype == np.int32 and cast.centre.dtype == np.float32


def _dets3d(n: int, **extra) -> Detections3D:
    v = np.arange(n, dtype=np.float32)
    return Detections3D(stamp_ns=5, frame_id="ego", seq=2, centre=np.stack([v, v, v], 1),
                        size=np.ones((n, 3)), yaw=v, class_id=np.arange(n), confidence=v / 10,
                        class_names=("car",), **extra)


def test_detections3d_rows_like_detections() -> None:
    d = _dets3d(4, velocity=np.ones((4, 3), np.float32))
    assert len(d[1]) == 1 and d[1].centre.shape == (1, 3) and d[1].confidence[0] == np.float32(0.1)
    picked = d[d.confidence > 0.15]
    assert picked.class_id.tolist() == [2, 3] and picked.velocity.shape == (2, 3)
    assert (picked.stamp_ns, picked.frame_id, picked.seq, picked.class_names) == (5, "ego", 2, ("car",))
    assert d[1:3].yaw.tolist() == [1.0, 2.0] and len(d[np.array([], np.int64)]) == 0
    both = Detections3D.concatenate([d[:1], _dets3d(2)])
    assert len(both) == 3 and both.velocity is None and both.confidence.tolist() == pytest.approx([0, 0, 0.1])
    assert Detections3D.concatenate([d[:2], d[2:]]) == d
    empty = Detections3D.empty(stamp_ns=1, frame_id="ego")
    listed = Detections3D(stamp_ns=0, frame_id="ego", centre=[], size=[], yaw=[], class_id=[], confidence=[])
    assert len(empty) == 0 and empty.centre.shape == (0, 3) and listed.size.shape == (0, 3)
    with pytest.raises(MessageError, match="concatenate: frame_id 'map' differs from 'ego'"):
        Detections3D.concatenate([d, dataclasses.replace(d, frame_id="map")])
    with pytest.raises(IndexError):
        d[7]


def _tracks(**changes) -> Tracks:
    n = 2
    kw = {"stamp_ns": 0, "frame_id": "ego", "track_id": np.arange(n, dtype=np.int64),
          "class_id": np.zeros(n, np.int32), "confidence": np.ones(n, np.float32),
          "state": np.zeros((n, 2), np.float32), "age": np.ones(n, np.int32),
          "status": np.full(n, TrackStatus.CONFIRMED, np.uint8), "sensors": np.ones(n, np.uint32),
          "state_fields": ("x", "y")}
    return Tracks(**{**kw, **changes})


def test_tracks_status_out_of_range() -> None:
    assert len(_tracks(status=np.array([0, 3], np.uint8))) == 2
    with pytest.raises(MessageError, match=r"status: values must be TrackStatus \(0..3\)"):
        _tracks(status=np.array([1, 4], np.uint8))
    with pytest.raises(MessageError, match=r"Tracks\.status: expected dtype"):
        _tracks(status=np.array([1, 1], np.int32))


def test_tracks_validation() -> None:
    with pytest.raises(MessageError, match=r"Tracks\.age: expected 2 rows, got 3"):
        _tracks(age=np.ones(3, np.int32))
    with pytest.raises(MessageError, match="state_fields: expected 2 names"):
        _tracks(state_fields=("x",))
    with pytest.raises(MessageError, match=r"covariance: expected \(N, 2, 2\), got \(2, 3, 3\)"):
        _tracks(covariance=np.zeros((2, 3, 3), np.float32))
    with pytest.raises(MessageError, match="at most 32 sensor_names"):
        _tracks(sensor_names=tuple(f"s{i}" for i in range(33)))
    assert _tracks(sensor_names=[f"s{i}" for i in range(32)]).sensor_names[-1] == "s31"


def test_event_severity_invalid() -> None:
    match = r"Event\.severity: expected one of \['info', 'warning', 'critical'\], got 'urgent'"
    with pytest.raises(MessageError, match=match):
        Event(stamp_ns=0, frame_id="", event_type="intrusion", severity="urgent")
    ev = Event(stamp_ns=0, frame_id="", event_type="intrusion", severity=Severity.CRITICAL)
    assert ev.severity == "critical" and type(ev.severity) is str
    assert Event(stamp_ns=0, frame_id="", event_type="x").severity == "info"


def test_event_validation() -> None:
    with pytest.raises(MessageError, match="event_type must be a non-empty str"):
        Event(stamp_ns=0, frame_id="", event_type="")
    with pytest.raises(MessageError, match="evidence must map str"):
        Event(stamp_ns=0, frame_id="", event_type="x", evidence={"speed": [1, 2]})
    with pytest.raises(MessageError, match="evidence must map str"):
        Event(stamp_ns=0, frame_id="", event_type="x", evidence={1: 2.0})
    ev = Event(stamp_ns=0, frame_id="", event_type="x", track_ids=[np.int64(3), 4])
    assert ev.track_ids == (3, 4) and all(type(t) is int for t in ev.track_ids)


def test_event_phase_and_lifecycle_fields() -> None:
    with pytest.raises(MessageError, match=r"Event\.phase: expected one of \['start', 'update', 'end'\], "
                                           r"got 'begin'"):
        Event(stamp_ns=0, frame_id="", event_type="x", phase="begin")
    ev = Event(stamp_ns=0, frame_id="", event_type="x", phase=EventPhase.END, event_id="plaza-intrusion-1",
               camera="cctv")
    assert ev.phase == "end" and type(ev.phase) is str
    assert Event(stamp_ns=0, frame_id="", event_type="x").phase == "start"
    with pytest.raises(MessageError, match=r"Event: camera must be a str"):
        Event(stamp_ns=0, frame_id="", event_type="x", camera=3)  # type: ignore[arg-type]
    with pytest.raises(MessageError, match=r"Event\.snapshot: expected dtype \|u1, got <f4"):
        Event(stamp_ns=0, frame_id="", event_type="x", snapshot=np.zeros(3, np.float32))
    with pytest.raises(MessageError, match=r"Event\.snapshot: expected shape \(N,\)"):
        Event(stamp_ns=0, frame_id="", event_type="x", snapshot=np.zeros((2, 2), np.uint8))


def test_event_snapshot_travels_only_when_present() -> None:
    bare = Event(stamp_ns=1, frame_id="world", event_type="x")
    assert bare.snapshot.dtype == np.uint8 and bare.snapshot.shape == (0,)
    assert len(bare.to_frames("events/cam")) == 2  # topic + header, no empty array frame
    decoded = decode(bare.to_frames("events/cam")).msg
    assert decoded == bare and decoded.snapshot.shape == (0,)
    jpeg = np.frombuffer(b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9", np.uint8)
    with_snap = bare.replace(snapshot=jpeg)
    frames = with_snap.to_frames("events/cam")
    assert len(frames) == 3 and bytes(frames[2]) == jpeg.tobytes()
    assert decode(frames).msg.snapshot.tobytes() == jpeg.tobytes()


def _event_v1_frames(topic: str = "gt/events") -> list[bytes]:
    """An Event exactly as version 1 put it on the wire (no event_id, phase, camera, snapshot)."""
    header = {"s": "percept.Event", "v": 1,
              "h": {"stamp_ns": 3_000_000_000, "frame_id": "world", "seq": 4, "event_type": "wrong_way",
                    "severity": "info", "track_ids": [3], "zone": "plaza",
                    "evidence": {"start_ns": 2_000_000_000, "heading_deg": 176.0}, "text": "scripted"},
              "a": []}
    return [topic.encode(), msgpack.packb(header, use_bin_type=True)]


def test_event_v1_still_decodes_as_a_start_without_id() -> None:
    ev = decode(_event_v1_frames()).msg
    assert isinstance(ev, Event)
    assert (ev.event_type, ev.track_ids, ev.zone, ev.seq) == ("wrong_way", (3,), "plaza", 4)
    assert ev.evidence == {"start_ns": 2_000_000_000, "heading_deg": 176.0}
    assert (ev.phase, ev.event_id, ev.camera, ev.snapshot.size) == ("start", "", "", 0)
    # re-encoding writes version 2, which decodes to the same message
    assert msgpack.unpackb(ev.to_frames("gt/events")[1])["v"] == 2
    assert decode(ev.to_frames("gt/events")).msg == ev


def test_event_v1_with_v2_fields_or_unknown_version_is_refused() -> None:
    frames = _event_v1_frames()
    header = msgpack.unpackb(frames[1])
    header["h"]["colour"] = "red"
    with pytest.raises(DecodeError, match=r"Event: header fields: missing \[\], unexpected \['colour'\]"):
        decode([frames[0], msgpack.packb(header)])
    header = msgpack.unpackb(frames[1])
    header["v"] = 3
    with pytest.raises(DecodeError, match=r"Event: unsupported version 3, this build reads \[1, 2\]"):
        decode([frames[0], msgpack.packb(header)])
    header = msgpack.unpackb(frames[1])
    header["v"] = 2  # a v2 header must carry the new fields itself
    with pytest.raises(DecodeError, match=r"missing \['camera', 'event_id', 'phase'\]"):
        decode([frames[0], msgpack.packb(header)])


@pytest.mark.parametrize("field", ["stamp_ns", "seq"])
@pytest.mark.parametrize(
    ("value", "match"),
    [(-1, "expected 0 <= value"), (2**63, "expected 0 <= value"), (True, "expected int, got bool"),
     (False, "expected int, got bool"), (1.0, "expected int, got float"), ("1", "expected int, got str"),
     (None, "expected int, got NoneType")],
)
def test_stamp_and_seq_must_be_non_negative_int(field: str, value: object, match: str) -> None:
    kw = {"stamp_ns": 0, "frame_id": "", "event_type": "x", field: value}
    with pytest.raises(MessageError, match=rf"Event\.{field}: {match}"):
        Event(**kw)


def test_stamp_accepts_numpy_int_and_bounds() -> None:
    ev = Event(stamp_ns=np.int64(42), frame_id="", event_type="x", seq=2**63 - 1)
    assert ev.stamp_ns == 42 and type(ev.stamp_ns) is int
    assert ev.seq == 2**63 - 1
    with pytest.raises(MessageError, match=r"Event\.frame_id: expected str"):
        Event(stamp_ns=0, frame_id=None, event_type="x")  # type: ignore[arg-type]
    with pytest.raises(MessageError, match=r"Detections2D\.latency_ns"):
        Detections2D(stamp_ns=0, frame_id="cam", latency_ns=-5)


def test_messages_are_frozen_and_replace_revalidates() -> None:
    ev = Event(stamp_ns=0, frame_id="", event_type="x")
    with pytest.raises(AttributeError):
        ev.seq = 3  # type: ignore[misc]
    assert ev.replace(seq=3).seq == 3
    with pytest.raises(MessageError):
        ev.replace(seq=-3)


# --------------------------------------------------------------------------------------------
# Pose
# --------------------------------------------------------------------------------------------


def _pose(**kw: object) -> Pose:
    args: dict[str, object] = {"stamp_ns": 7, "frame_id": "world", "seq": 3, "child_frame_id": "ego",
                               "translation": [1.0, -2.0, 0.5],
                               "rotation": [0.0, 0.0, np.sin(0.3), np.cos(0.3)]}
    args.update(kw)
    return Pose(**args)


def test_pose_round_trip_keeps_float64_values() -> None:
    pose = _pose(translation=np.array([1e6 + 0.123456789, -2.0, 0.5]))
    _check_round_trip(pose, "ego/pose")
    out = decode(pose.to_frames("ego/pose")).msg
    assert out.translation.dtype == np.float64 and out.translation[0] == pose.translation[0]
    assert out.child_frame_id == "ego" and out.frame_id == "world"


@pytest.mark.parametrize(("field", "value", "match"), [
    ("translation", [np.nan, 0.0, 0.0], "translation: expected finite"),
    ("rotation", [0.0, 0.0, 0.0, np.inf], "rotation: expected finite"),
    ("rotation", [0.0, 0.0, 0.0, 2.0], "unit quaternion"),
    ("translation", [1.0, 2.0], r"expected shape \(3,\)"),
    ("child_frame_id", "", "child_frame_id"),
    ("frame_id", "", "frame_id"),
])
def test_pose_rejects_bad_values(field: str, value: object, match: str) -> None:
    with pytest.raises(MessageError, match=match):
        _pose(**{field: value})


def test_pose_normalises_nearly_unit_quaternion() -> None:
    pose = _pose(rotation=[0.0, 0.0, 0.0, 1.0005])
    assert np.linalg.norm(pose.rotation) == pytest.approx(1.0, abs=1e-12)
