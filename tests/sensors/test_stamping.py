"""Capture stamps from source time: never later than arrival, file mapping fixed at the first frame,
live offsets measured over a window."""

from __future__ import annotations

import numpy as np
import pytest

from sensors.stamping import SourceClock

MS = 1_000_000


def test_file_mapping_is_fixed_at_the_first_frame_and_only_lowered():
    clock = SourceClock()
    # real-time playback: frame k (stream k*40 ms) read 3 ms after its slot, jitter 0..2 ms
    stamps = [clock.stamp(k * 40 * MS, 1000 * MS + k * 40 * MS + (3 + k % 3) * MS) for k in range(6)]
    assert np.all(np.diff(stamps) == 40 * MS) and stamps[0] == 1003 * MS and clock.lowered == 0
    # a frame read 1 ms after its slot (earlier than the mapping says) lowers it to its read time
    assert clock.stamp(240 * MS, 1241 * MS) == 1241 * MS and clock.lowered == 1
    assert clock.stamp(280 * MS, 1290 * MS) == 1281 * MS  # the lower mapping holds from then on


def test_reading_faster_than_real_time_stamps_read_times():
    clock = SourceClock()
    reads = [5_000 * MS + k * 2 * MS for k in range(5)]  # 2 ms apart, stream 40 ms apart
    assert [clock.stamp(k * 40 * MS, t) for k, t in enumerate(reads)] == reads
    assert clock.lowered == 4


def test_without_lowering_the_first_mapping_stays():
    clock = SourceClock(lower=False)
    assert [clock.stamp(k * 40 * MS, 100 * MS + k * MS) for k in range(3)] == [100 * MS, 140 * MS, 180 * MS]


def test_live_offset_is_the_window_minimum_and_restarts_when_the_driver_clock_goes_back():
    rng = np.random.default_rng(3)
    clock = SourceClock(window=20)
    offset = 7_000 * MS
    for k in range(100):  # driver time + fixed offset + 1..10 ms of transport delay
        device = k * 33 * MS
        arrival = device + offset + int(rng.integers(1, 11)) * MS
        stamp = clock.stamp(device, arrival)
        assert stamp <= arrival
        assert offset <= clock.offset_ns <= offset + 10 * MS
    # the driver clock drifts: 5 ms later offset for good; the window forgets the old minimum
    for k in range(100, 140):
        clock.stamp(k * 33 * MS, k * 33 * MS + offset + 5 * MS + 2 * MS)
    assert clock.offset_ns == offset + 7 * MS
    # a driver clock reset (time goes back) starts the estimate over
    assert clock.stamp(0, 9_000 * MS) == 9_000 * MS


def test_window_must_be_positive():
    with pytest.raises(ValueError, match="window"):
        SourceClock(window=0)
