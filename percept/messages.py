"""Topic messages of the percept stack: one frozen dataclass per kind of topic.

All geometry is in the message's ``frame_id``; all times are integer nanoseconds. Arrays are
numpy arrays with the dtypes and shapes given in each class; received arrays are read-only
views of the socket buffers.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np

from percept.detections import DETECTION_ARRAYS, Detections
from percept.errors import MessageError
from percept.message import ArraySpec, Message, Scalar, as_array, check_stamp

__all__ = [
    "Detections2D",
    "Detections3D",
    "Event",
    "EventPhase",
    "Image",
    "NodeStats",
    "PointCloud",
    "Pose",
    "RadarScan",
    "Severity",
    "TrackStatus",
    "Tracks",
]

N = None  # any length, in shape patterns


def _require(cond: bool, owner: str, text: str) -> None:
    if not cond:
        raise MessageError(f"{owner}: {text}")


def _check_names(owner: str, name: str, names: tuple[str, ...], width: int) -> None:
    if not all(isinstance(n, str) and n for n in names):
        raise MessageError(f"{owner}: {name}: names must be non-empty str")
    if len(set(names)) != len(names):
        raise MessageError(f"{owner}: {name}: duplicate names {list(names)}")
    if len(names) != width:
        raise MessageError(f"{owner}: {name}: expected {width} names (array columns), got {len(names)}")


def _check_rows(owner: str, n: int, **arrays: np.ndarray | None) -> None:
    for name, arr in arrays.items():
        if arr is not None and arr.shape[0] != n:
            raise MessageError(f"{owner}.{name}: expected {n} rows, got {arr.shape[0]}")


@dataclass(frozen=True, kw_only=True, eq=False)
class Image(Message):
    """A camera frame.

    Attributes:
        encoding: ``bgr8``/``rgb8`` (uint8 (H, W, 3)), ``mono8`` (uint8 (H, W)), ``mono16``
            (uint16 (H, W)), or compressed ``jpeg``/``png`` (uint8 (nbytes,)).
        data: pixel or compressed bytes as above.
        width, height: pixels; derived from ``data`` for raw encodings, 0 when unknown for
            compressed ones.
        full_width, full_height: pixels of the camera's full frame when this image is a
            downscaled copy of it (an analytics stream: detections on it are mapped back to the
            full frame's pixels); 0, 0 when the image is the full frame. Version 2; version-1
            images decode as full frames.
    """

    SCHEMA: ClassVar[str] = "percept.Image"
    VERSION: ClassVar[int] = 2
    LEGACY_ARRAY_NAMES: ClassVar[Mapping[int, Mapping[str, str]]] = {1: {}}
    LEGACY_SCALAR_DEFAULTS: ClassVar[Mapping[int, Mapping[str, Any]]] = {
        1: {"full_width": 0, "full_height": 0}}
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = {
        "data": ArraySpec(("u1", "u2"), ((N,), (N, N), (N, N, 3))),
    }
    SCALARS: ClassVar[Mapping[str, Scalar]] = {
        "encoding": Scalar.STR, "width": Scalar.INT, "height": Scalar.INT,
        "full_width": Scalar.INT, "full_height": Scalar.INT,
    }
    RAW_NDIM: ClassVar[Mapping[str, tuple[int, str]]] = {
        "bgr8": (3, "u1"), "rgb8": (3, "u1"), "mono8": (2, "u1"), "mono16": (2, "u2"),
    }
    COMPRESSED: ClassVar[tuple[str, ...]] = ("jpeg", "png")

    encoding: str
    data: np.ndarray
    width: int = 0
    height: int = 0
    full_width: int = 0
    full_height: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("full_width", "full_height"):
            check_stamp("Image", name, getattr(self, name))
        _require((self.full_width == 0) == (self.full_height == 0), "Image",
                 "full_width, full_height: expected both 0 or both > 0, "
                 f"got {self.full_width}, {self.full_height}")
        raw = self.RAW_NDIM.get(self.encoding)
        if raw is not None:
            ndim, dt = raw
            _require(self.data.ndim == ndim and self.data.dtype.str[1:] == dt, "Image",
                     f"encoding {self.encoding} expects {dt} data with {ndim} dims, "
                     f"got {self.data.dtype.str} {self.data.shape}")
            h, w = self.data.shape[:2]
            for name, want in (("width", w), ("height", h)):
                got = getattr(self, name)
                _require(got in (0, want), "Image", f"{name}: expected {want} (from data), got {got}")
                object.__setattr__(self, name, want)
        else:
            _require(self.encoding in self.COMPRESSED, "Image",
                     f"unknown encoding {self.encoding!r}, expected one of "
                     f"{[*self.RAW_NDIM, *self.COMPRESSED]}")
            _require(self.data.ndim == 1 and self.data.dtype == np.uint8, "Image",
                     f"compressed data must be uint8 (nbytes,), got {self.data.dtype.str} {self.data.shape}")
            for name in ("width", "height"):
                check_stamp("Image", name, getattr(self, name))

    @classmethod
    def from_bgr(cls, bgr: np.ndarray, *, stamp_ns: int, frame_id: str, seq: int = 0,
                 jpeg_quality: int | None = None, full_size: tuple[int, int] = (0, 0)) -> Self:
        """Wrap a uint8 (H, W, 3) BGR array, JPEG-compressing it when ``jpeg_quality`` is set;
        ``full_size``: (width, height) of the full frame ``bgr`` was downscaled from, if any."""
        full = {"full_width": int(full_size[0]), "full_height": int(full_size[1])}
        if jpeg_quality is None:
            return cls(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq, encoding="bgr8", data=bgr, **full)
        import cv2

        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        _require(bool(ok), "Image", "JPEG encoding failed")
        return cls(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq, encoding="jpeg",
                   data=buf.reshape(-1), width=bgr.shape[1], height=bgr.shape[0], **full)

    def full_frame_scale(self) -> tuple[float, float]:
        """(sx, sy) mapping this image's pixels to the full frame's (1, 1) for a full frame or
        when the image's own size is unknown)."""
        if not self.full_width or not self.width or not self.height:
            return 1.0, 1.0
        return self.full_width / self.width, self.full_height / self.height

    def to_bgr(self) -> np.ndarray:
        """uint8 (H, W, 3) BGR pixels, decoding or converting as needed."""
        import cv2

        if self.encoding == "bgr8":
            return self.data
        if self.encoding == "rgb8":
            return np.ascontiguousarray(self.data[:, :, ::-1])
        if self.encoding == "mono8":
            return cv2.cvtColor(self.data, cv2.COLOR_GRAY2BGR)
        if self.encoding == "mono16":
            return cv2.cvtColor((self.data >> 8).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        img = cv2.imdecode(self.data, cv2.IMREAD_COLOR)
        _require(img is not None, "Image", f"cannot decode {self.encoding} data")
        return img


@dataclass(frozen=True, kw_only=True, eq=False)
class PointCloud(Message):
    """Lidar (or any) points: float32 (N, C) with one name per column.

    Attributes:
        points: float32 (N, C); the first three columns are usually ``x, y, z`` in metres.
        fields: C column names, e.g. ``("x", "y", "z", "intensity")``.
    """

    SCHEMA: ClassVar[str] = "percept.PointCloud"
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = {"points": ArraySpec(("f4",), ((N, N),))}
    SCALARS: ClassVar[Mapping[str, Scalar]] = {"fields": Scalar.STR_TUPLE}

    points: np.ndarray
    fields: tuple[str, ...] = ("x", "y", "z", "intensity")

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        super().__post_init__()
        _check_names("PointCloud", "fields", self.fields, self.points.shape[1])

    def column(self, name: str) -> np.ndarray:
        """float32 (N,) values of field ``name``."""
        if name not in self.fields:
            raise MessageError(f"PointCloud: no field {name!r}, have {list(self.fields)}")
        return self.points[:, self.fields.index(name)]


@dataclass(frozen=True, kw_only=True, eq=False)
class RadarScan(Message):
    """Radar targets of one scan, polar and/or cartesian, all arrays with N rows.

    Attributes:
        range_m, azimuth_rad, elevation_rad: float32 (N,) polar coordinates (optional as a
            group; azimuth positive to the left, counter-clockwise seen from above).
        xyz: float32 (N, 3) cartesian position in metres (optional).
        range_rate_mps: float32 (N,) radial velocity, positive moving away.
        rcs_dbsm: float32 (N,) radar cross-section in dBsm.
        extra: float32 (N, K) further per-target columns named by ``extra_fields``.
    """

    SCHEMA: ClassVar[str] = "percept.RadarScan"
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = {
        "range_m": ArraySpec(("f4",), ((N,),), optional=True),
        "azimuth_rad": ArraySpec(("f4",), ((N,),), optional=True),
        "elevation_rad": ArraySpec(("f4",), ((N,),), optional=True),
        "xyz": ArraySpec(("f4",), ((N, 3),), optional=True),
        "range_rate_mps": ArraySpec(("f4",), ((N,),)),
        "rcs_dbsm": ArraySpec(("f4",), ((N,),)),
        "extra": ArraySpec(("f4",), ((N, N),), optional=True),
    }
    SCALARS: ClassVar[Mapping[str, Scalar]] = {"extra_fields": Scalar.STR_TUPLE}

    range_rate_mps: np.ndarray
    rcs_dbsm: np.ndarray
    range_m: np.ndarray | None = None
    azimuth_rad: np.ndarray | None = None
    elevation_rad: np.ndarray | None = None
    xyz: np.ndarray | None = None
    extra: np.ndarray | None = None
    extra_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_fields", tuple(self.extra_fields))
        super().__post_init__()
        polar = self.range_m is not None and self.azimuth_rad is not None
        _require(polar or self.xyz is not None, "RadarScan",
                 "needs polar (range_m and azimuth_rad) or cartesian (xyz) positions")
        _require(self.range_m is not None or self.azimuth_rad is None, "RadarScan",
                 "azimuth_rad given without range_m")
        _check_rows("RadarScan", len(self.range_rate_mps), **{
            n: getattr(self, n) for n in self.ARRAYS if n != "range_rate_mps"})
        width = 0 if self.extra is None else self.extra.shape[1]
        _check_names("RadarScan", "extra_fields", self.extra_fields, width)

    def __len__(self) -> int:
        return len(self.range_rate_mps)


@dataclass(frozen=True, kw_only=True, eq=False)
class Detections2D(Message):
    """Detections of one camera frame, stamped with the frame's capture time.

    Attributes:
        detections: the boxes, in source-image pixels of camera ``frame_id``.
        class_names: names indexed by ``class_id`` (may be empty when the producer has none).
        latency_ns: time the producer spent on this frame (inference latency), nanoseconds.
    """

    SCHEMA: ClassVar[str] = "percept.Detections2D"
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = DETECTION_ARRAYS
    SCALARS: ClassVar[Mapping[str, Scalar]] = {"class_names": Scalar.STR_TUPLE, "latency_ns": Scalar.INT}

    detections: Detections = field(default_factory=Detections.empty)
    class_names: tuple[str, ...] = ()
    latency_ns: int = 0

    def __post_init__(self) -> None:
        _require(isinstance(self.detections, Detections), "Detections2D",
                 f"detections: expected Detections, got {type(self.detections).__name__}")
        object.__setattr__(self, "class_names", tuple(self.class_names))
        super().__post_init__()
        check_stamp("Detections2D", "latency_ns", self.latency_ns)

    def _array_value(self, field: str) -> Any:
        return getattr(self.detections, field)

    def wire_arrays(self) -> dict[str, np.ndarray]:
        return {n: getattr(self.detections, n) for n in DETECTION_ARRAYS
                if getattr(self.detections, n) is not None}

    @classmethod
    def from_wire(cls, scalars: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Self:
        return cls(stamp_ns=scalars["stamp_ns"], frame_id=scalars["frame_id"], seq=scalars["seq"],
                   detections=Detections(**arrays), class_names=tuple(scalars["class_names"]),
                   latency_ns=scalars["latency_ns"])


@dataclass(frozen=True, kw_only=True, eq=False)
class Detections3D(Message):
    """Columnar 3D boxes in ``frame_id`` (metres, radians), one row per object.

    The 3D counterpart of :class:`~percept.detections.Detections`: the same column names
    (``confidence``, ``class_id``), the same casting and expected-vs-actual shape errors,
    row selection with ``dets[index_or_mask]`` and :meth:`concatenate`.

    Attributes:
        centre: float32 (N, 3) box centre.
        size: float32 (N, 3) length (along heading), width, height.
        yaw: float32 (N,) heading about the frame's up axis.
        class_id: int32 (N,); confidence: float32 (N,) detector score (may be unbounded, e.g.
            logits; higher is better).
        velocity: float32 (N, 3) m/s, optional.
        covariance: float32 (N, D, D) state covariance, optional, layout named by
            ``covariance_fields`` (D names).

    Wire versions: 2 (this one); version 1 (``score`` instead of ``confidence``) still decodes.
    """

    SCHEMA: ClassVar[str] = "percept.Detections3D"
    VERSION: ClassVar[int] = 2
    LEGACY_ARRAY_NAMES: ClassVar[Mapping[int, Mapping[str, str]]] = {1: {"score": "confidence"}}
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = {
        "centre": ArraySpec(("f4",), ((N, 3),)),
        "size": ArraySpec(("f4",), ((N, 3),)),
        "yaw": ArraySpec(("f4",), ((N,),)),
        "class_id": ArraySpec(("i4",), ((N,),)),
        "confidence": ArraySpec(("f4",), ((N,),)),
        "velocity": ArraySpec(("f4",), ((N, 3),), optional=True),
        "covariance": ArraySpec(("f4",), ((N, N, N),), optional=True),
    }
    SCALARS: ClassVar[Mapping[str, Scalar]] = {
        "class_names": Scalar.STR_TUPLE, "covariance_fields": Scalar.STR_TUPLE,
    }
    _EMPTY_SHAPES: ClassVar[Mapping[str, tuple[int, ...]]] = {
        "centre": (0, 3), "size": (0, 3), "velocity": (0, 3),
    }

    centre: np.ndarray
    size: np.ndarray
    yaw: np.ndarray
    class_id: np.ndarray
    confidence: np.ndarray
    velocity: np.ndarray | None = None
    covariance: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    covariance_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "covariance_fields", tuple(self.covariance_fields))
        for name, spec in self.ARRAYS.items():
            value = getattr(self, name)
            if value is None:
                continue
            arr = as_array("Detections3D", name, value, spec.dtypes[0])
            if arr.size == 0 and name in self._EMPTY_SHAPES and arr.shape != self._EMPTY_SHAPES[name]:
                arr = arr.reshape(self._EMPTY_SHAPES[name])
            object.__setattr__(self, name, arr)
        super().__post_init__()
        _check_rows("Detections3D", len(self.centre), **{n: getattr(self, n) for n in self.ARRAYS})
        cov = self.covariance
        _require(cov is None or cov.shape[1] == cov.shape[2], "Detections3D",
                 f"covariance: expected (N, D, D), got {None if cov is None else cov.shape}")
        _check_names("Detections3D", "covariance_fields", self.covariance_fields,
                     0 if cov is None else cov.shape[1])

    def __len__(self) -> int:
        return len(self.centre)

    @classmethod
    def empty(cls, *, stamp_ns: int, frame_id: str, seq: int = 0,
              class_names: tuple[str, ...] = ()) -> Self:
        """Zero boxes (no velocity, no covariance)."""
        return cls(stamp_ns=stamp_ns, frame_id=frame_id, seq=seq, centre=np.zeros((0, 3), np.float32),
                   size=np.zeros((0, 3), np.float32), yaw=np.zeros(0, np.float32),
                   class_id=np.zeros(0, np.int32), confidence=np.zeros(0, np.float32),
                   class_names=class_names)

    def _rows(self, pick: Any) -> dict[str, Any]:
        return {n: None if getattr(self, n) is None else pick(n, getattr(self, n)) for n in self.ARRAYS}

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Self:
        """Rows selected by an index, slice, integer array or boolean mask (header kept)."""
        if isinstance(index, int | np.integer):
            index = np.array([index])  # keeps rows 2-D; out of range raises IndexError
        return dataclasses.replace(self, **self._rows(lambda _n, a: a[index]))

    @classmethod
    def concatenate(cls, parts: Sequence[Detections3D]) -> Self:
        """All rows of ``parts`` in order, with the first part's header (stamp, frame, seq, names).

        Optional columns are kept only when every part has them; parts must share ``frame_id``
        and ``covariance_fields``.
        """
        _require(len(parts) > 0, "Detections3D", "concatenate: expected at least one part")
        first = parts[0]
        for p in parts[1:]:
            _require(p.frame_id == first.frame_id, "Detections3D",
                     f"concatenate: frame_id {p.frame_id!r} differs from {first.frame_id!r}")
            _require(p.covariance_fields == first.covariance_fields, "Detections3D",
                     "concatenate: covariance_fields differ")

        def cat(name: str, _a: np.ndarray) -> np.ndarray | None:
            cols = [getattr(p, name) for p in parts]
            return None if any(c is None for c in cols) else np.concatenate(cols)

        arrays = first._rows(cat)
        if arrays["covariance"] is None:
            arrays["covariance_fields"] = ()
        return dataclasses.replace(first, **arrays)


class TrackStatus(enum.IntEnum):
    """Lifecycle state of a track, as carried in ``Tracks.status`` (uint8)."""

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2
    REMOVED = 3


_MAX_STATUS = int(max(TrackStatus))


@dataclass(frozen=True, kw_only=True, eq=False)
class Tracks(Message):
    """Tracked objects at ``stamp_ns``, one row per track.

    Attributes:
        track_id: int64 (N,), unique within the producing tracker, never reused.
        class_id: int32 (N,); confidence: float32 (N,).
        state: float32 (N, D) state vector, columns named by ``state_fields``
            (e.g. ``x1, y1, x2, y2`` for image tracks, ``x, y, z, vx, vy, vz`` in metres and m/s).
        covariance: float32 (N, D, D), optional.
        age: int32 (N,) number of updates since birth.
        status: uint8 (N,) :class:`TrackStatus` values.
        sensors: uint32 (N,) bitmask of contributing sensors, bit i = ``sensor_names[i]``.
    """

    SCHEMA: ClassVar[str] = "percept.Tracks"
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = {
        "track_id": ArraySpec(("i8",), ((N,),)),
        "class_id": ArraySpec(("i4",), ((N,),)),
        "confidence": ArraySpec(("f4",), ((N,),)),
        "state": ArraySpec(("f4",), ((N, N),)),
        "covariance": ArraySpec(("f4",), ((N, N, N),), optional=True),
        "age": ArraySpec(("i4",), ((N,),)),
        "status": ArraySpec(("u1",), ((N,),)),
        "sensors": ArraySpec(("u4",), ((N,),)),
    }
    SCALARS: ClassVar[Mapping[str, Scalar]] = {
        "state_fields": Scalar.STR_TUPLE, "class_names": Scalar.STR_TUPLE,
        "sensor_names": Scalar.STR_TUPLE,
    }

    track_id: np.ndarray
    class_id: np.ndarray
    confidence: np.ndarray
    state: np.ndarray
    age: np.ndarray
    status: np.ndarray
    sensors: np.ndarray
    state_fields: tuple[str, ...]
    covariance: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    sensor_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("state_fields", "class_names", "sensor_names"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        super().__post_init__()
        n = len(self.track_id)
        _check_rows("Tracks", n, **{name: getattr(self, name) for name in self.ARRAYS})
        _check_names("Tracks", "state_fields", self.state_fields, self.state.shape[1])
        cov, d = self.covariance, self.state.shape[1]
        if cov is not None and cov.shape[1:] != (d, d):
            raise MessageError(f"Tracks: covariance: expected (N, {d}, {d}), got {cov.shape}")
        if len(self.status) and int(self.status.max()) > _MAX_STATUS:
            raise MessageError(f"Tracks: status: values must be TrackStatus (0..{_MAX_STATUS})")
        _require(len(self.sensor_names) <= 32, "Tracks", "at most 32 sensor_names (uint32 mask)")

    def __len__(self) -> int:
        return len(self.track_id)


class Severity(enum.StrEnum):
    """How urgent an :class:`Event` is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class EventPhase(enum.StrEnum):
    """Where an :class:`Event` is in its lifecycle: raised, still going on, over."""

    START = "start"
    UPDATE = "update"
    END = "end"


#: str value -> value of the string enums of Event (a member is equal to, and hashes as, its value)
_ENUM_VALUES: dict[type[enum.StrEnum], dict[str, str]] = {
    cls: {m.value: m.value for m in cls} for cls in (Severity, EventPhase)}
_EVIDENCE_VALUES = (int, float, str, bool)


def _no_snapshot() -> np.ndarray:
    return np.zeros(0, np.uint8)


@dataclass(frozen=True, kw_only=True, eq=False)
class Event(Message):
    """An anomaly or rule event at ``stamp_ns`` (e.g. intrusion, loitering), one phase of its life.

    One event is a ``start`` message, any number of ``update`` messages and an ``end`` message,
    all with the same ``event_id``; ``stamp_ns`` is the time of the data (track update) behind
    each message.

    Attributes:
        event_type: rule type, e.g. ``"intrusion"``, ``"line_crossing"``.
        severity: :class:`Severity` value.
        track_ids: ids of the tracks involved.
        zone: name of the zone or line involved, ``""`` if none.
        evidence: flat map of measured values behind the decision (dwell seconds, speed, ...).
        text: human-readable one-line description.
        event_id: stable across the phases of one event (e.g. ``"plaza-intrusion-3"``); ``""`` for
            one-shot events such as the simulator's ground truth.
        phase: :class:`EventPhase` value.
        camera: name of the camera or scene that raised it, ``""`` if none.
        snapshot: uint8 (nbytes,) JPEG image of the scene or object (empty when there is none).

    Wire versions: 2 (this one); version 1 (no ``event_id``, ``phase``, ``camera``, ``snapshot``)
    still decodes, as phase ``start`` with empty id, camera and snapshot.
    """

    SCHEMA: ClassVar[str] = "percept.Event"
    VERSION: ClassVar[int] = 2
    LEGACY_ARRAY_NAMES: ClassVar[Mapping[int, Mapping[str, str]]] = {1: {}}
    LEGACY_SCALAR_DEFAULTS: ClassVar[Mapping[int, Mapping[str, Any]]] = {
        1: {"event_id": "", "phase": EventPhase.START.value, "camera": ""},
    }
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = {"snapshot": ArraySpec(("u1",), ((N,),), optional=True)}
    SCALARS: ClassVar[Mapping[str, Scalar]] = {
        "event_type": Scalar.STR, "severity": Scalar.STR, "track_ids": Scalar.INT_TUPLE,
        "zone": Scalar.STR, "evidence": Scalar.FLAT_MAP, "text": Scalar.STR,
        "event_id": Scalar.STR, "phase": Scalar.STR, "camera": Scalar.STR,
    }

    event_type: str
    severity: str = Severity.INFO
    track_ids: tuple[int, ...] = ()
    zone: str = ""
    evidence: Mapping[str, int | float | str | bool] = field(default_factory=dict)
    text: str = ""
    event_id: str = ""
    phase: str = EventPhase.START
    camera: str = ""
    snapshot: np.ndarray = field(default_factory=_no_snapshot)

    def __post_init__(self) -> None:
        snap = _no_snapshot() if self.snapshot is None else as_array("Event", "snapshot", self.snapshot, "u1")
        object.__setattr__(self, "snapshot", snap)
        super().__post_init__()
        _require(isinstance(self.event_type, str) and bool(self.event_type), "Event",
                 "event_type must be a non-empty str")
        for name, enum_cls in (("severity", Severity), ("phase", EventPhase)):
            value = getattr(self, name)
            known = _ENUM_VALUES[enum_cls].get(value) if isinstance(value, str) else None
            try:  # a plain value (or member) of the enum; the enum's own lookup for anything else
                object.__setattr__(self, name, known if known is not None else enum_cls(value).value)
            except ValueError:
                raise MessageError(f"Event.{name}: expected one of {[s.value for s in enum_cls]}, "
                                   f"got {getattr(self, name)!r}") from None
        for name in ("zone", "text", "event_id", "camera"):
            if not isinstance(getattr(self, name), str):
                raise MessageError(f"Event: {name} must be a str")
        object.__setattr__(self, "track_ids", tuple(int(t) for t in self.track_ids))
        evidence = dict(self.evidence)
        _require(all(isinstance(k, str) and isinstance(v, _EVIDENCE_VALUES) for k, v in evidence.items()),
                 "Event", "evidence must map str to int, float, str or bool")
        object.__setattr__(self, "evidence", evidence)

    def wire_scalars(self) -> dict[str, Any]:
        return {**super().wire_scalars(), "evidence": dict(self.evidence)}

    def wire_arrays(self) -> dict[str, np.ndarray]:
        """The snapshot when there is one (an empty snapshot is not sent)."""
        return {"snapshot": self.snapshot} if self.snapshot.size else {}


@dataclass(frozen=True, kw_only=True, eq=False)
class NodeStats(Message):
    """Health of one node, published on ``stats/<node>`` about once a second.

    Counters are totals since the node process started; ``dropped`` counts messages the node's
    subscriber discarded (``latest`` replacement or sequence gaps), ``send_drops`` messages its
    publisher had to drop, ``decode_errors`` malformed input, ``handler_errors`` exceptions
    raised while handling one message.
    """

    SCHEMA: ClassVar[str] = "percept.NodeStats"
    SCALARS: ClassVar[Mapping[str, Scalar]] = {
        "node": Scalar.STR, "pid": Scalar.INT, "uptime_ns": Scalar.INT,
        "msgs_in": Scalar.INT, "msgs_out": Scalar.INT, "dropped": Scalar.INT,
        "send_drops": Scalar.INT, "decode_errors": Scalar.INT, "handler_errors": Scalar.INT,
        "topics_in": Scalar.COUNT_MAP, "rss_bytes": Scalar.INT, "cpu_s": Scalar.FLOAT,
        "handler_p50_us": Scalar.FLOAT, "handler_p99_us": Scalar.FLOAT,
    }

    node: str
    pid: int = 0
    uptime_ns: int = 0
    msgs_in: int = 0
    msgs_out: int = 0
    dropped: int = 0
    send_drops: int = 0
    decode_errors: int = 0
    handler_errors: int = 0
    topics_in: Mapping[str, int] = field(default_factory=dict)
    rss_bytes: int = 0
    cpu_s: float = 0.0
    handler_p50_us: float = 0.0
    handler_p99_us: float = 0.0

    def wire_scalars(self) -> dict[str, Any]:
        return {**super().wire_scalars(), "topics_in": dict(self.topics_in)}


@dataclass(frozen=True, kw_only=True, eq=False)
class Pose(Message):
    """A rigid pose ``T_<frame_id>_from_<child_frame_id>`` at ``stamp_ns`` (e.g. ego odometry).

    A point ``p`` in ``child_frame_id`` is ``R(rotation) @ p + translation`` in ``frame_id``,
    the fixed frame (``world``, ``odom``); ``child_frame_id`` is the moving one (``ego``, ``imu``).

    Attributes:
        child_frame_id: the moving frame, a non-empty str.
        translation: float64 (3,) metres, finite.
        rotation: float64 (4,) unit quaternion ``x, y, z, w`` (Hamilton), finite, norm 1 within
            :attr:`NORM_TOL`; stored normalised.
    """

    SCHEMA: ClassVar[str] = "percept.Pose"
    VERSION: ClassVar[int] = 1
    NORM_TOL: ClassVar[float] = 1e-3
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = {
        "translation": ArraySpec(("f8",), ((3,),)),
        "rotation": ArraySpec(("f8",), ((4,),)),
    }
    SCALARS: ClassVar[Mapping[str, Scalar]] = {"child_frame_id": Scalar.STR}

    child_frame_id: str
    translation: np.ndarray
    rotation: np.ndarray

    def __post_init__(self) -> None:
        for name in self.ARRAYS:
            object.__setattr__(self, name, as_array("Pose", name, getattr(self, name), "f8"))
        super().__post_init__()
        _require(isinstance(self.child_frame_id, str) and bool(self.child_frame_id), "Pose",
                 "child_frame_id must be a non-empty str")
        _require(bool(self.frame_id), "Pose", "frame_id (the fixed frame) must be non-empty")
        for name in self.ARRAYS:
            value = getattr(self, name)
            _require(bool(np.all(np.isfinite(value))), "Pose", f"{name}: expected finite values, "
                     f"got {value.tolist()}")
        norm = float(np.linalg.norm(self.rotation))
        _require(abs(norm - 1.0) <= self.NORM_TOL, "Pose",
                 f"rotation: expected a unit quaternion (norm 1 within {self.NORM_TOL:g}), "
                 f"got norm {norm:.6g}")
        if norm != 1.0:
            object.__setattr__(self, "rotation", self.rotation / norm)
