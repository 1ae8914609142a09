"""Base class and field specifications of topic messages.

Every topic message is a frozen, keyword-only dataclass deriving from :class:`Message`. A message
class declares

* ``SCHEMA`` (e.g. ``"percept.Image"``) and ``VERSION`` (an int bumped on any wire change),
* ``ARRAYS``: the numpy fields, each with an :class:`ArraySpec` of allowed dtypes and shape,
* ``SCALARS``: the other fields, each with a :class:`Scalar` kind used to check decoded values.

The codec (:mod:`percept.codec`) turns any registered message into ZeroMQ multipart frames
``[topic, msgpack header, *raw array buffers]`` and back, using only these declarations.
Every message carries ``stamp_ns`` (capture time, integer nanoseconds), ``frame_id`` (the
coordinate frame its geometry is expressed in; ``""`` for non-spatial messages) and ``seq``
(a per-topic counter set by the producer).

The wire dtypes, scalar kinds and the schema registry live in the leaf :mod:`percept.wire`
(re-exported here), so that the codec needs no import of this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from percept.codec import decode, encode
from percept.errors import DecodeError, MessageError
from percept.wire import (
    INT64_MAX,
    WIRE_DTYPES,
    Scalar,
    dtype_wire_name,
    message_class,
    register_message,
    registered_schemas,
)

__all__ = [
    "INT64_MAX",
    "WIRE_DTYPES",
    "ArraySpec",
    "Message",
    "Scalar",
    "arrays_equal",
    "as_array",
    "check_stamp",
    "dtype_wire_name",
    "message_class",
    "registered_schemas",
]


@dataclass(frozen=True)
class ArraySpec:
    """What one array field may hold.

    Args:
        dtypes: allowed wire dtype names (keys of :data:`WIRE_DTYPES`).
        shapes: allowed shape patterns; ``None`` in a pattern matches any length.
        optional: whether the field may be ``None`` (then it is absent on the wire).
    """

    dtypes: tuple[str, ...]
    shapes: tuple[tuple[int | None, ...], ...]
    optional: bool = False
    #: the numpy dtypes of ``dtypes`` (a dtype equal to one of them has its wire name)
    _wire: frozenset[np.dtype] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_wire", frozenset(WIRE_DTYPES[d] for d in self.dtypes if d in WIRE_DTYPES))

    def check(self, owner: str, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        """Raise :class:`MessageError` unless ``dtype`` and ``shape`` fit this spec."""
        if dtype not in self._wire and dtype_wire_name(dtype) not in self.dtypes:
            raise MessageError(
                f"{owner}.{name}: expected dtype in {list(self.dtypes)}, got {dtype.str}"
            )
        for p in self.shapes:
            if _shape_matches(p, shape):
                return
        want = " or ".join(_pattern_str(p) for p in self.shapes)
        raise MessageError(f"{owner}.{name}: expected shape {want}, got {tuple(shape)}")


def _shape_matches(pattern: tuple[int | None, ...], shape: tuple[int, ...]) -> bool:
    if len(pattern) != len(shape):
        return False
    return all(p is None or p == s for p, s in zip(pattern, shape, strict=True))


def _pattern_str(pattern: tuple[int | None, ...]) -> str:
    inner = ", ".join("N" if p is None else str(p) for p in pattern)
    return f"({inner},)" if len(pattern) == 1 else f"({inner})"


_INTS = (int, np.integer)


def check_stamp(owner: str, name: str, value: object) -> int:
    """Validate a non-negative int64 such as ``stamp_ns`` or ``seq``; return it."""
    if isinstance(value, bool) or not isinstance(value, _INTS):
        raise MessageError(f"{owner}.{name}: expected int, got {type(value).__name__}")
    if not 0 <= int(value) <= INT64_MAX:
        raise MessageError(f"{owner}.{name}: expected 0 <= value <= 2**63-1, got {value}")
    return int(value)


@dataclass(frozen=True, kw_only=True, eq=False)
class Message:
    """Base of every topic message. Subclasses are frozen keyword-only dataclasses.

    Attributes:
        stamp_ns: capture time of the data, integer nanoseconds (Unix epoch for live sensors,
            log time when replaying).
        frame_id: coordinate frame of the geometry (``"camera_front"``, ``"ego"``, ...).
        seq: producer's per-topic sequence number, starting anywhere, +1 per message.
    """

    SCHEMA: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    #: Older wire versions this build still decodes, each with its renamed array fields
    #: (old name -> current name). A schema change bumps ``VERSION`` and adds a row here.
    LEGACY_ARRAY_NAMES: ClassVar[Mapping[int, Mapping[str, str]]] = {}
    #: Scalar fields an older wire version lacks, with the value they decode to (version ->
    #: field -> value); a version listed here must also have a row in ``LEGACY_ARRAY_NAMES``.
    #: Array fields an old version lacks are declared ``optional`` and filled by the class.
    LEGACY_SCALAR_DEFAULTS: ClassVar[Mapping[int, Mapping[str, Any]]] = {}
    ARRAYS: ClassVar[Mapping[str, ArraySpec]] = {}
    SCALARS: ClassVar[Mapping[str, Scalar]] = {}

    stamp_ns: int
    frame_id: str
    seq: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.SCHEMA:
            register_message(cls)

    def __post_init__(self) -> None:
        name = type(self).__name__
        object.__setattr__(self, "stamp_ns", check_stamp(name, "stamp_ns", self.stamp_ns))
        object.__setattr__(self, "seq", check_stamp(name, "seq", self.seq))
        if not isinstance(self.frame_id, str):
            raise MessageError(f"{name}.frame_id: expected str, got {type(self.frame_id).__name__}")
        for field, spec in self.ARRAYS.items():
            self._check_array(field, spec, self._array_value(field))

    def _array_value(self, field: str) -> Any:
        """The value of array field ``field`` (override when arrays live in a nested object)."""
        return getattr(self, field)

    def _check_array(self, field: str, spec: ArraySpec, value: Any) -> None:
        if value is None:
            if not spec.optional:
                raise MessageError(f"{type(self).__name__}.{field}: required array is None")
            return
        if not isinstance(value, np.ndarray):
            raise MessageError(
                f"{type(self).__name__}.{field}: expected numpy array, got {type(value).__name__}"
            )
        spec.check(type(self).__name__, field, value.dtype, value.shape)

    # -- wire hooks (the codec calls these; override for nested fields) -----------------------
    def wire_scalars(self) -> dict[str, Any]:
        """Non-array fields as msgpack-able values, keyed by field name."""
        out: dict[str, Any] = {"stamp_ns": self.stamp_ns, "frame_id": self.frame_id, "seq": self.seq}
        for field in self.SCALARS:
            value = getattr(self, field)
            out[field] = list(value) if isinstance(value, tuple) else value
        return out

    def wire_arrays(self) -> dict[str, np.ndarray]:
        """Array fields that are present, keyed by field name."""
        return {f: getattr(self, f) for f in self.ARRAYS if getattr(self, f) is not None}

    @classmethod
    def from_wire(cls, scalars: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Self:
        """Build a message from checked wire scalars and arrays (inverse of the two above)."""
        kwargs: dict[str, Any] = {}
        for field, kind in cls.SCALARS.items():
            value = scalars[field]
            kwargs[field] = tuple(value) if kind in (Scalar.STR_TUPLE, Scalar.INT_TUPLE) else value
        for field in cls.ARRAYS:
            kwargs[field] = arrays.get(field)
        return cls(stamp_ns=scalars["stamp_ns"], frame_id=scalars["frame_id"], seq=scalars["seq"],
                   **kwargs)

    # -- codec entry points ---------------------------------------------------------------
    def to_frames(self, topic: str) -> list[bytes | memoryview]:
        """Encode as ``[topic, header, *buffers]``; array buffers are not copied."""
        return encode(topic, self)

    @classmethod
    def from_frames(cls, frames: Sequence[Any]) -> Self:
        """Decode frames produced by :meth:`to_frames`; raise ``DecodeError`` if not a ``cls``."""
        _topic, msg = decode(frames)
        if not isinstance(msg, cls):
            raise DecodeError(f"expected schema {cls.SCHEMA}, got {msg.SCHEMA}")
        return msg

    def summary(self) -> dict[str, Any]:
        """JSON-able view: schema, header fields, and dtype/shape of each array (no data)."""
        out: dict[str, Any] = {"schema": self.SCHEMA, **self.wire_scalars()}
        for name, arr in self.wire_arrays().items():
            out[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape)}
        return out

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not arrays_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


def arrays_equal(a: object, b: object) -> bool:
    """Same dtype, shape and values (NaN equal to NaN); ``None`` equals only ``None``."""
    if a is None or b is None:
        return a is b
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return False
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def as_array(owner: str, name: str, value: object, dtype: str) -> np.ndarray:
    """Coerce list-like ``value`` to an array of wire dtype ``dtype`` (no copy if it already is).

    Numpy arrays of another dtype are converted only when the cast is safe (``same_kind``),
    so a float32 field accepts float64 but never silently truncates floats to ints.
    """
    target = WIRE_DTYPES[dtype]
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise MessageError(f"{owner}.{name}: cannot convert to {target.str}: {exc}") from exc
        if value.size == 0:
            return value.astype(target)
    if value.dtype == target:
        return value
    if value.dtype.kind in "OUSV" or (
        value.size and not np.can_cast(value.dtype, target, casting="same_kind")
    ):
        raise MessageError(f"{owner}.{name}: expected dtype {target.str}, got {value.dtype.str}")
    return value.astype(target)
