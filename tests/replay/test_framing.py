"""Frame packing: exact round trip and strict validation of counts and lengths."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from percept.messages import Image
from replay.errors import LogError
from replay.framing import MAX_FRAMES, pack_frames, unpack_frames


def test_round_trip_of_real_message_frames() -> None:
    img = Image.from_bgr(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3), stamp_ns=1, frame_id="cam")
    frames = img.to_frames("cam/front")
    blob = pack_frames(frames)
    out = unpack_frames(blob)
    assert [bytes(f) for f in out] == [bytes(f) for f in frames]
    assert all(f.readonly for f in out)
    assert len(blob) == 4 + 4 * len(frames) + sum(len(bytes(f)) for f in frames)


def test_empty_frames_and_empty_list() -> None:
    assert unpack_frames(pack_frames([])) == []
    assert [bytes(f) for f in unpack_frames(pack_frames([b"", b"a", b""]))] == [b"", b"a", b""]


@pytest.mark.parametrize("blob, words", [
    (b"", "shorter than"),
    (struct.pack("<I", MAX_FRAMES + 1), "cap"),
    (struct.pack("<II", 2, 0), "header"),
    (struct.pack("<II", 1, 5) + b"abcd", "!= blob size"),
    (struct.pack("<II", 1, 3) + b"abcd", "!= blob size"),
])
def test_malformed_blobs_are_refused(blob: bytes, words: str) -> None:
    with pytest.raises(LogError, match=words):
        unpack_frames(blob)


def test_too_many_frames_to_pack() -> None:
    with pytest.raises(LogError, match="cap"):
        pack_frames([b"x"] * (MAX_FRAMES + 1))
