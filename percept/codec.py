"""Wire codec: messages to ZeroMQ multipart frames and back.

Layout of one message on the wire::

    frame 0   topic, UTF-8
    frame 1   msgpack map {"s": schema, "v": version, "h": {scalar fields},
                           "a": [[name, dtype, [dim, ...]], ...]}
    frame 2+  one raw, C-ordered, little-endian buffer per entry of "a", in that order

Arrays are sent from their own memory (``memoryview``, no copy) and received with
``np.frombuffer`` over the received frame (no copy; the arrays are read-only). Decoding trusts
nothing: every header key, type, dtype, shape and size is checked against the schema
declarations before any array is built, buffer sizes must equal ``prod(shape) * itemsize``,
and no allocation is ever sized from a header. Nothing is unpickled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import msgpack
import numpy as np

from percept.errors import DecodeError, MessageError
from percept.wire import INT64_MAX, WIRE_DTYPES, Scalar, dtype_wire_name, message_class

if TYPE_CHECKING:
    from percept.message import Message

__all__ = ["CodecLimits", "DecodeError", "Envelope", "decode", "encode", "peek_topic"]


@dataclass(frozen=True)
class CodecLimits:
    """Caps applied while decoding; anything larger is refused with :class:`DecodeError`.

    Attributes:
        max_topic_bytes: longest topic name.
        max_header_bytes: largest msgpack header.
        max_array_bytes: largest single array buffer.
        max_message_bytes: largest sum of all array buffers of one message.
        max_arrays: most array frames in one message.
        max_scalar_items: most entries in a tuple or map scalar field.
    """

    max_topic_bytes: int = 256
    max_header_bytes: int = 64 * 1024
    max_array_bytes: int = 256 * 1024 * 1024
    max_message_bytes: int = 512 * 1024 * 1024
    max_arrays: int = 16
    max_scalar_items: int = 4096


DEFAULT_LIMITS = CodecLimits()


class Envelope(NamedTuple):
    """A decoded message and the topic it arrived on."""

    topic: str
    msg: Message


def encode(topic: str, msg: Message) -> list[bytes | memoryview]:
    """Frames ``[topic, header, *buffers]`` for ``msg``; array buffers are zero-copy views."""
    schema = getattr(type(msg), "SCHEMA", None)
    if not schema or message_class(schema) is not type(msg):  # only registered classes travel
        raise MessageError(f"cannot encode {type(msg).__name__}: not a registered Message")
    topic_b = topic.encode("utf-8")
    if not topic_b:
        raise MessageError("topic must be a non-empty string")
    entries: list[list[Any]] = []
    buffers: list[memoryview] = []
    for name, arr in msg.wire_arrays().items():
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        arr = np.ascontiguousarray(arr)
        entries.append([name, dtype_wire_name(arr.dtype), list(arr.shape)])
        buffers.append(memoryview(arr).cast("B") if arr.size else memoryview(b""))
    header = msgpack.packb(
        {"s": msg.SCHEMA, "v": msg.VERSION, "h": msg.wire_scalars(), "a": entries},
        use_bin_type=True,
    )
    return [topic_b, header, *buffers]


def _as_buffer(frame: Any) -> memoryview | bytes:
    """Bytes-like view of a frame given as bytes, memoryview or ``zmq.Frame``."""
    buf = getattr(frame, "buffer", None)
    if buf is None:
        buf = frame
    if isinstance(buf, bytes | bytearray):
        return buf
    if isinstance(buf, memoryview):
        # len() of a memoryview counts items, not bytes: only a contiguous 1-D byte view will do
        if not buf.c_contiguous:
            raise DecodeError("frame memoryview is not C-contiguous")
        if buf.format == "B" and buf.ndim == 1:
            return buf
        return buf.cast("B") if buf.nbytes else memoryview(b"")
    raise DecodeError(f"frame of type {type(frame).__name__} is not bytes-like")


def peek_topic(frames: Sequence[Any], limits: CodecLimits = DEFAULT_LIMITS) -> str:
    """The topic of ``frames`` without decoding the rest."""
    if len(frames) < 1:
        raise DecodeError("empty multipart message")
    raw = bytes(_as_buffer(frames[0]))
    if not raw or len(raw) > limits.max_topic_bytes:
        raise DecodeError(f"topic frame: expected 1..{limits.max_topic_bytes} bytes, got {len(raw)}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"topic frame is not UTF-8: {exc}") from exc


def decode(frames: Sequence[Any], limits: CodecLimits = DEFAULT_LIMITS) -> Envelope:
    """Decode and fully validate one multipart message.

    Raises:
        DecodeError: on any malformed, unknown, oversized or inconsistent input.
    """
    if len(frames) < 2:
        raise DecodeError(f"expected at least 2 frames [topic, header], got {len(frames)}")
    topic = peek_topic(frames, limits)
    header = _unpack_header(_as_buffer(frames[1]), limits)
    schema, version, scalars, entries = header["s"], header["v"], header["h"], header["a"]
    if not isinstance(schema, str):
        raise DecodeError(f"header 's' (schema): expected str, got {type(schema).__name__}")
    cls = message_class(schema)
    if cls is None:
        raise DecodeError(f"unknown schema {schema!r}")
    if isinstance(version, bool) or not isinstance(version, int) or (
            version != cls.VERSION and version not in cls.LEGACY_ARRAY_NAMES):
        readable = sorted({cls.VERSION, *cls.LEGACY_ARRAY_NAMES})
        raise DecodeError(f"{schema}: unsupported version {version!r}, this build reads {readable}")
    renames: Mapping[str, str] = {}
    if version != cls.VERSION:  # an older version: renamed arrays, scalars it did not have yet
        renames = cls.LEGACY_ARRAY_NAMES.get(version, {})
        scalars = {**cls.LEGACY_SCALAR_DEFAULTS.get(version, {}), **scalars}
    arrays = _decode_arrays(cls, entries, frames[2:], limits, renames)
    _check_scalars(cls, scalars, limits)
    try:
        msg = cls.from_wire(scalars, arrays)
    except (MessageError, TypeError, ValueError) as exc:
        raise DecodeError(f"{schema}: {exc}") from exc
    return Envelope(topic, msg)


def _unpack_header(raw: memoryview | bytes, limits: CodecLimits) -> dict[str, Any]:
    if len(raw) > limits.max_header_bytes:
        raise DecodeError(f"header is {len(raw)} bytes, cap is {limits.max_header_bytes}")
    try:
        header = msgpack.unpackb(
            raw,
            raw=False,
            strict_map_key=True,
            max_bin_len=0,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise DecodeError(f"header is not valid msgpack: {type(exc).__name__}: {exc}") from exc
    if not isinstance(header, dict):
        raise DecodeError(f"header: expected a map, got {type(header).__name__}")
    if set(header) != {"s", "v", "h", "a"}:
        raise DecodeError(f"header keys: expected ['a', 'h', 's', 'v'], got {sorted(map(str, header))}")
    if not isinstance(header["h"], dict):
        raise DecodeError(f"header 'h': expected a map, got {type(header['h']).__name__}")
    if not isinstance(header["a"], list):
        raise DecodeError(f"header 'a': expected a list, got {type(header['a']).__name__}")
    return header


def _decode_arrays(
    cls: type[Message], entries: list[Any], buffers: Sequence[Any], limits: CodecLimits,
    renames: Mapping[str, str],
) -> dict[str, np.ndarray]:
    """Checked arrays by (current) field name; ``renames`` maps an old version's names."""
    schema = cls.SCHEMA
    if len(entries) > limits.max_arrays:
        raise DecodeError(f"{schema}: {len(entries)} arrays declared, cap is {limits.max_arrays}")
    if len(buffers) != len(entries):
        raise DecodeError(
            f"{schema}: header declares {len(entries)} array buffers, message has {len(buffers)}"
        )
    arrays: dict[str, np.ndarray] = {}
    total = 0
    for i, entry in enumerate(entries):
        if not (isinstance(entry, list) and len(entry) == 3):
            raise DecodeError(f"{schema}: array entry {i}: expected [name, dtype, shape]")
        name, dtype_name, shape = entry
        if isinstance(name, str):
            name = renames.get(name, name)
        spec = cls.ARRAYS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise DecodeError(f"{schema}: unknown array field {name!r}")
        if name in arrays:
            raise DecodeError(f"{schema}: array field {name!r} appears twice")
        if not isinstance(dtype_name, str) or dtype_name not in spec.dtypes:
            raise DecodeError(
                f"{schema}.{name}: dtype {dtype_name!r} not allowed, expected one of {list(spec.dtypes)}"
            )
        if not (isinstance(shape, list) and len(shape) <= 8) or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= INT64_MAX for d in shape
        ):
            raise DecodeError(f"{schema}.{name}: shape must be a list of <= 8 non-negative ints")
        dtype = WIRE_DTYPES[dtype_name]
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if nbytes > limits.max_array_bytes:
            raise DecodeError(
                f"{schema}.{name}: declared {nbytes} bytes, cap is {limits.max_array_bytes}"
            )
        total += nbytes
        if total > limits.max_message_bytes:
            raise DecodeError(f"{schema}: arrays total {total} bytes, cap is {limits.max_message_bytes}")
        buf = _as_buffer(buffers[i])
        if len(buf) != nbytes:
            raise DecodeError(
                f"{schema}.{name}: shape {tuple(shape)} x {dtype.itemsize} B needs {nbytes} bytes, "
                f"buffer has {len(buf)}"
            )
        try:
            arr = (np.frombuffer(buf, dtype=dtype) if nbytes else np.empty(0, dtype=dtype)).reshape(shape)
        except ValueError as exc:  # e.g. [0, 2**62]: zero bytes, but numpy refuses the dims
            raise DecodeError(f"{schema}.{name}: cannot build shape {tuple(shape)}: {exc}") from exc
        arr.flags.writeable = False  # received data are shared views: never mutated in place
        arrays[name] = arr
    missing = [n for n, s in cls.ARRAYS.items() if not s.optional and n not in arrays]
    if missing:
        raise DecodeError(f"{schema}: required array fields missing: {missing}")
    return arrays


_BASE_SCALARS: Mapping[str, Scalar] = {"stamp_ns": Scalar.INT, "frame_id": Scalar.STR, "seq": Scalar.INT}


#: exact Python types msgpack decodes a valid value of a kind to (anything else: the full check)
_PLAIN_TYPES: Mapping[Scalar, tuple[type, ...]] = {
    Scalar.INT: (int,), Scalar.FLOAT: (float, int), Scalar.STR: (str,), Scalar.BOOL: (bool,)}
_EXPECTED: dict[type, dict[str, Scalar]] = {}  # per message class: its scalar fields and kinds


def _check_scalars(cls: type[Message], scalars: dict[Any, Any], limits: CodecLimits) -> None:
    schema = cls.SCHEMA
    expected = _EXPECTED.get(cls)
    if expected is None:
        expected = _EXPECTED[cls] = {**_BASE_SCALARS, **cls.SCALARS}
    if scalars.keys() != expected.keys():
        extra = sorted(map(str, set(scalars) - set(expected)))
        missing = sorted(set(expected) - set(scalars))
        raise DecodeError(f"{schema}: header fields: missing {missing}, unexpected {extra}")
    for name, kind in expected.items():
        value = scalars[name]
        if type(value) in _PLAIN_TYPES.get(kind, ()):
            continue  # e.g. an int for an INT field (type(), not isinstance(): a bool is no int here)
        problem = _scalar_problem(kind, value, limits)
        if problem:
            raise DecodeError(f"{schema}.{name}: {problem}")


_FLAT_VALUES = (int, float, str, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _scalar_problem(kind: Scalar, v: Any, limits: CodecLimits) -> str | None:
    """A description of why ``v`` is not a valid ``kind``, or ``None`` when it is."""
    if kind is Scalar.INT:
        return None if _is_int(v) else f"expected int, got {type(v).__name__}"
    if kind is Scalar.FLOAT:
        return None if isinstance(v, float) or _is_int(v) else f"expected float, got {type(v).__name__}"
    if kind is Scalar.STR:
        return None if isinstance(v, str) else f"expected str, got {type(v).__name__}"
    if kind is Scalar.BOOL:
        return None if isinstance(v, bool) else f"expected bool, got {type(v).__name__}"
    if kind in (Scalar.STR_TUPLE, Scalar.INT_TUPLE):
        item_ok = (lambda x: isinstance(x, str)) if kind is Scalar.STR_TUPLE else _is_int
        if not isinstance(v, list) or len(v) > limits.max_scalar_items:
            return f"expected a list of at most {limits.max_scalar_items} items"
        return None if all(item_ok(x) for x in v) else "list has items of the wrong type"
    if not isinstance(v, dict) or len(v) > limits.max_scalar_items:
        return f"expected a map of at most {limits.max_scalar_items} items"
    if kind is Scalar.COUNT_MAP:
        ok = all(isinstance(k, str) and _is_int(x) for k, x in v.items())
    else:
        ok = all(isinstance(k, str) and isinstance(x, _FLAT_VALUES) for k, x in v.items())
    return None if ok else "map has keys or values of the wrong type"
