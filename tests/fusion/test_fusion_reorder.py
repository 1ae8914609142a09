"""ReorderBuffer: shuffled arrival within the window gives the sorted result; late data is counted."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.errors import TrackingError
from fusion.fusion_config import ClassConfig, FusionTrackerConfig
from fusion.fusion_tracker import FusionTracker
from fusion.reorder import ReorderBuffer
from percept.messages import Detections3D

STEP = 100_000_000


def _frame(k: int, rng: np.random.Generator) -> Detections3D:
    c = np.array([[2.0 * k * 0.1, 0.0, 0.0], [10.0 - k * 0.1, 4.0, 0.0]]) + rng.normal(0, 0.05, (2, 3))
    return Detections3D(
        stamp_ns=k * STEP,
        frame_id="world",
        centre=c.astype(np.float32),
        size=np.tile([4.0, 1.8, 1.5], (2, 1)),
        yaw=np.zeros(2),
        class_id=np.zeros(2, np.int32),
        confidence=np.full(2, 0.8),
        class_names=("Car",),
    )


def _fuse(order: list[int], frames: list[Detections3D], latency_s: float) -> tuple[list, ReorderBuffer]:
    buf: ReorderBuffer[Detections3D] = ReorderBuffer({"lidar": latency_s})
    tracker = FusionTracker(FusionTrackerConfig(classes={"Car": ClassConfig(min_hits=1)}))
    out = []
    for i, k in enumerate(order):  # arrival i happens at clock time i * STEP + 1 ns
        buf.push(frames[k].stamp_ns, "lidar", frames[k])
        for _stamp, sensor, msg in buf.pop_due(i * STEP + 1):
            out.append(tracker.update_boxes(msg, sensor))
    for _stamp, sensor, msg in buf.flush():
        out.append(tracker.update_boxes(msg, sensor))
    return out, buf


def test_shuffled_within_window_equals_sorted_arrival() -> None:
    rng = np.random.default_rng(1)
    frames = [_frame(k, rng) for k in range(30)]
    sorted_out, _ = _fuse(list(range(30)), frames, 0.3)
    order = list(range(30))
    for i in range(0, 30, 3):  # shuffle inside blocks of 3 frames (0.2 s, within the 0.3 s window)
        block = order[i : i + 3]
        rng.shuffle(block)
        order[i : i + 3] = block
    shuffled_out, buf = _fuse(order, frames, 0.3)
    assert buf.stats.late == 0 and len(shuffled_out) == len(sorted_out) == 30
    for a, b in zip(sorted_out, shuffled_out, strict=True):
        assert a.stamp_ns == b.stamp_ns and a.track_id.tolist() == b.track_id.tolist()
        assert np.array_equal(a.state, b.state)


def test_later_than_the_window_is_counted_and_dropped() -> None:
    rng = np.random.default_rng(2)
    frames = [_frame(k, rng) for k in range(13)]
    order = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 7]  # frame 7 arrives 0.5 s late, window 0.1 s
    out, buf = _fuse(order, frames, 0.1)
    assert buf.stats.late == 1 and buf.stats.released == 12
    assert [o.stamp_ns for o in out] == sorted(o.stamp_ns for o in out)


def test_per_sensor_latency_and_overflow() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer({"radar": 0.2}, default_latency_s=0.0, capacity=2)
    buf.push(100, "radar", "r")
    buf.push(150, "lidar", "l")
    assert buf.pop_due(150) == []  # the older radar item holds the lidar one behind it
    assert [i for _, _, i in buf.pop_due(100 + 200_000_000)] == ["r", "l"]
    buf.push(300, "lidar", "a")
    buf.push(301, "lidar", "b")
    buf.push(302, "lidar", "c")
    assert buf.stats.overflow == 1 and [i for _, _, i in buf.flush()] == ["b", "c"]
    with pytest.raises(TrackingError, match="latency"):
        ReorderBuffer({"x": -1.0})
