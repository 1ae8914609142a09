"""VLP-16 packets built here from the manual's layout: decoding, revolutions, and the UDP source."""

from __future__ import annotations

import math
import socket
import struct

import numpy as np
import pytest

from percept.messages import PointCloud
from percept.node import LocalRunner
from sensors.errors import SensorError
from sensors.velodyne import (
    FIELDS,
    HOUR_NS,
    RevolutionAssembler,
    VelodyneSource,
    VelodyneSourceConfig,
    decode_packet,
    resolve_hour_time,
)

# VLP-16 manual: vertical angle of laser id 0..15, firing timing in microseconds.
VERT = [-15, 1, -13, 3, -11, 5, -9, 7, -7, 9, -5, 11, -3, 13, -1, 15]
LASER_US, SEQ_US, BLOCK_US = 2.304, 55.296, 110.592
STEP_CDEG = 40  # block azimuth step in 0.01 deg: 0.4 deg per 110.592 us, about 10 Hz


def encode_packet(az_cdeg: list[int], units: np.ndarray, refl: np.ndarray, ts_us: int,
                  mode: int = 0x37, product: int = 0x22) -> bytes:
    """1206 bytes: 12 x (FF EE, azimuth, 32 x (distance in 2 mm, reflectivity)), timestamp, factory."""
    out = bytearray()
    for b in range(12):
        out += b"\xff\xee" + struct.pack("<H", az_cdeg[b] % 36000)
        for c in range(32):
            out += struct.pack("<HB", int(units[b, c]), int(refl[b, c]))
    out += struct.pack("<IBB", ts_us, mode, product)
    assert len(out) == 1206
    return bytes(out)


def truth_xyz(d: float, az_deg: float, laser: int) -> tuple[float, float, float]:
    """Manual's formulas (x_v right, y_v front), then x-forward/y-left/z-up."""
    w, a = math.radians(VERT[laser]), math.radians(az_deg)
    xv, yv, zv = d * math.cos(w) * math.sin(a), d * math.cos(w) * math.cos(a), d * math.sin(w)
    return yv, -xv, zv


class Stream:
    """A spinning sensor: packet p holds blocks g = 12p .. 12p+11 at azimuth start + g * 0.4 deg."""

    def __init__(self, start_cdeg: int, n_packets: int, t0_us: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.start, self.t0 = start_cdeg, t0_us
        self.units = rng.integers(500, 50_000, (n_packets, 12, 32))  # 1..100 m
        self.units[rng.random(self.units.shape) < 0.05] = 0  # some firings without a return
        self.refl = rng.integers(0, 256, (n_packets, 12, 32))
        self.packets = [encode_packet([start_cdeg + (12 * p + b) * STEP_CDEG for b in range(12)],
                                      self.units[p], self.refl[p], self.ts_us(p)) for p in range(n_packets)]

    def ts_us(self, p: int) -> int:
        return self.t0 + round(p * 12 * BLOCK_US)

    def truth(self) -> dict[str, np.ndarray]:
        """Per return: unwrapped azimuth, xyz, intensity, ring, absolute time in us."""
        rows = []
        for p in range(len(self.packets)):
            for b in range(12):
                for c in range(32):
                    if self.units[p, b, c] == 0:
                        continue
                    seq, laser = divmod(c, 16)
                    within = seq * SEQ_US + laser * LASER_US
                    az = (self.start + (12 * p + b) * STEP_CDEG) / 100 + STEP_CDEG / 100 * within / BLOCK_US
                    xyz = truth_xyz(self.units[p, b, c] * 0.002, az, laser)
                    ring = sorted(VERT).index(VERT[laser])
                    rows.append((az, *xyz, self.refl[p, b, c], ring, self.ts_us(p) + b * BLOCK_US + within))
        a = np.array(rows)
        return {"az": a[:, 0], "xyz": a[:, 1:4], "intensity": a[:, 4], "ring": a[:, 5], "t_us": a[:, 6]}


def test_decode_matches_truth() -> None:
    s = Stream(start_cdeg=35_500, n_packets=3, t0_us=1_234_567)  # crosses 360 deg inside packet 1
    pts = np.concatenate([decode_packet(p).points for p in s.packets])
    t = s.truth()
    assert pts.shape == (len(t["az"]), 5)
    np.testing.assert_allclose(pts[:, :3], t["xyz"], atol=2e-3)  # float32 + 2 mm quantisation
    np.testing.assert_array_equal(pts[:, 3], t["intensity"])
    np.testing.assert_array_equal(pts[:, 4], t["ring"])
    pk = decode_packet(s.packets[0])
    assert pk.timestamp_us == 1_234_567 and pk.return_mode == "strongest"
    np.testing.assert_allclose(pk.azimuth_deg, t["az"][:len(pk.azimuth_deg)] % 360, atol=1e-9)


def test_decode_known_geometry() -> None:
    units = np.zeros((12, 32), int)
    units[0, 0] = 5000  # 10 m, laser 0 (-15 deg), first firing of a block at azimuth 90 deg (right)
    units[1, 15] = 2500  # 5 m, laser 15 (+15 deg), block at 0 deg (front), interpolated azimuth
    az = [9000, 0] + [100 * k for k in range(2, 12)]
    pk = decode_packet(encode_packet(az, units, np.full((12, 32), 7), 0))
    c15 = math.cos(math.radians(15))
    np.testing.assert_allclose(pk.points[0, :3], [0, -10 * c15, -10 * math.sin(math.radians(15))], atol=1e-5)
    a = math.radians(2.0 * 15 * LASER_US / BLOCK_US)  # block 1 (0 deg) to block 2 (2 deg): 2 deg gap
    np.testing.assert_allclose(pk.points[1, :3], [5 * c15 * math.cos(a), -5 * c15 * math.sin(a),
                                                  5 * math.sin(math.radians(15))], atol=1e-5)
    np.testing.assert_allclose(pk.time_offset_us, [0, BLOCK_US + 15 * LASER_US])
    assert pk.points[:, 4].tolist() == [0, 15]


def test_decode_dual_return_pairs_share_azimuth_and_time() -> None:
    az = [100 * (k // 2) for k in range(12)]
    units = np.full((12, 32), 1000)
    pk = decode_packet(encode_packet(az, units, np.zeros((12, 32)), 0, mode=0x39))
    assert pk.return_mode == "dual"
    az2 = pk.azimuth_deg.reshape(12, 32)
    t2 = pk.time_offset_us.reshape(12, 32)
    np.testing.assert_allclose(az2[0::2], az2[1::2])
    np.testing.assert_allclose(t2[0::2], t2[1::2])
    np.testing.assert_allclose(az2[0, 16], 0.5)  # second firing: half the 1 deg gap to the next pair
    np.testing.assert_allclose(t2[2, 0], BLOCK_US)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda b: b[:1000], "expected 1206 bytes, got 1000"),
    (lambda b: b + b"\0", "got 1207"),
    (lambda b: b[:500] + b"\xff\xef" + b[502:], "block 5: flag 0xFFEF"),
    (lambda b: b[:2] + struct.pack("<H", 36000) + b[4:], "azimuth 36000"),
    (lambda b: b[:1204] + b"\x40\x22", "return mode byte 0x40"),
    (lambda b: b[:1204] + b"\x37\x21", "product id 0x21"),
])
def test_decode_rejects_malformed(mutate, match) -> None:
    good = Stream(0, 1, 0).packets[0]
    decode_packet(good)
    with pytest.raises(SensorError, match=match):
        decode_packet(mutate(good))


def test_revolution_split() -> None:
    s = Stream(start_cdeg=30_000, n_packets=190, t0_us=10_000_000)  # 300 deg .. ~2.5 turns later
    base = 7 * HOUR_NS
    asm = RevolutionAssembler()
    revs = [r for p, pkt in enumerate(s.packets)
            for r in asm.add(decode_packet(pkt), base + s.ts_us(p) * 1000)]
    assert [r.complete for r in revs] == [False, True, True]  # 300..360 partial, then two full turns
    t = s.truth()
    turn = np.floor(t["az"] / 360).astype(int)
    for k, rev in enumerate(revs):
        mask = turn == k
        assert rev.points.shape == (mask.sum(), len(FIELDS))
        np.testing.assert_allclose(rev.points[:, :3], t["xyz"][mask], atol=2e-3)
        first_us = t["t_us"][mask].min()
        assert abs(rev.stamp_ns - (base + first_us * 1000)) <= 1
        np.testing.assert_allclose(rev.points[:, 5], (t["t_us"][mask] - first_us) * 1e-6, atol=2e-9)
    full = revs[1].points
    assert 0.0995 < full[:, 5].max() < 0.1  # 900 blocks of 110.592 us
    az = np.degrees(np.arctan2(-full[:, 1], full[:, 0])) % 360  # back to clockwise azimuth
    assert az.min() < 0.5 and az.max() > 359.5


def test_resolve_hour_time() -> None:
    now = 100 * HOUR_NS + 10 * 60 * 10**9
    assert resolve_hour_time(now, 9 * 60 * 10**6) == now - 60 * 10**9
    just_after = 100 * HOUR_NS + 10**9
    assert resolve_hour_time(just_after, 3599 * 10**6) == 100 * HOUR_NS - 10**9  # previous hour
    just_before = 101 * HOUR_NS - 10**9
    assert resolve_hour_time(just_before, 2 * 10**6) == 101 * HOUR_NS + 2 * 10**9  # next hour


def test_source_over_udp_loopback() -> None:
    start_ns = 1_700_000_000 * 10**9
    base = start_ns - start_ns % HOUR_NS
    t0_us = (start_ns - base) // 1000  # packets stamped from "now" on
    s = Stream(start_cdeg=34_000, n_packets=170, t0_us=t0_us, seed=3)
    src = VelodyneSource(VelodyneSourceConfig(port=0, topic="lidar/vlp16", frame_id="vlp16"))
    runner = LocalRunner(src, name="velodyne", start_ns=start_ns)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bad = [b"\0" * 100, s.packets[0][:200] + b"\0\0" + s.packets[0][202:], s.packets[0][:1205] + b"\x99"]
    try:
        now = start_ns
        for i in range(0, len(s.packets), 20):  # bounded bursts: stay within the socket buffer
            for pkt in s.packets[i:i + 20]:
                tx.sendto(pkt, src.address)
            if i == 80:
                for pkt in bad:
                    tx.sendto(pkt, src.address)
            now += 2_000_000
            runner.advance_to(now)
    finally:
        tx.close()
        runner.close()
    assert src.bad_packets == 3 and src.packets == len(s.packets)
    assert [t for t, _ in runner.outputs] == ["lidar/vlp16"] * 2  # partial first turn not published
    msgs = [m for _, m in runner.outputs]
    assert all(isinstance(m, PointCloud) and m.frame_id == "vlp16" and m.fields == FIELDS for m in msgs)
    assert [m.seq for m in msgs] == [0, 1]
    t = s.truth()
    turn = np.floor(t["az"] / 360).astype(int)
    for k, msg in zip((1, 2), msgs, strict=True):
        mask = turn == k
        np.testing.assert_allclose(msg.points[:, :3], t["xyz"][mask], atol=2e-3)
        assert abs(msg.stamp_ns - (base + t["t_us"][mask].min() * 1000)) <= 1
    assert msgs[1].stamp_ns > msgs[0].stamp_ns


def test_source_bind_error() -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(SensorError, match="cannot listen"):
            LocalRunner(VelodyneSource(VelodyneSourceConfig(port=blocker.getsockname()[1])))
    finally:
        blocker.close()
