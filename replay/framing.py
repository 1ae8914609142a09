"""Packing of ZeroMQ multipart frames into one blob, as stored in MCAP message records.

Layout (all integers unsigned 32-bit little-endian)::

    count | len_0 | len_1 | ... | len_{count-1} | frame_0 bytes | frame_1 bytes | ...

Unpacking trusts nothing: the count is capped, every length is checked against the blob, and
the lengths must account for the blob exactly. Frames come back as zero-copy ``memoryview``
slices of the blob.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from replay.errors import LogError

#: most frames one packed message may hold (a percept message has topic, header, <= 16 arrays)
MAX_FRAMES = 64
_U32 = struct.Struct("<I")


def _nbytes(frame: bytes | bytearray | memoryview) -> int:
    return frame.nbytes if isinstance(frame, memoryview) else len(frame)


def pack_frames(frames: Sequence[bytes | bytearray | memoryview]) -> bytes:
    """One blob holding ``frames`` (bytes-like; ``zmq.Frame`` is accepted through ``.buffer``)."""
    views = [memoryview(getattr(f, "buffer", f)).cast("B") for f in frames]
    if len(views) > MAX_FRAMES:
        raise LogError(f"cannot pack {len(views)} frames, cap is {MAX_FRAMES}")
    head = struct.pack(f"<{1 + len(views)}I", len(views), *(_nbytes(v) for v in views))
    return b"".join([head, *views])


def unpack_frames(blob: bytes | bytearray | memoryview) -> list[memoryview]:
    """The frames packed in ``blob``, as read-only views into it.

    Raises:
        LogError: the count or the lengths do not match the blob.
    """
    view = memoryview(blob).cast("B") if not isinstance(blob, memoryview) else blob.cast("B")
    size = view.nbytes
    if size < 4:
        raise LogError(f"packed frames: blob of {size} bytes is shorter than the 4-byte count")
    (count,) = _U32.unpack_from(view, 0)
    if count > MAX_FRAMES:
        raise LogError(f"packed frames: count {count} exceeds the cap of {MAX_FRAMES}")
    head = 4 + 4 * count
    if size < head:
        raise LogError(f"packed frames: {count} frames need a {head}-byte header, blob has {size} bytes")
    lengths = struct.unpack_from(f"<{count}I", view, 4)
    if head + sum(lengths) != size:
        raise LogError(f"packed frames: lengths {list(lengths)} + {head}-byte header != blob size {size}")
    frames: list[memoryview] = []
    pos = head
    for n in lengths:
        frames.append(view[pos:pos + n].toreadonly())
        pos += n
    return frames
